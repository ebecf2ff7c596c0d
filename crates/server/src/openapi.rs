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
        crate::api::triage::update_alert,
        crate::api::triage::create_comment,
        crate::api::triage::bulk_update_alerts,
        crate::api::triage::rename_tag,
        crate::api::incidents::list_incidents,
        crate::api::incidents::get_incident,
        crate::api::incidents::update_incident,
        crate::api::incidents::get_incident_history,
        crate::api::incidents::create_incident_comment,
        crate::api::incidents::merge_incident,
        crate::api::incidents::link_alert,
        crate::api::incidents::unlink_alert,
        crate::api::session::create_session,
        crate::api::session::get_session,
        crate::api::session::delete_session,
        crate::api::users::list_users,
        crate::api::users::create_user,
        crate::api::users::update_user,
        crate::api::roles::list_roles,
        crate::api::roles::create_role,
        crate::api::tokens::list_tokens,
        crate::api::tokens::create_token,
        crate::api::tokens::revoke_token,
        crate::api::audit::list_audit,
        crate::api::health::health,
        crate::openapi::openapi_json,
    ),
    components(schemas(crate::error::Problem, crate::api::alerts::IngestResponse, crate::api::alerts::IngestItem)),
    modifiers(&Security, &ProblemJson),
    security(("bearer" = []), ("session" = [])),
    tags((name = "alerts", description = "Ingest, queue, alert pages"),
         (name = "triage", description = "Manage alert: status, assignment, classification, tags, comments, bulk"),
         (name = "incidents", description = "Correlated incidents: queue, page, triage, merge, links"),
         (name = "access", description = "Sign-in, users, roles, API tokens, audit"),
         (name = "operations", description = "Health"))
)]
pub struct ApiDoc;

/// Declares the two ways to authenticate: a bearer token, or the session cookie (with the
/// CSRF header on changes).
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme,
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// Declares error bodies (4xx and 5xx) as `application/problem+json`, the content type the
/// server sends them with: the path annotations name the `Problem` schema, which utoipa
/// files under `application/json`, and generated clients then did not match error bodies.
struct ProblemJson;

impl utoipa::Modify for ProblemJson {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
            ];
            for op in ops.into_iter().flatten() {
                for (status, response) in &mut op.responses.responses {
                    let (RefOr::T(r), true) = (response, status.starts_with(['4', '5'])) else {
                        continue;
                    };
                    if let Some(content) = r.content.shift_remove("application/json") {
                        r.content
                            .insert(crate::error::PROBLEM_JSON.to_string(), content);
                    }
                }
            }
        }
    }
}

/// Serves the document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> impl IntoResponse {
    crate::extract::ApiJson(ApiDoc::openapi())
}
