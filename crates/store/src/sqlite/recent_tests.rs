//! The in-memory part of the entity index (`recent.rs`) with parts of four alerts, so a few
//! alerts cross part boundaries: lookups before and after a part is sealed, across a
//! restart, for re-sends into sealed parts, and what a failed job or transaction leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::recent::RecentIndex;
use super::SqliteStore;
use crate::conformance::{matching_ids, on_devices};
use crate::entity_index::value_hash;
use crate::Store;
use rampart_domain::condition::parse;
use rampart_domain::correlate::CorrelationConfig;
use rampart_domain::history::Actor;
use rampart_domain::timestamp::Timestamp;
use rusqlite::Connection;
use std::path::Path;

/// Four alerts per part.
const SHIFT: u32 = 2;

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap()
}

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open_parted(&dir.join("rampart.db"), CorrelationConfig::default(), SHIFT).unwrap()
}

/// Alert `n` names `dev-{n % 3}` and `all`.
async fn put(s: &SqliteStore, range: std::ops::Range<i64>) {
    let batch = range
        .map(|n| {
            let dev = format!("dev-{}", n % 3);
            on_devices(&format!("da-r-{n}"), t0(), n, &[dev.as_str(), "all"])
        })
        .collect();
    s.ingest(batch, Actor::producer("p"), t0()).await.unwrap();
}

async fn ids(s: &SqliteStore, q: &str) -> Vec<String> {
    matching_ids(s, parse(q).unwrap(), t0()).await
}

fn expected(range: std::ops::Range<i64>, keep: impl Fn(i64) -> bool) -> Vec<String> {
    let mut v: Vec<String> = range
        .filter(|n| keep(*n))
        .map(|n| format!("da-r-{n}"))
        .collect();
    v.sort();
    v
}

