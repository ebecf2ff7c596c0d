//! REST API routes under `/api/v1`, one module per resource.
pub mod alerts;
pub mod health;

use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

/// All `/api/v1` routes. Keep in step with [`crate::openapi::ApiDoc`] (a test checks).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/alerts",
            post(alerts::create_alerts).get(alerts::list_alerts),
        )
        .route("/alerts/bulk", post(alerts::bulk_ingest_alerts))
        .route("/alerts/{id}", get(alerts::get_alert))
        .route("/alerts/{id}/history", get(alerts::get_alert_history))
        .route("/health", get(health::health))
        .route("/openapi.json", get(crate::openapi::openapi_json))
}
