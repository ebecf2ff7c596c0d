//! Types the store exchanges for users, sessions, tokens and triage, so the trait stays free of
//! backend types. Secrets arrive here already hashed: the store never sees a password or a
//! token in clear.
use rampart_domain::alert::AlertRecord;
use rampart_domain::timestamp::Timestamp;
use rampart_domain::user::{ApiToken, User};
use serde::Serialize;

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub role: String,
    pub sources: Option<Vec<String>>,
}

/// A change to a user; `None` leaves a field alone. `sources: Some(None)` lifts a limit.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub role: Option<String>,
    pub sources: Option<Option<Vec<String>>>,
    pub disabled: Option<bool>,
}

impl UserPatch {
    /// Whether the patch ends the user's sessions: anything that changes who they are or what
    /// they may do must not leave an old cookie working.
    pub fn ends_sessions(&self) -> bool {
        self.password_hash.is_some()
            || self.role.is_some()
            || self.sources.is_some()
            || self.disabled == Some(true)
    }
}

/// A user with the hash to check a login against.
#[derive(Debug, Clone)]
pub struct UserLogin {
    pub user: User,
    pub password_hash: String,
}

/// A live session: whose it is and the CSRF token bound to it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub user: User,
    pub csrf: String,
    pub expires: Timestamp,
}

/// A token to mint. `digest` is SHA-256 of the secret.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: String,
    pub sources: Option<Vec<String>>,
    pub digest: Vec<u8>,
}

/// A token found by its digest (never a revoked one).
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub token: ApiToken,
}

/// Which alerts a bulk update touches.
#[derive(Debug, Clone)]
pub enum BulkTarget {
    Ids(Vec<String>),
    Query(Box<crate::query::AlertQuery>),
}

/// Most alerts one bulk update may touch.
pub const MAX_BULK: usize = 10_000;

/// What a bulk update did, alert by alert where it did not simply apply.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkSummary {
    /// Alerts the ids or the condition selected.
    pub matched: usize,
    /// Alerts whose state changed (each got a new version and history lines).
    pub changed: usize,
    /// Alerts already in the requested state.
    pub unchanged: usize,
    /// Ids that name no alert.
    pub not_found: Vec<String>,
    /// Alerts outside the caller's service sources.
    pub forbidden: Vec<String>,
    /// Alerts the change could not apply to, with the reason (e.g. a determination that does
    /// not fit the alert's classification).
    pub failed: Vec<BulkFailure>,
}

/// One alert a bulk change could not apply to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkFailure {
    pub id: String,
    pub error: String,
}

/// The outcome of a single-alert update: the record as stored after it.
#[derive(Debug, Clone)]
pub struct Updated {
    pub record: AlertRecord,
    /// False when the change was a no-op (no new version).
    pub changed: bool,
}
