//! Alerts: ingest (single, array, NDJSON bulk), the queue, one alert, its history.
use super::parsing::{self, InFlight};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, LimitedBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rampart_domain::access::{Grant, Permission};
use rampart_domain::alert::NewAlert;
use rampart_domain::condition::{self, Condition, Pred};
use rampart_domain::history::{Actor, HistoryEvent, TargetKind};
use rampart_domain::timestamp::{Timestamp, DAY_MICROS};
use rampart_ingest::body::MAX_BODY_BYTES;
use rampart_ingest::{parse_bulk_on, parse_json_body, IngestError};
use rampart_store::query::MAX_PAGE_SIZE;
use rampart_store::{AlertQuery, Cursor, IngestOutcome, SortKey};
use serde::{Deserialize, Serialize};

/// Default queue page size.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Longest `q` accepted (the condition language has its own, lower, limit too).
const MAX_Q_BYTES: usize = 8192;

/// One stored alert in an ingest response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestItem {
    /// NDJSON line number (bulk only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `created` or `updated`; absent for rejected lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Why a line was rejected (`?atomic=false` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Summary of an ingest request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestResponse {
    pub accepted: usize,
    pub created: usize,
    pub updated: usize,
    pub rejected: usize,
    pub items: Vec<IngestItem>,
}

fn outcome_str(o: IngestOutcome) -> &'static str {
    match o {
        IngestOutcome::Created => "created",
        IngestOutcome::Updated => "updated",
    }
}

/// Ingests one alert (JSON object) or several (JSON array) in Graph alert shape. Atomic: one
/// bad item rejects the request, naming the item and field. Re-sending an alert updates it.
#[utoipa::path(post, path = "/api/v1/alerts", tag = "alerts",
    request_body(content = String, description = "A Graph security alert (alerts_v2) object, or an array of them", content_type = "application/json"),
    responses(
        (status = 201, description = "Stored (at least one alert created)", body = IngestResponse),
        (status = 200, description = "Stored (all were updates of existing alerts)", body = IngestResponse),
        (status = 400, description = "Rejected; nothing stored", body = crate::error::Problem),
        (status = 413, description = "Body over 32 MiB or an alert over 1 MiB", body = crate::error::Problem)))]
pub async fn create_alerts(
    State(state): State<AppState>,
    caller: Caller,
    LimitedBody(body): LimitedBody<MAX_BODY_BYTES>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::AlertsIngest, None)?;
    let _in_flight = InFlight::enter();
    let now = state.clock.now();
    let prefixes = state.prefixes.clone();
    let alerts =
        parsing::parse(body.len(), move |_| parse_json_body(&body, &prefixes, now)).await??;
    if alerts.is_empty() {
        return Err(ApiError::BadRequest {
            field: None,
            detail: "the array holds no alerts".into(),
        });
    }
    for (i, a) in alerts.iter().enumerate() {
        ingest_scope(&grant, a).map_err(|e| ApiError::Forbidden(format!("item {i}: {e}")))?;
    }
    let ids: Vec<String> = alerts.iter().map(|a| a.record.id.clone()).collect();
    let outcomes = state.store.ingest(alerts, producer(&grant), now).await?;
    Ok(summarise(
        ids.into_iter()
            .zip(outcomes)
            .map(|(id, o)| (None, id, o))
            .collect(),
        Vec::new(),
    ))
}

/// Whether the grant may ingest this alert's service source (a producer token limited to
/// endpoint cannot inject identity alerts).
fn ingest_scope(grant: &Grant, a: &NewAlert) -> Result<(), String> {
    let source = &a.record.service_source;
    if grant.covers(source) {
        Ok(())
    } else {
        Err(format!(
            "serviceSource: your token or role may not ingest alerts from {source}"
        ))
    }
}

/// The history actor for an ingest: the producer, named by the token or user that sent it.
fn producer(grant: &Grant) -> Actor {
    Actor::producer(grant.actor().name)
}

fn summarise(
    stored: Vec<(Option<usize>, String, IngestOutcome)>,
    rejected: Vec<IngestItem>,
) -> (StatusCode, ApiJson<IngestResponse>) {
    let created = stored
        .iter()
        .filter(|(_, _, o)| *o == IngestOutcome::Created)
        .count();
    let updated = stored.len() - created;
    let mut items: Vec<IngestItem> = stored
        .into_iter()
        .map(|(line, id, o)| IngestItem {
            line,
            id: Some(id),
            outcome: Some(outcome_str(o).into()),
            error: None,
            field: None,
        })
        .collect();
    let n_rejected = rejected.len();
    items.extend(rejected);
    items.sort_by_key(|i| i.line);
    let status = if created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        ApiJson(IngestResponse {
            accepted: created + updated,
            created,
            updated,
            rejected: n_rejected,
            items,
        }),
    )
}

