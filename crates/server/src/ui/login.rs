//! The sign-in page. The form posts to `POST /api/v1/session` from `app.js`, so sign-in has
//! one implementation (throttle, audit, cookie) shared with API clients.
use super::html;
use askama::Template;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
}

/// Only a local path may be the destination after sign-in (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/alerts".to_string(),
    }
}

/// `GET /login`.
pub async fn page(RawQuery(raw): RawQuery) -> Response {
    let params: Option<LoginParams> = raw
        .as_deref()
        .and_then(|q| serde_urlencoded::from_str(q).ok());
    let next = safe_next(params.as_ref().and_then(|p| p.next.as_deref()));
    html(StatusCode::OK, LoginPage { next })
}
