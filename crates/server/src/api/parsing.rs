//! How much of the machine parsing request bodies may take.
//!
//! The store's writer is ingest's one serial stage, and it shares the cores with the
//! threads that parse request bodies. When every connection's body was parsed at once, on
//! as many threads as there are cores, the writer spent a fifth of a bench run runnable but
//! waiting for a core (`/proc/…/schedstat`), and ingest slowed with it. So bodies are parsed
//! [`machine::beside_writer`] requests at a time; and a body is cut into pieces for several
//! cores only when its request is the only ingest in flight, when the writer has nothing
//! else to wait for (docs/benchmarks.md, "Eleventh session").
use crate::error::{ApiError, ApiResult};
use rampart_domain::machine;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tokio::sync::Semaphore;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(machine::beside_writer()))
}

/// Ingest requests between the arrival of their body and their answer.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// An ingest request in flight, from its body to its answer.
pub(crate) struct InFlight(());

impl InFlight {
    pub(crate) fn enter() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Bodies below this size take no slot: they parse in well under a millisecond, and a
/// single alert should not wait behind a 32 MiB bulk body.
const SLOT_FROM: usize = 256 * 1024;

/// Runs `parse` on the blocking pool, once a parsing slot is free for a body of `bytes`,
/// telling it how many threads it may use.
pub(crate) async fn parse<T: Send + 'static>(
    bytes: usize,
    parse: impl FnOnce(usize) -> T + Send + 'static,
) -> ApiResult<T> {
    let slot = if bytes < SLOT_FROM {
        None
    } else {
        Some(
            permits()
                .acquire()
                .await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("parse slots closed: {e}")))?,
        )
    };
    let threads = if IN_FLIGHT.load(Ordering::Relaxed) <= 1 {
        machine::cores()
    } else {
        1
    };
    // The slot goes with the work: if the request is dropped (its client went away), the
    // parse still runs to its end, and its slot must stay taken until then.
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        parse(threads)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("parse task failed: {e}")))
}
