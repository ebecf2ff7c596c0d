//! The single writer: one thread owns the write connection and commits many callers' work in
//! one transaction (group commit), so concurrent requests share one fsync. A failing caller
//! rolls back alone (see [`commit`]). Replies are sent only after
//! COMMIT returns, so nothing is acknowledged before it is durable.
//!
//! Work that rewrites much of the database (a rebuild of every incident) runs alone, in a
//! transaction of its own and without a savepoint: a savepoint keeps the original of every
//! page it changes in an in-memory journal, which for a rebuild of the 1M bench store was a
//! gigabyte of memory and copying.
use super::checkpoint::{Checkpointer, BACKSTOP_PAGES};
use crate::error::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most jobs folded into one transaction.
const MAX_JOBS_PER_COMMIT: usize = 512;

/// How unguarded work ([`Writer::write_unguarded`]) failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Before its first change: the transaction goes on without it.
    Refused(StoreError),
    /// After changes that only rolling back the whole transaction undoes.
    Broken(StoreError),
}

impl From<StoreError> for Failure {
    /// An error nobody classified may have left changes behind.
    fn from(e: StoreError) -> Failure {
        Failure::Broken(e)
    }
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Broken(e.into())
    }
}

/// How a job's work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    Kept,
    /// Failed without changing anything.
    Refused,
    /// Failed, possibly after changes.
    Broken,
}

/// The writer's last work before it stops (see `close`).
pub(crate) type OnClose = Box<dyn FnOnce(&Connection) -> Result<(), StoreError> + Send>;

/// How long the writer waits for a job before it does idle work, and that work, which runs
/// its own transactions and says whether it committed any.
pub(crate) type OnIdle = (std::time::Duration, Box<dyn Fn(&Connection) -> bool + Send>);

trait Job: Send {
    /// Whether the job runs in a transaction of its own (see the module docs).
    fn alone(&self) -> bool;
    /// Whether the job needs a savepoint of its own inside a group: its failures may leave
    /// changes that must be undone without undoing the other jobs'.
    fn guarded(&self) -> bool;
    /// Runs the work.
    fn run(&mut self, conn: &Connection) -> Ran;
    /// Delivers the outcome once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct TypedJob<T, F> {
    alone: bool,
    guarded: bool,
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, Failure> + Send,
{
    fn alone(&self) -> bool {
        self.alone
    }

    fn guarded(&self) -> bool {
        self.guarded
    }

    fn run(&mut self, conn: &Connection) -> Ran {
        let Some(work) = self.work.take() else {
            return Ran::Refused;
        };
        let (ran, r) = match work(conn) {
            Ok(v) => (Ran::Kept, Ok(v)),
            Err(Failure::Refused(e)) => (Ran::Refused, Err(e)),
            Err(Failure::Broken(e)) => (Ran::Broken, Err(e)),
        };
        self.result = Some(r);
        ran
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
    /// `file`: the database file, for checkpoints on a thread of their own (see
    /// `checkpoint.rs`); `None` leaves them to SQLite's automatic checkpoint.
    pub(crate) fn start(
        conn: Connection,
        file: Option<&Path>,
        on_rollback: Box<dyn Fn() + Send>,
        on_commit: Box<dyn Fn() + Send>,
        on_close: OnClose,
        on_idle: OnIdle,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = crossbeam_channel::unbounded::<Box<dyn Job>>();
        let checkpointer = file.and_then(Checkpointer::start);
        if checkpointer.is_some() {
            conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES)?;
        }
        let thread = std::thread::Builder::new()
            .name("rampart-sqlite-writer".into())
            .spawn(move || {
                run(
                    &conn,
                    checkpointer,
                    &rx,
                    &*on_rollback,
                    &*on_commit,
                    &on_idle,
                );
                close(&conn, on_close);
            })
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
        self.submit(false, true, move |c: &Connection| {
            work(c).map_err(Failure::Broken)
        })
        .await
    }

    /// Runs `work` inside the next group transaction without a savepoint of its own, and
    /// waits until it is committed. For large work that checks its input before its first
    /// change: a savepoint copies every page the work first touches (5 % of the writer's
    /// time in a bench ingest). The price is that a [`Failure::Broken`] rolls back the
    /// whole transaction, failing every job in it.
    pub(crate) async fn write_unguarded<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Failure> + Send + 'static,
    {
        self.submit(false, false, work).await
    }

    /// Runs `work` in a transaction of its own, for work that rewrites much of the database;
    /// if it fails, the transaction is rolled back.
    pub(crate) async fn write_alone<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(true, true, move |c: &Connection| {
            work(c).map_err(Failure::Broken)
        })
        .await
    }

    async fn submit<T, F>(&self, alone: bool, guarded: bool, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Failure> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            alone,
            guarded,
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
    checkpointer: Option<Checkpointer>,
    rx: &crossbeam_channel::Receiver<Box<dyn Job>>,
    on_rollback: &dyn Fn(),
    on_commit: &dyn Fn(),
    (idle, on_idle): &OnIdle,
) {
    // A job that must run alone, received while a batch was being gathered.
    let mut held: Option<Box<dyn Job>> = None;
    loop {
        let first = match held.take() {
            Some(j) => j,
            None => match rx.recv_timeout(*idle) {
                Ok(j) => j,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if on_idle(conn) {
                        if let Some(c) = &checkpointer {
                            c.committed();
                        }
                    }
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
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
        if checkpointer.as_ref().is_some_and(Checkpointer::take_finish) {
            // Errors are the backstop's to handle: the automatic checkpoint still runs.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        let outcome = commit(conn, &mut batch, alone);
        if outcome.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
            on_rollback();
        } else {
            on_commit();
            if let Some(c) = &checkpointer {
                c.committed();
            }
        }
        for job in batch {
            job.finish(outcome.clone());
        }
    }
    // Every handle is gone: stop the checkpoint thread.
    drop(checkpointer);
}

/// The writer's last transaction, `on_close`'s, then the WAL folded back into the main
/// file.
fn close(conn: &Connection, on_close: OnClose) {
    if let Err(e) = transaction(conn, on_close) {
        tracing::warn!(error = %e, "the writer's last transaction failed");
    }
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(0) => {}
        Ok(_) => tracing::warn!(
            "final WAL checkpoint was held up by a reader; the WAL file still holds the data"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "final WAL checkpoint failed; the WAL file still holds the data")
        }
    }
}

/// Runs `work` in a transaction of its own, outside the job queue (the writer's idle and
/// last work); rolls it back if `work` or the commit fails.
pub(crate) fn transaction<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let out = work(conn).and_then(|v| Ok(conn.execute_batch("COMMIT").map(|()| v)?));
    if out.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    out
}

