//! One process at a time may ingest into a data directory or reshape its incidents.
//!
//! Parts of the store live in the memory of the process that writes: the newest part of
//! the entity index (`recent.rs`), the correlation engine, and the filter of stored alert
//! names that spares new alerts their lookups (`known.rs`, built at the claim). A second
//! process writing the same database (`rampart ingest FILE` beside a running `rampart
//! serve`, say) would stage entity rows the first never sees; when the first sealed that
//! part, the second's rows were lost from the index for good, and each engine would
//! correlate without the other's alerts; and incident roll-ups the first owes (see
//! `settle.rs`) would be counted twice after the second recomputed them. So the first
//! ingest, correlation, triage or incident change of a process takes an exclusive lock on `rampart.db-lock` beside the database,
//! held until the process exits; `serve`, `ingest`, `demo` and `correlate` take it at start
//! (`Store::claim_writer`), so a second one fails at once. Commands that only manage users
//! and tokens take no lock and run beside a server.
use crate::error::StoreError;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The lock file of the database at `db`.
fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-lock");
    PathBuf::from(p)
}

/// Takes the lock, or says which process to stop. The lock lasts as long as the file.
pub(crate) fn take(db: &Path) -> Result<File, StoreError> {
    let path = lock_path(db);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        // No path in the message: over HTTP it reaches API clients.
        Err(TryLockError::WouldBlock) => Err(StoreError::Unavailable(
            "another rampart process is ingesting into this data directory or changing its \
             incidents (rampart serve, ingest, demo or correlate); stop it first, or send the \
             alerts to the running server over HTTP (POST /api/v1/alerts/bulk)"
                .into(),
        )),
        Err(TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}
