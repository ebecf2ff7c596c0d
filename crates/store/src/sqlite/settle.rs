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
    let done = settle(conn, slot, owing)?;
    let out = work(conn);
    if out.is_err() {
        match (done, slot.lock().as_deref_mut()) {
            (Settled::Nothing, _) => {}
            (Settled::Wrote(owed), Ok(Some(e))) if e.owed.is_empty() => {
                e.owed = owed;
                owing.ingested(true);
            }
            // Forgotten by `work`, or owing anew; or what recovery wrote is undone, and an
            // engine loaded since would not know. The next settle mends it without one.
            (_, Ok(e)) => {
                *e = None;
                owing.lost();
            }
            (_, Err(_)) => owing.lost(),
        }
    }
    out
}

/// What [`settle`] did.
enum Settled {
    Nothing,
    /// Wrote these debts (a copy, to put back if the transaction does not keep them).
    Wrote(incidents::Rollups),
    /// Had no engine and mended from the stored alerts.
    Recovered,
}

/// Writes every roll-up owed, or mends what a forgotten engine owed.
fn settle(
    conn: &Connection,
    slot: &Mutex<Option<Engine>>,
    owing: &Owing,
) -> Result<Settled, StoreError> {
    let now = SystemClock.now();
    let mut guard = slot
        .lock()
        .map_err(|_| StoreError::Unavailable("correlation engine poisoned".into()))?;
    let done = match guard.as_mut() {
        Some(e) if e.owed.is_empty() => Settled::Nothing,
        Some(e) => {
            let copy = e.owed.clone();
            if let Err(err) = e.owed.flush(conn, now) {
                // Part-written and about to be rolled back: mend from the alerts.
                *guard = None;
                owing.lost();
                return Err(err);
            }
            Settled::Wrote(copy)
        }
        None => {
            incidents::recover(conn, now)?;
            Settled::Recovered
        }
    };
    owing.settled();
    Ok(done)
}

/// When the writer has had nothing to do for a while: writes what a loaded engine owes, in
/// a transaction of its own, so that other processes and backups see incident rows at most
/// about [`super::incidents::SETTLE_AFTER`] behind their alerts. Without debts it writes
/// nothing and takes no lock. Returns whether it committed.
pub(crate) fn when_idle(conn: &Connection, slot: &Mutex<Option<Engine>>, owing: &Owing) -> bool {
    let owes = slot
        .lock()
        .map(|e| e.as_ref().is_some_and(|e| !e.owed.is_empty()))
        .unwrap_or(false);
    if !owes {
        return false;
    }
    match super::writer::transaction(conn, |c| settle(c, slot, owing)) {
        Ok(_) => {
            owing.committed();
            true
        }
        Err(e) => {
            if let Ok(mut e) = slot.lock() {
                *e = None;
            }
            owing.lost();
            tracing::warn!(error = %e, "writing owed incident roll-ups failed; they are mended from the alerts when next needed");
            false
        }
    }
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
