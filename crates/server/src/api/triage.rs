//! Manage alert: status, assignment, classification and determination, tags, comments; one
//! alert at a time (with optimistic concurrency) or up to 10,000 at once.
use crate::api::alerts::{alert_with_grant, scoped_query};
use crate::api::users::double_option;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rampart_domain::access::Permission;
use rampart_domain::triage::{check_comment, check_tag, AlertChange};
use rampart_domain::vocab::{AlertStatus, Classification, Determination};
use rampart_store::{BulkTarget, MAX_BULK};
use serde::Deserialize;

/// A manage-alert change. For `PATCH /alerts/{id}` also `version` (or `If-Match`); for
/// `POST /alerts/bulk-update` also `ids` or `q`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertUpdate {
    /// `new`, `inProgress` or `resolved`.
    #[schema(value_type = Option<String>)]
    pub status: Option<AlertStatus>,
    /// A username; `null` unassigns.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assigned_to: Option<Option<String>>,
    #[schema(value_type = Option<String>)]
    pub classification: Option<Classification>,
    /// Must fit the classification (given or stored).
    #[schema(value_type = Option<String>)]
    pub determination: Option<Determination>,
    /// Replaces the tag list.
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// A comment recorded with the change.
    pub comment: Option<String>,
    /// The version the change is based on (PATCH).
    pub version: Option<i64>,
    /// Alert ids (bulk).
    pub ids: Option<Vec<String>>,
    /// A condition selecting the alerts (bulk).
    pub q: Option<String>,
}

impl AlertUpdate {
    fn change(&self) -> AlertChange {
        AlertChange {
            status: self.status,
            assigned_to: self.assigned_to.clone(),
            classification: self.classification,
            determination: self.determination,
            tags: self.tags.clone(),
            add_tags: self.add_tags.clone(),
            remove_tags: self.remove_tags.clone(),
        }
    }
}

/// Refuses a change that asks for nothing, and a comment that is blank or too long (named
/// `comment`, as the body calls it).
pub(crate) fn check_change(is_empty: bool, comment: Option<&str>) -> ApiResult<()> {
    if let Some(c) = comment {
        check_comment(c)
            .map_err(|e| ApiError::bad("comment", e.to_string().replacen("text", "comment", 1)))?;
    }
    if is_empty && comment.is_none() {
        return Err(ApiError::bad(
            "body",
            "nothing to change: the body sets no field and has no comment",
        ));
    }
    Ok(())
}

/// The version from `If-Match` (`"3"`, `W/"3"` or `3`, exactly one header) or the body.
pub(crate) fn expected_version(headers: &HeaderMap, body: Option<i64>) -> ApiResult<i64> {
    let mut given = headers.get_all(header::IF_MATCH).iter();
    if let Some(v) = given.next() {
        if given.next().is_some() {
            return Err(ApiError::bad(
                "If-Match",
                "send one If-Match header, with the version you read",
            ));
        }
        let raw = String::from_utf8_lossy(v.as_bytes());
        return version_tag(raw.trim()).ok_or_else(|| {
            ApiError::bad(
                "If-Match",
                format!("{raw:?} is not a version: send \"3\", W/\"3\" or 3, as read"),
            )
        });
    }
    body.ok_or_else(|| {
        ApiError::PreconditionRequired(
            "version: send the version you read (If-Match header or \"version\" in the body) so a concurrent change is not overwritten".into(),
        )
    })
}

/// A version as an entity tag: `"3"`, `W/"3"`, or the bare `3`; digits only.
fn version_tag(s: &str) -> Option<i64> {
    let (weak, s) = match s.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let digits = match s.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None if !weak => s,
        None => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A JSON response carrying the object's version as its `ETag`, for the next `If-Match`.
pub(crate) fn with_etag<T: serde::Serialize>(body: T, version: i64) -> Response {
    let mut resp = ApiJson(body).into_response();
    resp.headers_mut().insert(header::ETAG, etag(version));
    resp
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Changes one alert: status (resolving stamps resolvedDateTime), assignment,
/// classification with a fitting determination, tags, and optionally a comment. Needs the
/// version read (409 if someone changed the alert since).
#[utoipa::path(patch, path = "/api/v1/alerts/{id}", tag = "triage", request_body = AlertUpdate,
    params(("id" = String, Path, description = "Alert id"), ("If-Match" = Option<String>, Header, description = "The alert's version: `\"3\"`, `W/\"3\"` or `3` (or `version` in the body)")),
    responses(
        (status = 200, description = "The updated alert record", headers(("ETag" = String, description = "The new version, for the next If-Match"))),
        (status = 400, description = "Invalid field, or a determination that does not fit", body = crate::error::Problem),
        (status = 403, description = "Your role may not manage this alert", body = crate::error::Problem),
        (status = 409, description = "Stale version", body = crate::error::Problem),
        (status = 428, description = "No version given", body = crate::error::Problem)))]
