//! The analyst's web UI: server-rendered askama pages (auto-escaped) with htmx for partial
//! updates, all assets embedded in the binary.
//!
//! Pages read through the same scoping helpers as the REST API (`build_query`,
//! `limit_to_scope`, `alert_with_grant`, the incident reach check), so a page never shows
//! what the API would refuse. Every change the UI makes is a `fetch` from `app.js` to the
//! REST API with the session's CSRF token: there is no second write path to secure.
pub mod alert;
pub mod assets;
pub mod entity;
pub mod incidents;
pub mod login;
pub mod queue;
pub mod settings;
pub mod story;
pub mod view;

use crate::auth::{authenticate, Caller};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use rampart_domain::access::Permission;

/// The Content-Security-Policy of every response: no inline script or style, nothing from
/// elsewhere. Attacker-controlled text that slipped past escaping still could not run.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// UI routes (outside `/api/v1`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/alerts") }))
        .route("/login", get(login::page))
        .route("/alerts", get(queue::page))
        .route("/alerts/{id}", get(alert::page))
        .route("/alerts/{id}/entities/{n}", get(alert::entity_pane))
        .route("/incidents", get(incidents::queue))
        .route("/incidents/{id}", get(incidents::page))
        .route("/entities/{kind}/{*value}", get(entity::page))
        .route("/settings", get(settings::page))
        .route("/static/{*file}", get(assets::serve))
}

/// The signed-in analyst of a page request. Without a valid session the page redirects to
/// the sign-in page, which comes back here afterwards.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub caller: Caller,
    /// Echoed by `app.js` in `X-CSRF-Token` on every change.
    pub csrf: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
}

impl Viewer {
    /// Whether the viewer holds `perm` for `source` (or, with `None`, for some source): the
    /// page hides controls that the API would refuse.
    pub fn can(&self, perm: Permission, source: Option<&str>) -> bool {
        self.caller.grant(perm, source).is_ok()
    }

    /// Whether the viewer holds `perm` on `incident`, by the API's own rule (every source of
    /// its alerts).
    pub fn can_incident(
        &self,
        incident: &rampart_domain::incident::IncidentRecord,
        perm: Permission,
    ) -> bool {
        crate::api::incidents::incident_grant(&self.caller, incident, perm).is_ok()
    }
}

/// A page failure: signed out → sign-in page; otherwise an HTML error page with the API's
/// message and status.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<rampart_store::StoreError> for PageError {
    fn from(e: rampart_store::StoreError) -> Self {
        PageError(ApiError::from(e))
    }
}

/// Where the sign-in page should send the analyst back to.
fn login_redirect(uri: &str, headers: &axum::http::HeaderMap) -> Response {
    // A fragment htmx asked for (an entity's facts, a queue page) is not a page to come back
    // to, and a redirect would be followed inside the request and the sign-in page swapped
    // into the pane. htmx instead sends the whole window to sign in, then back to the page
    // it was on.
    let htmx = headers.contains_key("hx-request");
    let page = if htmx {
        headers
            .get("hx-current-url")
            .and_then(|v| v.to_str().ok())
            .and_then(|u| u.parse::<axum::http::Uri>().ok())
            .and_then(|u| u.path_and_query().map(ToString::to_string))
            .unwrap_or_else(|| "/alerts".into())
    } else {
        uri.to_string()
    };
    let login = format!(
        "/login?next={}",
        percent_encoding::utf8_percent_encode(&page, view::QUERY_SET)
    );
    if htmx {
        (StatusCode::UNAUTHORIZED, [("hx-redirect", login)]).into_response()
    } else {
        Redirect::to(&login).into_response()
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    detail: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let detail = match &self.0 {
            ApiError::Internal(_) => {
                "Something went wrong on the server; it has been logged.".into()
            }
            e => e.to_string(),
        };
        let status = self.0.into_response().status();
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        html(
            status,
            ErrorPage {
                status: status.as_u16(),
                title,
                detail,
            },
        )
    }
}

/// Renders a template as an HTML response.
pub fn html(status: StatusCode, t: impl Template) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// What page handlers return.
pub type PageResult = Result<Response, PageError>;

impl<S: Send + Sync> FromRequestParts<S> for Viewer
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Response> {
        let state: AppState = axum::extract::FromRef::from_ref(s);
        let uri = OriginalUri::from_request_parts(parts, s)
            .await
            .map(|u| u.0.to_string())
            .unwrap_or_else(|_| "/alerts".into());
        let caller = match authenticate(&state, &parts.headers, &Method::GET).await {
            Ok(c) => c,
            Err(ApiError::Unauthorized(_)) => return Err(login_redirect(&uri, &parts.headers)),
            Err(e) => return Err(PageError(e).into_response()),
        };
        let Some(session) = caller.session.clone() else {
            // Pages are for people; API tokens use the API.
            return Err(login_redirect(&uri, &parts.headers));
        };
        Ok(Viewer {
            csrf: session.csrf,
            username: session.user.username.clone(),
            display_name: session.user.display_name.clone(),
            role: session.user.role.clone(),
            caller,
        })
    }
}
