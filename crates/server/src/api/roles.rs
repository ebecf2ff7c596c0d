//! Roles: the built-in ones from the reference product, and custom roles composed of
//! permissions.
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rampart_domain::access::{Permission, RoleDef, BUILTIN_ROLES};
use serde::{Deserialize, Serialize};

/// A role as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    pub name: String,
    pub builtin: bool,
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
    #[schema(value_type = Option<Vec<String>>)]
    pub sources: Option<Vec<String>>,
    /// Why a built-in role holds what it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn view(r: &RoleDef, description: Option<&str>) -> RoleView {
    RoleView {
        name: r.name.clone(),
        builtin: r.builtin,
        permissions: r.effective_permissions().into_iter().collect(),
        sources: r.sources.as_ref().map(|s| s.iter().cloned().collect()),
        description: description.map(str::to_string),
    }
}

/// A custom role.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRole {
    pub name: String,
    /// Permission names, e.g. `alerts.read`, `alerts.manage`, `email.read`.
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
    pub sources: Option<Vec<String>>,
}

/// Built-in roles (with what each may do and why) followed by custom roles.
#[utoipa::path(get, path = "/api/v1/roles", tag = "access",
    responses((status = 200, description = "`{items: [role…]}`")))]
pub async fn list_roles(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let mut items: Vec<RoleView> = BUILTIN_ROLES
        .iter()
        .map(|b| view(&b.to_role(), Some(b.rationale)))
        .collect();
    items.extend(
        state
            .store
            .list_roles()
            .await?
            .iter()
            .map(|r| view(r, None)),
    );
    Ok(ApiJson(serde_json::json!({ "items": items })))
}

/// Creates a custom role. You cannot create a role holding permissions you lack.
#[utoipa::path(post, path = "/api/v1/roles", tag = "access", request_body = CreateRole,
    responses((status = 201, description = "The role", body = RoleView), (status = 400, description = "Invalid field", body = crate::error::Problem),
        (status = 409, description = "Name taken", body = crate::error::Problem)))]
pub async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateRole>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::RolesManage, None)?;
    let role = RoleDef::custom(&req.name, req.permissions, req.sources)?;
    if !caller.principal.covers(&role) {
        return Err(ApiError::Forbidden(
            "the role holds permissions you do not have".into(),
        ));
    }
    let role = state
        .store
        .create_role(role, grant.actor(), state.clock.now())
        .await
        .map_err(|e| match e {
            rampart_store::StoreError::Duplicate => {
                ApiError::Conflict(format!("name: a role {:?} exists", req.name))
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, ApiJson(view(&role, None))))
}