/// Runs one transaction. Guarded group jobs each get a savepoint, so a failing one rolls
/// back alone, except while no job in the transaction has succeeded yet: then a failure
/// rolls back the transaction, which held only that job, and a new one begins. That spares
/// the first job (often the only one) the savepoint's copy of every page it changes.
/// Unguarded jobs never get one: they refuse before changing anything, and a job broken
/// part-way fails the transaction. A lone job runs bare, and its failure fails the
/// transaction (the caller rolls it back).
fn commit(conn: &Connection, batch: &mut [Box<dyn Job>], alone: bool) -> Result<(), String> {
    let sql = |s: &str| conn.execute_batch(s).map_err(|e| e.to_string());
    sql("BEGIN IMMEDIATE")?;
    let mut kept_any = false;
    for job in batch.iter_mut() {
        if alone {
            if job.run(conn) != Ran::Kept {
                return Err("the work failed and was rolled back".into());
            }
        } else if !kept_any {
            match job.run(conn) {
                Ran::Kept => kept_any = true,
                Ran::Refused => {}
                Ran::Broken => {
                    sql("ROLLBACK")?;
                    sql("BEGIN IMMEDIATE")?;
                }
            }
        } else if !job.guarded() {
            if job.run(conn) == Ran::Broken {
                return Err(
                    "another write in the same transaction failed part-way, so it was rolled back; retry"
                        .into(),
                );
            }
        } else {
            sql("SAVEPOINT job")?;
            if job.run(conn) == Ran::Kept {
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

    /// How a test job ends.
    #[derive(Clone, Copy)]
    enum Ends {
        Ok,
        /// Fails before inserting (an unguarded job's refusal).
        Refuses,
        /// Inserts, then fails.
        Breaks,
    }

    type Reply = oneshot::Receiver<Result<i64, StoreError>>;

    /// A group job that inserts `n` unless it refuses.
    fn job(n: i64, guarded: bool, ends: Ends) -> (Box<dyn Job>, Reply) {
        let (reply, rx) = oneshot::channel();
        let fails = |n: i64| StoreError::Invalid {
            field: "n",
            msg: format!("job {n} fails"),
        };
        let work = move |c: &Connection| {
            if let Ends::Refuses = ends {
                return Err(Failure::Refused(fails(n)));
            }
            c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
            match ends {
                Ends::Ok => Ok(n),
                _ => Err(Failure::Broken(fails(n))),
            }
        };
        let job: Box<dyn Job> = Box::new(TypedJob {
            alone: false,
            guarded,
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

    /// Runs one group of jobs as the writer loop does and returns what was stored and who
    /// succeeded.
    fn run_group(jobs: &[(bool, Ends)]) -> (Vec<i64>, Vec<bool>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let (mut batch, mut replies) = (Vec::new(), Vec::new());
        for (i, (guarded, ends)) in jobs.iter().enumerate() {
            let (j, rx) = job(i as i64, *guarded, *ends);
            batch.push(j);
            replies.push(rx);
        }
        let outcome = commit(&conn, &mut batch, false);
        if outcome.is_err() {
            conn.execute_batch("ROLLBACK").unwrap();
        }
        for j in batch {
            j.finish(outcome.clone());
        }
        let ok = replies
            .into_iter()
            .map(|mut rx| matches!(rx.try_recv(), Ok(Ok(_))))
            .collect();
        (stored(&conn), ok)
    }

    /// Guarded jobs, true = fails after inserting.
    fn group(fails: &[bool]) -> (Vec<i64>, Vec<bool>) {
        let jobs: Vec<(bool, Ends)> = fails
            .iter()
            .map(|f| (true, if *f { Ends::Breaks } else { Ends::Ok }))
            .collect();
        run_group(&jobs)
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

    #[test]
    fn an_unguarded_refusal_costs_only_its_own_job() {
        let u = |ends| (false, ends);
        assert_eq!(
            run_group(&[
                u(Ends::Ok),
                u(Ends::Refuses),
                (true, Ends::Breaks),
                u(Ends::Ok)
            ]),
            (vec![0, 3], vec![true, false, false, true])
        );
        // Broken before anything was kept: restarted, as a guarded first job is.
        assert_eq!(
            run_group(&[u(Ends::Breaks), u(Ends::Ok)]),
            (vec![1], vec![false, true])
        );
    }

    #[test]
    fn an_unguarded_job_broken_part_way_fails_the_whole_transaction() {
        let u = |ends| (false, ends);
        // Nothing is stored and nobody hears success, including the job that had been kept.
        assert_eq!(
            run_group(&[u(Ends::Ok), (true, Ends::Ok), u(Ends::Breaks), u(Ends::Ok)]),
            (vec![], vec![false, false, false, false])
        );
    }
}
