//! Incidents: the queue, the incident page, triage, merge, and manual links of alerts.
use crate::api::alerts::{alert_with_grant, limit_sources};
use crate::api::triage::{check_change, expected_version, with_etag};
use crate::api::users::double_option;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use rampart_domain::access::{Grant, Permission};
use rampart_domain::history::{HistoryEvent, TargetKind};
use rampart_domain::incident::{IncidentChange, IncidentStatus};
use rampart_domain::timestamp::{Timestamp, DAY_MICROS};
use rampart_domain::triage::check_comment;
use rampart_domain::vocab::{Classification, Determination, Severity};
use rampart_store::query::MAX_PAGE_SIZE;
use rampart_store::{Cursor, IncidentDetail, IncidentQuery};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Incident queue filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IncidentParams {
    /// e.g. `active,inProgress` (default); `any` for all.
    pub status: Option<String>,
    /// e.g. `high,medium`
    pub severity: Option<String>,
    pub assigned_to: Option<String>,
    pub tag: Option<String>,
    /// RFC 3339: last activity at or after. With `until`, replaces the default window
    /// (incidents updated in the last 30 days).
    pub since: Option<String>,
    /// RFC 3339: last activity before.
    pub until: Option<String>,
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub page_size: Option<usize>,
    pub cursor: Option<String>,
    /// Only incidents holding an alert that matches this condition (the alerts queue's
    /// language), e.g. `entity.device:ws-17 "mimikatz"`.
    pub q: Option<String>,
    /// Only incidents holding an alert from one of these sources, e.g.
    /// `microsoftDefenderForEndpoint`.
    pub service_source: Option<String>,
    /// Only incidents holding an alert of one of these categories.
    pub category: Option<String>,
    /// Only incidents holding an alert about this entity, `kind:value`, e.g. `device:ws-17`.
    pub entity: Option<String>,
}

/// A comma-separated list of values ([`super::alerts::list_values`]), each a member.
fn list<T>(
    field: &str,
    raw: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: String,
) -> ApiResult<Vec<T>> {
    super::alerts::list_values(field, raw)?
        .into_iter()
        .map(|s| {
            parse(s).ok_or_else(|| {
                ApiError::bad(
                    field,
                    format!("{field}: unknown value {s:?}; expected one of {expected}"),
                )
            })
        })
        .collect()
}

fn time(field: &str, v: &str) -> ApiResult<Timestamp> {
    Timestamp::parse_rfc3339(v).map_err(|e| ApiError::bad(field, format!("{field}: {e}")))
}

/// The store query for the incident queue's parameters, limited to what `grant` reaches.
pub fn incident_query(
    p: IncidentParams,
    grant: &Grant,
    now: Timestamp,
) -> ApiResult<IncidentQuery> {
    let statuses = match p.status.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("any") => Vec::new(),
        Some(s) => list(
            "status",
            s,
            IncidentStatus::parse_loose,
            IncidentStatus::expected(),
        )?,
        None => vec![IncidentStatus::Active, IncidentStatus::InProgress],
    };
    let severities = match p.severity.as_deref() {
        Some(s) => list("severity", s, Severity::parse_loose, Severity::expected())?,
        None => Vec::new(),
    };
    let since = p.since.as_deref().map(|s| time("since", s)).transpose()?;
    let until = p.until.as_deref().map(|s| time("until", s)).transpose()?;
    // The default window is on last update, the queue's order, so the queue's index serves
    // it; an explicit range is on last activity.
    let updated_since =
        (since.is_none() && until.is_none()).then(|| now.plus_micros(-30 * DAY_MICROS));
    let page_size = p.page_size.unwrap_or(50);
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(ApiError::bad(
            "pageSize",
            format!("pageSize: must be 1–{MAX_PAGE_SIZE}"),
        ));
    }
    let after = p
        .cursor
        .as_deref()
        .map(|c| Cursor::decode_for(c, QUEUE_ORDER, false, true))
        .transpose()?
        .map(|c| (c.k.unwrap_or(0), c.r));
    let (allowed_sources, denied_sources) = limit_sources(grant);
    let mut alerts = super::alerts::parse_q(p.q.as_deref())?;
    for (field, value) in [
        ("serviceSource", &p.service_source),
        ("category", &p.category),
    ] {
        if let Some(v) = value {
            alerts
                .terms
                .extend(super::alerts::filter_terms(field, field, v)?.terms);
        }
    }
    if let Some(e) = &p.entity {
        alerts.terms.extend(super::alerts::entity_terms(e)?.terms);
    }
    for (field, value) in [("assignedTo", &p.assigned_to), ("tag", &p.tag)] {
        if let Some(v) = value {
            super::alerts::non_blank(field, v)?;
        }
    }
    Ok(IncidentQuery {
        statuses,
        severities,
        assigned_to: p.assigned_to,
        tag: p.tag,
        since,
        until,
        updated_since,
        page_size,
        after,
        allowed_sources,
        denied_sources,
        alerts,
        now,
    })
}

