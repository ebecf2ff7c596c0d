//! The embedded SQLite backend: one file, WAL with `synchronous=FULL`, a single writer thread
//! with group commit, and a small pool of reader connections used from blocking tasks.
mod access;
mod alerts;
mod aside;
mod checkpoint;
mod claim;
mod correlation;
mod discard;
mod docs;
mod incident_triage;
mod incidents;
mod keys;
mod known;
mod names;
mod recent;
mod settle;
mod triage;
mod writer;

use crate::access::{
    BulkSummary, BulkTarget, NewToken, NewUser, SessionInfo, TokenInfo, Updated, UserLogin,
    UserPatch,
};
use crate::error::StoreError;
use crate::incidents::{CorrelateSummary, IncidentDetail, IncidentPage, IncidentQuery};
use crate::query::{AlertPage, AlertQuery};
use crate::{IngestOutcome, Store, StoredAlert};
use async_trait::async_trait;
use correlation::Engine;
use known::KnownNames;
use rampart_domain::access::{Grant, RoleDef};
use rampart_domain::alert::NewAlert;
use rampart_domain::correlate::CorrelationConfig;
use rampart_domain::history::{Actor, HistoryEvent, TargetKind};
use rampart_domain::incident::{IncidentChange, IncidentRecord};
use rampart_domain::timestamp::Timestamp;
use rampart_domain::triage::AlertChange;
use rampart_domain::user::{ApiToken, User};
use recent::RecentIndex;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use writer::Writer;

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_access.sql"),
    include_str!("../../migrations/sqlite/0003_incidents.sql"),
    include_str!("../../migrations/sqlite/0004_alert_docs.sql"),
    include_str!("../../migrations/sqlite/0005_queue_index.sql"),
    include_str!("../../migrations/sqlite/0006_entity_index.sql"),
    include_str!("../../migrations/sqlite/0007_incidents_live.sql"),
    include_str!("../../migrations/sqlite/0008_drop_incidents_last_activity.sql"),
    include_str!("../../migrations/sqlite/0009_entity_index_in_memory.sql"),
    include_str!("../../migrations/sqlite/0010_doc_dicts.sql"),
    include_str!("../../migrations/sqlite/0011_names_in_entity_index.sql"),
    include_str!("../../migrations/sqlite/0012_incident_queue_by_update.sql"),
    include_str!("../../migrations/sqlite/0013_incident_active_alerts.sql"),
    include_str!("../../migrations/sqlite/0014_rollups_settled.sql"),
];

/// Reader connections: reads block on I/O, so a few more than cores.
const READERS: usize = 4;

/// The database file's name in a data directory.
pub const DB_FILE: &str = "rampart.db";

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<ReaderPool>,
    correlation: CorrelationConfig,
    /// The correlation engine, used only on the writer thread (the mutex is never
    /// contended). `None` until first needed, and again after a failed transaction, so the
    /// engine never remembers what was rolled back: it is then re-read from the store.
    engine: Arc<Mutex<Option<Engine>>>,
    /// Whether incident roll-ups may be owed (see `settle.rs`).
    owing: Arc<settle::Owing>,
    /// The part of the entity index being filled, in memory (see `recent.rs`).
    recent: Arc<RecentIndex>,
    /// Which alert ids and provider keys may be stored (see `known.rs`).
    known: Arc<KnownNames>,
    /// How alert documents are compressed (see `docs.rs`).
    docs: Arc<docs::DocCodec>,
    /// The data directory's writer lock, once this process holds it (see `claim.rs`).
    claimed: std::sync::OnceLock<std::fs::File>,
    /// Serialises the first claim.
    claiming: tokio::sync::Mutex<()>,
    /// The writer connection's `PRAGMA data_version` once opening had read the index part
    /// and the dictionary: it changes only when another connection commits, so a claim
    /// re-reads them only if another process wrote in between.
    opened_at: i64,
}

impl Drop for SqliteStore {
    /// Tells a thread still listing alert ids to stop at its next check: its read
    /// transaction would hold up the writer's last checkpoint, which waits for it.
    fn drop(&mut self) {
        self.known.close();
    }
}

/// Drops the engine, so that it is read from the store again when next needed.
fn forget(slot: &Mutex<Option<Engine>>) {
    if let Ok(mut e) = slot.lock() {
        *e = None;
    }
}

/// The warmed engine as a write job holds it: the job takes it out with [`Lent::get`] only
/// when it is about to change it, so a job refused before that (an unknown incident, a
/// stale version, a missing permission) keeps the engine instead of making the next job
/// reload it, which takes seconds on a large store and could be driven by bad requests.
pub(crate) struct Lent<'a> {
    engine: &'a mut Engine,
    touched: bool,
}

