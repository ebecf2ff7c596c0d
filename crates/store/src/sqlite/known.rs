//! Which alert ids and provider keys the store may hold, so that ingest skips looking up
//! an alert that is surely new.
//!
//! Ingest must find a re-sent alert by its id or its provider key, and for a new alert both
//! lookups miss: two B-tree searches per alert, 7 % of the writer thread's time in a bench
//! ingest (docs/benchmarks.md, "Thirteenth session"). A Bloom filter of both names answers
//! "surely not stored" without SQL; "maybe" (a stored name, or a false positive at about
//! 1 %) still looks.
//!
//! A name missing from the filter would let a re-send be inserted twice (the unique index
//! would then fail the whole transaction), so every path that stores names reaches it:
//! - the writer stages the names of each alert it inserts ([`KnownNames::stage`]), and
//!   stages move into the filter when their transaction commits, so a name counts only once
//!   it can be found;
//! - a filter is filled from the table by a thread of its own, after it became the one the
//!   writer adds to and inside a single read transaction begun after that: an alert committed
//!   before the scan's snapshot is scanned, one committed after it is added by the writer.
//!
//! Until that scan is done the filter is not used. It is built when the store opens, again
//! when another process wrote to the store (see `claim.rs`), and, twice as large, whenever
//! the names added outgrow what it was sized for.
use rusqlite::{Connection, OpenFlags};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use fastbloom::AtomicBloomFilter;

/// False positives wanted: one new alert in a hundred still looks itself up.
const FALSE_POSITIVES: f64 = 0.01;

/// The smallest filter, in names (1.2 MB of bits).
pub(crate) const MIN_CAPACITY: usize = 1 << 20;

