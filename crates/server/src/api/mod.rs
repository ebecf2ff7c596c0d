//! REST API routes under `/api/v1`, one module per resource, and the one table of who may
//! call what.
pub mod alerts;
pub mod audit;
pub mod health;
pub mod incidents;
mod parsing;
pub mod roles;
pub mod session;
pub mod tokens;
pub mod triage;
pub mod users;

use crate::state::AppState;
use axum::http::Method;
use axum::routing::{get, patch, post};
use axum::Router;
use rampart_domain::access::Permission;

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (login, health, the OpenAPI document).
    Public,
    /// Any signed-in user or valid token.
    Authenticated,
    /// This permission for at least one service source; source-scoped routes then check
    /// the object's own source in the handler.
    Perm(Permission),
}

/// How a route's permission meets service-source limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Nothing with a source is involved; the guard's check is the whole check.
    Tenant,
    /// The handler checks the permission for the object's (or each object's) own source,
    /// and lists are narrowed to the sources the role reaches.
    PerObject,
    /// The action touches every source at once (renaming a tag everywhere), so it needs the
    /// permission for all of them.
    AllSources,
}

/// One route's access rule.
#[derive(Debug, Clone, Copy)]
pub struct RouteRule {
    pub method: &'static str,
    /// The path as routed, with `{param}` segments.
    pub path: &'static str,
    pub access: Access,
    pub reach: Reach,
}

const fn rule(method: &'static str, path: &'static str, access: Access, reach: Reach) -> RouteRule {
    RouteRule {
        method,
        path,
        access,
        reach,
    }
}

use Access::{Authenticated, Perm, Public};
use Permission as P;
use Reach::{AllSources, PerObject, Tenant};

/// Every route and what it needs: enforced by [`crate::auth::guard`] and tested route by
/// route, role by role, by the authorization matrix. A route missing here is refused.
pub const ROUTE_RULES: &[RouteRule] = &[
    rule("POST", "/api/v1/session", Public, Tenant),
    rule("GET", "/api/v1/session", Authenticated, Tenant),
    rule("DELETE", "/api/v1/session", Authenticated, Tenant),
    rule("GET", "/api/v1/alerts", Perm(P::AlertsRead), PerObject),
    rule("POST", "/api/v1/alerts", Perm(P::AlertsIngest), PerObject),
    rule(
        "POST",
        "/api/v1/alerts/bulk",
        Perm(P::AlertsIngest),
        PerObject,
    ),
    rule(
        "POST",
        "/api/v1/alerts/bulk-update",
        Perm(P::AlertsManage),
        PerObject,
    ),
    rule("GET", "/api/v1/alerts/{id}", Perm(P::AlertsRead), PerObject),
    rule(
        "PATCH",
        "/api/v1/alerts/{id}",
        Perm(P::AlertsManage),
        PerObject,
    ),
    rule(
        "GET",
        "/api/v1/alerts/{id}/history",
        Perm(P::AlertsRead),
        PerObject,
    ),
    rule(
        "POST",
        "/api/v1/alerts/{id}/comments",
        Perm(P::AlertsManage),
        PerObject,
    ),
    rule(
        "POST",
        "/api/v1/tags/rename",
        Perm(P::AlertsManage),
        AllSources,
    ),
    rule(
        "GET",
        "/api/v1/incidents",
        Perm(P::IncidentsRead),
        PerObject,
    ),
    rule(
        "GET",
        "/api/v1/incidents/{id}",
        Perm(P::IncidentsRead),
        PerObject,
    ),
    rule(
        "PATCH",
        "/api/v1/incidents/{id}",
        Perm(P::IncidentsManage),
        PerObject,
    ),
    rule(
        "GET",
        "/api/v1/incidents/{id}/history",
        Perm(P::IncidentsRead),
        PerObject,
    ),
    rule(
        "POST",
        "/api/v1/incidents/{id}/comments",
        Perm(P::IncidentsManage),
        PerObject,
    ),
    rule(
        "POST",
        "/api/v1/incidents/{id}/merge",
        Perm(P::IncidentsManage),
        PerObject,
    ),
    rule(
        "POST",
        "/api/v1/alerts/{id}/link",
        Perm(P::IncidentsManage),
        PerObject,
    ),
    rule(
        "POST",
        "/api/v1/alerts/{id}/unlink",
        Perm(P::IncidentsManage),
        PerObject,
    ),
    rule("GET", "/api/v1/users", Perm(P::AlertsRead), Tenant),
    rule("POST", "/api/v1/users", Perm(P::UsersManage), Tenant),
    rule("PATCH", "/api/v1/users/{id}", Perm(P::UsersManage), Tenant),
    rule("GET", "/api/v1/roles", Authenticated, Tenant),
    rule("POST", "/api/v1/roles", Perm(P::RolesManage), Tenant),
    rule("GET", "/api/v1/tokens", Perm(P::TokensManage), Tenant),
    rule("POST", "/api/v1/tokens", Perm(P::TokensManage), Tenant),
    rule(
        "DELETE",
        "/api/v1/tokens/{id}",
        Perm(P::TokensManage),
        Tenant,
    ),
    rule("GET", "/api/v1/audit", Perm(P::AuditRead), Tenant),
    rule("GET", "/api/v1/health", Public, Tenant),
    rule("GET", "/api/v1/openapi.json", Public, Tenant),
];