impl Lent<'_> {
    pub(crate) fn get(&mut self) -> &mut Engine {
        self.touched = true;
        self.engine
    }
}

/// Runs `f` with the warmed engine on the writer thread. A failure after `f` took the
/// engine out forgets it: its memory may no longer match what the rollback left stored.
fn with_engine<T, E: From<StoreError>>(
    conn: &Connection,
    slot: &Mutex<Option<Engine>>,
    cfg: &CorrelationConfig,
    f: impl FnOnce(&mut Lent<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let mut guard = slot
        .lock()
        .map_err(|_| StoreError::Unavailable("correlation engine poisoned".into()))?;
    let loaded = guard.is_none();
    if loaded {
        // Logged: on a large store this takes seconds, once per process and again after a
        // failed transaction, and the request that triggers it waits.
        let started = std::time::Instant::now();
        let engine = Engine::load(conn, cfg)?;
        tracing::info!(
            alerts = engine.corr.tracked_alerts(),
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "loaded the correlation engine (the stored alerts of the window behind the newest one)"
        );
        *guard = Some(engine);
    }
    let engine = guard
        .as_mut()
        .ok_or_else(|| StoreError::Unavailable("correlation engine".into()))?;
    // An engine loaded by this job mended what its predecessor owed (`Engine::load`):
    // if the job fails, that is rolled back with it, and the engine must go too.
    let mut lent = Lent {
        engine,
        touched: loaded,
    };
    let out = f(&mut lent);
    if out.is_err() && lent.touched {
        *guard = None;
    }
    out
}

#[derive(Debug)]
struct ReaderPool {
    tx: crossbeam_channel::Sender<Connection>,
    rx: crossbeam_channel::Receiver<Connection>,
}

/// Batches smaller than this take no compression slot.
const COMPRESS_SLOT_FROM: usize = 64;

/// Batches compressed at once ([`rampart_domain::machine::beside_writer`]), so the writer,
/// which shares the cores with compression and request parsing, always finds one.
/// Compressing every waiting batch at once left the writer runnable but without a core a
/// fifth of a bench run (docs/benchmarks.md, "Eleventh session").
fn compress_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(rampart_domain::machine::beside_writer()))
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Pages of 8 KiB, for new databases (an existing one keeps its own). Most of what
    // ingest writes is index pages dirtied by a few inserts each; larger pages mean fewer
    // WAL frames, checksums and page-cache lookups per commit, but once an index has far
    // more pages than a commit has inserts, each insert writes a whole page of its own.
    // 8 KiB was as fast as 16 KiB into a fresh store and lost little into a large one
    // (docs/benchmarks.md, "Twelfth session").
    conn.execute_batch(
        "PRAGMA page_size = 8192;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;
         PRAGMA wal_autocheckpoint = 16384;",
    )?;
    Ok(())
}

/// Refuses to open, as root, a database that belongs to another user. SQLite and the writer
/// lock create the WAL, its index and `rampart.db-lock` with the opener's owner: after one
/// `rampart correlate` or `user add` run as root, a service running as its own user could
/// no longer open its store. Linux only (the effective uid is read from `/proc`).
fn not_as_root_over(path: &Path) -> Result<(), StoreError> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(());
        };
        let euid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Uid:"))
                    .and_then(|ids| ids.split_whitespace().nth(1)?.parse::<u32>().ok())
            });
        if euid == Some(0) && meta.uid() != 0 {
            return Err(StoreError::Config(format!(
                "{} belongs to uid {}, and this is root: files it would create (the WAL, \
                 the lock) would lock that user out of its own store. Run rampart as the \
                 store's owner, e.g. `sudo -u '#{}' rampart …`",
                path.display(),
                meta.uid(),
                meta.uid()
            )));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
    Ok(())
}

/// Changes whenever a connection other than `conn` commits to the database.
fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

