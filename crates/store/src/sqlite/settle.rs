//! Settling incident roll-ups: ingest owes them for up to a second (see
//! [`super::incidents::Rollups`]), so whatever reads or writes incident rows first has them
//! written.
use super::correlation::Engine;
use super::incidents;
use crate::error::StoreError;
use rampart_domain::clock::{Clock, SystemClock};
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Whether incident rows may lag the alerts, as readers see it. Kept beside the engine
/// because readers must not wait for its lock (the writer holds it for a whole batch):
/// a reader that finds nothing owed reads at once, one that finds debts asks the writer
/// to settle first.
#[derive(Debug)]
pub(crate) struct Owing {
    /// Something committed may still be owed.
    pending: AtomicBool,
    /// The open transaction has settled everything so far; cleared by every debt after it.
    settled: AtomicBool,
}

impl Owing {
    /// A store just opened may have been left with debts (a crash): the first reader of
    /// incidents checks.
    pub(crate) fn new() -> Owing {
        Owing {
            pending: AtomicBool::new(true),
            settled: AtomicBool::new(false),
        }
    }

    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// An ingest job ended; `owes` says whether the engine now owes roll-ups.
    pub(crate) fn ingested(&self, owes: bool) {
        if owes {
            // Before the commit that makes the job's alerts visible, so no reader sees the
            // alerts without knowing that their incidents lag.
            self.pending.store(true, Ordering::Release);
            self.settled.store(false, Ordering::Release);
        } else {
            self.settled.store(true, Ordering::Release);
        }
    }

    /// The open transaction wrote everything owed.
    fn settled(&self) {
        self.settled.store(true, Ordering::Release);
    }

    /// The writer committed: if its transaction settled everything, nothing is owed now.
    pub(crate) fn committed(&self) {
        if self.settled.swap(false, Ordering::AcqRel) {
            self.pending.store(false, Ordering::Release);
        }
    }

    /// A transaction was rolled back, or the engine forgotten with what it owed: the next
    /// settle recovers from the stored alerts.
    pub(crate) fn lost(&self) {
        self.settled.store(false, Ordering::Release);
        self.pending.store(true, Ordering::Release);
    }
}

/// Runs `work` after writing every roll-up owed (on the writer's connection, inside its
/// transaction), so it reads and writes settled incident rows. With no engine (not loaded
/// yet, or forgotten after a failed write) it mends what was lost instead.
///
/// If `work` fails, its transaction (or savepoint) takes the settling writes back with its
/// own, so the debts go back to the engine: forgetting the engine instead would make any
/// refused request (a stale version, an unknown incident) reload it, which takes seconds on
/// a large store.
pub(crate) fn settled<T>(
    conn: &Connection,
    slot: &Mutex<Option<Engine>>,
    owing: &Owing,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let written = settle(conn, slot, owing)?;
    let out = work(conn);
    if out.is_err() {
        match (written, slot.lock().as_deref_mut()) {
            (Some(owed), Ok(Some(e))) if e.owed.is_empty() => {
                e.owed = owed;
                owing.ingested(true);
            }
            // Forgotten by `work`, or owing anew: recovery mends either.
            (Some(_), Ok(e)) => {
                *e = None;
                owing.lost();
            }
            // What recovery wrote, if anything, is undone too: the next settle looks again.
            _ => owing.lost(),
        }
    }
    out
}

/// Writes every roll-up owed; returns a copy of what it wrote, if anything.
fn settle(
    conn: &Connection,
    slot: &Mutex<Option<Engine>>,
    owing: &Owing,
) -> Result<Option<incidents::Rollups>, StoreError> {
    let now = SystemClock.now();
    let mut guard = slot
        .lock()
        .map_err(|_| StoreError::Unavailable("correlation engine poisoned".into()))?;
    let written = match guard.as_mut() {
        Some(e) if e.owed.is_empty() => None,
        Some(e) => {
            let copy = e.owed.clone();
            if let Err(err) = e.owed.flush(conn, now) {
                // Part-written and about to be rolled back: mend from the alerts.
                *guard = None;
                owing.lost();
                return Err(err);
            }
            Some(copy)
        }
        None => {
            incidents::recover(conn, now)?;
            None
        }
    };
    owing.settled();
    Ok(written)
}

/// The writer's last transaction: writes what a loaded engine owes. Without an engine it
/// mends nothing, as this process may never have held the writer lock.
pub(crate) fn on_close(
    conn: &Connection,
    slot: &Mutex<Option<Engine>>,
    owing: &Owing,
) -> Result<(), StoreError> {
    let loaded = slot.lock().map(|e| e.is_some()).unwrap_or(false);
    if loaded {
        settle(conn, slot, owing)?;
    }
    Ok(())
}
