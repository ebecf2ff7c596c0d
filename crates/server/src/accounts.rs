//! Creating users and minting tokens, shared by the API and the CLI (which acts while the
//! server is stopped), so both validate the same way and record the same history.
use crate::auth::{password, secret};
use crate::error::{ApiError, ApiResult};
use rampart_domain::access::{Principal, RoleDef};
use rampart_domain::history::Actor;
use rampart_domain::timestamp::Timestamp;
use rampart_domain::user::{
    check_name, check_password, check_username, normalise_sources, resolve_role, ApiToken, User,
};
use rampart_store::{NewToken, NewUser, Store};

/// The administrator created on first run.
pub const ADMIN_USERNAME: &str = "admin";

/// Resolves a role name (built-in or custom) with optional sources, after validating them,
/// and checks that `minter` (if any) already holds everything it grants.
pub async fn checked_role(
    store: &dyn Store,
    role: &str,
    sources: Option<Vec<String>>,
    minter: Option<&Principal>,
) -> ApiResult<(RoleDef, Option<Vec<String>>)> {
    let sources = normalise_sources(sources)?;
    let custom = store.list_roles().await?;
    let def = resolve_role(role, sources.as_deref(), &custom)?;
    if let Some(p) = minter {
        if !p.covers(&def) {
            return Err(ApiError::Forbidden(format!(
                "you cannot grant the role {:?}{}: it holds permissions you do not have",
                def.name,
                if sources.is_some() {
                    " for these sources"
                } else {
                    ""
                }
            )));
        }
    }
    Ok((def, sources))
}

/// A user to create, as the API and CLI receive it.
#[derive(Debug, Clone)]
pub struct UserRequest {
    pub username: String,
    pub display_name: Option<String>,
    pub password: String,
    pub role: String,
    pub sources: Option<Vec<String>>,
}

/// Validates and creates a user. `minter` is the caller (None for the CLI, which runs with
/// the operator's file-system access and so is trusted as an administrator).
pub async fn create_user(
    store: &dyn Store,
    req: UserRequest,
    minter: Option<&Principal>,
    actor: Actor,
    now: Timestamp,
) -> ApiResult<User> {
    check_username(&req.username)?;
    check_password(&req.password)?;
    let display_name = req.display_name.unwrap_or_else(|| req.username.clone());
    check_name("displayName", &display_name)?;
    let (def, sources) = checked_role(store, &req.role, req.sources, minter).await?;
    let password_hash = password::hash_async(req.password)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))?;
    store
        .create_user(
            NewUser {
                username: req.username.clone(),
                display_name,
                password_hash,
                role: def.name,
                sources,
            },
            actor,
            now,
        )
        .await
        .map_err(|e| match e {
            rampart_store::StoreError::Duplicate => {
                ApiError::Conflict(format!("username: {:?} is taken", req.username))
            }
            other => other.into(),
        })
}

/// Mints a token; returns it as listed and the secret, which exists only in this return
/// value.
pub async fn mint_token(
    store: &dyn Store,
    name: &str,
    role: &str,
    sources: Option<Vec<String>>,
    minter: Option<&Principal>,
    actor: Actor,
    now: Timestamp,
) -> ApiResult<(ApiToken, String)> {
    check_name("name", name)?;
    let (def, sources) = checked_role(store, role, sources, minter).await?;
    let secret = secret::new_token();
    let token = store
        .create_token(
            NewToken {
                name: name.to_string(),
                role: def.name,
                sources,
                digest: secret::digest(&secret),
            },
            actor,
            now,
        )
        .await?;
    Ok((token, secret))
}

/// First run: when no user exists, creates `admin` as Global administrator with
/// `password` or a generated one. Returns the user and, if generated, the password to show
/// once.
pub async fn bootstrap_admin(
    store: &dyn Store,
    password: Option<String>,
    now: Timestamp,
) -> ApiResult<Option<(User, Option<String>)>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let (pw, generated) = match password {
        Some(p) => (p, false),
        None => (secret::new_password(), true),
    };
    let user = create_user(
        store,
        UserRequest {
            username: ADMIN_USERNAME.into(),
            display_name: Some("Administrator".into()),
            password: pw.clone(),
            role: "Global administrator".into(),
            sources: None,
        },
        None,
        Actor::system(),
        now,
    )
    .await?;
    Ok(Some((user, generated.then_some(pw))))
}
