//! API tokens for machines: minted with a name and a role, shown once, stored as a digest,
//! listed with last use, revoked.
use crate::accounts::mint_token;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rampart_domain::access::Permission;
use rampart_domain::user::ApiToken;
use serde::{Deserialize, Serialize};

/// A token to mint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// E.g. `Ingest only` for producers, `Security reader` for dashboards.
    pub role: String,
    pub sources: Option<Vec<String>>,
}

/// The minted token: `token` appears in this response only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
    pub name: String,
    pub role: String,
    #[schema(value_type = Option<Vec<String>>)]
    pub sources: Option<Vec<String>>,
}

/// Every token with its role, creator, last use and revocation; never a secret.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access",
    responses((status = 200, description = "`{items: [token…]}`")))]
pub async fn list_tokens(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let items: Vec<ApiToken> = state.store.list_tokens().await?;
    Ok(ApiJson(serde_json::json!({ "items": items })))
}

/// Mints a token. The secret is in this response only; store it now. You cannot mint a
/// token more powerful than yourself.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = CreateToken,
    responses((status = 201, description = "Minted", body = CreatedToken), (status = 400, description = "Invalid field", body = crate::error::Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateToken>,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::TokensManage, None)?;
    let (t, secret) = mint_token(
        &*state.store,
        &req.name,
        &req.role,
        req.sources,
        Some(&caller.principal),
        grant.actor(),
        state.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedToken {
            id: t.id,
            token: secret,
            name: t.name,
            role: t.role,
            sources: t.sources,
        }),
    ))
}

/// Revokes a token at once; requests presenting it get 401 from then on.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "access",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such token", body = crate::error::Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    _: crate::extract::NoBody,
) -> ApiResult<impl IntoResponse> {
    let grant = caller.grant(Permission::TokensManage, None)?;
    state
        .store
        .revoke_token(&id, grant.actor(), state.clock.now())
        .await
        .map_err(|e| match e {
            rampart_store::StoreError::NotFound => {
                crate::error::ApiError::NotFound(format!("no token {id:?}"))
            }
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