/// `?atomic=` for bulk ingest.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BulkParams {
    /// `true` (default): one bad line rejects the whole request. `false`: good lines are
    /// stored and each bad line is reported.
    pub atomic: Option<bool>,
}

/// Ingests NDJSON: one Graph alert per line. Atomic by default; `?atomic=false` stores the
/// good lines and reports the bad ones, for pipelines that must not stall on one poison alert.
#[utoipa::path(post, path = "/api/v1/alerts/bulk", tag = "alerts", params(BulkParams),
    request_body(content = String, description = "NDJSON: one Graph alert per line", content_type = "application/x-ndjson"),
    responses(
        (status = 201, description = "Stored", body = IngestResponse),
        (status = 200, description = "Stored (updates only, or nothing good in non-atomic mode)", body = IngestResponse),
        (status = 400, description = "A line was rejected (atomic mode); nothing stored", body = crate::error::Problem),
        (status = 413, description = "Body over 32 MiB or a line over 1 MiB", body = crate::error::Problem)))]
pub async fn bulk_ingest_alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<BulkParams>,
    LimitedBody(body): LimitedBody<MAX_BODY_BYTES>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::AlertsIngest, None)?;
    let _in_flight = InFlight::enter();
    let atomic = params.atomic.unwrap_or(true);
    let now = state.clock.now();
    let prefixes = state.prefixes.clone();
    let lines = parsing::parse(body.len(), move |threads| {
        parse_bulk_on(&body, threads, &prefixes, now)
    })
    .await?;
    if lines.is_empty() {
        return Err(ApiError::BadRequest {
            field: None,
            detail: "the body holds no alerts".into(),
        });
    }
    let mut good = Vec::with_capacity(lines.len());
    let mut rejected = Vec::new();
    for l in lines {
        match l.result {
            Ok(a) => match ingest_scope(&grant, &a) {
                Ok(()) => good.push((l.line, a)),
                Err(msg) if atomic => {
                    return Err(ApiError::Forbidden(format!("line {}: {msg}", l.line)))
                }
                Err(msg) => rejected.push(IngestItem {
                    line: Some(l.line),
                    id: Some(a.record.id),
                    outcome: None,
                    field: Some("serviceSource".into()),
                    error: Some(format!("line {}: {msg}", l.line)),
                }),
            },
            Err(e) if atomic => return Err(e.into()),
            Err(e) => rejected.push(IngestItem {
                line: Some(l.line),
                id: None,
                outcome: None,
                field: e.field().map(str::to_string),
                error: Some(reason(&e)),
            }),
        }
    }
    if good.is_empty() {
        return Ok(summarise(Vec::new(), rejected));
    }
    let (line_nos, alerts): (Vec<usize>, Vec<_>) = good.into_iter().unzip();
    let ids: Vec<String> = alerts.iter().map(|a| a.record.id.clone()).collect();
    let outcomes = state.store.ingest(alerts, producer(&grant), now).await?;
    let stored = line_nos
        .into_iter()
        .zip(ids)
        .zip(outcomes)
        .map(|((l, id), o)| (Some(l), id, o))
        .collect();
    Ok(summarise(stored, rejected))
}

fn reason(e: &IngestError) -> String {
    e.to_string()
}

/// Queue filters. Lists are comma-separated; every filter is also expressible in `q`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListParams {
    /// e.g. `high,medium`
    pub severity: Option<String>,
    /// e.g. `new,inProgress`; `any` for every status. Default: `new,inProgress`.
    pub status: Option<String>,
    /// Graph values or aliases (`endpoint`, `identity`, `email`, `cloudapps`).
    pub service_source: Option<String>,
    pub detection_source: Option<String>,
    /// An evidence entity as `kind:value`, e.g. `device:ws-17`, `user:alice`,
    /// `ip:10.0.0.5`; several, comma-separated, match any of them.
    pub entity: Option<String>,
    pub investigation_state: Option<String>,
    pub tag: Option<String>,
    pub assigned_to: Option<String>,
    pub category: Option<String>,
    /// A condition in Rampart's query language (see docs/query-language.md).
    pub q: Option<String>,
    /// RFC 3339; lastActivity ≥ since. With `until`, replaces the 30-day default.
    pub since: Option<String>,
    /// RFC 3339; lastActivity < until.
    pub until: Option<String>,
    /// lastActivity (default), firstActivity, severity, title.
    pub sort: Option<String>,
    /// desc (default) or asc.
    pub order: Option<String>,
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub page_size: Option<usize>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A value as a quoted string of the condition language.
pub(crate) fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A filter parameter sent blank is refused: leaving it out is how to ask for no filter.
pub(crate) fn non_blank(param: &str, raw: &str) -> ApiResult<()> {
    if raw.trim().is_empty() {
        return Err(ApiError::bad(
            param,
            format!("{param}: empty filter; give a value or leave {param} out"),
        ));
    }
    Ok(())
}