/// The entity index's digest in SQL: migrations 0006 and 0011 compute index keys with the
/// function ingest uses, and lookups by name (`names.rs`) digest their parameter.
fn register_value_hash(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "rampart_value_hash",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(crate::entity_index::value_hash(&ctx.get::<String>(0)?)),
    )
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    register_value_hash(conn)?;
    let done: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let done = usize::try_from(done).unwrap_or(0);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Config(format!(
            "database schema version {done} is newer than this rampart ({}); upgrade rampart",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/rampart.db` with default correlation settings.
    pub fn open_dir(dir: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_dir_with(dir, CorrelationConfig::default())
    }

    /// Opens (creating if needed) `dir/rampart.db` ([`DB_FILE`]) with these correlation
    /// settings.
    pub fn open_dir_with(
        dir: &Path,
        correlation: CorrelationConfig,
    ) -> Result<SqliteStore, StoreError> {
        correlation.allow_keys()?;
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        SqliteStore::open_file(&dir.join(DB_FILE), correlation)
    }

    /// Opens (creating if needed) the database file at `path`.
    pub fn open_file(
        path: &Path,
        correlation: CorrelationConfig,
    ) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_parted(path, correlation, crate::entity_index::PART_SHIFT)
    }

    /// [`SqliteStore::open_file`] with entity-index parts of `2^shift` alerts: tests use
    /// tiny parts to cross part boundaries with a handful of alerts.
    fn open_parted(
        path: &Path,
        correlation: CorrelationConfig,
        shift: u32,
    ) -> Result<SqliteStore, StoreError> {
        not_as_root_over(path)?;
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))?;
        configure(&conn)?;
        migrate(&conn)?;
        rusqlite::vtab::array::load_module(&conn)?;
        let recent = Arc::new(RecentIndex::load(&conn, shift)?);
        names::register(&conn, &recent)?;
        let known = KnownNames::new(path, known::MIN_CAPACITY, shift);
        let docs = Arc::new(docs::DocCodec::load(&conn)?);
        let opened_at = data_version(&conn)?;
        let engine: Arc<Mutex<Option<Engine>>> = Arc::new(Mutex::new(None));
        let owing = Arc::new(settle::Owing::new());
        let (engine_slot, unstage, publish, names) = (
            Arc::clone(&engine),
            Arc::clone(&recent),
            Arc::clone(&recent),
            Arc::clone(&known),
        );
        let (lost, settled) = (Arc::clone(&owing), Arc::clone(&owing));
        let (last_slot, last_owing) = (Arc::clone(&engine), Arc::clone(&owing));
        let (idle_slot, idle_owing) = (Arc::clone(&engine), Arc::clone(&owing));
        let writer = Writer::start(
            conn,
            Some(path),
            Box::new(move || {
                forget(&engine_slot);
                lost.lost();
                unstage.rolled_back();
            }),
            Box::new(move || {
                publish.committed();
                names.committed();
                settled.committed();
            }),
            // A server stopped cleanly leaves no roll-up owed.
            Box::new(move |conn| settle::on_close(conn, &last_slot, &last_owing)),
            (
                incidents::SETTLE_AFTER,
                Box::new(move |conn| settle::when_idle(conn, &idle_slot, &idle_owing)),
            ),
        )?;
        let (tx, rx) = crossbeam_channel::bounded(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(10))?;
            r.execute_batch("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;")?;
            rusqlite::vtab::array::load_module(&r)?;
            register_value_hash(&r)?;
            tx.send(r)
                .map_err(|_| StoreError::Unavailable("reader pool".into()))?;
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            readers: Arc::new(ReaderPool { tx, rx }),
            correlation,
            engine,
            owing,
            recent,
            known,
            docs,
            claimed: std::sync::OnceLock::new(),
            claiming: tokio::sync::Mutex::new(()),
            opened_at,
        })
    }

    /// Takes the data directory's writer lock before this process first ingests or changes
    /// incidents (see `claim.rs`). If another process wrote since this one opened the store,
    /// the in-memory part of the entity index is read again, a document dictionary it
    /// trained is taken up, and the engine is forgotten (it is re-read when next needed).
    /// Otherwise (a server claiming at start) nothing is read twice. Either way the filter
    /// of stored alert names starts filling (see `known.rs`).
    async fn claim(&self) -> Result<(), StoreError> {
        if self.claimed.get().is_some() {
            return Ok(());
        }
        let _first = self.claiming.lock().await;
        if self.claimed.get().is_some() {
            return Ok(());
        }
        let lock = claim::take(&self.path)?;
        let (recent, slot) = (Arc::clone(&self.recent), Arc::clone(&self.engine));
        let known = Arc::clone(&self.known);
        let (codec, opened_at) = (Arc::clone(&self.docs), self.opened_at);
        self.writer
            .write(move |conn| {
                if data_version(conn)? != opened_at {
                    recent.reload(conn)?;
                    codec.refresh(conn)?;
                    forget(&slot);
                }
                // Built here, not at opening: from now on only this process inserts alerts.
                known.reset(conn)?;
                Ok(())
            })
            .await?;
        // Cannot be set already: this is the only setter, and it runs under `claiming`.
        let _ = self.claimed.set(lock);
        Ok(())
    }

    /// [`Writer::write`] for work that reads or writes incident rows: the roll-ups ingest
    /// owes are written first (see `settle.rs`). Takes the writer lock first: a process
    /// that recomputed an incident while another owed it increments would have them
    /// counted twice, and only the lock's holder may mend what was lost.
    async fn write_settled<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.claim().await?;
        let (slot, owing) = (Arc::clone(&self.engine), Arc::clone(&self.owing));
        self.writer
            .write(move |c| settle::settled(c, &slot, &owing, work))
            .await
    }

    /// Before a read of incident rows: has the writer write what ingest owes them, if
    /// anything may be owed, so a reader sees every alert ingest acknowledged counted.
    async fn settle_reads(&self) -> Result<(), StoreError> {
        if !self.owing.pending() || self.claimed.get().is_none() {
            return Ok(());
        }
        self.write_settled(|_| Ok(())).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores a freshly trained dictionary, then has documents use it: committed first, so
    /// no stored document names a dictionary the store lacks. On any failure documents stay
    /// compressed without one and sampling starts again.
    async fn adopt_dictionary(&self, trained: Option<docs::Dict>, now: Timestamp) {
        let Some(dict) = trained else {
            return self.docs.retry();
        };
        let saved = self
            .writer
            .write(move |conn| {
                docs::save(conn, &dict, now.micros())?;
                Ok(dict)
            })
            .await;
        match saved {
            Ok(dict) => self.docs.publish(dict),
            Err(e) => {
                tracing::warn!(error = %e, "cannot store the compression dictionary");
                self.docs.retry();
            }
        }
    }

    /// Runs `f` on a reader connection in a blocking task.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || {
            let conn = pool
                .rx
                .recv()
                .map_err(|_| StoreError::Unavailable("reader pool closed".into()))?;
            let out = f(&conn);
            let _ = pool.tx.send(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("reader task failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn claim_writer(&self) -> Result<(), StoreError> {
        self.claim().await
    }

    async fn warm_up(&self) -> Result<(), StoreError> {
        if !self.correlation.enabled {
            return Ok(());
        }
        self.claim().await?;
        let (slot, cfg) = (Arc::clone(&self.engine), self.correlation.clone());
        // A write job only for its place in the writer's queue: the engine lives on the
        // writer thread. It commits nothing.
        self.writer
            .write(move |conn| with_engine(conn, &slot, &cfg, |_| Ok(())))
            .await
    }

    async fn ingest(
        &self,
        batch: Vec<NewAlert>,
        actor: Actor,
        now: Timestamp,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        self.claim().await?;
        // Compress off the writer thread: the writer is the one serial stage.
        let codec = Arc::clone(&self.docs);
        // A few alerts compress in microseconds: they take no slot, so a single alert never
        // waits behind a bulk batch.
        let slot =
            if batch.len() < COMPRESS_SLOT_FROM {
                None
            } else {
                Some(compress_slots().acquire().await.map_err(|e| {
                    StoreError::Unavailable(format!("compression slots closed: {e}"))
                })?)
            };
        let correlating = self.correlation.enabled;
        let (prepared, digests, trained) = tokio::task::spawn_blocking(move || {
            // The slot goes with the work: a caller that is dropped does not end it.
            let _slot = slot;
            let samples = codec.sample(batch.iter().map(|a| &a.document[..]));
            let prepared = alerts::prepare(&codec, batch)?;
            // What correlation is handed, gathered here rather than on the writer.
            let digests = correlating.then(|| alerts::Digests::of(&prepared));
            // The batch that completes the samples pays for training, once per store.
            let trained = samples.map(|s| docs::train(&s));
            Ok::<_, StoreError>((prepared, digests, trained))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("compression task failed: {e}")))??;
        if let Some(trained) = trained {
            self.adopt_dictionary(trained, now).await;
        }
        let (slot, cfg) = (Arc::clone(&self.engine), self.correlation.clone());
        let recent = Arc::clone(&self.recent);
        let (codec, known) = (Arc::clone(&self.docs), Arc::clone(&self.known));
        let owing = Arc::clone(&self.owing);
        self.writer
            .write_unguarded(move |conn| {
                let mark = recent.mark();
                let at = alerts::Stores {
                    conn,
                    recent: &recent,
                    known: &known,
                    docs: &codec,
                };
                // Digests are gathered exactly when correlation is on.
                let out = match digests {
                    Some(d) => with_engine(conn, &slot, &cfg, |e| {
                        let out = alerts::ingest(&at, prepared, &actor, now, Some((e.get(), d)));
                        match &out {
                            Ok(_) => owing.ingested(!e.get().owed.is_empty()),
                            // The engine, and what it owed, is forgotten.
                            Err(_) => owing.lost(),
                        }
                        out
                    }),
                    None => {
                        // Correlated ingest may have left debts in an earlier process.
                        incidents::recover(conn, now).map_err(writer::Failure::Broken)?;
                        alerts::ingest(&at, prepared, &actor, now, None)
                    }
                };
                if out.is_err() {
                    // The job's SQL is rolled back; so is what it staged.
                    recent.rewind(mark);
                }
                out
            })
            .await
    }

    async fn get_alert(&self, id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let id = id.to_string();
        let codec = Arc::clone(&self.docs);
        let recent = Arc::clone(&self.recent);
        self.read(move |conn| alerts::get(conn, &recent, &codec, &id))
            .await
    }

    async fn list_alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        let query = query.clone();
        let recent = Arc::clone(&self.recent);
        self.read(move |conn| alerts::list(conn, &recent, &query))
            .await
    }

    async fn history(
        &self,
        kind: TargetKind,
        target_id: &str,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        if kind == TargetKind::Incident {
            // An incident opened by ingest may not have its row yet.
            self.settle_reads().await?;
        }
        let id = target_id.to_string();
        self.read(move |conn| alerts::history(conn, kind, &id))
            .await
    }

    async fn count_alerts(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let n: i64 = conn.query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn update_alert(
        &self,
        grant: &Grant,
        id: &str,
        change: &AlertChange,
        expected_version: i64,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<Updated, StoreError> {
        let (grant, id, change) = (grant.clone(), id.to_string(), change.clone());
        let comment = comment.map(str::to_string);
        self.write_settled(move |c| {
            let u = triage::update_alert(c, &grant, &id, &change, expected_version, now)?;
            if let Some(text) = &comment {
                triage::add_comment(c, &grant, &id, text, now)?;
            }
            Ok(u)
        })
        .await
    }

    async fn add_comment(
        &self,
        grant: &Grant,
        id: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<HistoryEvent, StoreError> {
        let (grant, id, text) = (grant.clone(), id.to_string(), text.to_string());
        self.writer
            .write(move |c| triage::add_comment(c, &grant, &id, &text, now))
            .await
    }

    async fn bulk_update(
        &self,
        grant: &Grant,
        target: BulkTarget,
        change: &AlertChange,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<BulkSummary, StoreError> {
        let (grant, change) = (grant.clone(), change.clone());
        let comment = comment.map(str::to_string);
        let recent = Arc::clone(&self.recent);
        self.write_settled(move |c| {
            triage::bulk_update(
                c,
                &recent,
                &grant,
                &target,
                &change,
                comment.as_deref(),
                now,
            )
        })
        .await
    }

    async fn rename_tag(
        &self,
        grant: &Grant,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let (grant, from, to) = (grant.clone(), from.to_string(), to.to_string());
        self.write_settled(move |c| triage::rename_tag(c, &grant, &from, &to, now))
            .await
    }

    async fn create_user(
        &self,
        user: NewUser,
        actor: Actor,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        self.writer
            .write(move |c| access::create_user(c, &user, &actor, now))
            .await
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.read(access::list_users).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let id = id.to_string();
        self.read(move |c| access::user_by_id(c, &id)).await
    }

    async fn user_login(&self, username: &str) -> Result<Option<UserLogin>, StoreError> {
        let name = username.to_string();
        self.read(move |c| access::user_login(c, &name)).await
    }

    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        actor: Actor,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        let id = id.to_string();
        self.writer
            .write(move |c| access::update_user(c, &id, &patch, &actor, now))
            .await
    }

    async fn create_session(
        &self,
        digest: Vec<u8>,
        user_id: &str,
        csrf: &str,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (id, csrf) = (user_id.to_string(), csrf.to_string());
        self.writer
            .write(move |c| {
                access::create_session(c, &digest, &id, &csrf, expires, now)?;
                access::record_login(c, &id, now)
            })
            .await
    }

    async fn session(
        &self,
        digest: &[u8],
        now: Timestamp,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let digest = digest.to_vec();
        self.read(move |c| access::session(c, &digest, now)).await
    }

    async fn delete_session(&self, digest: &[u8]) -> Result<(), StoreError> {
        let digest = digest.to_vec();
        self.writer
            .write(move |c| access::delete_session(c, &digest))
            .await
    }

    async fn create_token(
        &self,
        token: NewToken,
        actor: Actor,
        now: Timestamp,
    ) -> Result<ApiToken, StoreError> {
        self.writer
            .write(move |c| access::create_token(c, &token, &actor, now))
            .await
    }

    async fn token_by_digest(&self, digest: &[u8]) -> Result<Option<TokenInfo>, StoreError> {
        let digest = digest.to_vec();
        self.read(move |c| access::token_by_digest(c, &digest))
            .await
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.read(access::list_tokens).await
    }

    async fn revoke_token(
        &self,
        id: &str,
        actor: Actor,
        now: Timestamp,
    ) -> Result<ApiToken, StoreError> {
        let id = id.to_string();
        self.writer
            .write(move |c| access::revoke_token(c, &id, &actor, now))
            .await
    }

    async fn touch_token(&self, id: &str, now: Timestamp) -> Result<(), StoreError> {
        let id = id.to_string();
        self.writer
            .write(move |c| access::touch_token(c, &id, now))
            .await
    }

    async fn list_roles(&self) -> Result<Vec<RoleDef>, StoreError> {
        self.read(access::list_roles).await
    }

    async fn create_role(
        &self,
        role: RoleDef,
        actor: Actor,
        now: Timestamp,
    ) -> Result<RoleDef, StoreError> {
        self.writer
            .write(move |c| {
                access::create_role(c, &role, &actor, now)?;
                Ok(role)
            })
            .await
    }

    async fn append_audit(&self, kind: TargetKind, event: HistoryEvent) -> Result<(), StoreError> {
        self.writer
            .write(move |c| alerts::append_event(c, kind, &event))
            .await
    }

    async fn audit(
        &self,
        target: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let target = target.map(str::to_string);
        self.read(move |c| access::audit(c, target.as_deref(), limit))
            .await
    }

    async fn list_incidents(&self, query: &IncidentQuery) -> Result<IncidentPage, StoreError> {
        self.settle_reads().await?;
        let q = query.clone();
        let recent = Arc::clone(&self.recent);
        self.read(move |c| incidents::list(c, &recent, &q)).await
    }

    async fn get_incident(&self, id: &str) -> Result<Option<IncidentDetail>, StoreError> {
        self.settle_reads().await?;
        let id = id.to_string();
        self.read(move |c| incidents::detail(c, &id)).await
    }

    async fn update_incident(
        &self,
        grant: &Grant,
        id: &str,
        change: &IncidentChange,
        expected_version: i64,
        comment: Option<&str>,
        now: Timestamp,
    ) -> Result<IncidentRecord, StoreError> {
        let (grant, id, change) = (grant.clone(), id.to_string(), change.clone());
        let comment = comment.map(str::to_string);
        self.claim().await?;
        let (slot, cfg) = (Arc::clone(&self.engine), self.correlation.clone());
        self.write_settled(move |c| {
            with_engine(c, &slot, &cfg, |e| {
                let rec = incident_triage::update(
                    c,
                    Some(e),
                    &grant,
                    &id,
                    &change,
                    expected_version,
                    now,
                )?;
                if let Some(text) = &comment {
                    incident_triage::comment(c, &grant, &id, text, now)?;
                }
                Ok(rec)
            })
        })
        .await
    }

    async fn add_incident_comment(
        &self,
        grant: &Grant,
        id: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<HistoryEvent, StoreError> {
        let (grant, id, text) = (grant.clone(), id.to_string(), text.to_string());
        self.write_settled(move |c| incident_triage::comment(c, &grant, &id, &text, now))
            .await
    }

    async fn merge_incidents(
        &self,
        grant: &Grant,
        from: &str,
        into: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StoreError> {
        let (grant, from, into) = (grant.clone(), from.to_string(), into.to_string());
        self.claim().await?;
        let (slot, cfg) = (Arc::clone(&self.engine), self.correlation.clone());
        self.write_settled(move |c| {
            with_engine(c, &slot, &cfg, |e| {
                incident_triage::merge(c, Some(e), &grant, &from, &into, now)
            })
        })
        .await
    }

    async fn link_alert(
        &self,
        grant: &Grant,
        alert: &str,
        incident: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StoreError> {
        let (grant, alert, incident) = (grant.clone(), alert.to_string(), incident.to_string());
        self.claim().await?;
        let (slot, cfg) = (Arc::clone(&self.engine), self.correlation.clone());
        self.write_settled(move |c| {
            with_engine(c, &slot, &cfg, |e| {
                incident_triage::link(c, Some(e), &grant, &alert, &incident, now)
            })
        })
        .await
    }

    async fn unlink_alert(
        &self,
        grant: &Grant,
        alert: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StoreError> {
        let (grant, alert) = (grant.clone(), alert.to_string());
        self.claim().await?;
        let (slot, cfg) = (Arc::clone(&self.engine), self.correlation.clone());
        self.write_settled(move |c| {
            with_engine(c, &slot, &cfg, |e| {
                incident_triage::unlink(c, Some(e), &grant, &alert, now)
            })
        })
        .await
    }

    async fn correlate(
        &self,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<CorrelateSummary, StoreError> {
        self.claim().await?;
        let (slot, cfg) = (Arc::clone(&self.engine), self.correlation.clone());
        let owing = Arc::clone(&self.owing);
        self.writer
            .write_alone(move |c| {
                // A rebuild reads incident rows and starts a new engine: the old one's
                // debts are written first.
                settle::settled(c, &slot, &owing, |_| Ok(()))?;
                let mut guard = slot
                    .lock()
                    .map_err(|_| StoreError::Unavailable("correlation engine poisoned".into()))?;
                *guard = None;
                let (summary, engine) = incident_triage::correlate_all(c, &cfg, since, now)?;
                *guard = Some(engine);
                Ok(summary)
            })
            .await
    }
}

#[cfg(test)]
mod docs_tests;
#[cfg(test)]
mod rebuild_tests;
#[cfg(test)]
mod recent_tests;
#[cfg(test)]
mod settle_tests;

#[cfg(all(test, target_os = "linux"))]
mod owner_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Root does not open a store that belongs to another user (the files it would create
    /// would lock the owner out); once the store is root's, it does. Needs root to hand the
    /// file to another user: elsewhere it says so and checks nothing.
    #[test]
    fn root_does_not_open_another_users_store() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open_dir(dir.path()).unwrap());
        let db = dir.path().join(DB_FILE);
        if std::os::unix::fs::chown(&db, Some(65534), None).is_err() {
            eprintln!("not root: cannot give the database to another user, nothing checked");
            return;
        }
        let err = SqliteStore::open_dir(dir.path()).err().unwrap();
        assert!(
            matches!(&err, StoreError::Config(m) if m.contains("uid 65534") && m.contains("sudo -u")),
            "{err}"
        );
        std::os::unix::fs::chown(&db, Some(0), None).unwrap();
        drop(SqliteStore::open_dir(dir.path()).unwrap());
    }
}

#[cfg(test)]
mod migration_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rusqlite::params;

    /// A database in `dir` as a rampart of schema `version` left it.
    fn at_version(dir: &Path, version: usize) -> Connection {
        let conn = Connection::open(dir.join("rampart.db")).unwrap();
        register_value_hash(&conn).unwrap();
        for (i, sql) in MIGRATIONS.iter().take(version).enumerate() {
            conn.execute_batch(&format!("{sql}; PRAGMA user_version = {};", i + 1))
                .unwrap();
        }
        conn
    }

    /// Stores an empty document for row `rid` of a database at schema 4 or later.
    fn empty_document(conn: &Connection, rid: i64) {
        let body = zstd::stream::encode_all(&b"{}"[..], 3).unwrap();
        conn.execute(
            "INSERT INTO alert_docs (rid, body) VALUES (?1, ?2)",
            params![rid, body],
        )
        .unwrap();
    }

    /// A store written by an older rampart keeps its alerts, documents included, when
    /// migration 0004 moves documents into `alert_docs`.
    #[tokio::test]
    async fn documents_survive_the_move_out_of_the_alerts_table() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = at_version(dir.path(), 3);
            let doc = br#"{"title":"Old alert","evidence":[]}"#;
            let body = zstd::stream::encode_all(&doc[..], 3).unwrap();
            conn.execute(
                "INSERT INTO alerts (id, title, severity, status, classification, determination,
                    service_source, detection_source, first_activity, last_activity, created,
                    last_update, version, tags, impacted, body)
                 VALUES ('da-old', 'Old alert', 3, 'new', 'unknown', 'unknown',
                    'microsoftDefenderForEndpoint', 'antivirus', 1, 2, 2, 2, 1, '[]', '[]', ?1)",
                [body],
            )
            .unwrap();
        }
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let a = crate::Store::get_alert(&store, "da-old")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.record.title, "Old alert");
        assert_eq!(
            a.document,
            br#"{"title":"Old alert","evidence":[]}"#.to_vec()
        );
        let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
        let has_body: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('alerts') WHERE name = 'body'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(has_body, 0, "the alerts row no longer carries the document");
    }

    /// Migration 0011 files every alert's id and provider key in the entity index and drops
    /// the unique indexes: alerts stored before it are still found by either name, in a
    /// sealed part or the newest, and a re-send by provider key still updates its alert.
    #[tokio::test]
    async fn names_move_into_the_entity_index() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = at_version(dir.path(), 10);
            // Rowid 1 is in a sealed part, 200,000 in the newest.
            for (rid, id, key) in [(1, "da-n-1", "p-1"), (200_000, "da-n-2", "p-2")] {
                conn.execute(
                    "INSERT INTO alerts (rid, id, provider_key, provider_alert_id, title, severity,
                        status, classification, determination, service_source, detection_source,
                        first_activity, last_activity, created, last_update, version, tags,
                        impacted, keys)
                     VALUES (?1, ?2, 'microsoftDefenderForEndpoint' || char(31) || ?3, ?3, 'Old',
                        3, 'new', 'unknown', 'unknown', 'microsoftDefenderForEndpoint',
                        'antivirus', 1, 2, 2, 2, 1, '[]', '[]', '[]')",
                    params![rid, id, key],
                )
                .unwrap();
                empty_document(&conn, rid);
            }
        }
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        for id in ["da-n-1", "da-n-2"] {
            let a = crate::Store::get_alert(&store, id).await.unwrap();
            assert_eq!(a.map(|a| a.record.id).as_deref(), Some(id));
        }
        assert!(crate::Store::get_alert(&store, "da-n-3")
            .await
            .unwrap()
            .is_none());
        let t = rampart_domain::timestamp::Timestamp::from_micros(5);
        let again: Vec<_> = ["p-1", "p-2"]
            .iter()
            .map(|key| {
                let rec = crate::conformance::record("da-other", Some(key), t);
                crate::conformance::new_alert(rec, vec![], b"{\"again\":1}")
            })
            .collect();
        let out = crate::Store::ingest(&store, again, Actor::producer("p"), t)
            .await
            .unwrap();
        assert_eq!(out, [IngestOutcome::Updated, IngestOutcome::Updated]);
        assert_eq!(crate::Store::count_alerts(&store).await.unwrap(), 2);
        // The rows got their service source's digest, which source filters compare.
        for (q, want) in [
            ("serviceSource:microsoftDefenderForEndpoint", 2),
            ("serviceSource:microsoftDefenderForIdentity", 0),
            ("-serviceSource:microsoftDefenderForIdentity", 2),
        ] {
            let query = crate::AlertQuery {
                condition: rampart_domain::condition::parse(q).unwrap(),
                ..crate::conformance::everything(50)
            };
            let page = crate::Store::list_alerts(&store, &query).await.unwrap();
            assert_eq!(page.items.len(), want, "{q}");
        }
        let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'alerts' AND type = 'index' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
            [
                "alerts_first_activity",
                "alerts_incident",
                "alerts_queue",
                "alerts_severity"
            ]
        );
    }

    /// Migration 0006 turns the entity index's values into digests: an alert stored before
    /// schema 3 (no keys in its row) keeps its entities, and entity filters still find
    /// alerts stored before the migration.
    #[tokio::test]
    async fn entity_index_survives_the_move_to_digests() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = at_version(dir.path(), 5);
            // Rowids 1 and 200,000 fall in different parts of the new index.
            for (rid, id, keys) in [
                (1, "da-nokeys", None),
                (200_000, "da-keys", Some(r#"[[1,"ws-1"],[1,"ws-2"]]"#)),
            ] {
                conn.execute(
                    "INSERT INTO alerts (rid, id, title, severity, status, classification,
                        determination, service_source, detection_source, first_activity,
                        last_activity, created, last_update, version, tags, impacted, keys)
                     VALUES (?1, ?2, 'Old', 3, 'new', 'unknown', 'unknown',
                        'microsoftDefenderForEndpoint', 'antivirus', 1, 2, 2, 2, 1, '[]', '[]', ?3)",
                    params![rid, id, keys],
                )
                .unwrap();
                empty_document(&conn, rid);
            }
            conn.execute_batch(
                "INSERT INTO entities (kind, value, rid) VALUES
                    (1, 'ws-1', 1), (2, 'alice', 1), (1, 'ws-1', 200000), (1, 'ws-2', 200000);",
            )
            .unwrap();
        }
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let old = crate::Store::get_alert(&store, "da-nokeys")
            .await
            .unwrap()
            .unwrap();
        let names: Vec<&str> = old.entities.iter().map(|k| k.value.as_str()).collect();
        assert_eq!(
            names,
            ["ws-1", "alice"],
            "keys came over from the old index"
        );
        for (q, want) in [
            (
                "entity.device:WS-1.corp.contoso.com",
                &["da-keys", "da-nokeys"][..],
            ),
            ("entity.user:alice", &["da-nokeys"]),
            ("entity.device:ws-2", &["da-keys"]),
        ] {
            let query = crate::AlertQuery {
                condition: rampart_domain::condition::parse(q).unwrap(),
                ..crate::conformance::everything(50)
            };
            let page = crate::Store::list_alerts(&store, &query).await.unwrap();
            let mut ids: Vec<&str> = page.items.iter().map(|a| a.id.as_str()).collect();
            ids.sort_unstable();
            assert_eq!(ids, want, "{q}");
        }
    }
}
