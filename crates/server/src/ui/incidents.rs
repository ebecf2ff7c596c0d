//! Incident pages: the incidents queue (`/incidents`) and the incident page
//! (`/incidents/{id}`) with its alerts, impacted assets, correlation reasons, manage pane,
//! and comments and history.
use super::queue::{checks, query_pairs, SEVERITIES};
use super::view::{self, enc, AlertRow, Chrome, HistoryRow, ManageChoices};
use super::{html, PageResult, Viewer};
use crate::api::incidents::{
    find_incident, incident_history, incident_query, next_cursor, IncidentParams,
};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use rampart_domain::access::Permission;
use rampart_domain::entity::EntityKind;
use rampart_domain::incident::IncidentRecord;
use std::collections::BTreeMap;

/// Incident statuses the manage pane offers.
const INCIDENT_STATUSES: &[(&str, &str)] = &[
    ("active", "Active"),
    ("inProgress", "In progress"),
    ("resolved", "Resolved"),
];

/// One incidents-queue row.
struct IncidentRow {
    href: String,
    id: String,
    name: String,
    severity: &'static str,
    severity_class: &'static str,
    status: String,
    alert_count: i64,
    sources: String,
    categories: String,
    assigned_to: String,
    tags: Vec<String>,
    first: String,
    last: String,
    /// The queue's order.
    updated: String,
}