/// The values of a comma-separated filter parameter, trimmed. An empty parameter and an
/// empty value between commas are refused, as `q` refuses them (`high,,low` is a slip, and
/// reading it as `high,low` would hide it).
pub(crate) fn list_values<'a>(param: &str, raw: &'a str) -> ApiResult<Vec<&'a str>> {
    non_blank(param, raw)?;
    let values: Vec<&str> = raw.split(',').map(str::trim).collect();
    if values.iter().any(|v| v.is_empty()) {
        return Err(ApiError::bad(
            param,
            format!("{param}: empty value in list {raw:?}"),
        ));
    }
    Ok(values)
}

/// Turns one filter parameter into condition terms: `field:"v1","v2"`.
pub(crate) fn filter_terms(field: &str, param: &str, raw: &str) -> ApiResult<Condition> {
    let values: Vec<String> = list_values(param, raw)?.into_iter().map(quote).collect();
    let text = format!("{field}:{}", values.join(","));
    condition::parse(&text).map_err(|e| ApiError::bad(param, format!("{param}: {e}")))
}

fn parse_time(param: &str, s: &str) -> ApiResult<Timestamp> {
    Timestamp::parse_rfc3339(s).map_err(|e| ApiError::bad(param, format!("{param}: {e}")))
}

/// The `q` parameter: a condition over alerts, limited in length.
pub(crate) fn parse_q(q: Option<&str>) -> ApiResult<Condition> {
    let q_text = q.unwrap_or_default();
    if q_text.len() > MAX_Q_BYTES {
        return Err(ApiError::bad(
            "q",
            format!("q: longer than {MAX_Q_BYTES} bytes"),
        ));
    }
    condition::parse(q_text).map_err(|e| ApiError::bad("q", format!("q: {e}")))
}

/// The `entity` parameter, `kind:value`, as condition terms.
pub(crate) fn entity_terms(e: &str) -> ApiResult<Condition> {
    let (kind, value) = e
        .split_once(':')
        .ok_or_else(|| ApiError::bad("entity", "entity: expected kind:value, e.g. device:ws-17"))?;
    filter_terms(&format!("entity.{kind}"), "entity", value)
}

/// Builds the store query from the request parameters.
pub fn build_query(p: ListParams, now: Timestamp) -> ApiResult<AlertQuery> {
    let mut cond = parse_q(p.q.as_deref())?;
    let simple = [
        ("severity", "severity", &p.severity),
        ("serviceSource", "serviceSource", &p.service_source),
        ("detectionSource", "detectionSource", &p.detection_source),
        (
            "investigationState",
            "investigationState",
            &p.investigation_state,
        ),
        ("tag", "tag", &p.tag),
        ("assignedTo", "assignedTo", &p.assigned_to),
        ("category", "category", &p.category),
    ];
    for (field, param, value) in simple {
        if let Some(v) = value {
            cond.terms.extend(filter_terms(field, param, v)?.terms);
        }
    }
    if let Some(e) = &p.entity {
        cond.terms.extend(entity_terms(e)?.terms);
    }
    match p.status.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("any") || s.eq_ignore_ascii_case("all") => {}
        Some(s) => cond
            .terms
            .extend(filter_terms("status", "status", s)?.terms),
        None => {
            if !cond.terms.iter().any(|t| matches!(t.pred, Pred::Status(_))) {
                cond.terms
                    .extend(filter_terms("status", "status", "new,inProgress")?.terms);
            }
        }
    }
    let since = p
        .since
        .as_deref()
        .map(|s| parse_time("since", s))
        .transpose()?;
    let until = p
        .until
        .as_deref()
        .map(|s| parse_time("until", s))
        .transpose()?;
    let since = if since.is_none() && until.is_none() {
        Some(now.plus_micros(-30 * DAY_MICROS))
    } else {
        since
    };
    let sort = match p.sort.as_deref() {
        None => SortKey::LastActivity,
        Some(s) => SortKey::parse(s)
            .ok_or_else(|| ApiError::bad("sort", format!("sort: unknown key {s:?}; expected lastActivity, firstActivity, severity or title")))?,
    };
    let desc = match p.order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(o) => {
            return Err(ApiError::bad(
                "order",
                format!("order: {o:?} is not asc or desc"),
            ))
        }
    };
    let page_size = p.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(ApiError::bad(
            "pageSize",
            format!("pageSize: must be 1–{MAX_PAGE_SIZE}"),
        ));
    }
    let cursor = p
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, sort, desc))
        .transpose()?;
    Ok(AlertQuery {
        condition: cond,
        since,
        until,
        sort,
        desc,
        page_size,
        cursor,
        now,
        allowed_sources: None,
        denied_sources: Vec::new(),
    })
}

