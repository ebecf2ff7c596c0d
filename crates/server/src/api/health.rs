//! Liveness for operators and load balancers.
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::response::IntoResponse;

/// Reports that the server is up and its store answers.
#[utoipa::path(get, path = "/api/v1/health", tag = "operations",
    responses((status = 200, description = "Up; the store answers"), (status = 503, description = "Store unavailable")))]
pub async fn health(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let alerts = state.store.count_alerts().await?;
    Ok(crate::extract::ApiJson(
        serde_json::json!({ "status": "ok", "alerts": alerts }),
    ))
}
