//! Frees what the writer is done with on a thread of its own.
//!
//! The writer is the one serial stage of ingest. Profiled, it spent about an eighth of its
//! time in `malloc`/`free`: dropping each batch's documents, entity keys and decisions, most
//! of them allocated on other threads, and paying glibc's consolidation of the freed chunks
//! on its next large allocation. Handing a batch's leftovers to this thread keeps that work
//! off the serial path; on two cores the other core usually has room for it.
use std::sync::OnceLock;

type Bin = crossbeam_channel::Sender<Box<dyn Send>>;

/// Batches waiting to be freed before the writer frees its own again (so a stalled freeing
/// thread cannot hold more than a few batches of memory).
const BACKLOG: usize = 8;

fn bin() -> Option<&'static Bin> {
    static BIN: OnceLock<Option<Bin>> = OnceLock::new();
    BIN.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::bounded::<Box<dyn Send>>(BACKLOG);
        std::thread::Builder::new()
            .name("rampart-free".into())
            .spawn(move || {
                for garbage in rx {
                    drop(garbage);
                }
            })
            .ok()
            .map(|_| tx)
    })
    .as_ref()
}

/// Drops `v` on the freeing thread, or here if that thread is busy or missing.
pub(crate) fn later<T: Send + 'static>(v: T) {
    if let Some(tx) = bin() {
        // A full backlog (or a gone thread) hands the value back: drop it here.
        let _ = tx.try_send(Box::new(v));
    }
}
