//! The audit log: every history event (alert changes, comments, sign-ins, user and token
//! changes), newest first.
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;

/// Most events per request.
pub const MAX_AUDIT: usize = 1000;

/// Filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditParams {
    /// One target: a user, token or role id, or `auth` for failed sign-ins (alert and
    /// incident events are in their own histories).
    pub target: Option<String>,
    /// 1–1000, default 100.
    pub limit: Option<usize>,
}

/// The newest audit events.
#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(AuditParams),
    responses((status = 200, description = "`{items: [event…]}`, newest first")))]
pub async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<impl IntoResponse> {
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_AUDIT {
        return Err(ApiError::bad(
            "limit",
            format!("limit: must be 1–{MAX_AUDIT}"),
        ));
    }
    let items = state.store.audit(p.target.as_deref(), limit).await?;
    Ok(ApiJson(serde_json::json!({ "items": items })))
}
