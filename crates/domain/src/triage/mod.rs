//! Manage-alert changes: what an analyst (or a rule, later) may change on an alert, how the
//! change is validated, and how it is applied to a record with one history line per field.
//!
//! Kept pure so the same rules hold for a single PATCH, a bulk update of 10,000 alerts and
//! (next wave) automation rules: status, assignment, classification with a validated
//! determination, and tags.
use crate::alert::AlertRecord;
use crate::error::DomainError;
use crate::timestamp::Timestamp;
use crate::vocab::{check_pairing, AlertStatus, Classification, Determination};
use serde::Serialize;

/// Longest comment, in bytes. Comments are notes, not evidence uploads.
pub const MAX_COMMENT_BYTES: usize = 16 * 1024;
/// Longest tag, in characters; tags are labels shown in a queue column.
pub const MAX_TAG_CHARS: usize = 100;
/// Most analyst tags on one alert.
pub const MAX_TAGS: usize = 100;

/// A change to an alert's triage state. `None` leaves a field as it is; `assigned_to:
/// Some(None)` unassigns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertChange {
    pub status: Option<AlertStatus>,
    pub assigned_to: Option<Option<String>>,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    /// Replaces the tag list.
    pub tags: Option<Vec<String>>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

/// One field that a change actually altered, for the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Checks a classification and determination sent for an alert or an incident: members a
/// person can choose (`unknownFutureValue` is a Graph sentinel), and a valid pair when both
/// are given.
pub fn check_verdict(
    classification: Option<Classification>,
    determination: Option<Determination>,
) -> Result<(), DomainError> {
    if classification == Some(Classification::UnknownFutureValue) {
        return Err(DomainError::invalid(
            "classification",
            "expected one of unknown, truePositive, falsePositive, informationalExpectedActivity",
        ));
    }
    if determination == Some(Determination::UnknownFutureValue) {
        return Err(DomainError::invalid(
            "determination",
            "unknownFutureValue is not a determination",
        ));
    }
    if let (Some(c), Some(d)) = (classification, determination) {
        check_pairing(c, d)?;
    }
    Ok(())
}

/// Checks a tag: trimmed, non-blank, no control characters, at most [`MAX_TAG_CHARS`].
pub fn check_tag(field: &str, tag: &str) -> Result<(), DomainError> {
    if tag.trim().is_empty() {
        return Err(DomainError::invalid(field, "a tag must not be blank"));
    }
    if tag.trim() != tag {
        return Err(DomainError::invalid(
            field,
            format!("tag {tag:?} must not start or end with blanks"),
        ));
    }
    if tag.chars().count() > MAX_TAG_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("a tag must be at most {MAX_TAG_CHARS} characters"),
        ));
    }
    if tag.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "a tag must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a comment: non-blank and at most [`MAX_COMMENT_BYTES`].
pub fn check_comment(text: &str) -> Result<(), DomainError> {
    if text.trim().is_empty() {
        return Err(DomainError::invalid("text", "a comment must not be blank"));
    }
    if text.len() > MAX_COMMENT_BYTES {
        return Err(DomainError::invalid(
            "text",
            format!(
                "a comment must be at most {MAX_COMMENT_BYTES} bytes (got {})",
                text.len()
            ),
        ));
    }
    Ok(())
}

fn show<T: std::fmt::Display>(v: &T) -> Option<String> {
    Some(v.to_string())
}

