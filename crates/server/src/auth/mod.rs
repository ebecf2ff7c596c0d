//! Who is calling, and may they call this route.
//!
//! Every `/api/v1` route has one entry in [`crate::api::ROUTE_RULES`]. The [`guard`]
//! middleware looks the matched route up there, authenticates the caller (bearer token or
//! session cookie, with a CSRF check for cookie-authenticated writes), checks the route's
//! permission for at least one service source, and hands the [`Caller`] to the handler. A
//! route without a rule is refused, so a forgotten entry fails closed. Handlers then check
//! the permission for the specific object's service source with [`Caller::grant`], which
//! yields the [`Grant`] store writes require.
pub mod limiter;
pub mod password;
pub mod secret;

use crate::api::{rule_for, Access};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rampart_domain::access::{authorize, Grant, Permission, Principal, PrincipalKind};
use rampart_domain::user::{resolve_role, User};

/// The session cookie.
pub const SESSION_COOKIE: &str = "rampart_session";
/// The header that must echo the session's CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How often a token's "last used" time is written, at most (microseconds).
const TOUCH_EVERY_MICROS: i64 = 60 * 1_000_000;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Set when the caller signed in with a session cookie.
    pub session: Option<Session>,
}

/// The session a cookie-authenticated caller uses.
#[derive(Debug, Clone)]
pub struct Session {
    pub digest: Vec<u8>,
    pub csrf: String,
    pub user: User,
    pub expires: rampart_domain::timestamp::Timestamp,
}

impl Caller {
    /// Checks `perm` for an object from `source` (or, with `None`, for at least one source).
    pub fn grant(&self, perm: Permission, source: Option<&str>) -> ApiResult<Grant> {
        authorize(&self.principal, perm, source).map_err(ApiError::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("authentication required".into()))
    }
}

/// The principal for a user or token: its role (built-in, or custom from the store) narrowed
/// to its sources. A role that no longer exists grants nothing.
pub async fn principal(
    state: &AppState,
    kind: PrincipalKind,
    id: &str,
    name: &str,
    role: &str,
    sources: Option<&[String]>,
) -> ApiResult<Principal> {
    let custom = if rampart_domain::access::builtin(role).is_some() {
        Vec::new()
    } else {
        state.store.list_roles().await?
    };
    let roles = resolve_role(role, sources, &custom).into_iter().collect();
    Ok(Principal::new(kind, id, name, roles))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn from_token(state: &AppState, token: &str) -> ApiResult<Caller> {
    let now = state.clock.now();
    let info = state
        .store
        .token_by_digest(&secret::digest(token))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the API token is unknown or revoked".into()))?;
    let t = info.token;
    if t.last_used
        .is_none_or(|u| now.micros() - u.micros() >= TOUCH_EVERY_MICROS)
    {
        // Fire and forget: a failed "last used" write must not fail the request.
        let store = state.store.clone();
        let id = t.id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&id, now).await {
                tracing::warn!(error = %e, "recording token use failed");
            }
        });
    }
    let principal = principal(
        state,
        PrincipalKind::Token,
        &t.id,
        &t.name,
        &t.role,
        t.sources.as_deref(),
    )
    .await?;
    Ok(Caller {
        principal,
        session: None,
    })
}

async fn from_cookie(
    state: &AppState,
    value: &str,
    headers: &HeaderMap,
    method: &Method,
) -> ApiResult<Caller> {
    let digest = secret::digest(value);
    let s = state
        .store
        .session(&digest, state.clock.now())
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "the session has expired or was signed out; sign in again".into(),
            )
        })?;
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !secret::same(sent, &s.csrf) {
            return Err(ApiError::Forbidden(format!(
                "missing or wrong {CSRF_HEADER} header: changes made with a session cookie must echo the session's CSRF token"
            )));
        }
    }
    let u = &s.user;
    let principal = principal(
        state,
        PrincipalKind::User,
        &u.id,
        &u.username,
        &u.role,
        u.sources.as_deref(),
    )
    .await?;
    Ok(Caller {
        principal,
        session: Some(Session {
            digest,
            csrf: s.csrf,
            user: s.user,
            expires: s.expires,
        }),
    })
}

/// Authenticates a request: `Authorization: Bearer` first, then the session cookie.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> ApiResult<Caller> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let auth = auth.to_str().unwrap_or("");
        let token = auth
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization must be `Bearer <token>`".into())
            })?;
        return from_token(state, token).await;
    }
    if let Some(value) = cookie(headers, SESSION_COOKIE) {
        return from_cookie(state, value, headers, method).await;
    }
    Err(ApiError::Unauthorized(
        "sign in (POST /api/v1/session) or send `Authorization: Bearer <token>`".into(),
    ))
}

/// The access rule of the matched route, enforced before the handler runs.
pub async fn guard(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(path) = matched else {
        return next.run(req).await;
    };
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    let Some(rule) = rule_for(&method, path.as_str()) else {
        if crate::api::ROUTE_RULES
            .iter()
            .any(|r| r.path == path.as_str())
        {
            return ApiError::MethodNotAllowed(format!("{method} is not allowed here"))
                .into_response();
        }
        tracing::error!(%method, path = path.as_str(), "route has no access rule");
        return ApiError::Forbidden("this route has no access rule; refused".into())
            .into_response();
    };
    if let Some(q) = req.uri().query().filter(|q| !q.is_empty()) {
        if !crate::api::takes_query(&method, path.as_str()) {
            let name = q
                .split('&')
                .next()
                .and_then(|p| p.split('=').next())
                .unwrap_or(q);
            let name: String = name.chars().take(100).collect();
            return ApiError::bad(
                name.clone(),
                format!(
                    "{name}: {method} {} takes no query parameters",
                    path.as_str()
                ),
            )
            .into_response();
        }
    }
    let need = match rule.access {
        Access::Public => return next.run(req).await,
        Access::Authenticated => None,
        Access::Perm(p) => Some(p),
    };
    let caller = match authenticate(&state, req.headers(), &method).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(p) = need {
        if let Err(e) = caller.grant(p, None) {
            return e.into_response();
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}
