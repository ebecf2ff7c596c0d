//! The OpenAPI document, served at `/api/v1/openapi.json` and snapshot-tested so an API
//! change is always a visible diff.
use axum::response::IntoResponse;
use utoipa::OpenApi;

/// Every documented route. A test compares this list with the router's.
#[derive(OpenApi)]
#[openapi(
    info(title = "Rampart API", description = "Alert triage and investigation. Alerts use the Microsoft Graph security alert (alerts_v2) shape."),
    paths(
        crate::api::alerts::create_alerts,
        crate::api::alerts::bulk_ingest_alerts,
        crate::api::alerts::list_alerts,
        crate::api::alerts::get_alert,
        crate::api::alerts::get_alert_history,
        crate::api::health::health,
        crate::openapi::openapi_json,
    ),
    components(schemas(crate::error::Problem, crate::api::alerts::IngestResponse, crate::api::alerts::IngestItem)),
    tags((name = "alerts", description = "Ingest, queue, alert pages"), (name = "operations", description = "Health"))
)]
pub struct ApiDoc;

/// Serves the document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> impl IntoResponse {
    crate::extract::ApiJson(ApiDoc::openapi())
}