impl AlertChange {
    /// Whether the change asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.assigned_to.is_none()
            && self.classification.is_none()
            && self.determination.is_none()
            && self.tags.is_none()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
    }

    /// Checks what can be checked without the alert: member values, tag syntax, and a pair
    /// given together. `unknownFutureValue` is a Graph sentinel, never a choice.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.status == Some(AlertStatus::UnknownFutureValue) {
            return Err(DomainError::invalid(
                "status",
                "expected one of new, inProgress, resolved",
            ));
        }
        check_verdict(self.classification, self.determination)?;
        if let Some(Some(who)) = &self.assigned_to {
            if who.trim().is_empty() {
                return Err(DomainError::invalid(
                    "assignedTo",
                    "must name a user (use null to unassign)",
                ));
            }
        }
        for (field, tags) in [
            ("tags", self.tags.as_deref().unwrap_or(&[])),
            ("addTags", &self.add_tags[..]),
            ("removeTags", &self.remove_tags[..]),
        ] {
            if tags.len() > MAX_TAGS {
                return Err(DomainError::invalid(
                    field,
                    format!("at most {MAX_TAGS} tags"),
                ));
            }
            for t in tags {
                check_tag(field, t)?;
            }
        }
        if self.tags.is_some() && !(self.add_tags.is_empty() && self.remove_tags.is_empty()) {
            return Err(DomainError::invalid(
                "tags",
                "give either tags (the whole list) or addTags/removeTags, not both",
            ));
        }
        Ok(())
    }

    /// Applies the change to `rec`, returning what changed (empty: nothing did, and the
    /// caller must not bump the version). Resolving stamps `resolvedDateTime`; reopening
    /// clears it. A new classification without a determination keeps the old determination
    /// if it still fits, and otherwise resets it to `unknown` (recorded like any change).
    pub fn apply(
        &self,
        rec: &mut AlertRecord,
        now: Timestamp,
    ) -> Result<Vec<FieldChange>, DomainError> {
        self.validate()?;
        let mut out = Vec::new();
        set_status(
            &mut rec.status,
            self.status,
            AlertStatus::Resolved,
            &mut rec.resolved,
            now,
            &mut out,
        );
        set_assignee(&mut rec.assigned_to, &self.assigned_to, &mut out);
        set_verdict(
            &mut rec.classification,
            &mut rec.determination,
            self.classification,
            self.determination,
            &mut out,
        )?;
        let tags = merged_tags(
            &rec.tags,
            self.tags.as_deref(),
            &self.add_tags,
            &self.remove_tags,
        );
        // Producers may send more (systemTags-style) tags; only growing past the limit is
        // refused, so such an alert can still be triaged.
        if tags.len() > MAX_TAGS && tags.len() > rec.tags.len() {
            return Err(DomainError::invalid(
                "tags",
                format!("an alert can carry at most {MAX_TAGS} tags"),
            ));
        }
        set_tags(&mut rec.tags, tags, &mut out);
        if !out.is_empty() {
            rec.last_update = now;
        }
        Ok(out)
    }
}

/// Sets a status; entering `resolved_value` stamps `resolved`, leaving it clears it.
pub(crate) fn set_status<S: Copy + PartialEq + std::fmt::Display>(
    cur: &mut S,
    new: Option<S>,
    resolved_value: S,
    resolved: &mut Option<Timestamp>,
    now: Timestamp,
    out: &mut Vec<FieldChange>,
) {
    let Some(s) = new.filter(|s| s != cur) else {
        return;
    };
    out.push(FieldChange {
        field: "status",
        old: show(cur),
        new: show(&s),
    });
    let stamp = (s == resolved_value).then_some(now);
    if stamp != *resolved {
        out.push(FieldChange {
            field: "resolvedDateTime",
            old: resolved.map(Timestamp::to_rfc3339),
            new: stamp.map(Timestamp::to_rfc3339),
        });
        *resolved = stamp;
    }
    *cur = s;
}

/// Sets (`Some(Some(u))`) or clears (`Some(None)`) the assignee.
pub(crate) fn set_assignee(
    cur: &mut Option<String>,
    new: &Option<Option<String>>,
    out: &mut Vec<FieldChange>,
) {
    if let Some(who) = new.as_ref().filter(|w| *w != cur) {
        out.push(FieldChange {
            field: "assignedTo",
            old: cur.clone(),
            new: who.clone(),
        });
        *cur = who.clone();
    }
}

/// Sets classification and determination together. A new classification without a
/// determination keeps the old determination if it still fits and otherwise resets it to
/// `unknown`; a pair that does not fit is refused and changes nothing.
pub(crate) fn set_verdict(
    class: &mut Classification,
    det: &mut Determination,
    new_class: Option<Classification>,
    new_det: Option<Determination>,
    out: &mut Vec<FieldChange>,
) -> Result<(), DomainError> {
    let c = new_class.unwrap_or(*class);
    let d = match new_det {
        Some(d) => d,
        None if check_pairing(c, *det).is_ok() => *det,
        None => Determination::Unknown,
    };
    check_pairing(c, d)?;
    if c != *class {
        out.push(FieldChange {
            field: "classification",
            old: show(class),
            new: show(&c),
        });
        *class = c;
    }
    if d != *det {
        out.push(FieldChange {
            field: "determination",
            old: show(det),
            new: show(&d),
        });
        *det = d;
    }
    Ok(())
}

/// The tag list after replacing it (if `replace`), adding and removing, without duplicates.
pub(crate) fn merged_tags(
    cur: &[String],
    replace: Option<&[String]>,
    add: &[String],
    remove: &[String],
) -> Vec<String> {
    let mut tags: Vec<String> = replace.unwrap_or(cur).to_vec();
    for t in add {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    tags.retain(|t| !remove.contains(t));
    let mut seen = std::collections::HashSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    tags
}

/// Sets the tag list, recording the change.
pub(crate) fn set_tags(cur: &mut Vec<String>, tags: Vec<String>, out: &mut Vec<FieldChange>) {
    if tags != *cur {
        out.push(FieldChange {
            field: "tags",
            old: Some(cur.join(", ")),
            new: Some(tags.join(", ")),
        });
        *cur = tags;
    }
}

#[cfg(test)]
mod tests;
