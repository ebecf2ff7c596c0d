//! View models shared by the pages: rows, labels, links, times. Templates only print these
//! (askama escapes every value), so no page formats data on its own.
use super::Viewer;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rampart_domain::access::Permission;
use rampart_domain::alert::AlertRecord;
use rampart_domain::entity::{normalise, EntityKind};
use rampart_domain::history::HistoryEvent;
use rampart_domain::incident::IncidentStatus;
use rampart_domain::timestamp::Timestamp;
use rampart_domain::vocab::{
    allowed_determinations, AlertStatus, Classification, Determination, Severity,
};

/// Characters escaped in a query-string value.
pub const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Escapes `v` for a query string or a path segment.
pub fn enc(v: &str) -> String {
    utf8_percent_encode(v, QUERY_SET).to_string()
}

/// `2026-11-21 14:05:33` (UTC; the header says so).
pub fn when(ts: Timestamp) -> String {
    let s = ts.to_rfc3339();
    format!(
        "{} {}",
        s.get(..10).unwrap_or(""),
        s.get(11..19).unwrap_or("")
    )
}

pub fn when_opt(ts: Option<Timestamp>) -> String {
    ts.map(when).unwrap_or_default()
}

/// The link to an entity page; `value` is normalised so every spelling lands on one page.
pub fn entity_href(kind: EntityKind, value: &str) -> String {
    let v = normalise(kind, value).unwrap_or_else(|| value.to_string());
    format!("/entities/{}/{}", kind.as_str(), enc(&v))
}

pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Informational => "Informational",
        _ => "Unknown",
    }
}

pub fn status_label(s: AlertStatus) -> &'static str {
    match s {
        AlertStatus::New => "New",
        AlertStatus::InProgress => "In progress",
        AlertStatus::Resolved => "Resolved",
        AlertStatus::UnknownFutureValue => "Unknown",
    }
}

/// How the UI names a service or detection source: the product name for the well-known
/// ones, words otherwise.
pub fn source_label(v: &str) -> String {
    let known = match v {
        "microsoftDefenderForEndpoint" => "Defender for Endpoint",
        "microsoftDefenderForIdentity" => "Defender for Identity",
        "microsoftDefenderForOffice365" => "Defender for Office 365",
        "microsoftDefenderForCloudApps" => "Defender for Cloud Apps",
        "microsoft365Defender" => "Microsoft 365 Defender",
        "azureAdIdentityProtection" => "Entra ID Protection",
        "microsoftSentinel" => "Microsoft Sentinel",
        "microsoftDefenderForCloud" => "Defender for Cloud",
        "dataLossPrevention" => "Data loss prevention",
        _ => "",
    };
    if known.is_empty() {
        words(v)
    } else {
        known.to_string()
    }
}

/// A camelCase vocabulary value as words: `pendingApproval` → `Pending approval`.
pub fn words(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    for (i, c) in v.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if i == 0 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The page header: who is signed in, and which section is current.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub csrf: String,
    pub section: &'static str,
    pub title: String,
    /// Show the Settings link (users or tokens to manage).
    pub settings: bool,
}

impl Chrome {
    pub fn new(v: &Viewer, section: &'static str, title: impl Into<String>) -> Self {
        Chrome {
            username: v.username.clone(),
            display_name: v.display_name.clone(),
            role: v.role.clone(),
            csrf: v.csrf.clone(),
            section,
            title: title.into(),
            settings: super::settings::visible(v),
        }
    }
}

/// An impacted asset chip.
#[derive(Debug, Clone)]
pub struct Asset {
    pub kind: &'static str,
    pub name: String,
    pub href: String,
}

/// One queue row.
#[derive(Debug, Clone)]
pub struct AlertRow {
    pub id: String,
    pub href: String,
    pub title: String,
    pub tags: Vec<String>,
    pub severity: &'static str,
    pub severity_class: &'static str,
    pub investigation_state: String,
    pub status: &'static str,
    pub category: String,
    pub detection_source: String,
    pub service_source: String,
    pub assets: Vec<Asset>,
    pub assets_more: usize,
    pub first: String,
    pub last: String,
    pub version: i64,
    pub assigned_to: String,
    pub incident_id: String,
}

/// Assets shown in a queue cell; the rest are counted.
const ASSETS_SHOWN: usize = 3;

