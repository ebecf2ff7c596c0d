//! Rampart's storage: the [`Store`] trait every backend implements, the embedded SQLite
//! backend, and (feature `conformance`) the one suite every backend must pass.
//!
//! Nothing backend-specific leaks through the trait: callers see domain types, [`StoreError`]
//! and opaque cursors. PostgreSQL slots in as a second module implementing the same trait.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cursor;
pub mod error;
pub mod filter;
pub mod query;
pub mod sqlite;

#[cfg(feature = "conformance")]
pub mod conformance;

use async_trait::async_trait;
use rampart_domain::alert::{AlertRecord, NewAlert};
use rampart_domain::entity::EntityKey;
use rampart_domain::history::{Actor, HistoryEvent};
use rampart_domain::timestamp::Timestamp;
use std::path::Path;
use std::sync::Arc;

pub use cursor::Cursor;
pub use error::StoreError;
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

    /// The audit trail of an alert or incident, oldest first.
    async fn history(&self, target_id: &str) -> Result<Vec<HistoryEvent>, StoreError>;

    /// How many alerts are stored.
    async fn count_alerts(&self) -> Result<u64, StoreError>;
}

/// Opens the store a URL names: `sqlite://PATH` or a bare directory path (the embedded
/// default, `PATH/rampart.db`).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(StoreError::Config(
            "the PostgreSQL backend arrives in the next wave; use the embedded SQLite store".into(),
        ));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let store = sqlite::SqliteStore::open_dir(Path::new(path))?;
    Ok(Arc::new(store))
}
