//! Incidents: groups of alerts that belong to one attack, built by correlation
//! ([`crate::correlate`]) or by hand, triaged like alerts.
use crate::error::DomainError;
use crate::timestamp::Timestamp;
use crate::triage::{check_tag, FieldChange, MAX_TAGS};
use crate::vocab::{check_pairing, Classification, Determination, Severity};
use serde::{Deserialize, Serialize};

crate::vocab::vocab_enum!(
    /// Incident status; `redirected` when merged into another incident.
    IncidentStatus {
        Active = "active",
        InProgress = "inProgress",
        Resolved = "resolved",
        Redirected = "redirected",
        UnknownFutureValue = "unknownFutureValue",
    }
);

/// An incident as the queue and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentRecord {
    pub id: String,
    pub display_name: String,
    /// The highest severity of its unresolved alerts (of all alerts once all are resolved).
    pub severity: Severity,
    pub status: IncidentStatus,
    pub classification: Classification,
    pub determination: Determination,
    pub assigned_to: Option<String>,
    pub tags: Vec<String>,
    /// Set when `status` is `redirected`: the incident this one was merged into.
    pub redirect_incident_id: Option<String>,
    pub alert_count: i64,
    /// Service sources of its alerts.
    pub service_sources: Vec<String>,
    pub categories: Vec<String>,
    #[serde(rename = "firstActivityDateTime")]
    pub first_activity: Timestamp,
    #[serde(rename = "lastActivityDateTime")]
    pub last_activity: Timestamp,
    #[serde(rename = "createdDateTime")]
    pub created: Timestamp,
    #[serde(rename = "lastUpdateDateTime")]
    pub last_update: Timestamp,
    #[serde(rename = "resolvedDateTime")]
    pub resolved: Option<Timestamp>,
    pub version: i64,
}

/// The name an incident shows: its only alert's title, or what its alerts are about.
pub fn display_name(count: i64, first_title: &str, categories: &[String]) -> String {
    if count <= 1 {
        return first_title.to_string();
    }
    let cats: Vec<&str> = categories
        .iter()
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .take(3)
        .collect();
    if cats.is_empty() {
        format!("Multi-stage incident ({count} alerts)")
    } else {
        format!(
            "Multi-stage incident involving {} ({count} alerts)",
            cats.join(" & ")
        )
    }
}

/// A change to an incident's triage state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentChange {
    pub status: Option<IncidentStatus>,
    pub assigned_to: Option<Option<String>>,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl IncidentChange {
    /// Whether the change asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.assigned_to.is_none()
            && self.classification.is_none()
            && self.determination.is_none()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
    }

    /// Checks values that need no incident: `redirected` is set by merging only.
    pub fn validate(&self) -> Result<(), DomainError> {
        if matches!(
            self.status,
            Some(IncidentStatus::Redirected | IncidentStatus::UnknownFutureValue)
        ) {
            return Err(DomainError::invalid(
                "status",
                "expected one of active, inProgress, resolved (merge to redirect)",
            ));
        }
        if matches!(
            self.classification,
            Some(Classification::UnknownFutureValue)
        ) {
            return Err(DomainError::invalid(
                "classification",
                "not a classification",
            ));
        }
        if let (Some(c), Some(d)) = (self.classification, self.determination) {
            check_pairing(c, d)?;
        }
        for (f, tags) in [
            ("addTags", &self.add_tags),
            ("removeTags", &self.remove_tags),
        ] {
            for t in tags {
                check_tag(f, t)?;
            }
        }
        Ok(())
    }

    /// Applies the change; same rules as alerts (resolving stamps the time, a determination
    /// must fit the classification).
    pub fn apply(
        &self,
        rec: &mut IncidentRecord,
        now: Timestamp,
    ) -> Result<Vec<FieldChange>, DomainError> {
        self.validate()?;
        if rec.status == IncidentStatus::Redirected {
            return Err(DomainError::invalid(
                "status",
                format!(
                    "the incident was merged into {}; change that one",
                    rec.redirect_incident_id.as_deref().unwrap_or("another")
                ),
            ));
        }
        let mut out = Vec::new();
        if let Some(s) = self.status {
            if s != rec.status {
                out.push(FieldChange {
                    field: "status",
                    old: Some(rec.status.to_string()),
                    new: Some(s.to_string()),
                });
                let resolved = (s == IncidentStatus::Resolved).then_some(now);
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
                old: Some(rec.classification.to_string()),
                new: Some(class.to_string()),
            });
            rec.classification = class;
        }
        if det != rec.determination {
            out.push(FieldChange {
                field: "determination",
                old: Some(rec.determination.to_string()),
                new: Some(det.to_string()),
            });
            rec.determination = det;
        }
        let mut tags = rec.tags.clone();
        for t in &self.add_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        tags.retain(|t| !self.remove_tags.contains(t));
        if tags.len() > MAX_TAGS {
            return Err(DomainError::invalid(
                "addTags",
                format!("at most {MAX_TAGS} tags"),
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
