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
        if self.classification == Some(Classification::UnknownFutureValue) {
            return Err(DomainError::invalid(
                "classification",
                "expected one of unknown, truePositive, falsePositive, informationalExpectedActivity",
            ));
        }
        if self.determination == Some(Determination::UnknownFutureValue) {
            return Err(DomainError::invalid(
                "determination",
                "unknownFutureValue is not a determination",
            ));
        }
        if let (Some(c), Some(d)) = (self.classification, self.determination) {
            check_pairing(c, d)?;
        }
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
        if let Some(s) = self.status {
            if s != rec.status {
                out.push(FieldChange {
                    field: "status",
                    old: show(&rec.status),
                    new: show(&s),
                });
                let resolved = (s == AlertStatus::Resolved).then_some(now);
                if resolved != rec.resolved {
                    out.push(FieldChange {
                        field: "resolvedDateTime",
                        old: rec.resolved.map(Timestamp::to_rfc3339),
                        new: resolved.map(Timestamp::to_rfc3339),
                    });
                    rec.resolved = resolved;
                }
                rec.status = s;
            }
        }
        if let Some(who) = &self.assigned_to {
            if *who != rec.assigned_to {
                out.push(FieldChange {
                    field: "assignedTo",
                    old: rec.assigned_to.clone(),
                    new: who.clone(),
                });
                rec.assigned_to = who.clone();
            }
        }
        let class = self.classification.unwrap_or(rec.classification);
        let det = match self.determination {
            Some(d) => d,
            None if check_pairing(class, rec.determination).is_ok() => rec.determination,
            None => Determination::Unknown,
        };
        check_pairing(class, det)?;
        if class != rec.classification {
            out.push(FieldChange {
                field: "classification",
                old: show(&rec.classification),
                new: show(&class),
            });
            rec.classification = class;
        }
        if det != rec.determination {
            out.push(FieldChange {
                field: "determination",
                old: show(&rec.determination),
                new: show(&det),
            });
            rec.determination = det;
        }
        let mut tags = self.tags.clone().unwrap_or_else(|| rec.tags.clone());
        for t in &self.add_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        tags.retain(|t| !self.remove_tags.contains(t));
        let mut seen = std::collections::HashSet::new();
        tags.retain(|t| seen.insert(t.clone()));
        // Producers may send more (systemTags-style) tags; only growing past the limit is
        // refused, so such an alert can still be triaged.
        if tags.len() > MAX_TAGS && tags.len() > rec.tags.len() {
            return Err(DomainError::invalid(
                "tags",
                format!("an alert can carry at most {MAX_TAGS} tags"),
            ));
        }
        if tags != rec.tags {
            out.push(FieldChange {
                field: "tags",
                old: Some(rec.tags.join(", ")),
                new: Some(tags.join(", ")),
            });
            rec.tags = tags;
        }
        if !out.is_empty() {
            rec.last_update = now;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