/// The alerts queue: by default new and in-progress alerts of the last 30 days, most recent
/// first, keyset-paginated. `total` is exact up to 10,000 (`totalIsExact`).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(ListParams),
    responses(
        (status = 200, description = "`{items, nextCursor, total, totalIsExact}`; items are alert records without evidence"),
        (status = 400, description = "A filter, the query, the cursor or the page size is invalid", body = crate::error::Problem)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::AlertsRead, None)?;
    let mut query = build_query(params, state.clock.now())?;
    limit_to_scope(&mut query, &grant);
    let page = state.store.list_alerts(&query).await?;
    Ok(ApiJson(page))
}

/// Limits a query to the service sources the grant reaches, so a list never shows what a
/// single read would refuse.
pub fn limit_to_scope(query: &mut AlertQuery, grant: &Grant) {
    (query.allowed_sources, query.denied_sources) = limit_sources(grant);
}

/// The grant's scope as (allowed sources when limited, denied sources).
pub fn limit_sources(grant: &Grant) -> (Option<Vec<String>>, Vec<String>) {
    let scope = grant.scope();
    if scope.is_all() {
        (None, scope.deny().iter().cloned().collect())
    } else {
        (Some(scope.allow().iter().cloned().collect()), Vec::new())
    }
}

/// A query over every alert matching `cond` that the grant reaches: no default window or
/// status, for bulk selections.
pub fn scoped_query(grant: &Grant, cond: Condition, now: Timestamp) -> AlertQuery {
    let mut q = AlertQuery {
        condition: cond,
        since: None,
        until: None,
        sort: SortKey::LastActivity,
        desc: true,
        page_size: MAX_PAGE_SIZE,
        cursor: None,
        now,
        allowed_sources: None,
        denied_sources: Vec::new(),
    };
    limit_to_scope(&mut q, grant);
    q
}

/// The stored alert and the caller's grant of `perm` for its service source: every
/// single-alert route starts here, so none can forget the source check.
pub(crate) async fn alert_with_grant(
    state: &AppState,
    caller: &Caller,
    id: &str,
    perm: Permission,
) -> ApiResult<(rampart_store::StoredAlert, Grant)> {
    let alert = find_alert(state, id).await?;
    let grant = caller.grant(perm, Some(&alert.record.service_source))?;
    Ok((alert, grant))
}

/// The stored alert, or a 404 naming the id.
async fn find_alert(state: &AppState, id: &str) -> ApiResult<rampart_store::StoredAlert> {
    state
        .store
        .get_alert(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert {id:?}")))
}

/// One alert: the producer's Graph document with evidence, overlaid with Rampart's triage
/// state (status, classification, assignment, tags, incidentId, version).
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "The alert in Graph alerts_v2 shape"), (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn get_alert(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    let (alert, _) = alert_with_grant(&state, &caller, &id, Permission::AlertsRead).await?;
    Ok(ApiJson(rampart_domain::document::render(
        &alert.record,
        &alert.document,
    )))
}

/// The alert's audit trail, oldest first: creation, then every change and comment.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/history", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "`{items: [event…]}` in time order"), (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn get_alert_history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    let (alert, _) = alert_with_grant(&state, &caller, &id, Permission::AlertsRead).await?;
    let items = alert_history(&state, &alert.record).await?;
    Ok(ApiJson(serde_json::json!({ "items": items })))
}

/// The alert's audit trail, oldest first: its creation (not a stored row), then every stored
/// change and comment.
pub async fn alert_history(
    state: &AppState,
    rec: &rampart_domain::alert::AlertRecord,
) -> ApiResult<Vec<HistoryEvent>> {
    let mut items = vec![HistoryEvent {
        seq: 0,
        target_id: rec.id.clone(),
        at: rec.created,
        actor: Actor::producer(rec.service_source.clone()),
        action: "created".into(),
        field: None,
        old_value: None,
        new_value: None,
        text: None,
    }];
    items.extend(state.store.history(TargetKind::Alert, &rec.id).await?);
    Ok(items)
}
