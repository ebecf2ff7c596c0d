//! Roll-ups that ingest owes: deferred for real, settled before every read and write of
//! incidents, written when the store closes, and mended after the engine or the process
//! lost them.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::rebuild_tests::wrong_rollups;
use super::{forget, SqliteStore};
use crate::conformance::{grant, incident_of, on_devices};
use crate::Store;
use rampart_domain::access::Permission;
use rampart_domain::history::Actor;
use rampart_domain::incident::{IncidentChange, IncidentStatus};
use rampart_domain::timestamp::Timestamp;
use rusqlite::Connection;
use std::path::Path;

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap()
}

/// The alert count of incident `id` as another connection (a backup, `sqlite3`) sees it;
/// `None` if it has no row.
fn stored_count(dir: &Path, id: &str) -> Option<i64> {
    let conn = Connection::open(dir.join("rampart.db")).unwrap();
    conn.query_row(
        "SELECT alert_count FROM incidents WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .ok()
}

/// Whether every stored alert's roll-ups are recorded as written.
fn all_settled(dir: &Path) -> bool {
    let conn = Connection::open(dir.join("rampart.db")).unwrap();
    conn.query_row(
        "SELECT through_rid = (SELECT max(rid) FROM alerts) FROM rollups_settled",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Stores one alert on `device`, `minute`s after [`t0`].
async fn store(s: &SqliteStore, id: &str, minute: i64, device: &str) {
    s.ingest(
        vec![on_devices(id, t0(), minute, &[device])],
        Actor::producer("p"),
        t0(),
    )
    .await
    .unwrap();
}

/// Two alerts on one device, in two batches: one incident of two alerts.
async fn two_batches(s: &SqliteStore) -> String {
    store(s, "da-owe-0", 0, "owe-1").await;
    store(s, "da-owe-1", 5, "owe-1").await;
    let inc = incident_of(s, "da-owe-0").await;
    assert_eq!(incident_of(s, "da-owe-1").await, inc);
    inc
}

/// A third alert on the incident's device joins it, and every incident's totals agree with
/// its alerts.
async fn third_alert_joins(s: &SqliteStore, dir: &Path, inc: &str) {
    store(s, "da-owe-2", 9, "owe-1").await;
    assert_eq!(incident_of(s, "da-owe-2").await, inc);
    let read = s.get_incident(inc).await.unwrap().unwrap().incident;
    assert_eq!(read.alert_count, 3);
    let conn = Connection::open(dir.join("rampart.db")).unwrap();
    assert_eq!(wrong_rollups(&conn), 0);
}

/// An operator, and a change that sets an incident in progress.
fn in_progress() -> (rampart_domain::access::Grant, IncidentChange) {
    let change = IncidentChange {
        status: Some(IncidentStatus::InProgress),
        ..IncidentChange::default()
    };
    (
        grant("Security operator", None, Permission::IncidentsManage),
        change,
    )
}

/// That change with a stale version: refused after it settled.
async fn refused_change(s: &SqliteStore, inc: &str) {
    let (operator, change) = in_progress();
    let stale = s
        .update_incident(&operator, inc, &change, 7, None, t0())
        .await;
    assert!(stale.is_err(), "{stale:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_owes_rollups_and_a_reader_settles_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    store(&s, "da-owe-a", 0, "owe-a").await;
    let inc = incident_of(&s, "da-owe-a").await;
    // Owed, not written: the batch's incident has no row yet.
    assert_eq!(stored_count(dir.path(), &inc), None);
    assert!(!all_settled(dir.path()));
    let read = s.get_incident(&inc).await.unwrap().unwrap();
    assert_eq!(read.incident.alert_count, 1);
    assert_eq!(stored_count(dir.path(), &inc), Some(1));
    assert!(all_settled(dir.path()));

    let inc = two_batches(&s).await;
    let page = s
        .list_incidents(&crate::incidents::IncidentQuery {
            now: t0(),
            page_size: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let listed = page.items.iter().find(|i| i.id == inc).unwrap();
    assert_eq!(listed.alert_count, 2);
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    assert_eq!(wrong_rollups(&conn), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_writes_what_is_owed() {
    let dir = tempfile::tempdir().unwrap();
    let inc = {
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        two_batches(&s).await
    };
    assert_eq!(stored_count(dir.path(), &inc), Some(2));
    assert!(all_settled(dir.path()));
}

/// A failed write forgets the engine with its debts; the next reader mends them from the
/// alerts, and ingest goes on linking to the mended incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debts_forgotten_with_the_engine_are_mended() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let inc = two_batches(&s).await;
    assert_eq!(stored_count(dir.path(), &inc), None);
    forget(&s.engine);
    let read = s.get_incident(&inc).await.unwrap().unwrap().incident;
    assert_eq!(read.alert_count, 2);
    assert_eq!(read.status, IncidentStatus::Active);
    assert_eq!(read.created, t0(), "opened when its first alert was stored");
    third_alert_joins(&s, dir.path(), &inc).await;
}

/// What a crash leaves on disk (alerts stored, their incidents' rows behind or missing,
/// the record of what was written behind) is mended by the next process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_is_mended_by_the_next_process() {
    let dir = tempfile::tempdir().unwrap();
    let (inc, other) = {
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let inc = two_batches(&s).await;
        store(&s, "da-owe-b", 0, "owe-b").await;
        (inc, incident_of(&s, "da-owe-b").await)
    };
    {
        let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
        conn.execute_batch(&format!(
            "UPDATE incidents SET alert_count = 1, active_count = 1 WHERE id = '{inc}';
             DELETE FROM incidents WHERE id = '{other}';
             UPDATE rollups_settled SET through_rid = (SELECT min(rid) FROM alerts);"
        ))
        .unwrap();
    }
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    s.warm_up().await.unwrap();
    let read = |id: String| {
        let s = &s;
        async move { s.get_incident(&id).await.unwrap().unwrap().incident }
    };
    assert_eq!(read(inc).await.alert_count, 2);
    assert_eq!(read(other).await.alert_count, 1);
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    assert_eq!(wrong_rollups(&conn), 0);
    assert!(all_settled(dir.path()));
}

/// A change refused after settling (a stale version) takes the settling writes back with
/// it; the debts go back to the engine, which is kept, not reloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_keeps_the_debts_and_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let inc = two_batches(&s).await;
    refused_change(&s, &inc).await;
    assert!(s.engine.lock().unwrap().is_some(), "the engine was kept");
    assert_eq!(stored_count(dir.path(), &inc), None, "still owed");
    let read = s.get_incident(&inc).await.unwrap().unwrap().incident;
    assert_eq!(read.alert_count, 2);
    let (operator, change) = in_progress();
    let changed = s
        .update_incident(&operator, &inc, &change, read.version, None, t0())
        .await
        .unwrap();
    assert_eq!(
        (changed.alert_count, changed.status),
        (2, IncidentStatus::InProgress)
    );
}

/// A refused change that found the engine gone mends what it owed and then loses the
/// mending with its rollback: the engine it loaded goes too, so the next settle mends again
/// instead of trusting an engine that owes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_after_a_lost_engine_still_gets_the_debts_mended() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let inc = two_batches(&s).await;
    forget(&s.engine);
    refused_change(&s, &inc).await;
    third_alert_joins(&s, dir.path(), &inc).await;
}

/// An alert that links to the incident a split has just opened (and written), then a
/// merge of that incident later in the batch: the split's incident is not taken for one
/// ingest has yet to write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_an_incident_a_split_opened_is_owed_as_to_a_written_one() {
    use crate::conformance::{new_alert, record};
    use rampart_domain::correlate::CorrelationConfig;
    use rampart_domain::entity::{EntityKey, EntityKind};
    let key = |kind, value: &str| EntityKey {
        kind,
        value: value.into(),
    };
    let alert = |id: &str, minute: i64, devices: &[&str], user: Option<&str>| {
        let at = Timestamp::from_micros(t0().micros() + minute * 60_000_000);
        let mut keys: Vec<EntityKey> = devices.iter().map(|d| key(EntityKind::Device, d)).collect();
        keys.extend(user.map(|u| key(EntityKind::User, u)));
        new_alert(record(id, None, at), keys, b"{}")
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = CorrelationConfig {
        max_prevalence: 2,
        ..CorrelationConfig::default()
    };
    let s = SqliteStore::open_dir_with(dir.path(), cfg).unwrap();
    let lena = Some("corp\\lena");
    // P: two hosts joined only by lena's account; Q: three alerts on one host.
    let first = vec![
        alert("da-sp-1", 0, &["sp-h1"], lena),
        alert("da-sp-2", 1, &["sp-h2"], lena),
        alert("da-sp-q1", 2, &["sp-h9"], None),
        alert("da-sp-q2", 3, &["sp-h9"], None),
        alert("da-sp-q3", 4, &["sp-h9"], None),
    ];
    s.ingest(first, Actor::producer("p"), t0()).await.unwrap();
    let q = incident_of(&s, "da-sp-q1").await;
    // lena on a third host turns her account common: P splits, and sp-h2's alert moves to
    // a new incident, which the same alert joins through sp-h2. The next alert bridges that
    // incident and Q: the larger, Q, absorbs it.
    let second = vec![
        alert("da-sp-3", 5, &["sp-h3", "sp-h2"], lena),
        alert("da-sp-4", 6, &["sp-h2", "sp-h9"], None),
    ];
    s.ingest(second, Actor::producer("p"), t0()).await.unwrap();
    for id in ["da-sp-2", "da-sp-3", "da-sp-4"] {
        assert_eq!(incident_of(&s, id).await, q, "{id}");
    }
    assert_ne!(incident_of(&s, "da-sp-1").await, q);
    let read = s.get_incident(&q).await.unwrap().unwrap().incident;
    assert_eq!(read.alert_count, 6);
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    assert_eq!(wrong_rollups(&conn), 0);
}

/// With nothing more to do, the writer writes what is owed by itself, so other processes
/// and backups do not see incident rows lag for long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_writer_writes_what_is_owed() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    store(&s, "da-owe-idle", 0, "owe-idle").await;
    let inc = incident_of(&s, "da-owe-idle").await;
    // Polled, not timed: the writer waits a second without jobs, then writes.
    let mut written = false;
    for _ in 0..100 {
        if stored_count(dir.path(), &inc) == Some(1) && all_settled(dir.path()) {
            written = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(written, "still owed after ten seconds");
    drop(s);
}
