//! Entity pages (`/entities/{kind}/{value}`): every alert and incident that names one
//! device, account, mailbox, address, file … over time, with what the newest alert says
//! about it.
use super::alert::{alerts_naming, AlertLine};
use super::story;
use super::view::{self, enc, Chrome, IncidentLine};
use super::{html, PageResult, Viewer};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use rampart_domain::access::Permission;
use rampart_domain::document;
use rampart_domain::entity::{normalise, EntityKind};

/// Alerts an entity page lists.
const PAGE_ALERTS: usize = 200;
/// Incidents an entity page lists.
const PAGE_INCIDENTS: usize = 25;

#[derive(Template)]
#[template(path = "entity.html")]
struct EntityPage {
    chrome: Chrome,
    kind_label: &'static str,
    value: String,
    total: String,
    first_seen: String,
    last_seen: String,
    facts: Vec<(String, String)>,
    alerts: Vec<AlertLine>,
    more: bool,
    queue_href: String,
    incidents: Vec<IncidentLine>,
    /// Whether its alerts name more incidents than the page lists.
    incidents_more: bool,
    incidents_href: String,
}

/// `GET /entities/{kind}/{value}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath((kind, value)): ApiPath<(String, String)>,
) -> PageResult {
    let grant = viewer.caller.grant(Permission::AlertsRead, None)?;
    let kind = EntityKind::parse(&kind).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no entity kind {kind:?}; expected one of {}",
            EntityKind::expected()
        ))
    })?;
    let key = normalise(kind, &value)
        .ok_or_else(|| ApiError::bad("value", "the entity value is blank"))?;
    let (records, more, total, exact) =
        alerts_naming(&state, &grant, kind, &key, None, PAGE_ALERTS).await?;
    // What the newest alert's evidence says about the entity.
    let mut facts = Vec::new();
    if let Some(newest) = records.first() {
        if let Some(a) = state.store.get_alert(&newest.id).await? {
            let doc = document::render(&a.record, &a.document);
            if let Some(e) = story::entities(&doc)
                .into_iter()
                .find(|e| e.kind == kind && e.key == key)
            {
                facts = e.facts;
            }
        }
    }
    // The incidents of the newest alerts, newest activity first; when there are more, a
    // link to the incident queue searching for the entity lists them all.
    let mut incident_ids: Vec<&str> = Vec::new();
    for r in &records {
        if let Some(i) = r.incident_id.as_deref() {
            if !incident_ids.contains(&i) {
                incident_ids.push(i);
            }
        }
    }
    let incidents_more = more || incident_ids.len() > PAGE_INCIDENTS;
    incident_ids.truncate(PAGE_INCIDENTS);
    let mut found = Vec::new();
    for id in incident_ids {
        if let Some(d) = state.store.get_incident(id).await? {
            if viewer.can_incident(&d.incident, Permission::IncidentsRead) {
                found.push(d.incident);
            }
        }
    }
    found.sort_by_key(|i| std::cmp::Reverse(i.last_activity));
    let incidents = found.iter().map(IncidentLine::new).collect();
    let incidents_href = format!(
        "/incidents?statusShown=1&q={}",
        enc(&format!(
            "entity.{}:{}",
            kind.as_str(),
            crate::api::alerts::quote(&key)
        ))
    );
    let first_seen = records.iter().map(|r| r.first_activity).min();
    let last_seen = records.iter().map(|r| r.last_activity).max();
    let t = EntityPage {
        chrome: Chrome::new(
            &viewer,
            "entities",
            format!("{} {}", story::kind_label(kind), key),
        ),
        kind_label: story::kind_label(kind),
        total: format!("{}{}", total, if exact { "" } else { "+" }),
        first_seen: view::when_opt(first_seen),
        last_seen: view::when_opt(last_seen),
        facts,
        alerts: records.iter().map(AlertLine::new).collect(),
        more,
        queue_href: format!(
            "/alerts?entity={}&period=all&status=any",
            enc(&format!("{}:{}", kind.as_str(), key))
        ),
        incidents,
        incidents_more,
        incidents_href,
        value: key,
    };
    Ok(html(StatusCode::OK, t))
}
