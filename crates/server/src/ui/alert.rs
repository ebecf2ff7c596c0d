//! The alert page (`/alerts/{id}`): what happened, the entities involved, the alert story
//! (process tree with the other alerts on it), the details pane, manage alert, comments and
//! history, and the incident it belongs to.
use super::story::{self, Entity, Relation, Story};
use super::view::{self, enc, Chrome, HistoryRow, ManageChoices, ALERT_STATUSES};
use super::{html, PageError, PageResult, Viewer};
use crate::api::alerts::{alert_with_grant, scoped_query};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use rampart_domain::access::{Grant, Permission};
use rampart_domain::alert::AlertRecord;
use rampart_domain::condition;
use rampart_domain::document;
use rampart_domain::entity::EntityKind;
use serde_json::Value;

/// Most other alerts pulled into one story.
const MAX_STORY_ALERTS: usize = 50;
/// Most process keys used to find them.
const MAX_STORY_KEYS: usize = 64;
/// Other alerts listed for an entity in the details pane.
const PANE_ALERTS: usize = 10;

/// A row of the rendered process tree (see [`story::Step`]).
struct TreeRow {
    /// False for the row that closes a node's children.
    start: bool,
    has_children: bool,
    open: bool,
    focus: bool,
    image: String,
    pid: String,
    command_line: String,
    path: String,
    user: String,
    created: String,
    sha256: String,
    verdict: String,
    inferred: bool,
    alerts: Vec<TreeAlert>,
    leaves: Vec<(&'static str, String)>,
}

struct TreeAlert {
    href: String,
    title: String,
    severity: &'static str,
    severity_class: &'static str,
    relation: &'static str,
    at: String,
}

fn tree_rows(st: &Story) -> Vec<TreeRow> {
    st.steps()
        .into_iter()
        .map(|s| match s.node {
            None => TreeRow {
                start: false,
                has_children: s.has_children,
                open: false,
                focus: false,
                image: String::new(),
                pid: String::new(),
                command_line: String::new(),
                path: String::new(),
                user: String::new(),
                created: String::new(),
                sha256: String::new(),
                verdict: String::new(),
                inferred: false,
                alerts: Vec::new(),
                leaves: Vec::new(),
            },
            Some(n) => TreeRow {
                start: true,
                has_children: s.has_children,
                open: s.open,
                focus: n.has_focus(),
                image: n.image.clone(),
                pid: n.pid.map(|p| p.to_string()).unwrap_or_default(),
                command_line: n.command_line.clone(),
                path: n.path.clone(),
                user: n.user.clone(),
                created: view::when_opt(n.created),
                sha256: n.sha256.clone(),
                verdict: n.verdict.clone(),
                inferred: n.inferred,
                alerts: n
                    .alerts
                    .iter()
                    .map(|a| TreeAlert {
                        href: format!("/alerts/{}", enc(&a.id)),
                        title: a.title.clone(),
                        severity: view::severity_label(a.severity),
                        severity_class: a.severity.as_str(),
                        relation: match a.relation {
                            Relation::Focus => "focus",
                            Relation::Before => "before",
                            Relation::After => "after",
                        },
                        at: view::when(a.at),
                    })
                    .collect(),
                leaves: n.leaves.iter().map(|l| (l.kind, l.text.clone())).collect(),
            },
        })
        .collect()
}

/// An entity button.
struct EntityButton {
    index: usize,
    kind: &'static str,
    kind_label: &'static str,
    label: String,
    roles: String,
}

/// The incident the alert belongs to, as the page shows it.
struct IncidentLink {
    line: view::IncidentLine,
    /// The viewer may open it (reads every source of its alerts).
    readable: bool,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    chrome: Chrome,
    id: String,
    title: String,
    severity: &'static str,
    severity_class: &'static str,
    status: &'static str,
    service_source: String,
    detection_source: String,
    provider_alert_id: String,
    category: String,
    description: String,
    recommended_actions: String,
    mitre: Vec<String>,
    first: String,
    last: String,
    created: String,
    classification: &'static str,
    determination: &'static str,
    assigned_to: String,
    tags: Vec<String>,
    version: i64,
    entities: Vec<EntityButton>,
    tree: Vec<TreeRow>,
    tree_nodes: usize,
    tree_truncated: usize,
    before: usize,
    after: usize,
    history: Vec<HistoryRow>,
    incident: Option<IncidentLink>,
    /// May link and unlink this alert by hand (`incidents.manage` for its source).
    can_link: bool,
    can_manage: bool,
    manage: ManageChoices,
    manage_single: bool,
    manage_title: &'static str,
}

fn str_field(doc: &Value, f: &str) -> String {
    doc.get(f).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The other alerts that share a process with `alert`, with their documents, oldest first.
async fn story_alerts(
    state: &AppState,
    grant: &Grant,
    alert: &rampart_store::StoredAlert,
    doc: Value,
) -> Result<Vec<(AlertRecord, Value)>, PageError> {
    let keys: Vec<String> = alert
        .entities
        .iter()
        .filter(|k| k.kind == EntityKind::Process)
        .take(MAX_STORY_KEYS)
        .map(|k| format!("\"{}\"", k.value.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    let mut out = vec![(alert.record.clone(), doc)];
    if keys.is_empty() {
        return Ok(out);
    }
    let text = format!("entity.process:{}", keys.join(","));
    let cond = condition::parse(&text).map_err(ApiError::from)?;
    let mut q = scoped_query(grant, cond, state.clock.now());
    q.page_size = MAX_STORY_ALERTS;
    let page = state.store.list_alerts(&q).await?;
    for rec in page.items {
        if rec.id == alert.record.id {
            continue;
        }
        if let Some(other) = state.store.get_alert(&rec.id).await? {
            let d = document::render(&other.record, &other.document);
            out.push((other.record, d));
        }
    }
    out.sort_by(|a, b| (a.0.first_activity, &a.0.id).cmp(&(b.0.first_activity, &b.0.id)));
    Ok(out)
}

/// The alert's history, newest first: the analyst reads the latest comment first.
async fn history_rows(state: &AppState, rec: &AlertRecord) -> Result<Vec<HistoryRow>, PageError> {
    let items = crate::api::alerts::alert_history(state, rec).await?;
    Ok(items.iter().rev().map(HistoryRow::new).collect())
}

async fn incident_link(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<Option<IncidentLink>, PageError> {
    let Some(d) = state.store.get_incident(id).await? else {
        return Ok(None);
    };
    Ok(Some(IncidentLink {
        readable: viewer.can_incident(&d.incident, Permission::IncidentsRead),
        line: view::IncidentLine::new(&d.incident),
    }))
}

/// `GET /alerts/{id}`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath(id): ApiPath<String>,
) -> PageResult {
    let (alert, grant) =
        alert_with_grant(&state, &viewer.caller, &id, Permission::AlertsRead).await?;
    let rec = alert.record.clone();
    let doc = document::render(&rec, &alert.document);
    let entities = story::entities(&doc);
    let mitre: Vec<String> = doc
        .get("mitreTechniques")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let description = str_field(&doc, "description");
    let recommended_actions = str_field(&doc, "recommendedActions");
    let alerts = story_alerts(&state, &grant, &alert, doc).await?;
    let st = Story::build(&rec, &alerts);
    let (before, after) = st.neighbours();
    let can_manage = viewer.can(Permission::AlertsManage, Some(&rec.service_source));
    let users = if can_manage {
        view::assignable(&state).await
    } else {
        Vec::new()
    };
    let incident = match rec.incident_id.as_deref() {
        Some(i) => incident_link(&state, &viewer, i).await?,
        None => None,
    };
    let t = AlertPage {
        chrome: Chrome::new(&viewer, "alerts", rec.title.clone()),
        id: rec.id.clone(),
        title: rec.title.clone(),
        severity: view::severity_label(rec.severity),
        severity_class: rec.severity.as_str(),
        status: view::status_label(rec.status),
        service_source: view::source_label(&rec.service_source),
        detection_source: view::source_label(&rec.detection_source),
        provider_alert_id: rec.provider_alert_id.clone().unwrap_or_default(),
        category: rec.category.clone().unwrap_or_default(),
        description,
        recommended_actions,
        mitre,
        first: view::when(rec.first_activity),
        last: view::when(rec.last_activity),
        created: view::when(rec.created),
        classification: rec.classification.label(),
        determination: rec.determination.label(),
        assigned_to: rec.assigned_to.clone().unwrap_or_default(),
        tags: rec.tags.clone(),
        version: rec.version,
        entities: entities
            .iter()
            .enumerate()
            .map(|(index, e)| EntityButton {
                index,
                kind: e.kind.as_str(),
                kind_label: e.kind_label(),
                label: e.label.clone(),
                roles: e.roles.join(", "),
            })
            .collect(),
        tree: tree_rows(&st),
        tree_nodes: st.len(),
        tree_truncated: st.truncated,
        before,
        after,
        history: history_rows(&state, &rec).await?,
        incident,
        can_link: viewer.can(Permission::IncidentsManage, Some(&rec.service_source)),
        can_manage,
        manage: ManageChoices::new(
            ALERT_STATUSES,
            rec.status.as_str(),
            rec.classification,
            rec.determination,
            rec.assigned_to.as_deref(),
            &users,
        )
        .with_tags(&rec.tags),
        manage_single: true,
        manage_title: "Manage alert",
    };
    Ok(html(StatusCode::OK, t))
}

/// An alert listed in a pane or on an entity page.
pub struct AlertLine {
    pub href: String,
    pub title: String,
    pub severity: &'static str,
    pub severity_class: &'static str,
    pub status: &'static str,
    pub last: String,
}

impl AlertLine {
    pub fn new(r: &AlertRecord) -> Self {
        AlertLine {
            href: format!("/alerts/{}", enc(&r.id)),
            title: r.title.clone(),
            severity: view::severity_label(r.severity),
            severity_class: r.severity.as_str(),
            status: view::status_label(r.status),
            last: view::when(r.last_activity),
        }
    }
}

#[derive(Template)]
#[template(path = "entity_pane.html")]
struct EntityPane {
    kind_label: &'static str,
    label: String,
    roles: String,
    verdict: String,
    facts: Vec<(String, String)>,
    others: Vec<AlertLine>,
    more: bool,
    entity_href: String,
    queue_href: String,
}

/// The alerts (other than `except`) that name entity `kind`/`key`, newest first, that the
/// grant reaches; and whether there are more than `limit`.
pub async fn alerts_naming(
    state: &AppState,
    grant: &Grant,
    kind: EntityKind,
    key: &str,
    except: Option<&str>,
    limit: usize,
) -> Result<(Vec<AlertRecord>, bool, u64, bool), PageError> {
    let text = format!(
        "entity.{}:\"{}\"",
        kind.as_str(),
        key.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let cond = condition::parse(&text).map_err(ApiError::from)?;
    let mut q = scoped_query(grant, cond, state.clock.now());
    q.page_size = limit + 1;
    let page = state.store.list_alerts(&q).await?;
    let mut items: Vec<AlertRecord> = page
        .items
        .into_iter()
        .filter(|r| Some(r.id.as_str()) != except)
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    Ok((items, more, page.total, page.total_is_exact))
}

/// `GET /alerts/{id}/entities/{n}`: the details pane for the alert's n-th entity.
pub async fn entity_pane(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath((id, n)): ApiPath<(String, usize)>,
) -> PageResult {
    let (alert, grant) =
        alert_with_grant(&state, &viewer.caller, &id, Permission::AlertsRead).await?;
    let doc = document::render(&alert.record, &alert.document);
    let Some(e): Option<Entity> = story::entities(&doc).into_iter().nth(n) else {
        return Err(ApiError::NotFound(format!("alert {id:?} has no entity {n}")).into());
    };
    let (others, more, _, _) =
        alerts_naming(&state, &grant, e.kind, &e.key, Some(&id), PANE_ALERTS).await?;
    let t = EntityPane {
        kind_label: e.kind_label(),
        entity_href: format!("/entities/{}/{}", e.kind.as_str(), enc(&e.key)),
        queue_href: format!(
            "/alerts?entity={}&period=all&status=any",
            enc(&format!("{}:{}", e.kind.as_str(), e.key))
        ),
        label: e.label,
        roles: e.roles.join(", "),
        verdict: view::words(&e.verdict),
        facts: e.facts,
        others: others.iter().map(AlertLine::new).collect(),
        more,
    };
    Ok(html(StatusCode::OK, t))
}
