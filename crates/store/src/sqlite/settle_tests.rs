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
    store(&s, "da-owe-2", 9, "owe-1").await;
    assert_eq!(incident_of(&s, "da-owe-2").await, inc);
    let read = s.get_incident(&inc).await.unwrap().unwrap().incident;
    assert_eq!(read.alert_count, 3);
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    assert_eq!(wrong_rollups(&conn), 0);
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
    let operator = grant("Security operator", None, Permission::IncidentsManage);
    let change = IncidentChange {
        status: Some(IncidentStatus::InProgress),
        ..IncidentChange::default()
    };
    let stale = s
        .update_incident(&operator, &inc, &change, 7, None, t0())
        .await;
    assert!(stale.is_err(), "{stale:?}");
    assert!(s.engine.lock().unwrap().is_some(), "the engine was kept");
    assert_eq!(stored_count(dir.path(), &inc), None, "still owed");
    let read = s.get_incident(&inc).await.unwrap().unwrap().incident;
    assert_eq!(read.alert_count, 2);
    let changed = s
        .update_incident(&operator, &inc, &change, read.version, None, t0())
        .await
        .unwrap();
    assert_eq!(
        (changed.alert_count, changed.status),
        (2, IncidentStatus::InProgress)
    );
}
