//! Rampart's storage: the [`Store`] trait every backend implements, the embedded SQLite
//! backend, and (feature `conformance`) the one suite every backend must pass.
//!
//! Nothing backend-specific leaks through the trait: callers see domain types, [`StoreError`]
//! and opaque cursors. PostgreSQL slots in as a second module implementing the same trait.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod access;
pub mod cursor;
pub mod entity_index;
pub mod error;
pub mod filter;
pub mod incidents;
pub mod query;
pub mod sqlite;

#[cfg(feature = "conformance")]
pub mod conformance;

use async_trait::async_trait;
use rampart_domain::access::{Grant, RoleDef};
use rampart_domain::alert::{AlertRecord, NewAlert};
use rampart_domain::entity::EntityKey;
use rampart_domain::history::{Actor, HistoryEvent, TargetKind};
use rampart_domain::incident::{IncidentChange, IncidentRecord};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::triage::AlertChange;
use rampart_domain::user::{ApiToken, User};
use std::path::Path;
use std::sync::Arc;

pub use access::{
    BulkFailure, BulkSummary, BulkTarget, NewToken, NewUser, SessionInfo, TokenInfo, Updated,
    UserLogin, UserPatch, MAX_BULK,
};
pub use cursor::Cursor;
pub use error::StoreError;
pub use incidents::{CorrelateSummary, IncidentDetail, IncidentPage, IncidentQuery};
pub use query::{AlertPage, AlertQuery, SortKey, TOTAL_CAP};

/// What ingest did with one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum IngestOutcome {
    /// A new alert was stored.
    Created,
    /// The alert existed (same id or same serviceSource + providerAlertId) and was updated.
    Updated,
}

/// An alert as stored: the record, its entity keys and the producer document.
#[derive(Debug, Clone)]
pub struct StoredAlert {
    pub record: AlertRecord,
    pub entities: Vec<EntityKey>,
    /// The producer document (decompressed), to be laid under the record when rendered.
    pub document: Vec<u8>,
}

