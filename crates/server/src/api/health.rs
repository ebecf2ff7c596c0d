//! Liveness for operators and load balancers.
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::response::IntoResponse;

/// Reports that the server is up and its store answers. Public, so it says nothing about the
/// data: the probe reads the (small) users table, not the alerts.
#[utoipa::path(get, path = "/api/v1/health", tag = "operations",
    responses((status = 200, description = "Up; the store answers"), (status = 503, description = "Store unavailable")))]
pub async fn health(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    state.store.count_users().await?;
    Ok(crate::extract::ApiJson(
        serde_json::json!({ "status": "ok" }),
    ))
}