/// (part, rows) of the entity table.
fn table_parts(dir: &Path) -> Vec<(i64, i64)> {
    let conn = Connection::open(dir.join("rampart.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT part, count(*) FROM entities GROUP BY part ORDER BY part")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn check_lookups(s: &SqliteStore, range: std::ops::Range<i64>) {
    assert_eq!(
        ids(s, "entity.device:dev-1").await,
        expected(range.clone(), |n| n % 3 == 1)
    );
    assert_eq!(
        ids(s, "entity.device:dev-0,dev-2").await,
        expected(range.clone(), |n| n % 3 != 1)
    );
    assert_eq!(
        ids(s, "-entity.device:dev-2").await,
        expected(range.clone(), |n| n % 3 != 2)
    );
    assert_eq!(
        ids(s, "entity.device:all").await,
        expected(range.clone(), |_| true)
    );
    // By name, whichever part the alert's id is filed in.
    for n in range.clone() {
        let id = format!("da-r-{n}");
        let got = s.get_alert(&id).await.unwrap().map(|a| a.record.id);
        assert_eq!(got.as_deref(), Some(id.as_str()));
    }
    let (first, last) = (range.start, range.end - 1);
    assert_eq!(
        ids(s, &format!("id:da-r-{first},da-r-{last},da-r-none")).await,
        expected(range, |n| n == first || n == last)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_agree_before_and_after_parts_are_sealed_and_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        // rids 1–3, one request each: all in part 0, in memory.
        for n in 0..3 {
            put(&s, n..n + 1).await;
            check_lookups(&s, 0..n + 1).await;
        }
        assert_eq!(table_parts(dir.path()), vec![]);
        // rids 4–10 in one request: it seals parts 0 and 1 and begins part 2.
        put(&s, 3..10).await;
        check_lookups(&s, 0..10).await;
        // Three rows (its device, `all` and its id) per alert of the sealed parts: rids 1–3
        // and 4–7.
        assert_eq!(table_parts(dir.path()), vec![(0, 9), (1, 12)]);
    }
    // Reopened: part 2 (rids 8–10) is rebuilt from the alerts' keys.
    let s = open(dir.path());
    check_lookups(&s, 0..10).await;
    // rid 11 fills part 2, rid 12 seals it: the rows rebuilt at opening reach the table.
    put(&s, 10..12).await;
    check_lookups(&s, 0..12).await;
    assert_eq!(table_parts(dir.path()), vec![(0, 9), (1, 12), (2, 12)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resends_index_new_entities_in_sealed_and_open_parts() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    put(&s, 0..10).await;
    let p = Actor::producer("p");
    // da-r-0 (rid 1) is in sealed part 0; da-r-9 (rid 10) in the part being filled.
    for (n, dev) in [(0, "late-sealed"), (9, "late-open")] {
        let mut again = on_devices(&format!("da-r-{n}"), t0(), n, &["dev-x", dev]);
        // A changed document (an identical one is a retry that changes nothing).
        again.document = format!(r#"{{"evidence":"{dev}"}}"#).into_bytes().into();
        s.ingest(vec![again], p.clone(), t0()).await.unwrap();
    }
    assert_eq!(ids(&s, "entity.device:late-sealed").await, vec!["da-r-0"]);
    assert_eq!(ids(&s, "entity.device:late-open").await, vec!["da-r-9"]);
    assert_eq!(
        ids(&s, "entity.device:dev-x").await,
        vec!["da-r-0", "da-r-9"]
    );
    // The old keys stay: a re-send adds entities, it never removes them.
    assert!(ids(&s, "entity.device:dev-0")
        .await
        .contains(&"da-r-0".to_string()));
    drop(s);
    let s = open(dir.path());
    assert_eq!(ids(&s, "entity.device:late-open").await, vec!["da-r-9"]);
    assert_eq!(ids(&s, "entity.device:late-sealed").await, vec!["da-r-0"]);
}

/// An empty store's schema on a bare connection, for driving the index by hand.
fn bare(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join("rampart.db")).unwrap();
    super::configure(&conn).unwrap();
    super::migrate(&conn).unwrap();
    conn
}

fn row(rid: i64, value: &str) -> (i64, i64, i64, i64) {
    (rid >> SHIFT, 1, value_hash(value), rid)
}

fn found(r: &RecentIndex, value: &str, staged: bool) -> Vec<rusqlite::types::Value> {
    r.rids(1, &[value_hash(value)], staged)
}

/// Adds rows of alerts the test inserts: the newest rowid is the highest row's.
fn add_rows(r: &RecentIndex, conn: &Connection, rows: &[(i64, i64, i64, i64)]) {
    r.add(conn, rows, rows.iter().map(|x| x.3).max()).unwrap();
}

fn table_rows(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM entities", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_failed_job_or_transaction_leaves_nothing_behind() {
    use rusqlite::types::Value::Integer;
    let dir = tempfile::tempdir().unwrap();
    let conn = bare(dir.path());
    let r = RecentIndex::load(&conn, SHIFT).unwrap();

    // A job that stages part 0, seals it by reaching part 1, then fails: its savepoint is
    // rolled back and the job rewinds what it staged.
    conn.execute_batch("BEGIN; SAVEPOINT job").unwrap();
    let mark = r.mark();
    add_rows(&r, &conn, &[row(1, "a"), row(2, "a")]);
    add_rows(&r, &conn, &[row(4, "a")]);
    assert_eq!(table_rows(&conn), 2, "the seal wrote part 0");
    assert_eq!(
        found(&r, "a", true).len(),
        3,
        "the writer sees its own rows"
    );
    assert!(found(&r, "a", false).is_empty(), "readers do not, yet");
    conn.execute_batch("ROLLBACK TO job; RELEASE job").unwrap();
    r.rewind(mark);
    assert!(found(&r, "a", true).is_empty());

    // The next job of the same transaction succeeds; the transaction commits.
    add_rows(&r, &conn, &[row(1, "b"), row(3, "b")]);
    conn.execute_batch("COMMIT").unwrap();
    r.committed();
    assert_eq!(found(&r, "b", false), vec![Integer(1), Integer(3)]);
    assert!(found(&r, "a", false).is_empty());
    assert_eq!(table_rows(&conn), 0, "part 0 is still being filled");

    // A transaction that seals part 0 and then fails as a whole.
    conn.execute_batch("BEGIN").unwrap();
    add_rows(&r, &conn, &[row(5, "c")]);
    conn.execute_batch("ROLLBACK").unwrap();
    r.rolled_back();
    assert_eq!(table_rows(&conn), 0);
    assert!(found(&r, "c", true).is_empty());
    assert_eq!(found(&r, "b", false), vec![Integer(1), Integer(3)]);

    // Sealed for real: part 0 moves to the table and only part 1 stays in memory.
    conn.execute_batch("BEGIN").unwrap();
    add_rows(&r, &conn, &[row(5, "c"), row(6, "b")]);
    conn.execute_batch("COMMIT").unwrap();
    r.committed();
    assert_eq!(table_rows(&conn), 2);
    assert_eq!(found(&r, "b", false), vec![Integer(6)]);
    assert_eq!(found(&r, "c", false), vec![Integer(5)]);
}

#[test]
fn many_small_commits_keep_few_runs_and_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let conn = bare(dir.path());
    let r = RecentIndex::load(&conn, 16).unwrap();
    for rid in 1..=5_000i64 {
        let v = format!("v-{}", rid % 7);
        add_rows(&r, &conn, &[(0, 1, value_hash(&v), rid)]);
        r.committed();
    }
    for k in 0..7 {
        let got = r.rids(1, &[value_hash(&format!("v-{k}"))], false);
        let want = (1..=5_000i64).filter(|rid| rid % 7 == k).count();
        assert_eq!(got.len(), want, "v-{k}");
    }
    assert!(r.runs() <= 14, "{} runs", r.runs());
}

#[test]
fn a_seal_writes_every_row_in_full_and_partial_statements() {
    let dir = tempfile::tempdir().unwrap();
    let conn = bare(dir.path());
    let r = RecentIndex::load(&conn, SHIFT).unwrap();
    // 3 alerts × 100 values = 300 rows: two full statements of 128 rows and 44 single ones.
    let rows: Vec<_> = (1..=3)
        .flat_map(|rid| (0..100).map(move |v| row(rid, &format!("v-{v}"))))
        .collect();
    let mut sorted = rows.clone();
    sorted.sort_unstable();
    add_rows(&r, &conn, &sorted);
    r.committed();
    assert_eq!(table_rows(&conn), 0);
    add_rows(&r, &conn, &[row(4, "v-0")]);
    r.committed();
    assert_eq!(table_rows(&conn), 300);
    for v in [0, 57, 99] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM entities WHERE part = 0 AND kind = 1 AND value_hash = ?1",
                [value_hash(&format!("v-{v}"))],
                |x| x.get(0),
            )
            .unwrap();
        assert_eq!(n, 3, "v-{v}");
    }
    let parts: i64 = conn
        .query_row("SELECT count(*) FROM entity_parts", [], |x| x.get(0))
        .unwrap();
    assert_eq!(parts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_without_entities_that_open_a_part_seal_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        put(&s, 0..3).await;
        // rid 4 opens part 1 and names nothing: part 0 must reach the table all the same,
        // since opening rebuilds only the part of the highest rowid.
        let bare = on_devices("da-r-bare", t0(), 3, &[]);
        s.ingest(vec![bare], Actor::producer("p"), t0())
            .await
            .unwrap();
        assert_eq!(table_parts(dir.path()), vec![(0, 9)]);
    }
    let s = open(dir.path());
    for d in 0..3 {
        let q = format!("entity.device:dev-{d}");
        assert_eq!(ids(&s, &q).await, vec![format!("da-r-{d}")], "{q}");
    }
    assert_eq!(ids(&s, "entity.device:all").await, expected(0..3, |_| true));
}

/// Two processes on one data directory (two stores in one test stand for them: the lock is
/// per open file): the second cannot ingest, correlate or change incidents while the first
/// holds the directory, and is told what to do instead; a failed attempt stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let second = open(dir.path());
    put(&first, 0..2).await;
    let err = second
        .ingest(
            vec![on_devices("da-other", t0(), 0, &["dev-0"])],
            Actor::producer("p"),
            t0(),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, crate::StoreError::Unavailable(_)), "{msg}");
    assert!(msg.contains("another rampart process"), "{msg}");
    assert!(msg.contains("/api/v1/alerts/bulk"), "{msg}");
    let refused = second
        .correlate(Timestamp::from_micros(0), t0())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("another rampart process"));
    // Reads do not need the lock. Entity rows the first still holds in memory are not
    // visible here until this process claims the directory (see `claim.rs`).
    assert_eq!(second.count_alerts().await.unwrap(), 2);
    assert!(dir.path().join("rampart.db-lock").exists());
    // Once the first is gone, the second may write, and reads what the first left.
    drop(first);
    put(&second, 2..3).await;
    assert_eq!(second.count_alerts().await.unwrap(), 3);
    check_lookups(&second, 0..3).await;
}