/// Everything Rampart persists. Implementations must be safe to share across tasks.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a batch atomically: all alerts commit together or none does. Re-sent alerts
    /// (same id, or same serviceSource + providerAlertId) update the stored one and never
    /// duplicate it. Returns only after the transaction is durable.
    async fn ingest(
        &self,
        alerts: Vec<NewAlert>,
        actor: Actor,
        now: Timestamp,
    ) -> Result<Vec<IngestOutcome>, StoreError>;

    /// One alert with its document, or `None`.
    async fn get_alert(&self, id: &str) -> Result<Option<StoredAlert>, StoreError>;

    /// A page of the alerts queue.
    async fn list_alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError>;

    /// The history of one target (an alert, an incident, a user …), oldest first.
    async fn history(
        &self,
        kind: TargetKind,
        target_id: &str,
    ) -> Result<Vec<HistoryEvent>, StoreError>;

    /// How many alerts are stored.
    async fn count_alerts(&self) -> Result<u64, StoreError>;

    // --- Triage. Every call takes the [`Grant`] that allowed it: the grant names the audit
    // actor and its scope is re-checked against the alert's service source inside the
    // transaction, so an unchecked or out-of-scope write cannot happen.

    /// Applies `change` (and records `comment`) to one alert if `expected_version` is its
    /// current version (409 otherwise), appending one history event per changed field, all
    /// in one transaction. `assignedTo` must name an enabled user.
    async fn update_alert(
        &self,
        grant: &Grant,
        id: &str,
        change: &AlertChange,
        expected_version: i64,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<Updated, StoreError>;

    /// Appends a comment to an alert's history.
    async fn add_comment(
        &self,
        grant: &Grant,
        id: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<HistoryEvent, StoreError>;

    /// Applies one change (and optionally one comment) to up to [`MAX_BULK`] alerts, each
    /// atomically, in one transaction. Alerts outside the grant's scope are skipped and
    /// reported.
    async fn bulk_update(
        &self,
        grant: &Grant,
        target: BulkTarget,
        change: &AlertChange,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<BulkSummary, StoreError>;

    /// Renames a tag on every alert that carries it; returns how many alerts changed.
    async fn rename_tag(
        &self,
        grant: &Grant,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError>;

    // --- Incidents. Correlation itself runs inside `ingest`.

    /// A page of the incident queue.
    async fn list_incidents(&self, query: &IncidentQuery) -> Result<IncidentPage, StoreError>;

    /// An incident with its alerts, entities and correlation reasons.
    async fn get_incident(&self, id: &str) -> Result<Option<IncidentDetail>, StoreError>;

    /// Changes an incident's triage state at `expected_version`, with an optional comment
    /// in the same transaction. Resolving an incident resolves its unresolved alerts too,
    /// each with its own history event.
    async fn update_incident(
        &self,
        grant: &Grant,
        id: &str,
        change: &IncidentChange,
        expected_version: i64,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<IncidentRecord, StoreError>;

    /// Adds a comment to an incident's history (not to a merged one: its history now
    /// belongs to the incident it points at). Like an alert's, a comment leaves the
    /// incident's version alone.
    async fn add_incident_comment(
        &self,
        grant: &Grant,
        id: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<HistoryEvent, StoreError>;

    /// Merges `from` into `into` by hand: `from`'s alerts move and it becomes redirected.
    async fn merge_incidents(
        &self,
        grant: &Grant,
        from: &str,
        into: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StoreError>;

    /// Links an alert to an incident by hand (sticky: correlation never moves it again).
    async fn link_alert(
        &self,
        grant: &Grant,
        alert: &str,
        incident: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StoreError>;

    /// Moves an alert into a new incident of its own, by hand (sticky).
    async fn unlink_alert(
        &self,
        grant: &Grant,
        alert: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StoreError>;

    /// Makes this process the one that ingests and changes incidents. The embedded store
    /// keeps part of its state in the writing process's memory, so it locks its data
    /// directory until the process exits and refuses a second writer. `serve`, `ingest`,
    /// `demo` and `correlate` call this first to fail at start, not at their first write;
    /// ingest and incident changes also claim on their own.
    async fn claim_writer(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Loads what ingest needs in memory (the correlation engine's window) before the first
    /// ingest asks for it, so that request does not wait for it. `serve` calls this in the
    /// background after it starts listening.
    async fn warm_up(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Rebuilds automatic incident links for alerts active since `since`, with the store's
    /// correlation settings; manual links stay.
    async fn correlate(
        &self,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<CorrelateSummary, StoreError>;

    // --- Users, sessions, tokens, roles.

    /// Creates a user; [`StoreError::Duplicate`] if the name is taken (case-insensitively).
    async fn create_user(
        &self,
        user: NewUser,
        actor: Actor,
        now: Timestamp,
    ) -> Result<User, StoreError>;

    /// How many users exist (first-run bootstrap).
    async fn count_users(&self) -> Result<u64, StoreError>;

    /// All users, by name.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// A user by id.
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// A user by login name (case-insensitive), with the password hash.
    async fn user_login(&self, username: &str) -> Result<Option<UserLogin>, StoreError>;

    /// Changes a user, one history event per field (never the hash itself). A patch that
    /// [`UserPatch::ends_sessions`] deletes the user's sessions in the same transaction.
    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        actor: Actor,
        now: Timestamp,
    ) -> Result<User, StoreError>;

    /// Stores a session under the digest of its secret and records the sign-in, in one
    /// transaction.
    async fn create_session(
        &self,
        digest: Vec<u8>,
        user_id: &str,
        csrf: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// The live session with this digest: `None` when unknown, expired, or its user is
    /// disabled.
    async fn session(
        &self,
        digest: &[u8],
        now: Timestamp,
    ) -> Result<Option<SessionInfo>, StoreError>;

    /// Ends a session (logout).
    async fn delete_session(&self, digest: &[u8]) -> Result<(), StoreError>;

    /// Mints a token; returns it as listed (the secret stays with the caller).
    async fn create_token(
        &self,
        token: NewToken,
        actor: Actor,
        now: Timestamp,
    ) -> Result<ApiToken, StoreError>;

    /// The unrevoked token with this digest.
    async fn token_by_digest(&self, digest: &[u8]) -> Result<Option<TokenInfo>, StoreError>;

    /// Every token, revoked ones included (the audit wants them), newest first.
    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// Revokes a token; [`StoreError::NotFound`] if unknown. Revoking twice is a no-op.
    async fn revoke_token(
        &self,
        id: &str,
        actor: Actor,
        now: Timestamp,
    ) -> Result<ApiToken, StoreError>;

    /// Notes that a token was used (callers throttle this; it is a write).
    async fn touch_token(&self, id: &str, now: Timestamp) -> Result<(), StoreError>;

    /// Custom roles, by name.
    async fn list_roles(&self) -> Result<Vec<RoleDef>, StoreError>;

    /// Stores a validated custom role; [`StoreError::Duplicate`] if the name is taken.
    async fn create_role(
        &self,
        role: RoleDef,
        actor: Actor,
        now: Timestamp,
    ) -> Result<RoleDef, StoreError>;

    // --- Audit.

    /// Appends an event about a target that has no dedicated store call (failed sign-ins,
    /// incident comments).
    async fn append_audit(&self, kind: TargetKind, event: HistoryEvent) -> Result<(), StoreError>;

    /// The newest access-audit events (users, tokens, roles, sign-ins), newest first,
    /// optionally for one target.
    async fn audit(
        &self,
        target: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError>;
}

/// Opens the store a URL names: `sqlite://PATH` or a bare directory path (the embedded
/// default, `PATH/rampart.db`).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, rampart_domain::correlate::CorrelationConfig::default()).await
}

/// [`open`] with correlation settings.
/// [`open_with`] for a store that must exist already: the commands an operator runs beside
/// the server (`user`, `token`, `correlate`) pointed at the wrong directory would otherwise
/// create an empty store there and act on it, and report success.
pub async fn open_existing(
    url: &str,
    correlation: rampart_domain::correlate::CorrelationConfig,
) -> Result<Arc<dyn Store>, StoreError> {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let file = Path::new(path).join(sqlite::DB_FILE);
    if !url.contains("://") && !file.is_file() {
        return Err(StoreError::Config(format!(
            "no Rampart store in {path} ({} does not exist)",
            file.display()
        )));
    }
    open_with(url, correlation).await
}

pub async fn open_with(
    url: &str,
    correlation: rampart_domain::correlate::CorrelationConfig,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(StoreError::Config(
            "the PostgreSQL backend arrives in the next wave; use the embedded SQLite store".into(),
        ));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let store = sqlite::SqliteStore::open_dir_with(Path::new(path), correlation)?;
    Ok(Arc::new(store))
}