pub async fn update_alert(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AlertUpdate>,
) -> ApiResult<Response> {
    if req.ids.is_some() || req.q.is_some() {
        let f = if req.ids.is_some() { "ids" } else { "q" };
        return Err(ApiError::bad(
            f,
            format!("{f}: only for POST /api/v1/alerts/bulk-update"),
        ));
    }
    let (_, grant) = alert_with_grant(&state, &caller, &id, Permission::AlertsManage).await?;
    let version = expected_version(&headers, req.version)?;
    let change = req.change();
    change.validate()?;
    check_change(change.is_empty(), req.comment.as_deref())?;
    let now = state.clock.now();
    let updated = state
        .store
        .update_alert(&grant, &id, &change, version, req.comment.as_deref(), now)
        .await?;
    Ok(with_etag(&updated.record, updated.record.version))
}

/// A comment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// Up to 16 KiB.
    pub text: String,
}

/// Adds a comment to the alert's history.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/comments", tag = "triage", request_body = NewComment,
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 201, description = "The history event"), (status = 400, description = "Blank or over 16 KiB", body = crate::error::Problem),
        (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn create_comment(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NewComment>,
) -> ApiResult<impl IntoResponse> {
    let (_, grant) = alert_with_grant(&state, &caller, &id, Permission::AlertsManage).await?;
    check_comment(&req.text)?;
    let e = state
        .store
        .add_comment(&grant, &id, &req.text, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, ApiJson(e)))
}

/// Applies one change to up to 10,000 alerts chosen by `ids` or by a condition `q`, each
/// alert atomically, and reports what changed, what was already so, and what was refused.
/// Alerts outside your service sources are reported as `forbidden` and left alone.
#[utoipa::path(post, path = "/api/v1/alerts/bulk-update", tag = "triage", request_body = AlertUpdate,
    responses((status = 200, description = "`{matched, changed, unchanged, notFound, forbidden, failed}`"),
        (status = 400, description = "Invalid field, no selection, or more than 10,000 alerts", body = crate::error::Problem)))]
pub async fn bulk_update_alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AlertUpdate>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::AlertsManage, None)?;
    if req.version.is_some() {
        return Err(ApiError::bad(
            "version",
            "version: bulk updates apply to each alert's current version",
        ));
    }
    let change = req.change();
    change.validate()?;
    check_change(change.is_empty(), req.comment.as_deref())?;
    let now = state.clock.now();
    let target = match (req.ids, req.q) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > MAX_BULK {
                return Err(ApiError::bad(
                    "ids",
                    format!("ids: give 1–{MAX_BULK} alert ids"),
                ));
            }
            BulkTarget::Ids(ids)
        }
        (None, Some(q)) => {
            // As the queue reads it: the same length limit and `q: ` errors.
            let cond = crate::api::alerts::parse_q(Some(&q))?;
            let mut query = scoped_query(&grant, cond, now);
            query.page_size = MAX_BULK;
            BulkTarget::Query(Box::new(query))
        }
        _ => {
            return Err(ApiError::bad(
                "ids",
                "give either ids (a list of alert ids) or q (a condition)",
            ))
        }
    };
    let summary = state
        .store
        .bulk_update(&grant, target, &change, req.comment.as_deref(), now)
        .await?;
    Ok(ApiJson(summary))
}

/// A tag rename.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameTag {
    pub from: String,
    pub to: String,
}

/// Renames a tag on every alert that carries it. Needs alerts.manage for every service
/// source, since "everywhere" must mean everywhere.
#[utoipa::path(post, path = "/api/v1/tags/rename", tag = "triage", request_body = RenameTag,
    responses((status = 200, description = "`{renamed: N}` alerts changed"), (status = 400, description = "Invalid tag", body = crate::error::Problem)))]
pub async fn rename_tag(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RenameTag>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::AlertsManage, None)?;
    if !grant.scope().is_all() || !grant.scope().deny().is_empty() {
        return Err(ApiError::Forbidden(
            "renaming a tag everywhere needs alerts.manage for every service source".into(),
        ));
    }
    check_tag("from", &req.from)?;
    check_tag("to", &req.to)?;
    let renamed = state
        .store
        .rename_tag(&grant, &req.from, &req.to, state.clock.now())
        .await?;
    Ok(ApiJson(serde_json::json!({ "renamed": renamed })))
}

#[cfg(test)]
mod tests {
    use super::version_tag;

    #[test]
    fn versions_are_entity_tags_or_bare_numbers() {
        for (tag, v) in [("\"3\"", 3), ("W/\"3\"", 3), ("3", 3), ("\"12\"", 12)] {
            assert_eq!(version_tag(tag), Some(v), "{tag}");
        }
        for tag in [
            "\"1",
            "2\"",
            "W/2",
            "+2",
            "\"\"2\"\"",
            "",
            "\"\"",
            "W/",
            "-1",
            "1.0",
            "\u{661}",
            "3 4",
        ] {
            assert_eq!(version_tag(tag), None, "{tag}");
        }
    }
}