/// The 64-bit digest a name is filed under (SipHash with fixed keys: the filter lives only
/// in memory, so the digest need not be stable across versions).
pub(crate) fn name_hash(name: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

#[derive(Debug)]
struct Filter {
    bloom: AtomicBloomFilter,
    /// Names it was sized for.
    capacity: usize,
    /// Names added so far (scanned and committed).
    added: AtomicUsize,
    /// Whether its scan of the table is done: only then does it answer.
    ready: AtomicBool,
}

impl Filter {
    fn new(capacity: usize) -> Filter {
        let capacity = capacity.max(1);
        Filter {
            bloom: AtomicBloomFilter::with_false_pos(FALSE_POSITIVES).expected_items(capacity),
            capacity,
            added: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
        }
    }

    fn add(&self, hash: u64) {
        self.bloom.insert_hash(hash);
        self.added.fetch_add(1, Ordering::Relaxed);
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct KnownNames {
    path: PathBuf,
    /// The smallest filter, in names (tests make it tiny to see filters grow).
    min_capacity: AtomicUsize,
    current: RwLock<Arc<Filter>>,
    /// Names inserted by the writer's open transaction.
    staged: Mutex<HashSet<u64>>,
    /// A scan is running: growth starts no second one.
    building: AtomicBool,
}

impl KnownNames {
    /// An empty, unused filter for the database at `path`; [`KnownNames::rebuild`] fills it.
    /// A name staged by a transaction that is then rolled back stays staged: a name too many
    /// only costs a lookup, and the next commit moves it into the filter.
    pub(crate) fn new(path: &Path, min_capacity: usize) -> Arc<KnownNames> {
        Arc::new(KnownNames {
            path: path.to_path_buf(),
            min_capacity: AtomicUsize::new(min_capacity),
            current: RwLock::new(Arc::new(Filter::new(min_capacity))),
            staged: Mutex::new(HashSet::new()),
            building: AtomicBool::new(false),
        })
    }

    fn current(&self) -> Arc<Filter> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.staged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no stored alert (nor one of the open transaction) can have either name.
    /// `false` when unsure, which only costs a lookup.
    pub(crate) fn surely_new(&self, id: &str, provider_key: Option<&str>) -> bool {
        let f = self.current();
        if !f.ready.load(Ordering::Acquire) {
            return false;
        }
        let staged = self.staged();
        let absent = |name: &str| {
            let h = name_hash(name);
            !f.bloom.contains_hash(h) && !staged.contains(&h)
        };
        absent(id) && provider_key.is_none_or(absent)
    }

    /// Records the names of an alert the writer's open transaction inserts.
    pub(crate) fn stage(&self, id: &str, provider_key: Option<&str>) {
        let mut staged = self.staged();
        staged.insert(name_hash(id));
        if let Some(k) = provider_key {
            staged.insert(name_hash(k));
        }
    }

    /// The writer's transaction committed: its names can be found now. Starts a larger
    /// filter once this one holds more names than it was sized for.
    pub(crate) fn committed(self: &Arc<Self>) {
        let names = std::mem::take(&mut *self.staged());
        let f = self.current();
        for h in names {
            f.add(h);
        }
        if f.added.load(Ordering::Relaxed) > f.capacity {
            self.rebuild(2 * f.capacity);
        }
    }

    /// Fills a new filter of at least `capacity` names from the table on a thread of its
    /// own, and makes it the one the writer adds to at once. Unless a scan is running.
    pub(crate) fn rebuild(self: &Arc<Self>, capacity: usize) {
        if self.building.swap(true, Ordering::AcqRel) {
            return;
        }
        let known = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("rampart-known".into())
            .spawn(move || {
                if let Err(e) = known.fill(capacity) {
                    tracing::warn!(error = %e, "cannot list stored alert ids; ingest looks each one up");
                }
                known.building.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread to list stored alert ids; ingest looks each one up");
            self.building.store(false, Ordering::Release);
        }
    }

    fn fill(&self, capacity: usize) -> rusqlite::Result<()> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let started = std::time::Instant::now();
        let stored: i64 = conn.query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))?;
        let stored = usize::try_from(stored).unwrap_or(0);
        // Room to double before the next rebuild (an alert has up to two names).
        let f = Arc::new(Filter::new(
            capacity
                .max(4 * stored)
                .max(self.min_capacity.load(Ordering::Relaxed)),
        ));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&f);
        // Both scans read one snapshot, taken after the swap (see the module docs).
        conn.execute_batch("BEGIN")?;
        for sql in [
            "SELECT id FROM alerts",
            "SELECT provider_key FROM alerts WHERE provider_key IS NOT NULL",
        ] {
            let mut stmt = conn.prepare(sql)?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                f.add(name_hash(row.get_ref(0)?.as_str()?));
            }
        }
        conn.execute_batch("COMMIT")?;
        f.ready.store(true, Ordering::Release);
        tracing::debug!(
            alerts = stored,
            capacity = f.capacity,
            ms = started.elapsed().as_millis() as u64,
            "listed stored alert ids for ingest"
        );
        Ok(())
    }

    /// Whether the filter answers and no scan is running (tests wait for it).
    #[cfg(test)]
    pub(crate) fn settled(&self) -> bool {
        self.current().ready.load(Ordering::Acquire) && !self.building.load(Ordering::Acquire)
    }

    /// Makes later filters as small as `names` (tests see filters grow).
    #[cfg(test)]
    pub(crate) fn set_min_capacity(&self, names: usize) {
        self.min_capacity.store(names, Ordering::Relaxed);
    }

    /// The capacity of the filter in use (tests check growth).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.current().capacity
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::KnownNames;
    use crate::conformance::on_devices;
    use crate::sqlite::SqliteStore;
    use crate::{IngestOutcome, Store};
    use rampart_domain::alert::NewAlert;
    use rampart_domain::history::Actor;
    use rampart_domain::timestamp::Timestamp;
    use std::time::{Duration, Instant};

    async fn ready(k: &KnownNames) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !k.settled() {
            assert!(Instant::now() < deadline, "the filter was never filled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn alert(n: i64) -> NewAlert {
        let t0 = Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap();
        let mut a = on_devices(&format!("da-kn-{n}"), t0, n, &["dev-1"]);
        a.record.provider_alert_id = Some(format!("p-{n}"));
        a
    }

    /// Re-sent by provider key only, under an id of its own: found through the key.
    fn by_key(n: i64) -> NewAlert {
        let mut a = alert(n);
        a.record.id = format!("da-other-{n}");
        a
    }

    async fn put(s: &SqliteStore, alerts: Vec<NewAlert>) -> Vec<IngestOutcome> {
        let t0 = Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap();
        s.ingest(alerts, Actor::producer("p"), t0).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stored_names_are_known_and_new_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        put(&s, (0..300).map(alert).collect()).await;
        drop(s);
        let k = KnownNames::new(&dir.path().join("rampart.db"), 8);
        assert!(
            !k.surely_new("da-kn-999", None),
            "unfilled, it is never sure"
        );
        k.rebuild(0);
        ready(&k).await;
        assert!(
            k.capacity() >= 1200,
            "sized for the stored alerts: {}",
            k.capacity()
        );
        for n in 0..300 {
            assert!(!k.surely_new(&format!("da-kn-{n}"), None));
            // Either name is enough.
            let key = format!("microsoftDefenderForEndpoint\u{1f}p-{n}");
            assert!(!k.surely_new("da-unseen", Some(&key)));
        }
        let surely = (1000..2000)
            .filter(|n| k.surely_new(&format!("da-kn-{n}"), None))
            .count();
        assert!(
            surely > 950,
            "false positives are rare: {surely} of 1000 sure"
        );
        // Staged names count at once, for the rest of their transaction.
        k.stage("da-kn-5000", None);
        assert!(!k.surely_new("da-kn-5000", None));
        k.committed();
        assert!(!k.surely_new("da-kn-5000", None));
    }

    /// Filters are rebuilt, and grow, while alerts keep coming; every re-send, by id or by
    /// provider key only, still finds its alert.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resends_find_their_alert_while_filters_are_rebuilt_and_grow() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        ready(&s.known).await;
        s.known.set_min_capacity(16);
        s.known.rebuild(0);
        ready(&s.known).await;
        assert_eq!(s.known.capacity(), 16);
        for b in 0..40i64 {
            let fresh = put(&s, (b * 25..(b + 1) * 25).map(alert).collect()).await;
            assert!(
                fresh.iter().all(|o| *o == IngestOutcome::Created),
                "batch {b}"
            );
            if b > 0 {
                let again = put(&s, ((b - 1) * 25..b * 25).map(alert).collect()).await;
                assert!(
                    again.iter().all(|o| *o == IngestOutcome::Updated),
                    "batch {b}"
                );
                let keyed = put(&s, ((b - 1) * 25..b * 25).map(by_key).collect()).await;
                assert!(
                    keyed.iter().all(|o| *o == IngestOutcome::Updated),
                    "batch {b}"
                );
            }
        }
        assert_eq!(s.count_alerts().await.unwrap(), 1000);
        assert!(s.known.capacity() >= 512, "grew: {}", s.known.capacity());
        // Reopened, the filter is filled from the table again.
        drop(s);
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        ready(&s.known).await;
        let again = put(&s, (0..1000).map(alert).collect()).await;
        assert!(again.iter().all(|o| *o == IngestOutcome::Updated));
        assert_eq!(s.count_alerts().await.unwrap(), 1000);
    }
}