impl AlertRow {
    pub fn new(r: &AlertRecord) -> Self {
        let assets: Vec<Asset> = r
            .impacted_assets
            .iter()
            .map(|a| Asset {
                kind: a.kind.as_str(),
                name: a.name.clone(),
                href: entity_href(a.kind, &a.name),
            })
            .collect();
        AlertRow {
            id: r.id.clone(),
            href: format!("/alerts/{}", enc(&r.id)),
            title: r.title.clone(),
            tags: r.tags.clone(),
            severity: severity_label(r.severity),
            severity_class: r.severity.as_str(),
            investigation_state: r
                .investigation_state
                .as_deref()
                .map(words)
                .unwrap_or_default(),
            status: status_label(r.status),
            category: r.category.clone().unwrap_or_default(),
            detection_source: source_label(&r.detection_source),
            service_source: r.service_source.clone(),
            assets_more: assets.len().saturating_sub(ASSETS_SHOWN),
            assets: assets.into_iter().take(ASSETS_SHOWN).collect(),
            first: when(r.first_activity),
            last: when(r.last_activity),
            version: r.version,
            assigned_to: r.assigned_to.clone().unwrap_or_default(),
            incident_id: r.incident_id.clone().unwrap_or_default(),
        }
    }
}

/// An incident as one line: on the alert page and on entity pages.
#[derive(Debug, Clone)]
pub struct IncidentLine {
    pub id: String,
    pub href: String,
    pub name: String,
    pub severity: &'static str,
    pub severity_class: &'static str,
    pub status: String,
    pub alert_count: i64,
    pub last: String,
}

impl IncidentLine {
    pub fn new(i: &rampart_domain::incident::IncidentRecord) -> Self {
        IncidentLine {
            id: i.id.clone(),
            href: format!("/incidents/{}", enc(&i.id)),
            name: i.display_name.clone(),
            severity: severity_label(i.severity),
            severity_class: i.severity.as_str(),
            status: words(i.status.as_str()),
            alert_count: i.alert_count,
            last: when(i.last_activity),
        }
    }
}

/// A `<select>` option.
#[derive(Debug, Clone)]
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
    /// Classifications this determination belongs to (space-separated), for the
    /// determination list that follows the classification.
    pub for_classes: String,
}

fn opt(value: &str, label: &str, selected: bool) -> Opt {
    Opt {
        value: value.into(),
        label: label.into(),
        selected,
        for_classes: String::new(),
    }
}

/// Choices of the manage panes.
#[derive(Debug, Clone)]
pub struct ManageChoices {
    pub statuses: Vec<Opt>,
    pub classifications: Vec<Opt>,
    pub determinations: Vec<Opt>,
    pub assignees: Vec<Opt>,
    /// The one item's tags, each offered for removal (none for a selection).
    pub tags: Vec<String>,
}

const CLASSES: [Classification; 4] = [
    Classification::Unknown,
    Classification::TruePositive,
    Classification::InformationalExpectedActivity,
    Classification::FalsePositive,
];

impl ManageChoices {
    /// Choices with the current values selected. `statuses` are (value, label) pairs: alerts
    /// and incidents name theirs differently.
    pub fn new(
        statuses: &[(&str, &str)],
        status: &str,
        class: Classification,
        det: Determination,
        assigned: Option<&str>,
        users: &[(String, String)],
    ) -> Self {
        let mut dets: Vec<Opt> = Vec::new();
        for c in CLASSES {
            for d in allowed_determinations(c) {
                if *d == Determination::UnknownFutureValue {
                    continue;
                }
                match dets.iter_mut().find(|o| o.value == d.as_str()) {
                    Some(o) => {
                        o.for_classes.push(' ');
                        o.for_classes.push_str(c.as_str());
                    }
                    None => dets.push(Opt {
                        value: d.as_str().into(),
                        label: d.label().into(),
                        selected: *d == det,
                        for_classes: c.as_str().into(),
                    }),
                }
            }
        }
        let mut assignees = vec![opt("", "Unassigned", assigned.is_none())];
        let mut listed = false;
        for (name, display) in users {
            let sel = assigned == Some(name.as_str());
            listed |= sel;
            let label = if display.is_empty() || display == name {
                name.clone()
            } else {
                format!("{display} ({name})")
            };
            assignees.push(opt(name, &label, sel));
        }
        if let (Some(a), false) = (assigned, listed) {
            assignees.push(opt(a, a, true));
        }
        ManageChoices {
            statuses: statuses
                .iter()
                .map(|(v, l)| opt(v, l, *v == status))
                .collect(),
            classifications: CLASSES
                .iter()
                .map(|c| opt(c.as_str(), c.label(), *c == class))
                .collect(),
            determinations: dets,
            assignees,
            tags: Vec::new(),
        }
    }

