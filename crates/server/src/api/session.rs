//! Signing in and out with a password and a session cookie, and "who am I".
use crate::auth::{password, secret, Caller, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rampart_domain::access::{Permission, PrincipalKind};
use rampart_domain::history::{Actor, ActorKind, HistoryEvent, TargetKind};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::user::{MAX_NAME_CHARS, MAX_PASSWORD_BYTES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;

/// Audit target of sign-in events that match no user.
pub const AUTH_TARGET: &str = "auth";

/// Login request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Who the caller is and what they may do; the UI shows and hides actions from it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// `user` or `token`.
    pub kind: String,
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub role: String,
    #[schema(value_type = Option<Vec<String>>)]
    pub sources: Option<Vec<String>>,
    #[schema(value_type = Vec<String>)]
    pub permissions: BTreeSet<Permission>,
    /// Echo this in `X-CSRF-Token` on every change made with the session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    #[serde(rename = "expiresDateTime", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub expires: Option<Timestamp>,
}

fn failed_login(username: &str, addr: &str, reason: &str, now: Timestamp) -> HistoryEvent {
    // The name as typed, bounded: it is attacker-controlled and lands in the audit log.
    let name: String = username.chars().take(MAX_NAME_CHARS).collect();
    HistoryEvent {
        seq: 0,
        target_id: AUTH_TARGET.into(),
        at: now,
        actor: Actor {
            kind: ActorKind::User,
            name,
        },
        action: "loginFailed".into(),
        field: None,
        old_value: None,
        new_value: None,
        text: Some(format!("from {addr}: {reason}")),
    }
}

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> ApiResult<HeaderValue> {
    let secure = if state.auth.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("cookie header: {e}")))
}

/// Signs in with a username and password; sets the session cookie and returns the session,
/// including the CSRF token to echo on changes. Failed attempts are throttled per account and
/// per client address, and written to the audit log (never the password).
#[utoipa::path(post, path = "/api/v1/session", tag = "access", request_body = LoginRequest,
    responses(
        (status = 201, description = "Signed in; `Set-Cookie: rampart_session=…`", body = SessionView),
        (status = 401, description = "Wrong username or password, or the account is disabled", body = crate::error::Problem),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = crate::error::Problem)))]
pub async fn create_session(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let now = state.clock.now();
    let addr = peer.ip().to_string();
    if let Err(wait) = state.limiter.begin(&req.username, &addr, now) {
        state
            .store
            .append_audit(
                TargetKind::Auth,
                failed_login(&req.username, &addr, "throttled", now),
            )
            .await?;
        return Err(ApiError::TooManyRequests {
            detail: format!("too many failed sign-in attempts; try again in {wait} s"),
            retry_after: wait,
        });
    }
    let found = if req.username.chars().count() <= MAX_NAME_CHARS {
        state.store.user_login(&req.username).await?
    } else {
        None
    };
    let phc = found.as_ref().map_or_else(
        || password::decoy().to_string(),
        |f| f.password_hash.clone(),
    );
    let pw_ok =
        req.password.len() <= MAX_PASSWORD_BYTES && password::verify_async(req.password, phc).await;
    let reason = match &found {
        None => Some("unknown user"),
        Some(_) if !pw_ok => Some("wrong password"),
        Some(f) if f.user.disabled => Some("account disabled"),
        Some(_) => None,
    };
    let (Some(login), None) = (found, reason) else {
        let e = failed_login(&req.username, &addr, reason.unwrap_or("refused"), now);
        state.store.append_audit(TargetKind::Auth, e).await?;
        return Err(ApiError::Unauthorized(
            "wrong username or password, or the account is disabled".into(),
        ));
    };
    state.limiter.succeeded(&req.username, &addr);
    let value = secret::random_secret();
    let csrf = secret::random_secret();
    let ttl_secs = state.auth.session_hours * 3600;
    let expires = now.plus_micros(ttl_secs * 1_000_000);
    state
        .store
        .create_session(secret::digest(&value), &login.user.id, &csrf, expires, now)
        .await?;
    let u = login.user;
    let principal = crate::auth::principal(
        &state,
        PrincipalKind::User,
        &u.id,
        &u.username,
        &u.role,
        u.sources.as_deref(),
    )
    .await?;
    let view = SessionView {
        kind: "user".into(),
        id: u.id,
        name: u.username,
        display_name: Some(u.display_name),
        role: u.role,
        sources: u.sources,
        permissions: principal.permissions(),
        csrf_token: Some(csrf),
        expires: Some(expires),
    };
    let mut resp = (StatusCode::CREATED, ApiJson(view)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &value, ttl_secs)?,
    );
    Ok(resp)
}

/// The caller: user or token, role, effective permissions, and for sessions the CSRF token.
#[utoipa::path(get, path = "/api/v1/session", tag = "access",
    responses((status = 200, description = "The caller", body = SessionView), (status = 401, description = "Not signed in", body = crate::error::Problem)))]
pub async fn get_session(caller: Caller) -> ApiResult<impl IntoResponse> {
    let p = &caller.principal;
    let view = match &caller.session {
        Some(s) => SessionView {
            kind: "user".into(),
            id: s.user.id.clone(),
            name: s.user.username.clone(),
            display_name: Some(s.user.display_name.clone()),
            role: s.user.role.clone(),
            sources: s.user.sources.clone(),
            permissions: p.permissions(),
            csrf_token: Some(s.csrf.clone()),
            expires: Some(s.expires),
        },
        None => {
            let role = p.roles.first();
            SessionView {
                kind: "token".into(),
                id: p.id.clone(),
                name: p.name.clone(),
                display_name: None,
                role: role.map(|r| r.name.clone()).unwrap_or_default(),
                sources: role.and_then(|r| r.sources.as_ref().map(|s| s.iter().cloned().collect())),
                permissions: p.permissions(),
                csrf_token: None,
                expires: None,
            }
        }
    };
    Ok(ApiJson(view))
}

/// Signs out: ends the session and clears the cookie. Tokens are revoked, not signed out.
#[utoipa::path(delete, path = "/api/v1/session", tag = "access",
    responses((status = 204, description = "Signed out"), (status = 400, description = "Called with a token", body = crate::error::Problem)))]
pub async fn delete_session(
    State(state): State<AppState>,
    caller: Caller,
    _: crate::extract::NoBody,
) -> ApiResult<Response> {
    let Some(s) = caller.session else {
        return Err(ApiError::bad(
            "Authorization",
            "API tokens are revoked (DELETE /api/v1/tokens/{id}), not signed out",
        ));
    };
    state.store.delete_session(&s.digest).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0)?);
    Ok(resp)
}