/// The incident queue's one order, as its cursors name it: last update, newest first.
const QUEUE_ORDER: &str = "lastUpdate";

/// The opaque cursor for the page after `next` (last update, id).
pub fn next_cursor(next: Option<(i64, i64)>) -> Option<String> {
    next.map(|(k, r)| {
        Cursor {
            s: QUEUE_ORDER.into(),
            d: true,
            k: Some(k),
            t: None,
            r,
            p: false,
        }
        .encode()
    })
}

/// The incident queue: active and in-progress incidents updated in the last 30 days (an
/// alert joined, left, changed status or was re-sent; an analyst changed or merged it; a
/// rebuild moved its alerts), most recently updated first, keyset-paginated; only incidents
/// all of whose alerts you may read.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentParams),
    responses((status = 200, description = "`{items, nextCursor, total, totalIsExact}`"), (status = 400, description = "Bad filter", body = crate::error::Problem)))]
pub async fn list_incidents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<IncidentParams>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::IncidentsRead, None)?;
    let q = incident_query(p, &grant, state.clock.now())?;
    let page = state.store.list_incidents(&q).await?;
    let next = next_cursor(page.next);
    Ok(ApiJson(serde_json::json!({
        "items": page.items,
        "nextCursor": next,
        "total": page.total,
        "totalIsExact": page.total_is_exact,
    })))
}

/// The incident, checked against the caller's reach for `perm`: every source of its alerts.
pub(crate) async fn find_incident(
    state: &AppState,
    caller: &Caller,
    id: &str,
    perm: Permission,
) -> ApiResult<(IncidentDetail, Grant)> {
    let d = state
        .store
        .get_incident(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no incident {id:?}")))?;
    let grant = incident_grant(caller, &d.incident, perm)?;
    Ok((d, grant))
}

/// The caller's grant of `perm` on an incident: it must reach every source of its alerts.
pub(crate) fn incident_grant(
    caller: &Caller,
    incident: &rampart_domain::incident::IncidentRecord,
    perm: Permission,
) -> ApiResult<Grant> {
    let mut grant = caller.grant(perm, None)?;
    for s in &incident.service_sources {
        grant = caller.grant(perm, Some(s))?;
    }
    Ok(grant)
}

/// The incident page: the incident, its alerts, impacted entities grouped by kind, why each
/// alert is in it, and its time span.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "The incident with `alertIds`, `alerts`, `entities`, `correlationReasons`"),
        (status = 404, description = "No such incident", body = crate::error::Problem)))]
pub async fn get_incident(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (d, _) = find_incident(&state, &caller, &id, Permission::IncidentsRead).await?;
    let mut entities: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &d.entities {
        entities
            .entry(e.kind.as_str().to_string())
            .or_default()
            .push(e.value.clone());
    }
    let mut v = serde_json::to_value(&d.incident).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "alertIds".into(),
            serde_json::json!(d.alerts.iter().map(|a| &a.id).collect::<Vec<_>>()),
        );
        o.insert("alerts".into(), serde_json::json!(d.alerts));
        o.insert("entities".into(), serde_json::json!(entities));
        o.insert("correlationReasons".into(), serde_json::json!(d.reasons));
    }
    Ok(with_etag(v, d.incident.version))
}

/// The incident's history, oldest first: its creation, its own events, and those of the
/// incidents merged into it.
pub async fn incident_history(
    state: &AppState,
    incident: &rampart_domain::incident::IncidentRecord,
) -> ApiResult<Vec<HistoryEvent>> {
    // Creation is not stored as a row (it is the incident's createdDateTime).
    let mut items = vec![HistoryEvent {
        seq: 0,
        target_id: incident.id.clone(),
        at: incident.created,
        actor: rampart_domain::history::Actor {
            kind: rampart_domain::history::ActorKind::Correlation,
            name: "correlation".into(),
        },
        action: "created".into(),
        field: None,
        old_value: None,
        new_value: None,
        text: None,
    }];
    items.extend(
        state
            .store
            .history(TargetKind::Incident, &incident.id)
            .await?,
    );
    // Incidents absorbed into this one say so in its history; theirs comes along, with the
    // incidents they had absorbed in turn (bounded: merges refuse cycles, but stored data is
    // not trusted).
    let mut seen = std::collections::HashSet::from([incident.id.clone()]);
    let mut next = 0;
    while seen.len() <= 10_000 {
        let Some(e) = items.get(next) else {
            break;
        };
        next += 1;
        let Some(a) = e.old_value.clone().filter(|_| e.action == "absorbed") else {
            continue;
        };
        if seen.insert(a.clone()) {
            items.extend(state.store.history(TargetKind::Incident, &a).await?);
        }
    }
    items.sort_by_key(|e: &HistoryEvent| (e.at, e.seq));
    Ok(items)
}