/// A process that opened the store before another one ingested takes over the part of the
/// entity index being filled from the stored alerts when it claims the directory. Before,
/// it sealed the part from its own memory and the other process's rows were lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_reads_what_another_process_left_in_the_open_part() {
    let dir = tempfile::tempdir().unwrap();
    let late = open(dir.path());
    {
        let early = open(dir.path());
        // rids 1–2: part 0, in `early`'s memory only.
        put(&early, 0..2).await;
        assert_eq!(table_parts(dir.path()), vec![]);
    }
    // `late` claims the directory, then rids 3–6 fill part 0 and seal it.
    put(&late, 2..6).await;
    check_lookups(&late, 0..6).await;
    assert_eq!(
        table_parts(dir.path()),
        vec![(0, 9)],
        "the sealed part holds the rows of rids 1–3, the other process's included"
    );
    drop(late);
    check_lookups(&open(dir.path()), 0..6).await;
}

#[test]
fn names_staged_by_a_failed_job_are_dropped_and_the_rest_still_found() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    let r = RecentIndex::load(&conn, SHIFT).unwrap();
    let (id, key) = (
        crate::entity_index::ALERT_ID,
        crate::entity_index::PROVIDER_KEY,
    );
    r.stage_name(id, 11, 1);
    r.stage_name(key, 12, 1);
    let mark = r.mark();
    // A second job stages a name already staged (a digest shared by two ids) and a new one,
    // then fails.
    r.stage_name(id, 11, 2);
    r.stage_name(id, 13, 2);
    assert_eq!(r.rids_json(id, 11), "[1,2]");
    r.rewind(mark);
    assert_eq!(r.rids_json(id, 11), "[1]");
    assert_eq!(r.rids_json(id, 13), "[]");
    assert_eq!(r.rids_json(key, 12), "[1]");
    // Committed, the names are published only through the batch's rows (none here).
    r.committed();
    assert_eq!(r.rids_json(id, 11), "[]");
}
