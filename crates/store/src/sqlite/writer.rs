//! The single writer: one thread owns the write connection and commits many callers' work in
//! one transaction (group commit), so concurrent requests share one fsync. A failing caller
//! rolls back alone (see [`commit`]). Replies are sent only after
//! COMMIT returns, so nothing is acknowledged before it is durable.
//!
//! Work that rewrites much of the database (a rebuild of every incident) runs alone, in a
//! transaction of its own and without a savepoint: a savepoint keeps the original of every
//! page it changes in an in-memory journal, which for a rebuild of the 1M bench store was a
//! gigabyte of memory and copying.
use crate::error::StoreError;
use rusqlite::Connection;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most jobs folded into one transaction.
const MAX_JOBS_PER_COMMIT: usize = 512;

trait Job: Send {
    /// Whether the job runs in a transaction of its own (see the module docs).
    fn alone(&self) -> bool;
    /// Runs the work; true to keep its changes.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the outcome once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct TypedJob<T, F> {
    alone: bool,
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn alone(&self) -> bool {
        self.alone
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let r = work(conn);
        let keep = r.is_ok();
        self.result = Some(r);
        keep
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let out = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(msg)) => Err(StoreError::Unavailable(msg)),
            (None, Ok(())) => Err(StoreError::Unavailable("write was not run".into())),
        };
        // The caller may have gone away (client disconnected); the write stands regardless.
        let _ = self.reply.send(out);
    }
}

/// Handle to the writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    tx: Option<crossbeam_channel::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    /// Closes the queue and waits for the writer to finish its last commit and checkpoint, so
    /// a cleanly stopped server leaves a self-contained database file.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Writer {
    /// Starts the writer thread on `conn`.
    /// `on_rollback` runs on the writer thread whenever a transaction does not commit, so
    /// in-memory state kept beside the database can be dropped.
    /// `on_commit` runs there after each commit, before any caller hears of it.
    pub(crate) fn start(
        conn: Connection,
        on_rollback: Box<dyn Fn() + Send>,
        on_commit: Box<dyn Fn() + Send>,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = crossbeam_channel::unbounded::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("rampart-sqlite-writer".into())
            .spawn(move || run(&conn, &rx, &*on_rollback, &*on_commit))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs `work` inside the next group transaction and waits until it is committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(false, work).await
    }

    /// Runs `work` in a transaction of its own, for work that rewrites much of the database;
    /// if it fails, the transaction is rolled back.
    pub(crate) async fn write_alone<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(true, work).await
    }

    async fn submit<T, F>(&self, alone: bool, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            alone,
            work: Some(work),
            result: None,
            reply,
        });
        self.tx
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("writer stopped".into()))?
            .send(job)
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?
    }
}

fn run(
    conn: &Connection,
    rx: &crossbeam_channel::Receiver<Box<dyn Job>>,
    on_rollback: &dyn Fn(),
    on_commit: &dyn Fn(),
) {
    // A job that must run alone, received while a batch was being gathered.
    let mut held: Option<Box<dyn Job>> = None;
    loop {
        let first = match held.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
        };
        let alone = first.alone();
        let mut batch = vec![first];
        while !alone && batch.len() < MAX_JOBS_PER_COMMIT {
            match rx.try_recv() {
                Ok(j) if j.alone() => {
                    held = Some(j);
                    break;
                }
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let outcome = commit(conn, &mut batch, alone);
        if outcome.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
            on_rollback();
        } else {
            on_commit();
        }
        for job in batch {
            job.finish(outcome.clone());
        }
    }
    // Every handle is gone: fold the WAL back into the main file.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "final WAL checkpoint failed; the WAL file still holds the data");
    }
}

/// Runs one transaction. Group jobs each get a savepoint, so a failing one rolls back alone,
/// except while no job in the transaction has succeeded yet: then a failure rolls back the
/// transaction, which held only that job, and a new one begins. That spares the first job
/// (often the only one) the savepoint's copy of every page it changes. A lone job runs bare,
/// and its failure fails the transaction (the caller rolls it back).
fn commit(conn: &Connection, batch: &mut [Box<dyn Job>], alone: bool) -> Result<(), String> {
    let sql = |s: &str| conn.execute_batch(s).map_err(|e| e.to_string());
    sql("BEGIN IMMEDIATE")?;
    let mut kept_any = false;
    for job in batch.iter_mut() {
        if alone {
            if !job.run(conn) {
                return Err("the work failed and was rolled back".into());
            }
        } else if !kept_any {
            if job.run(conn) {
                kept_any = true;
            } else {
                sql("ROLLBACK")?;
                sql("BEGIN IMMEDIATE")?;
            }
        } else {
            sql("SAVEPOINT job")?;
            if job.run(conn) {
                sql("RELEASE job")?;
            } else {
                sql("ROLLBACK TO job; RELEASE job")?;
            }
        }
    }
    sql("COMMIT")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group job that inserts `n` and then fails if `fail`, so a failure leaves a change
    /// that must be undone.
    fn job(n: i64, fail: bool) -> (Box<dyn Job>, oneshot::Receiver<Result<i64, StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let work = move |c: &Connection| {
            c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
            if fail {
                Err(StoreError::Invalid {
                    field: "n",
                    msg: format!("job {n} fails"),
                })
            } else {
                Ok(n)
            }
        };
        let job: Box<dyn Job> = Box::new(TypedJob {
            alone: false,
            work: Some(work),
            result: None,
            reply,
        });
        (job, rx)
    }

    fn stored(conn: &Connection) -> Vec<i64> {
        let mut st = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Runs one group of jobs (true = fails) and returns what was stored and who succeeded.
    fn group(fails: &[bool]) -> (Vec<i64>, Vec<bool>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let (mut batch, mut replies) = (Vec::new(), Vec::new());
        for (i, f) in fails.iter().enumerate() {
            let (j, rx) = job(i as i64, *f);
            batch.push(j);
            replies.push(rx);
        }
        commit(&conn, &mut batch, false).unwrap();
        for j in batch {
            j.finish(Ok(()));
        }
        let ok = replies
            .into_iter()
            .map(|mut rx| matches!(rx.try_recv(), Ok(Ok(_))))
            .collect();
        (stored(&conn), ok)
    }

    #[test]
    fn a_failing_job_rolls_back_alone_wherever_it_is_in_the_group() {
        // The first jobs run without a savepoint: their failure restarts the transaction.
        assert_eq!(group(&[true]), (vec![], vec![false]));
        assert_eq!(group(&[false]), (vec![0], vec![true]));
        assert_eq!(
            group(&[true, true, false, true, false]),
            (vec![2, 4], vec![false, false, true, false, true])
        );
        assert_eq!(
            group(&[false, true, false]),
            (vec![0, 2], vec![true, false, true])
        );
    }
}
