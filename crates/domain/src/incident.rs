//! Incidents: groups of alerts that belong to one attack, built by correlation
//! ([`crate::correlate`]) or by hand, triaged like alerts.
use crate::error::DomainError;
use crate::timestamp::Timestamp;
use crate::triage::{
    check_tag, check_verdict, merged_tags, set_assignee, set_status, set_tags, set_verdict,
    FieldChange, MAX_TAGS,
};
use crate::vocab::{Classification, Determination, Severity};
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
        check_verdict(self.classification, self.determination)?;
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
        set_status(
            &mut rec.status,
            self.status,
            IncidentStatus::Resolved,
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
        let tags = merged_tags(&rec.tags, None, &self.add_tags, &self.remove_tags);
        if tags.len() > MAX_TAGS && tags.len() > rec.tags.len() {
            return Err(DomainError::invalid(
                "addTags",
                format!("at most {MAX_TAGS} tags"),
            ));
        }
        set_tags(&mut rec.tags, tags, &mut out);
        if !out.is_empty() {
            rec.last_update = now;
        }
        Ok(out)
    }
}
