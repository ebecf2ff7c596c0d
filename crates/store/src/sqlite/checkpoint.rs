//! WAL checkpoints on a thread of their own, beside the writer.
//!
//! SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, on the
//! writer thread: every waiting request heard of that commit only after the checkpoint had
//! copied the WAL's pages into the main file and synced it, and the writer (the one serial
//! stage of ingest) spent an eighth of its time on it (docs/benchmarks.md, "Thirteenth
//! session"). Here a second connection copies pages while the writer goes on committing;
//! in WAL mode the two take different locks.
//!
//! A WAL file is reused from its start only by a write transaction that began when every
//! frame had been copied, and the writer begins its next transaction right after a commit:
//! left alone, the file would grow for ever. So after each pass of this thread the writer,
//! before its next transaction, runs a passive checkpoint itself
//! ([`Checkpointer::take_finish`]): it copies only what was committed during the pass, and
//! the transaction that follows restarts the WAL. The writer also keeps SQLite's automatic
//! checkpoint, at a much higher threshold, as a backstop should this thread fall behind
//! (without the thread it keeps its usual one).
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Time between passes while commits arrive: about as long as ingest at full speed takes
/// to fill the 128 MB the writer's automatic checkpoint waited for, so a page rewritten by
/// several commits is still copied once.
const INTERVAL: Duration = Duration::from_millis(800);

/// The writer's backstop threshold, in pages: 4 × the 16,384 `configure` sets, 512 MB of
/// WAL with 8 KiB pages.
pub(crate) const BACKSTOP_PAGES: u32 = 65_536;

/// Handle to the checkpoint thread; dropping it stops the thread after its current pass.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    tx: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Set after each pass: the writer should finish it (see the module docs).
    finish: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Opens a second connection to the database at `path` and starts the thread. `None`
    /// if either fails: the writer's automatic checkpoint then does the work.
    pub(crate) fn start(path: &Path) -> Option<Checkpointer> {
        let conn = match Connection::open(path).and_then(|c| {
            c.busy_timeout(Duration::from_secs(10))?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no checkpoint connection; the writer checkpoints");
                return None;
            }
        };
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let finish = Arc::new(AtomicBool::new(false));
        let passed = Arc::clone(&finish);
        let thread = std::thread::Builder::new()
            .name("rampart-checkpt".into())
            .spawn(move || run(&conn, &rx, &passed));
        match thread {
            Ok(t) => Some(Checkpointer {
                tx: Some(tx),
                thread: Some(t),
                finish,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints");
                None
            }
        }
    }

    /// Tells the thread a commit happened. Never blocks: one pending signal is enough.
    pub(crate) fn committed(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(());
        }
    }

    /// Whether the thread completed a pass since the last call: the writer then checkpoints
    /// what was committed during it, before its next transaction.
    pub(crate) fn take_finish(&self) -> bool {
        self.finish.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: &Connection, rx: &mpsc::Receiver<()>, passed: &AtomicBool) {
    let mut last = Instant::now();
    'commits: while rx.recv().is_ok() {
        // Gather the commits of one interval into one pass; a closed channel (the writer
        // stopping) ends the thread at once, and the writer's last checkpoint copies the rest.
        loop {
            let wait = INTERVAL.saturating_sub(last.elapsed());
            if wait.is_zero() {
                break;
            }
            if let Err(mpsc::RecvTimeoutError::Disconnected) = rx.recv_timeout(wait) {
                break 'commits;
            }
        }
        last = Instant::now();
        // (busy, frames in the log, frames copied). Only a pass that copied the whole log
        // is left for the writer to finish: after one held back by a reader or by another
        // checkpoint, the writer would copy the backlog itself.
        let pass = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match pass {
            Ok((0, log, copied)) if copied >= log => passed.store(true, Ordering::Release),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next commit retries"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::INTERVAL;
    use crate::conformance::on_devices;
    use crate::sqlite::SqliteStore;
    use crate::Store;
    use rampart_domain::history::Actor;
    use rampart_domain::timestamp::Timestamp;
    use std::path::Path;
    use std::time::{Duration, Instant};

    fn size(p: &Path) -> u64 {
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }

    async fn put(s: &SqliteStore, round: i64) {
        let t0 = Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap();
        let batch = (round * 300..(round + 1) * 300)
            .map(|n| {
                let dev = format!("dev-{n}");
                on_devices(&format!("da-ck-{n}"), t0, n, &[dev.as_str()])
            })
            .collect();
        s.ingest(batch, Actor::producer("p"), t0).await.unwrap();
    }

    /// The writer's own automatic checkpoint waits for 512 MB of WAL, which these alerts
    /// never reach: the main file grows only if the checkpoint thread copies pages, and the
    /// WAL file stops growing only if it is reused from its start while commits keep coming
    /// (without the writer finishing each pass it held 80–90 % of the rounds of five
    /// intervals, with it about a fifth).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoints_run_beside_the_writer_and_the_wal_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (db, wal) = (
            dir.path().join("rampart.db"),
            dir.path().join("rampart.db-wal"),
        );
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let before = size(&db);
        put(&s, 0).await;
        let first_wal = size(&wal);
        assert!(first_wal > 0, "the commit went to the WAL");
        let deadline = Instant::now() + Duration::from_secs(20);
        while size(&db) <= before {
            assert!(
                Instant::now() < deadline,
                "no checkpoint reached the main file"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Commits back to back, so this thread's passes overlap them.
        let (mut round, until) = (1, Instant::now() + INTERVAL * 8);
        while Instant::now() < until {
            put(&s, round).await;
            round += 1;
        }
        // Reused, the WAL holds about the commits of one interval of the eight; not reused,
        // nearly all of them.
        let last_wal = size(&wal);
        let rounds = u64::try_from(round).unwrap();
        assert!(
            last_wal <= first_wal * rounds / 2,
            "WAL grew from {first_wal} to {last_wal} bytes over {round} rounds: not reused"
        );
        // Everything is readable, and a clean stop folds the WAL into the main file.
        assert_eq!(s.count_alerts().await.unwrap(), 300 * rounds);
        drop(s);
        assert_eq!(size(&wal), 0);
    }
}
