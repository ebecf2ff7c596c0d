//! Which alert ids and provider keys the store may hold, so that ingest skips looking up
//! an alert that is surely new.
//!
//! Ingest must find a re-sent alert by its id or its provider key, and for a new alert both
//! lookups miss: two B-tree searches per alert, 7 % of the writer thread's time in a bench
//! ingest (docs/benchmarks.md, "Thirteenth session"). A Bloom filter of both names answers
//! "surely not stored" without SQL; "maybe" (a stored name, or a false positive at about
//! 1 %) still looks.
//!
//! A stored name missing from the filter would let a re-send be inserted twice (no unique
//! index stands behind this since names moved into the entity index, migration 0011), so
//! every path that stores names reaches it:
//! - the writer stages the names of each alert it inserts ([`KnownNames::stage`]); staged
//!   names count at once, and move into the filters when their transaction commits;
//! - a filter is filled by a thread of its own, from the names filed in the entity index's
//!   sealed parts and the rows of the part being filled, inside one read transaction
//!   begun after the writer thread installed it as the one it adds to: an alert committed
//!   before the scan's snapshot is scanned, one committed after it is added by the writer.
//!   Only a filter filled to the end answers.
//!
//! The first filter is built when this process claims the store for writing
//! ([`KnownNames::reset`], see `claim.rs`): from then on no other process inserts alerts,
//! and a process that never claims (a `rampart user` command) never scans. When the names
//! outgrow it, a filter twice as large is filled while the old one keeps answering, the
//! writer adding to both. A first filter whose filling failed is tried again after a
//! thousand commits; until a filter answers, ingest looks every alert up.
use rusqlite::{Connection, OpenFlags};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::entity_index::{value_hash, ALERT_ID, IN_EVERY_PART, PROVIDER_KEY};
use crate::error::StoreError;
use fastbloom::AtomicBloomFilter;

/// False positives wanted: one new alert in a hundred still looks itself up.
const FALSE_POSITIVES: f64 = 0.01;

/// The smallest filter, in names (about 1.2 MB of bits).
pub(crate) const MIN_CAPACITY: usize = 1 << 20;

/// The largest filter, in names (about 320 MB of bits): rowids can be far above the count.
const MAX_CAPACITY: usize = 1 << 28;

/// Commits after a failed fill before a first filter is tried again.
const RETRY_AFTER_COMMITS: usize = 1000;

/// Rows a filling thread reads between checks that its filter is still wanted.
const ROWS_PER_CHECK: usize = 4096;

/// The filter's key of a name: its digest in the entity index (`entity_index.rs`), which
/// ingest works out beside the writer anyway, and which fills read from the index.
fn key(digest: i64) -> u64 {
    u64::from_ne_bytes(digest.to_ne_bytes())
}

#[derive(Debug)]
struct Filter {
    bloom: AtomicBloomFilter,
    /// Names it was sized for.
    capacity: usize,
    /// Names added so far (scanned and committed).
    added: AtomicUsize,
    /// Names at which a larger filter is started; raised when filling one fails.
    grow_at: AtomicUsize,
}

impl Filter {
    fn new(capacity: usize) -> Arc<Filter> {
        let capacity = capacity.max(1);
        Arc::new(Filter {
            bloom: AtomicBloomFilter::with_false_pos(FALSE_POSITIVES).expected_items(capacity),
            capacity,
            added: AtomicUsize::new(0),
            grow_at: AtomicUsize::new(capacity),
        })
    }