impl IncidentRow {
    fn new(i: &IncidentRecord) -> Self {
        IncidentRow {
            href: format!("/incidents/{}", enc(&i.id)),
            id: i.id.clone(),
            name: i.display_name.clone(),
            severity: view::severity_label(i.severity),
            severity_class: i.severity.as_str(),
            status: view::words(i.status.as_str()),
            alert_count: i.alert_count,
            sources: i
                .service_sources
                .iter()
                .map(|s| view::source_label(s))
                .collect::<Vec<_>>()
                .join(", "),
            categories: i.categories.join(", "),
            assigned_to: i.assigned_to.clone().unwrap_or_default(),
            tags: i.tags.clone(),
            first: view::when(i.first_activity),
            last: view::when(i.last_activity),
            updated: view::when(i.last_update),
        }
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct QueuePage {
    chrome: Chrome,
    rows: Vec<IncidentRow>,
    statuses: Vec<super::queue::Check>,
    severities: Vec<super::queue::Check>,
    assigned_to: String,
    /// The alert condition an incident must hold a match for.
    q: String,
    summary: String,
    next_href: String,
    /// The first page with the same filters; empty on the first page.
    first_href: String,
    error: String,
}

/// `GET /incidents`.
pub async fn queue(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let grant = viewer.caller.grant(Permission::IncidentsRead, None)?;
    let pairs = query_pairs(raw.as_deref())?;
    let (mut status, mut severity, mut assigned, mut cursor, mut shown) =
        (Vec::new(), Vec::new(), String::new(), None, false);
    let mut search = String::new();
    for (k, v) in pairs {
        match k.as_str() {
            "status" => status.push(v),
            "severity" => severity.push(v),
            "assignedTo" => assigned = v.trim().to_string(),
            "q" => search = v.trim().to_string(),
            "cursor" => cursor = Some(v),
            "statusShown" => shown = true,
            _ => {}
        }
    }
    let params = IncidentParams {
        status: if status.is_empty() {
            shown.then(|| "any".to_string())
        } else {
            Some(status.join(","))
        },
        severity: (!severity.is_empty()).then(|| severity.join(",")),
        assigned_to: (!assigned.is_empty()).then(|| assigned.clone()),
        tag: None,
        since: None,
        until: None,
        page_size: None,
        cursor: cursor.clone(),
        q: (!search.is_empty()).then(|| search.clone()),
        ..IncidentParams::default()
    };
    // The filters as the links to other pages carry them.
    let mut filters: Vec<String> = status
        .iter()
        .map(|s| format!("status={}", enc(s)))
        .collect();
    if shown {
        filters.push("statusShown=1".into());
    }
    filters.extend(severity.iter().map(|s| format!("severity={}", enc(s))));
    if !assigned.is_empty() {
        filters.push(format!("assignedTo={}", enc(&assigned)));
    }
    if !search.is_empty() {
        filters.push(format!("q={}", enc(&search)));
    }
    let first_href = if cursor.is_some() {
        format!("/incidents?{}", filters.join("&"))
    } else {
        String::new()
    };
    let (mut rows, mut summary, mut next_href, mut error) =
        (Vec::new(), String::new(), String::new(), String::new());
    let mut code = StatusCode::OK;
    match incident_query(params, &grant, state.clock.now()) {
        Ok(q) => {
            let page = state.store.list_incidents(&q).await?;
            rows = page.items.iter().map(IncidentRow::new).collect();
            summary = format!(
                "{} shown of {}{}",
                rows.len(),
                super::queue::thousands(page.total),
                if page.total_is_exact { "" } else { "+" }
            );
            if let Some(c) = next_cursor(page.next) {
                next_href = format!("/incidents?{}", filters.join("&"));
                if !filters.is_empty() {
                    next_href.push('&');
                }
                next_href.push_str(&format!("cursor={}", enc(&c)));
            }
        }
        Err(ApiError::BadRequest { detail, .. }) => {
            code = StatusCode::BAD_REQUEST;
            error = detail;
        }
        Err(e) => return Err(e.into()),
    }
    let default_status = if status.is_empty() && !shown {
        vec!["active".to_string(), "inProgress".to_string()]
    } else {
        status
    };
    let t = QueuePage {
        chrome: Chrome::new(&viewer, "incidents", "Incidents"),
        rows,
        statuses: checks("status", INCIDENT_STATUSES, &default_status),
        severities: checks("severity", SEVERITIES, &severity),
        assigned_to: assigned,
        q: search,
        summary,
        next_href,
        first_href,
        error,
    };
    Ok(html(code, t))
}

/// Why one alert is in the incident: the entities it shares, and the rules.
struct ReasonRow {
    alert_href: String,
    alert_title: String,
    /// (kind, shown value, entity page link)
    shared: Vec<(&'static str, String, String)>,
    rules: String,
}

/// Impacted assets of one kind.
struct AssetGroup {
    label: &'static str,
    items: Vec<(String, String)>,
    more: usize,
}

/// Assets listed per kind; the rest are counted.
const ASSETS_PER_KIND: usize = 12;

/// A lineage key (`device|pid|created µs`) as an analyst reads it.
fn shown_value(kind: EntityKind, value: &str) -> String {
    if kind != EntityKind::Process {
        return value.to_string();
    }
    let mut parts = value.split('|');
    match (
        parts.next(),
        parts.next(),
        parts.next().and_then(|m| m.parse::<i64>().ok()),
    ) {
        (Some(_), Some(pid), Some(micros)) => format!(
            "PID {pid} started {}",
            view::when(rampart_domain::timestamp::Timestamp::from_micros(micros))
        ),
        _ => value.to_string(),
    }
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    id: String,
    name: String,
    severity: &'static str,
    severity_class: &'static str,
    status: String,
    classification: &'static str,
    determination: &'static str,
    assigned_to: String,
    tags: Vec<String>,
    version: i64,
    first: String,
    last: String,
    created: String,
    redirect_href: String,
    alerts: Vec<AlertRow>,
    assets: Vec<AssetGroup>,
    reasons: Vec<ReasonRow>,
    /// Alerts with no reason of their own: each opened this incident or one merged into it.
    unexplained: usize,
    history: Vec<HistoryRow>,
    can_manage: bool,
    manage: ManageChoices,
    manage_single: bool,
    manage_title: &'static str,
}

/// `GET /incidents/{id}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath(id): ApiPath<String>,
) -> PageResult {
    let (d, _) = find_incident(&state, &viewer.caller, &id, Permission::IncidentsRead).await?;
    let i = &d.incident;
    let can_manage = viewer.can_incident(i, Permission::IncidentsManage);
    let titles: BTreeMap<&str, &str> = d
        .alerts
        .iter()
        .map(|a| (a.id.as_str(), a.title.as_str()))
        .collect();
    let mut groups: BTreeMap<u8, AssetGroup> = BTreeMap::new();
    for e in &d.entities {
        let (order, label) = match e.kind {
            EntityKind::Device => (0, "Device"),
            EntityKind::User => (1, "User"),
            EntityKind::Mailbox => (2, "Mailbox"),
            EntityKind::Ip => (3, "IP address"),
            EntityKind::Url => (4, "URL"),
            EntityKind::Domain => (5, "Domain"),
            EntityKind::FileSha256 => (6, "File (SHA-256)"),
            EntityKind::FileName => (7, "File name"),
            EntityKind::CloudApp => (8, "Cloud app"),
            // Lineage keys and secondary hashes are plumbing, not assets.
            _ => continue,
        };
        let g = groups.entry(order).or_insert_with(|| AssetGroup {
            label,
            items: Vec::new(),
            more: 0,
        });
        if g.items.len() < ASSETS_PER_KIND {
            g.items
                .push((e.value.clone(), view::entity_href(e.kind, &e.value)));
        } else {
            g.more += 1;
        }
    }
    let mut history: Vec<HistoryRow> = incident_history(&state, i)
        .await?
        .iter()
        .map(|e| HistoryRow::on_page(e, &i.id))
        .collect();
    history.reverse();
    let mut reasons: Vec<ReasonRow> = Vec::new();
    for r in &d.reasons {
        let href = format!("/alerts/{}", enc(&r.alert_id));
        let i = match reasons.iter().position(|x| x.alert_href == href) {
            Some(i) => i,
            None => {
                reasons.push(ReasonRow {
                    alert_href: href,
                    alert_title: titles
                        .get(r.alert_id.as_str())
                        .map_or_else(|| r.alert_id.clone(), |t| (*t).to_string()),
                    shared: Vec::new(),
                    rules: String::new(),
                });
                reasons.len() - 1
            }
        };
        let row = &mut reasons[i];
        // A link by hand names no entity (its kind and value carry no meaning).
        let by_hand = r.rule == rampart_domain::correlate::RULE_MANUAL;
        if !by_hand && !r.value.is_empty() {
            row.shared.push((
                super::story::kind_label(r.kind),
                shown_value(r.kind, &r.value),
                view::entity_href(r.kind, &r.value),
            ));
        }
        let rule = if by_hand {
            "Linked by hand".to_string()
        } else {
            view::words(&r.rule)
        };
        if !row.rules.split(", ").any(|x| x == rule) {
            if !row.rules.is_empty() {
                row.rules.push_str(", ");
            }
            row.rules.push_str(&rule);
        }
    }
    let users = if can_manage {
        view::assignable(&state).await
    } else {
        Vec::new()
    };
    let t = IncidentPage {
        chrome: Chrome::new(&viewer, "incidents", i.display_name.clone()),
        id: i.id.clone(),
        name: i.display_name.clone(),
        severity: view::severity_label(i.severity),
        severity_class: i.severity.as_str(),
        status: view::words(i.status.as_str()),
        classification: i.classification.label(),
        determination: i.determination.label(),
        assigned_to: i.assigned_to.clone().unwrap_or_default(),
        tags: i.tags.clone(),
        version: i.version,
        first: view::when(i.first_activity),
        last: view::when(i.last_activity),
        created: view::when(i.created),
        redirect_href: i
            .redirect_incident_id
            .as_deref()
            .map(|r| format!("/incidents/{}", enc(r)))
            .unwrap_or_default(),
        alerts: d.alerts.iter().map(AlertRow::new).collect(),
        assets: groups.into_values().collect(),
        unexplained: d.alerts.len().saturating_sub(reasons.len()),
        reasons,
        history,
        can_manage,
        manage: ManageChoices::new(
            INCIDENT_STATUSES,
            i.status.as_str(),
            i.classification,
            i.determination,
            i.assigned_to.as_deref(),
            &users,
        )
        .with_tags(&i.tags),
        manage_single: true,
        manage_title: "Manage incident",
    };
    Ok(html(StatusCode::OK, t))
}
