//! The embedded SQLite backend: one file, WAL with `synchronous=FULL`, a single writer thread
//! with group commit, and a small pool of reader connections used from blocking tasks.
mod alerts;
mod writer;

use crate::error::StoreError;
use crate::query::{AlertPage, AlertQuery};
use crate::{IngestOutcome, Store, StoredAlert};
use async_trait::async_trait;
use rampart_domain::alert::NewAlert;
use rampart_domain::history::{Actor, HistoryEvent};
use rampart_domain::timestamp::Timestamp;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use writer::Writer;

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/sqlite/0001_init.sql")];

/// Reader connections: reads block on I/O, so a few more than cores.
const READERS: usize = 4;

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<ReaderPool>,
}

#[derive(Debug)]
struct ReaderPool {
    tx: crossbeam_channel::Sender<Connection>,
    rx: crossbeam_channel::Receiver<Connection>,
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;
         PRAGMA wal_autocheckpoint = 16384;",
    )?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
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
    /// Opens (creating if needed) `dir/rampart.db`.
    pub fn open_dir(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        SqliteStore::open_file(&dir.join("rampart.db"))
    }

    /// Opens (creating if needed) the database file at `path`.
    pub fn open_file(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))?;
        configure(&conn)?;
        migrate(&conn)?;
        let writer = Writer::start(conn)?;
        let (tx, rx) = crossbeam_channel::bounded(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(10))?;
            r.execute_batch("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384;")?;
            tx.send(r)
                .map_err(|_| StoreError::Unavailable("reader pool".into()))?;
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            readers: Arc::new(ReaderPool { tx, rx }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
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
    async fn ingest(
        &self,
        batch: Vec<NewAlert>,
        actor: Actor,
        now: Timestamp,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        // Compress off the writer thread: the writer is the one serial stage.
        let prepared = tokio::task::spawn_blocking(move || alerts::prepare(batch))
            .await
            .map_err(|e| StoreError::Unavailable(format!("compression task failed: {e}")))??;
        self.writer
            .write(move |conn| alerts::ingest(conn, prepared, &actor, now))
            .await
    }

    async fn get_alert(&self, id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| alerts::get(conn, &id)).await
    }

    async fn list_alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        let query = query.clone();
        self.read(move |conn| alerts::list(conn, &query)).await
    }

    async fn history(&self, target_id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        let id = target_id.to_string();
        self.read(move |conn| alerts::history(conn, &id)).await
    }

    async fn count_alerts(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let n: i64 = conn.query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}