/// The incident's history, oldest first, including that of incidents merged into it.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/history", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "`{items: [event…]}`")))]
pub async fn get_incident_history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    let (d, _) = find_incident(&state, &caller, &id, Permission::IncidentsRead).await?;
    let items = incident_history(&state, &d.incident).await?;
    Ok(ApiJson(serde_json::json!({ "items": items })))
}

/// An incident change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IncidentUpdate {
    /// `active`, `inProgress` or `resolved` (resolving resolves its open alerts).
    #[schema(value_type = Option<String>)]
    pub status: Option<IncidentStatus>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assigned_to: Option<Option<String>>,
    #[schema(value_type = Option<String>)]
    pub classification: Option<Classification>,
    #[schema(value_type = Option<String>)]
    pub determination: Option<Determination>,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    pub comment: Option<String>,
    pub version: Option<i64>,
}

/// Changes an incident: status, assignment, classification and determination, tags, and a
/// comment. Needs the version read (409 when stale).
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = IncidentUpdate,
    params(("id" = String, Path, description = "Incident id"), ("If-Match" = Option<String>, Header, description = "The incident's version: `\"3\"`, `W/\"3\"` or `3` (or `version` in the body)")),
    responses((status = 200, description = "The incident", headers(("ETag" = String, description = "The new version, for the next If-Match"))), (status = 400, description = "Invalid field", body = crate::error::Problem),
        (status = 409, description = "Stale version", body = crate::error::Problem), (status = 428, description = "No version", body = crate::error::Problem)))]
pub async fn update_incident(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<IncidentUpdate>,
) -> ApiResult<Response> {
    let (_, grant) = find_incident(&state, &caller, &id, Permission::IncidentsManage).await?;
    let version = expected_version(&headers, req.version)?;
    let change = IncidentChange {
        status: req.status,
        assigned_to: req.assigned_to,
        classification: req.classification,
        determination: req.determination,
        add_tags: req.add_tags,
        remove_tags: req.remove_tags,
    };
    change.validate()?;
    check_change(change.is_empty(), req.comment.as_deref())?;
    let now = state.clock.now();
    let rec = state
        .store
        .update_incident(&grant, &id, &change, version, req.comment.as_deref(), now)
        .await?;
    Ok(with_etag(&rec, rec.version))
}

/// Adds a comment to the incident's history. A merged incident takes none: comment on the
/// incident it points at, whose history shows both.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/comments", tag = "incidents", request_body = crate::api::triage::NewComment,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 201, description = "The history event"),
        (status = 400, description = "Blank or over 16 KiB, or a merged incident", body = crate::error::Problem),
        (status = 404, description = "No such incident", body = crate::error::Problem)))]
pub async fn create_incident_comment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<crate::api::triage::NewComment>,
) -> ApiResult<impl IntoResponse> {
    let (_, grant) = find_incident(&state, &caller, &id, Permission::IncidentsManage).await?;
    check_comment(&req.text)?;
    let e = state
        .store
        .add_incident_comment(&grant, &id, &req.text, state.clock.now())
        .await?;
    Ok((axum::http::StatusCode::CREATED, ApiJson(e)))
}

/// A merge target.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The incident that survives.
    pub into: String,
}

/// Merges this incident into another by hand: its alerts move, it becomes `redirected`.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/merge", tag = "incidents", request_body = MergeRequest,
    params(("id" = String, Path, description = "The incident to absorb")),
    responses((status = 200, description = "The surviving incident"), (status = 400, description = "Into itself, or a redirected incident", body = crate::error::Problem),
        (status = 404, description = "No such incident", body = crate::error::Problem)))]
pub async fn merge_incident(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<MergeRequest>,
) -> ApiResult<impl IntoResponse> {
    let (_, grant) = find_incident(&state, &caller, &id, Permission::IncidentsManage).await?;
    let rec = state
        .store
        .merge_incidents(&grant, &id, &req.into, state.clock.now())
        .await?;
    Ok(ApiJson(rec))
}

/// A link target.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkRequest {
    pub incident_id: String,
}

/// Links an alert to an incident by hand; correlation never moves it again.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/link", tag = "incidents", request_body = LinkRequest,
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "The incident it now belongs to"), (status = 400, description = "Unknown or redirected incident", body = crate::error::Problem)))]
pub async fn link_alert(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<LinkRequest>,
) -> ApiResult<impl IntoResponse> {
    let (_, grant) = alert_with_grant(&state, &caller, &id, Permission::IncidentsManage).await?;
    let rec = state
        .store
        .link_alert(&grant, &id, &req.incident_id, state.clock.now())
        .await?;
    Ok(ApiJson(rec))
}

/// Moves an alert out of its incident into a new one of its own, by hand.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/unlink", tag = "incidents",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "The new incident")))]
pub async fn unlink_alert(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    _: crate::extract::NoBody,
) -> ApiResult<impl IntoResponse> {
    let (_, grant) = alert_with_grant(&state, &caller, &id, Permission::IncidentsManage).await?;
    let rec = state
        .store
        .unlink_alert(&grant, &id, state.clock.now())
        .await?;
    Ok(ApiJson(rec))
}