/// Routes that read query parameters. Every other route refuses a query string: a
/// parameter it would silently ignore (`?dryRun=1` on a merge) must not look accepted.
const WITH_QUERY: &[(&str, &str)] = &[
    ("GET", "/api/v1/alerts"),
    ("POST", "/api/v1/alerts/bulk"),
    ("GET", "/api/v1/incidents"),
    ("GET", "/api/v1/audit"),
];

/// Whether the route (method and matched path) reads query parameters.
pub fn takes_query(method: &Method, path: &str) -> bool {
    WITH_QUERY
        .iter()
        .any(|(m, p)| *p == path && *m == method.as_str())
}

/// The rule for a method and matched path.
pub fn rule_for(method: &Method, path: &str) -> Option<&'static RouteRule> {
    ROUTE_RULES
        .iter()
        .find(|r| r.path == path && r.method == method.as_str())
}

/// All `/api/v1` routes. Keep in step with [`ROUTE_RULES`] and [`crate::openapi::ApiDoc`]
/// (tests check both).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/session",
            post(session::create_session)
                .get(session::get_session)
                .delete(session::delete_session),
        )
        .route(
            "/alerts",
            post(alerts::create_alerts).get(alerts::list_alerts),
        )
        .route("/alerts/bulk", post(alerts::bulk_ingest_alerts))
        .route("/alerts/bulk-update", post(triage::bulk_update_alerts))
        .route(
            "/alerts/{id}",
            get(alerts::get_alert).patch(triage::update_alert),
        )
        .route("/alerts/{id}/history", get(alerts::get_alert_history))
        .route("/alerts/{id}/comments", post(triage::create_comment))
        .route("/alerts/{id}/link", post(incidents::link_alert))
        .route("/alerts/{id}/unlink", post(incidents::unlink_alert))
        .route("/incidents", get(incidents::list_incidents))
        .route(
            "/incidents/{id}",
            get(incidents::get_incident).patch(incidents::update_incident),
        )
        .route(
            "/incidents/{id}/history",
            get(incidents::get_incident_history),
        )
        .route(
            "/incidents/{id}/comments",
            post(incidents::create_incident_comment),
        )
        .route("/incidents/{id}/merge", post(incidents::merge_incident))
        .route("/tags/rename", post(triage::rename_tag))
        .route("/users", get(users::list_users).post(users::create_user))
        .route("/users/{id}", patch(users::update_user))
        .route("/roles", get(roles::list_roles).post(roles::create_role))
        .route(
            "/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke_token))
        .route("/audit", get(audit::list_audit))
        .route("/health", get(health::health))
        .route("/openapi.json", get(crate::openapi::openapi_json))
}
