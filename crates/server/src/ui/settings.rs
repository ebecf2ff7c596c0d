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

struct RoleRow {
    name: String,
    builtin: bool,
    permissions: String,
    sources: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    roles: Vec<String>,
    /// Every role with what it grants, for those who may make roles.
    role_rows: Vec<RoleRow>,
    /// The permissions a custom role can be made of.
    permissions: Vec<&'static str>,
    can_users: bool,
    can_tokens: bool,
    can_roles: bool,
}

/// A source limit as the lists show it: the sources, or "All" for none.
fn sources<'a>(s: Option<impl IntoIterator<Item = &'a String>>) -> String {
    s.map_or_else(
        || "All".to_string(),
        |v| {
            v.into_iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        },
    )
}

/// `GET /settings`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let can_users = viewer.can(Permission::UsersManage, None);
    let can_tokens = viewer.can(Permission::TokensManage, None);
    let can_roles = viewer.can(Permission::RolesManage, None);
    if !can_users && !can_tokens && !can_roles {
        return Err(ApiError::Forbidden(
            "settings need the users.manage, tokens.manage or roles.manage permission".into(),
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
                sources: sources(u.sources.as_ref()),
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
                sources: sources(t.sources.as_ref()),
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
    let mut defs = builtin_roles();
    defs.extend(state.store.list_roles().await?);
    let roles = defs.iter().map(|r| r.name.clone()).collect();
    let role_rows = if can_roles {
        defs.iter()
            .map(|r| RoleRow {
                name: r.name.clone(),
                builtin: r.builtin,
                permissions: r
                    .effective_permissions()
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                sources: sources(r.sources.as_ref()),
            })
            .collect()
    } else {
        Vec::new()
    };
    let t = SettingsPage {
        chrome: Chrome::new(&viewer, "settings", "Settings"),
        users,
        tokens,
        roles,
        role_rows,
        permissions: Permission::ALL.iter().map(|p| p.as_str()).collect(),
        can_users,
        can_tokens,
        can_roles,
    };
    Ok(html(StatusCode::OK, t))
}

/// Whether the header shows the Settings link.
pub fn visible(v: &Viewer) -> bool {
    [
        Permission::UsersManage,
        Permission::TokensManage,
        Permission::RolesManage,
    ]
    .into_iter()
    .any(|p| v.can(p, None))
}
