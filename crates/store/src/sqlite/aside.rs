//! One long-lived thread beside the writer, for work the writer hands off and waits for
//! later in the same job (correlation's decisions, see `alerts::ingest`).
//!
//! A scoped thread per batch did the same job, but profiled, a third of that thread's
//! time went to being new: the allocator's per-thread heap started empty on every batch
//! (slow first allocations) and was swept again when the thread ended. A thread that lives
//! as long as the process keeps its heap warm.
use std::sync::OnceLock;

type Task = Box<dyn FnOnce() + Send>;

fn worker() -> Option<&'static crossbeam_channel::Sender<Task>> {
    static WORKER: OnceLock<Option<crossbeam_channel::Sender<Task>>> = OnceLock::new();
    WORKER
        .get_or_init(|| {
            let (tx, rx) = crossbeam_channel::unbounded::<Task>();
            std::thread::Builder::new()
                .name("rampart-aside".into())
                .spawn(move || {
                    for task in rx {
                        // A task that panics drops what it holds, which its waiting writer
                        // sees as a closed channel; the thread stays for the next one.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Whether the aside thread is there to take tasks (the system may refuse a thread).
pub(crate) fn available() -> bool {
    worker().is_some()
}

/// Runs `task` on the aside thread. Tasks run one at a time in the order given, so a task
/// must never wait for a later one.
///
/// Check [`available`] first. A task that cannot be handed over is dropped, not run here:
/// the writer's task waits for work the writer sends only after this returns, so run here
/// it would wait for ever. Dropped, it closes its channels, and the waiting writer fails
/// its job instead.
pub(crate) fn run(task: impl FnOnce() + Send + 'static) {
    if let Some(tx) = worker() {
        let _ = tx.send(Box::new(task));
    }
}