    /// Offers the one item's `tags` for removal.
    pub fn with_tags(mut self, tags: &[String]) -> Self {
        self.tags = tags.to_vec();
        self
    }
}

/// Alert statuses the manage pane offers.
pub const ALERT_STATUSES: &[(&str, &str)] = &[
    ("new", "New"),
    ("inProgress", "In progress"),
    ("resolved", "Resolved"),
];

/// Enabled users for assignment lists, as (username, display name).
pub async fn assignable(state: &crate::AppState) -> Vec<(String, String)> {
    match state.store.list_users().await {
        Ok(users) => users
            .into_iter()
            .filter(|u| !u.disabled)
            .map(|u| (u.username, u.display_name))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "listing users for the assignee list failed");
            Vec::new()
        }
    }
}

/// One row of a Comments & history list.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub at: String,
    pub actor: String,
    pub is_comment: bool,
    pub text: String,
}

impl HistoryRow {
    pub fn new(e: &HistoryEvent) -> Self {
        HistoryRow {
            at: when(e.at),
            actor: format!("{} ({})", e.actor.name, e.actor.kind.as_str()),
            is_comment: e.action == "comment",
            text: history_sentence(e),
        }
    }

    /// A row of the history shown on `page`'s page. An incident's history includes that of
    /// the incidents merged into it; their rows say which incident they happened to, or
    /// "Status changed to In progress" and "Merged into incident <this one>" read as if
    /// they were this incident's.
    pub fn on_page(e: &HistoryEvent, page: &str) -> Self {
        let mut row = HistoryRow::new(e);
        if e.target_id != page {
            row.text = format!("In {} (merged here): {}", e.target_id, row.text);
        }
        row
    }
}

/// How a history row names a field.
fn field_label(field: &str) -> String {
    match field {
        "assignedTo" => "Assigned to".into(),
        "incidentId" => "Incident".into(),
        other => words(other),
    }
}

/// A stored field value as the rest of the UI shows it: vocabulary values by their labels,
/// an empty value as "none".
fn value_label(field: &str, v: Option<&str>) -> String {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return "none".into();
    };
    let label = match field {
        "status" => AlertStatus::parse(v)
            .map(|s| status_label(s).to_string())
            .or_else(|| IncidentStatus::parse(v).map(|s| words(s.as_str()))),
        "classification" => Classification::parse(v).map(|c| c.label().to_string()),
        "determination" => Determination::parse(v).map(|d| d.label().to_string()),
        "severity" => Severity::parse(v).map(|s| severity_label(s).to_string()),
        // Times as the rest of the page shows them, not as stored.
        f if f.ends_with("DateTime") => Timestamp::parse_rfc3339(v).ok().map(when),
        _ => None,
    };
    label.unwrap_or_else(|| v.to_string())
}

/// One history event as a line an analyst reads: what happened, in the UI's own words, with
/// the stored reason after a dash.
pub fn history_sentence(e: &HistoryEvent) -> String {
    let (old, new) = (e.old_value.as_deref(), e.new_value.as_deref());
    let field = e.field.as_deref().unwrap_or("");
    let main = match e.action.as_str() {
        "comment" => return e.text.clone().unwrap_or_default(),
        "created" => "Created".to_string(),
        "merged" => match new.and_then(|n| n.strip_prefix("redirected to ")) {
            Some(into) => format!("Merged into incident {into}"),
            None => "Merged into another incident".to_string(),
        },
        "absorbed" => match old {
            Some(from) => format!("Took in the alerts of incident {from}"),
            None => "Took in the alerts of another incident".to_string(),
        },
        "alertLinked" => format!("Alert {} added", new.unwrap_or("?")),
        "alertUnlinked" => format!("Alert {} moved out", old.unwrap_or("?")),
        "linked" | "unlinked" => match (old, new) {
            (Some(o), Some(n)) => format!("Moved from incident {o} to incident {n}"),
            (None, Some(n)) => format!("Put in incident {n}"),
            _ => words(&e.action),
        },
        action if !field.is_empty() => {
            let what = field_label(field);
            let sent = if action == "resent" {
                " by the producer's re-send"
            } else {
                ""
            };
            match (old.filter(|o| !o.is_empty()), new.filter(|n| !n.is_empty())) {
                (None, Some(_)) => format!("{what} set to {}{sent}", value_label(field, new)),
                (Some(_), None) => {
                    format!("{what} cleared (was {}){sent}", value_label(field, old))
                }
                _ => format!(
                    "{what} changed from {} to {}{sent}",
                    value_label(field, old),
                    value_label(field, new)
                ),
            }
        }
        action => match new {
            Some(n) => format!("{}: {n}", words(action)),
            None => words(action),
        },
    };
    match e.text.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => format!("{main} — {t}"),
        None => main,
    }
}

