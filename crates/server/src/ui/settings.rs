//! Settings (`/settings`): the users and API tokens an administrator manages. Adding and
//! changing users, minting and revoking tokens go through the REST API like every other
//! change; the page lists, and its forms call the API.
use super::view::{self, Chrome};
use super::{html, PageResult, Viewer};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use rampart_domain::access::{builtin_roles, Permission};

struct UserRow {
    id: String,
    username: String,
    display_name: String,
    role: String,
    sources: String,
    /// The source limit as the edit form shows it: empty for all sources.
    sources_raw: String,
    disabled: bool,
    last_login: String,
}

struct TokenRow {
    id: String,
    name: String,
    role: String,
    sources: String,
    created_by: String,
    created: String,
    last_used: String,
    revoked: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    roles: Vec<String>,
    can_users: bool,
    can_tokens: bool,
}

fn sources(s: &Option<Vec<String>>) -> String {
    s.as_ref()
        .map_or_else(|| "All".to_string(), |v| v.join(", "))
}

/// `GET /settings`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let can_users = viewer.can(Permission::UsersManage, None);
    let can_tokens = viewer.can(Permission::TokensManage, None);
    if !can_users && !can_tokens {
        return Err(ApiError::Forbidden(
            "settings need the users.manage or tokens.manage permission".into(),
        )
        .into());
    }
    let users = if can_users {
        state
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| UserRow {
                sources: sources(&u.sources),
                sources_raw: u.sources.map(|v| v.join(", ")).unwrap_or_default(),
                id: u.id,
                username: u.username,
                display_name: u.display_name,
                role: u.role,
                disabled: u.disabled,
                last_login: view::when_opt(u.last_login),
            })
            .collect()
    } else {
        Vec::new()
    };
    let tokens = if can_tokens {
        state
            .store
            .list_tokens()
            .await?
            .into_iter()
            .map(|t| TokenRow {
                sources: sources(&t.sources),
                id: t.id,
                name: t.name,
                role: t.role,
                created_by: t.created_by,
                created: view::when(t.created),
                last_used: view::when_opt(t.last_used),
                revoked: view::when_opt(t.revoked),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut roles: Vec<String> = builtin_roles().into_iter().map(|r| r.name).collect();
    roles.extend(state.store.list_roles().await?.into_iter().map(|r| r.name));
    let t = SettingsPage {
        chrome: Chrome::new(&viewer, "settings", "Settings"),
        users,
        tokens,
        roles,
        can_users,
        can_tokens,
    };
    Ok(html(StatusCode::OK, t))
}

/// Whether the header shows the Settings link.
pub fn visible(v: &Viewer) -> bool {
    v.can(Permission::UsersManage, None) || v.can(Permission::TokensManage, None)
}
