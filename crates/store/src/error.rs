//! What a store call can fail with, in terms callers can act on. Backend errors are mapped in
//! one place per backend.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// Optimistic concurrency: the caller's version is not the current one.
    #[error("stale update (current version {current})")]
    Stale { current: i64 },
    #[error("already exists")]
    Duplicate,
    /// The caller's grant does not reach the object (re-checked inside the transaction).
    #[error("{0}")]
    Forbidden(String),
    /// The request is well-formed but cannot be applied (e.g. a bad cursor).
    #[error("{field}: {msg}")]
    Invalid { field: &'static str, msg: String },
    /// Misconfiguration (bad URL, unwritable directory).
    #[error("configuration: {0}")]
    Config(String),
    /// The backend is down, full or shutting down.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A domain rule refused the change (a pairing, a tag, a field value).
    #[error(transparent)]
    Domain(#[from] rampart_domain::DomainError),
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                C::ConstraintViolation => StoreError::Duplicate,
                C::DatabaseBusy | C::DatabaseLocked | C::DiskFull | C::CannotOpen | C::ReadOnly => {
                    StoreError::Unavailable(e.to_string())
                }
                _ => StoreError::Other(Box::new(e)),
            },
            _ => StoreError::Other(Box::new(e)),
        }
    }
}
