//! Incidents: groups of alerts that belong to one attack. Types only in this wave's
//! foundation; correlation fills them.
use crate::timestamp::Timestamp;
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

/// An incident as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub id: String,
    pub display_name: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub classification: Classification,
    pub determination: Determination,
    pub assigned_to: Option<String>,
    pub tags: Vec<String>,
    pub alert_ids: Vec<String>,
    /// Set when `status` is `redirected`: the incident this one was merged into.
    pub redirect_incident_id: Option<String>,
    pub created_date_time: Timestamp,
    pub last_update_date_time: Timestamp,
    pub version: i64,
}