/// Whether the viewer may manage alerts of some source (the queue's selection tools).
pub fn can_manage_alerts(v: &Viewer) -> bool {
    v.can(Permission::AlertsManage, None)
}

#[cfg(test)]
mod tests {
    use super::history_sentence;
    use rampart_domain::history::{Actor, ActorKind, HistoryEvent};
    use rampart_domain::timestamp::Timestamp;

    fn event(
        action: &str,
        field: Option<&str>,
        old: Option<&str>,
        new: Option<&str>,
    ) -> HistoryEvent {
        HistoryEvent {
            seq: 1,
            target_id: "inc-1".into(),
            at: Timestamp::from_micros(0),
            actor: Actor {
                kind: ActorKind::User,
                name: "ana".into(),
            },
            action: action.into(),
            field: field.map(Into::into),
            old_value: old.map(Into::into),
            new_value: new.map(Into::into),
            text: None,
        }
    }

    /// History rows read as sentences with the UI's labels, not as stored field names.
    #[test]
    fn history_times_read_as_the_page_shows_them() {
        let e = event(
            "changed",
            Some("resolvedDateTime"),
            None,
            Some("2026-12-06T15:23:37.033999Z"),
        );
        assert_eq!(
            history_sentence(&e),
            format!(
                "Resolved date time set to {}",
                super::when(Timestamp::parse_rfc3339("2026-12-06T15:23:37Z").unwrap())
            )
        );
    }

    #[test]
    fn merged_incidents_rows_name_their_incident() {
        let e = event(
            "changed",
            Some("status"),
            Some("active"),
            Some("inProgress"),
        );
        assert_eq!(
            super::HistoryRow::on_page(&e, "inc-1").text,
            "Status changed from Active to In progress"
        );
        assert_eq!(
            super::HistoryRow::on_page(&e, "inc-2").text,
            "In inc-1 (merged here): Status changed from Active to In progress"
        );
    }

    #[test]
    fn history_rows_read_as_sentences() {
        let s = |e: &HistoryEvent| history_sentence(e);
        assert_eq!(
            s(&event(
                "changed",
                Some("status"),
                Some("active"),
                Some("inProgress")
            )),
            "Status changed from Active to In progress"
        );
        assert_eq!(
            s(&event(
                "changed",
                Some("classification"),
                Some("unknown"),
                Some("truePositive")
            )),
            "Classification changed from Not set to True alert"
        );
        assert_eq!(
            s(&event("changed", Some("assignedTo"), None, Some("ana"))),
            "Assigned to set to ana"
        );
        assert_eq!(
            s(&event("changed", Some("tags"), Some("a, b"), Some(""))),
            "Tags cleared (was a, b)"
        );
        assert_eq!(
            s(&event(
                "resent",
                Some("severity"),
                Some("low"),
                Some("high")
            )),
            "Severity changed from Low to High by the producer's re-send"
        );
        let mut merged = event("merged", Some("status"), None, Some("redirected to inc-9"));
        merged.text = Some("alert da-1 shares user:nina with the absorbed incident".into());
        assert_eq!(
            s(&merged),
            "Merged into incident inc-9 — alert da-1 shares user:nina with the absorbed incident"
        );
        assert_eq!(
            s(&event("absorbed", Some("alerts"), Some("inc-2"), None)),
            "Took in the alerts of incident inc-2"
        );
        assert_eq!(
            s(&event(
                "linked",
                Some("incidentId"),
                Some("inc-1"),
                Some("inc-2")
            )),
            "Moved from incident inc-1 to incident inc-2"
        );
        assert_eq!(
            s(&event("alertLinked", Some("alerts"), None, Some("da-7"))),
            "Alert da-7 added"
        );
        let mut comment = event("comment", None, None, None);
        comment.text = Some("looks bad".into());
        assert_eq!(s(&comment), "looks bad");
    }
}
