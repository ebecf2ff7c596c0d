//! User accounts: list (for the assignee picker), create, change role/sources/password,
//! disable.
use crate::accounts::{self, checked_role, UserRequest};
use crate::auth::{password, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rampart_domain::access::Permission;
use rampart_domain::user::{check_name, check_password, resolve_role};
use rampart_store::UserPatch;
use serde::{Deserialize, Deserializer};

const GLOBAL_ADMIN: &str = "Global administrator";

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A new user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub display_name: Option<String>,
    /// At least 12 characters.
    pub password: String,
    /// A built-in role name (see GET /api/v1/roles) or a custom role.
    pub role: String,
    /// Limit the role to these service sources (Graph values or aliases like `endpoint`).
    pub sources: Option<Vec<String>>,
}

/// A change to a user; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub role: Option<String>,
    /// `null` lifts a source limit.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub sources: Option<Option<Vec<String>>>,
    pub disabled: Option<bool>,
}

/// Users, by name. Anyone who can read alerts may list them: the manage-alert pane assigns
/// alerts to people.
#[utoipa::path(get, path = "/api/v1/users", tag = "access",
    responses((status = 200, description = "`{items: [user…]}`")))]
pub async fn list_users(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let items = state.store.list_users().await?;
    Ok(ApiJson(serde_json::json!({ "items": items })))
}

/// Creates a user. You cannot grant a role that holds permissions you lack.
#[utoipa::path(post, path = "/api/v1/users", tag = "access", request_body = CreateUser,
    responses((status = 201, description = "The user"), (status = 400, description = "Invalid field", body = crate::error::Problem),
        (status = 409, description = "Username taken", body = crate::error::Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::UsersManage, None)?;
    let user = accounts::create_user(
        &*state.store,
        UserRequest {
            username: req.username,
            display_name: req.display_name,
            password: req.password,
            role: req.role,
            sources: req.sources,
        },
        Some(&caller.principal),
        grant.actor(),
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(user)))
}

/// Changes a user. Changing the role, sources or password, or disabling the account, ends
/// the user's sessions. You cannot change someone whose role you could not grant, nor
/// disable yourself.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "access", request_body = UpdateUser,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user"), (status = 404, description = "No such user", body = crate::error::Problem)))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateUser>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::UsersManage, None)?;
    let store = &*state.store;
    let current = store
        .get_user(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id:?}")))?;
    // The target's present role must be one the caller could grant.
    let custom = store.list_roles().await?;
    if let Ok(def) = resolve_role(&current.role, current.sources.as_deref(), &custom) {
        if !caller.principal.covers(&def) {
            return Err(ApiError::Forbidden(format!(
                "{} holds the role {:?}, which has permissions you do not have",
                current.username, current.role
            )));
        }
    }
    if req.disabled == Some(true) && caller.principal.id == current.id {
        return Err(ApiError::bad(
            "disabled",
            "disabled: you cannot disable your own account",
        ));
    }
    if let Some(d) = &req.display_name {
        check_name("displayName", d)?;
    }
    // Never leave the tenant without an enabled Global administrator.
    let demotes = req
        .role
        .as_deref()
        .is_some_and(|r| !r.trim().eq_ignore_ascii_case(GLOBAL_ADMIN));
    let limits = matches!(&req.sources, Some(Some(_)));
    if current.role == GLOBAL_ADMIN
        && !current.disabled
        && (req.disabled == Some(true) || demotes || limits)
    {
        let others = store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| {
                u.id != current.id && u.role == GLOBAL_ADMIN && !u.disabled && u.sources.is_none()
            })
            .count();
        if others == 0 {
            // Named after what the request asked for: disabling, demoting or limiting.
            let field = if req.disabled == Some(true) {
                "disabled"
            } else if demotes {
                "role"
            } else {
                "sources"
            };
            return Err(ApiError::bad(
                field,
                format!("{field}: this is the last enabled Global administrator; make someone else one first"),
            ));
        }
    }
    let mut patch = UserPatch {
        display_name: req.display_name,
        disabled: req.disabled,
        ..UserPatch::default()
    };
    if req.role.is_some() || req.sources.is_some() {
        let role = req.role.as_deref().unwrap_or(&current.role);
        let sources = match req.sources {
            Some(s) => s,
            None => current.sources.clone(),
        };
        let (def, sources) = checked_role(store, role, sources, Some(&caller.principal)).await?;
        patch.role = Some(def.name);
        patch.sources = Some(sources);
    }
    if let Some(pw) = req.password {
        check_password(&pw)?;
        patch.password_hash = Some(
            password::hash_async(pw)
                .await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))?,
        );
    }
    let user = store
        .update_user(&id, patch, grant.actor(), state.clock.now())
        .await?;
    Ok(ApiJson(user))
}