    fn add(&self, hash: u64) {
        self.bloom.insert_hash(hash);
        self.added.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct Filters {
    /// Filled to the end: answers [`KnownNames::surely_new`].
    answering: Option<Arc<Filter>>,
    /// Being filled, to replace it.
    filling: Option<Arc<Filter>>,
}

impl Filters {
    /// Whether `f` is the filter being filled (a newer reset or growth replaces it).
    fn is_filling(&self, f: &Arc<Filter>) -> bool {
        self.filling.as_ref().is_some_and(|g| Arc::ptr_eq(f, g))
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct KnownNames {
    path: PathBuf,
    /// The entity index's part size, as a shift of the rowid: the names of the part being
    /// filled are not in the table yet (`recent.rs`).
    shift: u32,
    /// The smallest filter, in names (tests make it tiny to see filters grow).
    min_capacity: AtomicUsize,
    filters: RwLock<Filters>,
    /// Names inserted by the writer's open transaction. A transaction that is rolled back
    /// leaves its names here: a name too many only costs a lookup, and the next commit moves
    /// it into the filters.
    staged: Mutex<HashSet<u64>>,
    /// The store is closing: filling threads stop (their read transaction would hold up
    /// the last checkpoint), and no new one starts.
    closed: AtomicBool,
    /// Commits since a fill was last started, for retrying a first filter that failed.
    commits_since_failure: AtomicUsize,
    /// The stored alerts `reset` counted, to size a retried first filter.
    last_stored: AtomicUsize,
    /// Where a test holds the next fill (see [`KnownNames::hold_at`]).
    #[cfg(test)]
    hold: Mutex<Option<Hold>>,
}

/// Where a test holds a fill: before its snapshot is taken, or after.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HoldPoint {
    BeforeSnapshot,
    AfterSnapshot,
}

#[cfg(test)]
#[derive(Debug)]
pub(crate) struct Hold {
    at: HoldPoint,
    reached: std::sync::mpsc::Sender<()>,
    resume: std::sync::mpsc::Receiver<()>,
}

impl KnownNames {
    /// No filter yet, so nothing is sure: [`KnownNames::reset`] starts one.
    pub(crate) fn new(path: &Path, min_capacity: usize, shift: u32) -> Arc<KnownNames> {
        Arc::new(KnownNames {
            path: path.to_path_buf(),
            shift,
            min_capacity: AtomicUsize::new(min_capacity),
            filters: RwLock::new(Filters::default()),
            staged: Mutex::new(HashSet::new()),
            closed: AtomicBool::new(false),
            commits_since_failure: AtomicUsize::new(0),
            last_stored: AtomicUsize::new(0),
            #[cfg(test)]
            hold: Mutex::new(None),
        })
    }

    fn filters(&self) -> std::sync::RwLockReadGuard<'_, Filters> {
        self.filters.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn filters_mut(&self) -> std::sync::RwLockWriteGuard<'_, Filters> {
        self.filters.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.staged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no stored alert (nor one of the open transaction) can have either name.
    /// `false` when unsure, which only costs a lookup. Writer thread only: names move from
    /// the staged set into the filters on that thread.
    pub(crate) fn surely_new(&self, id: i64, provider_key: Option<i64>) -> bool {
        let filters = self.filters();
        let Some(f) = filters.answering.as_ref() else {
            return false;
        };
        let staged = self.staged();
        let absent = |digest: i64| {
            let h = key(digest);
            !f.bloom.contains_hash(h) && !staged.contains(&h)
        };
        absent(id) && provider_key.is_none_or(absent)
    }

    /// Records the names of an alert the writer's open transaction inserts (writer thread).
    pub(crate) fn stage(&self, id: i64, provider_key: Option<i64>) {
        let mut staged = self.staged();
        staged.insert(key(id));
        if let Some(k) = provider_key {
            staged.insert(key(k));
        }
    }

    /// The writer's transaction committed: its names go into every filter, answering or
    /// being filled, and only then leave the staged set, so no filter answers without them
    /// at any moment. Starts a larger filter once the answering one has taken as many names
    /// as it should before growing, and tries the first one again, a while after filling it
    /// failed. Writer thread only, like [`KnownNames::stage`] and [`KnownNames::reset`].
    pub(crate) fn committed(self: &Arc<Self>) {
        let next = {
            let filters = self.filters();
            let mut staged = self.staged();
            for f in filters.answering.iter().chain(filters.filling.iter()) {
                for h in staged.iter() {
                    f.add(*h);
                }
            }
            staged.clear();
            if self.closed.load(Ordering::Acquire) {
                None
            } else {
                match (&filters.answering, &filters.filling) {
                    (Some(f), None)
                        if f.added.load(Ordering::Relaxed) > f.grow_at.load(Ordering::Relaxed) =>
                    {
                        Some(2 * f.capacity)
                    }
                    (None, None) => {
                        let waited = self.commits_since_failure.fetch_add(1, Ordering::Relaxed);
                        (waited >= RETRY_AFTER_COMMITS)
                            .then(|| self.capacity_from(self.last_stored.load(Ordering::Relaxed)))
                    }
                    _ => None,
                }
            }
        };
        if let Some(capacity) = next {
            let f = Filter::new(capacity);
            self.filters_mut().filling = Some(Arc::clone(&f));
            self.spawn_fill(f);
        }
    }

    /// Room for `stored` alerts to double (an alert has up to two names), within bounds.
    fn capacity_from(&self, stored: usize) -> usize {
        stored
            .saturating_mul(4)
            .clamp(self.min_capacity.load(Ordering::Relaxed), MAX_CAPACITY)
    }

    /// Drops every filter and starts filling a new one from the table: for when this process
    /// claims the store (another process may have written before). Runs on the writer thread,
    /// so no commit of this process falls between the swap and the scan's snapshot unseen.
    pub(crate) fn reset(self: &Arc<Self>, conn: &Connection) -> Result<(), StoreError> {
        // Alerts are not deleted, so the highest rowid is at least their count (a cheap
        // upper bound: rowids may skip).
        let stored: Option<i64> =
            conn.query_row("SELECT max(rid) FROM alerts", [], |r| r.get(0))?;
        let stored = usize::try_from(stored.unwrap_or(0)).unwrap_or(0);
        self.last_stored.store(stored, Ordering::Relaxed);
        let f = Filter::new(self.capacity_from(stored));
        *self.filters_mut() = Filters {
            answering: None,
            filling: Some(Arc::clone(&f)),
        };
        self.spawn_fill(f);
        Ok(())
    }

    /// Stops filling threads at their next check.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Whether `f` is still the filter being filled, and the store open.
    fn wanted(&self, f: &Arc<Filter>) -> bool {
        !self.closed.load(Ordering::Acquire) && self.filters().is_filling(f)
    }

    fn spawn_fill(self: &Arc<Self>, f: Arc<Filter>) {
        self.commits_since_failure.store(0, Ordering::Relaxed);
        let known = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("rampart-known".into())
            .spawn(move || {
                // A fill that panics is given up like one that fails, so growth and the
                // retry of a first filter can start again.
                let run = std::panic::AssertUnwindSafe(|| known.fill_and_answer(&f));
                if std::panic::catch_unwind(run).is_err() {
                    known.abandon(Some(&f));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread to list stored alert ids; ingest looks each one up");
            self.abandon(None);
        }
    }

    fn fill_and_answer(&self, f: &Arc<Filter>) {
        let started = std::time::Instant::now();
        match self.fill(f) {
            Ok(true) => {
                let mut filters = self.filters_mut();
                if filters.is_filling(f) {
                    filters.filling = None;
                    filters.answering = Some(Arc::clone(f));
                    tracing::debug!(
                        names = f.added.load(Ordering::Relaxed),
                        capacity = f.capacity,
                        ms = started.elapsed().as_millis() as u64,
                        "listed stored alert ids for ingest"
                    );
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot list stored alert ids; ingest looks each one up");
                self.abandon(Some(f));
            }
        }
    }

    /// Filling `f` failed (or `None`: could not start): stop filling it, and let the
    /// answering filter, if any, grow only when it has taken as many names again.
    fn abandon(&self, f: Option<&Arc<Filter>>) {
        let mut filters = self.filters_mut();
        if f.is_none_or(|f| filters.is_filling(f)) {
            filters.filling = None;
            if let Some(a) = &filters.answering {
                let added = a.added.load(Ordering::Relaxed);
                a.grow_at.store(2 * added, Ordering::Relaxed);
            }
        }
    }

    /// Adds every stored name to `f`, from one snapshot; `false` if `f` stopped being wanted.
    fn fill(&self, f: &Arc<Filter>) -> rusqlite::Result<bool> {
        if !self.wanted(f) {
            return Ok(false);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Every read below is of one snapshot, taken at the first, after `f` was installed.
        conn.execute_batch("BEGIN")?;
        #[cfg(test)]
        self.held(HoldPoint::BeforeSnapshot);
        let newest: Option<i64> =
            conn.query_row("SELECT max(rid) FROM alerts", [], |r| r.get(0))?;
        #[cfg(test)]
        self.held(HoldPoint::AfterSnapshot);
        // The sealed parts' names, from the entity index; the part being filled, from its
        // rows (the transaction that began a part sealed the one before).
        let base = (newest.unwrap_or(0) >> self.shift) << self.shift;
        let mut digests = conn.prepare(&format!(
            "SELECT e.value_hash FROM {IN_EVERY_PART} \
             AND e.kind IN ({ALERT_ID}, {PROVIDER_KEY}) AND e.rid < ?1"
        ))?;
        let mut rows = digests.query([base])?;
        // Both scans check every ROWS_PER_CHECK rows that the filter is still wanted.
        let mut n = 0usize;
        let mut given_up = || {
            n += 1;
            n.is_multiple_of(ROWS_PER_CHECK) && !self.wanted(f)
        };
        while let Some(row) = rows.next()? {
            f.add(key(row.get(0)?));
            if given_up() {
                return Ok(false);
            }
        }
        let mut newest = conn.prepare("SELECT id, provider_key FROM alerts WHERE rid >= ?1")?;
        let mut rows = newest.query([base])?;
        while let Some(row) = rows.next()? {
            f.add(key(value_hash(row.get_ref(0)?.as_str()?)));
            if let Some(k) = row.get_ref(1)?.as_str_or_null()? {
                f.add(key(value_hash(k)));
            }
            if given_up() {
                return Ok(false);
            }
        }
        conn.execute_batch("COMMIT")?;
        Ok(self.wanted(f))
    }

    /// Whether a filter answers and none is being filled (tests wait for it).
    #[cfg(test)]
    pub(crate) fn settled(&self) -> bool {
        let filters = self.filters();
        filters.answering.is_some() && filters.filling.is_none()
    }

    /// Holds the next fill at `at`: it sends on `reached` and waits for `resume`.
    #[cfg(test)]
    pub(crate) fn hold_at(
        &self,
        at: HoldPoint,
        reached: std::sync::mpsc::Sender<()>,
        resume: std::sync::mpsc::Receiver<()>,
    ) {
        *self.hold.lock().unwrap_or_else(PoisonError::into_inner) = Some(Hold {
            at,
            reached,
            resume,
        });
    }

    #[cfg(test)]
    fn held(&self, here: HoldPoint) {
        let mut slot = self.hold.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|h| h.at == here) {
            if let Some(h) = slot.take() {
                drop(slot);
                let _ = h.reached.send(());
                let _ = h.resume.recv();
            }
        }
    }

    /// Whether no filter is being filled (tests wait for a failed fill to be given up).
    #[cfg(test)]
    pub(crate) fn idle(&self) -> bool {
        self.filters().filling.is_none()
    }

    /// Makes later filters as small as `names` (tests see filters grow).
    #[cfg(test)]
    pub(crate) fn set_min_capacity(&self, names: usize) {
        self.min_capacity.store(names, Ordering::Relaxed);
    }

    /// The capacity of the answering filter (tests check growth).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.filters().answering.as_ref().map_or(0, |f| f.capacity)
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

    /// A name's digest, as ingest hands it to the filter.
    fn h(name: &str) -> i64 {
        crate::entity_index::value_hash(name)
    }

    /// How many of alerts `range`, named with `prefix`, the filter is sure are new.
    fn sure(k: &KnownNames, prefix: &str, range: std::ops::Range<i64>) -> usize {
        range
            .filter(|n| k.surely_new(h(&format!("{prefix}{n}")), None))
            .count()
    }

    /// A closed store holding alerts `0..n`, and its database file.
    async fn closed_store(n: i64) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        put(&s, (0..n).map(alert).collect()).await;
        drop(s);
        let db = dir.path().join("rampart.db");
        (dir, db)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stored_names_are_known_and_new_ones_are_not() {
        let (_dir, db) = closed_store(300).await;
        let k = KnownNames::new(&db, 8, crate::entity_index::PART_SHIFT);
        assert!(
            !k.surely_new(h("da-kn-999"), None),
            "without a filter, it is never sure"
        );
        k.reset(&rusqlite::Connection::open(&db).unwrap()).unwrap();
        ready(&k).await;
        assert!(
            k.capacity() >= 1200,
            "sized for the stored alerts: {}",
            k.capacity()
        );
        for n in 0..300 {
            assert!(!k.surely_new(h(&format!("da-kn-{n}")), None));
            // Either name is enough.
            let key = format!("microsoftDefenderForEndpoint\u{1f}p-{n}");
            assert!(!k.surely_new(h("da-unseen"), Some(h(&key))));
        }
        let surely = sure(&k, "da-kn-", 1000..2000);
        assert!(
            surely > 950,
            "false positives are rare: {surely} of 1000 sure"
        );
        // Staged names count at once, for the rest of their transaction.
        k.stage(h("da-kn-5000"), None);
        assert!(!k.surely_new(h("da-kn-5000"), None));
        k.committed();
        assert!(!k.surely_new(h("da-kn-5000"), None));
    }

    /// Filters are replaced, and grow, while alerts keep coming; every re-send, by id or by
    /// provider key only, still finds its alert.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resends_find_their_alert_while_filters_are_rebuilt_and_grow() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        s.claim_writer().await.unwrap();
        ready(&s.known).await;
        s.known.set_min_capacity(16);
        let conn = rusqlite::Connection::open(dir.path().join("rampart.db")).unwrap();
        s.known.reset(&conn).unwrap();
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
        ready(&s.known).await;
        assert!(s.known.capacity() >= 512, "grew: {}", s.known.capacity());
        let surely = sure(&s.known, "da-unseen-", 0..100);
        assert!(
            surely > 80,
            "the grown filter answers: {surely} of 100 sure"
        );
        assert!(!s.known.surely_new(h("da-kn-999"), None));
        // Reopened, the filter is filled from the table again when the store is claimed.
        drop(s);
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        s.claim_writer().await.unwrap();
        ready(&s.known).await;
        let again = put(&s, (0..1000).map(alert).collect()).await;
        assert!(again.iter().all(|o| *o == IngestOutcome::Updated));
        assert_eq!(s.count_alerts().await.unwrap(), 1000);
    }

    /// Alerts committed while a fill is held, before its snapshot or after it, and re-sends
    /// of them during and after the fill, all find their alert.
    async fn commits_during_a_fill(at: super::HoldPoint) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        s.claim_writer().await.unwrap();
        ready(&s.known).await;
        put(&s, (0..50).map(alert).collect()).await;
        let (reached_tx, reached) = std::sync::mpsc::channel();
        let (resume, resume_rx) = std::sync::mpsc::channel();
        s.known.hold_at(at, reached_tx, resume_rx);
        let conn = rusqlite::Connection::open(dir.path().join("rampart.db")).unwrap();
        s.known.reset(&conn).unwrap();
        tokio::task::spawn_blocking(move || reached.recv())
            .await
            .unwrap()
            .unwrap();
        // The fill is held: nothing answers, so everything is looked up.
        let fresh = put(&s, (50..100).map(alert).collect()).await;
        assert!(fresh.iter().all(|o| *o == IngestOutcome::Created), "{at:?}");
        let again = put(&s, (0..100).map(alert).collect()).await;
        assert!(again.iter().all(|o| *o == IngestOutcome::Updated), "{at:?}");
        resume.send(()).unwrap();
        ready(&s.known).await;
        for n in [0, 49, 50, 99] {
            assert!(
                !s.known.surely_new(h(&format!("da-kn-{n}")), None),
                "{at:?} {n}"
            );
        }
        let again = put(&s, (0..100).map(alert).collect()).await;
        assert!(again.iter().all(|o| *o == IngestOutcome::Updated), "{at:?}");
        let keyed = put(&s, (0..100).map(by_key).collect()).await;
        assert!(keyed.iter().all(|o| *o == IngestOutcome::Updated), "{at:?}");
        assert_eq!(s.count_alerts().await.unwrap(), 100);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_before_the_fill_snapshot_are_scanned() {
        commits_during_a_fill(super::HoldPoint::BeforeSnapshot).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_after_the_fill_snapshot_are_added_by_the_writer() {
        commits_during_a_fill(super::HoldPoint::AfterSnapshot).await;
    }

    /// A first filter that could not be filled is tried again after enough commits; until
    /// then nothing is sure.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_first_fill_is_tried_again() {
        let (dir, db) = closed_store(10).await;
        // The filling thread reads a file that is not there yet.
        let later = dir.path().join("later.db");
        let k = KnownNames::new(&later, 8, crate::entity_index::PART_SHIFT);
        k.reset(&rusqlite::Connection::open(&db).unwrap()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !k.idle() {
            assert!(
                Instant::now() < deadline,
                "the failed fill was never given up"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            !k.surely_new(h("da-unseen"), None),
            "no filter, nothing is sure"
        );
        std::fs::copy(&db, &later).unwrap();
        for _ in 0..=super::RETRY_AFTER_COMMITS {
            k.committed();
        }
        ready(&k).await;
        let surely = sure(&k, "da-unseen-", 0..100);
        assert!(
            surely > 80,
            "the retried filter answers: {surely} of 100 sure"
        );
        assert!(!k.surely_new(h("da-kn-3"), None));
    }

    /// A store opened before another process stored alerts builds its filter when it claims
    /// the directory, so the other process's alerts are known: their re-sends update them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_another_process_stored_before_the_claim_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let late = SqliteStore::open_dir(dir.path()).unwrap();
        {
            let early = SqliteStore::open_dir(dir.path()).unwrap();
            put(&early, (0..200).map(alert).collect()).await;
            ready(&early.known).await;
        }
        late.claim_writer().await.unwrap();
        ready(&late.known).await;
        for n in [0, 99, 199] {
            assert!(!late.known.surely_new(h(&format!("da-kn-{n}")), None));
        }
        let again = put(&late, (0..200).map(alert).collect()).await;
        assert!(again.iter().all(|o| *o == IngestOutcome::Updated));
        let keyed = put(&late, (0..200).map(by_key).collect()).await;
        assert!(keyed.iter().all(|o| *o == IngestOutcome::Updated));
        assert_eq!(late.count_alerts().await.unwrap(), 200);
    }
}
