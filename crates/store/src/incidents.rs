//! Types the store exchanges for incidents.
use rampart_domain::alert::AlertRecord;
use rampart_domain::condition::Condition;
use rampart_domain::correlate::Reason;
use rampart_domain::entity::EntityKey;
use rampart_domain::incident::{IncidentRecord, IncidentStatus};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::vocab::Severity;
use serde::Serialize;

/// One incident-queue request. Keyset paging on (lastUpdate, internal row id), most recently
/// updated first.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub statuses: Vec<IncidentStatus>,
    pub severities: Vec<Severity>,
    pub assigned_to: Option<String>,
    pub tag: Option<String>,
    /// Last activity at or after / before.
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Last update at or after (the queue's default window).
    pub updated_since: Option<Timestamp>,
    pub page_size: usize,
    /// The last (lastUpdate micros, row id) of the previous page.
    pub after: Option<(i64, i64)>,
    /// Role limits: only incidents all of whose alert sources are allowed / none denied.
    pub allowed_sources: Option<Vec<String>>,
    pub denied_sources: Vec<String>,
    /// Only incidents holding at least one alert that matches, in the alerts' condition
    /// language (`entity.device:ws-17 severity:high`); empty for no such filter.
    pub alerts: Condition,
    /// What relative times in `alerts` (`firstActivity>now-7d`) count from.
    pub now: Timestamp,
}

/// One page of incidents.
#[derive(Debug, Clone)]
pub struct IncidentPage {
    pub items: Vec<IncidentRecord>,
    /// Key of the last item when there is a next page.
    pub next: Option<(i64, i64)>,
    pub total: u64,
    pub total_is_exact: bool,
}

/// An incident with what its page shows.
#[derive(Debug, Clone)]
pub struct IncidentDetail {
    pub incident: IncidentRecord,
    /// Its alerts, oldest activity first (at most 1,000).
    pub alerts: Vec<AlertRecord>,
    /// Why each alert is in it.
    pub reasons: Vec<Reason>,
    /// Every entity its alerts name.
    pub entities: Vec<EntityKey>,
}

/// What a re-correlation did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrelateSummary {
    /// Alerts placed (manual links are kept, not counted).
    pub alerts: u64,
    /// Alerts whose incident changed.
    pub moved: u64,
    /// Incidents holding alerts afterwards.
    pub incidents: u64,
}
