//! The store conformance suite, once per backend. PostgreSQL joins in the next wave through
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `RAMPART_TEST_PG_URL` (DESIGN.md); until its backend exists only SQLite runs.
use rampart_store::conformance;
use rampart_store::sqlite::SqliteStore;
use rampart_store::{Store, StoreError};
use std::sync::Arc;

/// A fresh store in its own temporary directory (kept alive for the test's duration).
fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    (dir, Arc::new(store))
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (_dir, s) = sqlite();
                    conformance::$case(&*s).await;
                }
            )*
        }
    };
}

conformance!(
    insert_is_idempotent,
    resend_cannot_change_the_source,
    repeats_follow_only_names_that_exist,
    documents_read_back_byte_identical,
    keyset_paging_is_stable,
    window_scope_and_total,
    total_is_capped,
    stale_update_conflicts,
    assignment_needs_an_enabled_user,
    bulk_update_respects_scope,
    bulk_update_by_entity,
    sessions_and_tokens_end,
    recorrelation_keeps_incident_ids,
    rollups_within_one_batch,
    rollups_across_batches,
    rollups_of_a_merge_across_batches,
    severity_follows_the_active_alerts,
    resend_moves_the_incident_rollup,
    resend_with_a_new_entity_merges_incidents,
    incident_queue_filters_by_alerts,
    incident_queue_by_last_update,
    incident_comments,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_filter_sql_matches_eval() {
    let dirs = std::sync::Mutex::new(Vec::new());
    conformance::filter_sql_matches_eval(|| {
        let (dir, s) = sqlite();
        dirs.lock().unwrap().push(dir);
        async move { s }
    })
    .await;
}

#[test]
fn history_is_append_only_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open_dir(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("rampart.db")).unwrap();
    conn.execute(
        "INSERT INTO history (target_id, at, actor_kind, actor_name, action) VALUES ('a', 0, 'user', 'u', 'comment')",
        [],
    )
    .unwrap();
    assert!(conn.execute("UPDATE history SET text = 'x'", []).is_err());
    assert!(conn.execute("DELETE FROM history", []).is_err());
}

#[test]
fn reopening_runs_no_migration_twice() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open_dir(dir.path()).unwrap());
    drop(SqliteStore::open_dir(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("rampart.db")).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 14, "every migration ran once");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

/// A store written before schema 3 (alerts without stored keys or incidents, entity values
/// in the index as text) is linked by its first re-correlation: migration 0006 carries the
/// keys over from the old entity index into the alert rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorrelation_links_alerts_stored_before_incidents_existed() {
    use rampart_domain::timestamp::Timestamp;
    let dir = tempfile::tempdir().unwrap();
    let t = Timestamp::parse_rfc3339("2026-11-23T12:00:00Z").unwrap();
    {
        // The foundation's schema, written as that version wrote it.
        let conn = rusqlite::Connection::open(dir.path().join("rampart.db")).unwrap();
        for (i, f) in ["0001_init.sql", "0002_access.sql"].iter().enumerate() {
            let sql = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations/sqlite")
                    .join(f),
            )
            .unwrap();
            conn.execute_batch(&format!("{sql}; PRAGMA user_version = {};", i + 1))
                .unwrap();
        }
        let body = zstd::stream::encode_all(&b"{}"[..], 3).unwrap();
        for (rid, id) in [(1, "da-old-1"), (2, "da-old-2")] {
            conn.execute(
                "INSERT INTO alerts (rid, id, title, severity, status, classification,
                    determination, service_source, detection_source, first_activity,
                    last_activity, created, last_update, version, tags, impacted, body)
                 VALUES (?1, ?2, 'Old', 3, 'new', 'unknown', 'unknown',
                    'microsoftDefenderForEndpoint', 'antivirus', ?3, ?3, ?3, ?3, 1, '[]', '[]', ?4)",
                rusqlite::params![rid, id, t.micros(), body],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO entities (kind, value, rid) VALUES (1, 'ws-1', ?1)",
                [rid],
            )
            .unwrap();
        }
    }
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let sum = s.correlate(Timestamp::from_micros(0), t).await.unwrap();
    assert_eq!(sum.alerts, 2);
    let a = s.get_alert("da-old-1").await.unwrap().unwrap();
    let b = s.get_alert("da-old-2").await.unwrap().unwrap();
    assert!(a.record.incident_id.is_some());
    assert_eq!(
        a.record.incident_id, b.record.incident_id,
        "linked through the keys carried over from the entity index"
    );
    assert_eq!(a.entities.len(), 1, "keys were carried over");
}

/// Migration 13 counts each incident's unresolved alerts from the alert rows, so an
/// incident of an older store whose alerts were all resolved takes the severity of the
/// next, lower alert that joins it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_counts_the_active_alerts_of_stored_incidents() {
    use conformance::{incident_of, on_devices};
    use rampart_domain::access::Permission;
    use rampart_domain::history::Actor;
    use rampart_domain::timestamp::Timestamp;
    use rampart_domain::triage::AlertChange;
    use rampart_domain::vocab::{AlertStatus, Severity};
    let dir = tempfile::tempdir().unwrap();
    let t0 = Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap();
    let grant = conformance::grant("Security operator", None, Permission::AlertsManage);
    let (quiet, busy) = {
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let mut batch = vec![
            on_devices("da-mig-0", t0, 0, &["m1"]),
            on_devices("da-mig-1", t0, 1, &["m2"]),
            on_devices("da-mig-2", t0, 2, &["m2"]),
        ];
        batch[0].record.severity = Severity::High;
        s.ingest(batch, Actor::producer("p"), t0).await.unwrap();
        let resolve = AlertChange {
            status: Some(AlertStatus::Resolved),
            ..Default::default()
        };
        for id in ["da-mig-0", "da-mig-1"] {
            s.update_alert(&grant, id, &resolve, 1, None, t0)
                .await
                .unwrap();
        }
        (
            incident_of(&s, "da-mig-0").await,
            incident_of(&s, "da-mig-1").await,
        )
    };
    {
        // As schema 12 left it.
        let conn = rusqlite::Connection::open(dir.path().join("rampart.db")).unwrap();
        conn.execute_batch(
            "ALTER TABLE incidents DROP COLUMN active_count; PRAGMA user_version = 12;",
        )
        .unwrap();
    }
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("rampart.db")).unwrap();
    let active = |id: &str| -> i64 {
        conn.query_row(
            "SELECT active_count FROM incidents WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!((active(&quiet), active(&busy)), (0, 1));
    let mut low = on_devices("da-mig-3", t0, 3, &["m1"]);
    low.record.severity = Severity::Low;
    s.ingest(vec![low], Actor::producer("p"), t0).await.unwrap();
    assert_eq!(incident_of(&s, "da-mig-3").await, quiet);
    let inc = s.get_incident(&quiet).await.unwrap().unwrap().incident;
    assert_eq!((inc.alert_count, inc.severity), (2, Severity::Low));
    assert_eq!(active(&quiet), 1);
}

/// A request refused before it reaches the correlation engine (a merge into an unknown
/// incident) leaves the engine as it was. A reload would read back only the window behind
/// the newest alert and forget an older alert still held, so a late alert beside it would
/// open an incident of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_keep_the_engine() {
    use conformance::{incident_of, on_devices};
    use rampart_domain::access::Permission;
    use rampart_domain::history::Actor;
    use rampart_domain::timestamp::Timestamp;
    let dir = tempfile::tempdir().unwrap();
    let t0 = Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap();
    let hours = |h: i64| h * 60;
    let grant = conformance::grant("Security operator", None, Permission::IncidentsManage);
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    for (id, minute, device) in [("da-keep-0", 0, "k1"), ("da-keep-1", hours(25), "k2")] {
        s.ingest(
            vec![on_devices(id, t0, minute, &[device])],
            Actor::producer("p"),
            t0,
        )
        .await
        .unwrap();
    }
    let held = incident_of(&s, "da-keep-0").await;
    for _ in 0..3 {
        let refused = s.merge_incidents(&grant, &held, "inc-nope", t0).await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{refused:?}"
        );
    }
    s.ingest(
        vec![on_devices("da-keep-2", t0, hours(1), &["k1"])],
        Actor::producer("p"),
        t0,
    )
    .await
    .unwrap();
    assert_eq!(incident_of(&s, "da-keep-2").await, held);
}

/// After a restart the engine is read back without the redirected incidents of earlier
/// merges (their alerts moved to the survivor): a new alert on a merged host still joins
/// the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_new_alerts_join_the_survivor_of_a_merge() {
    use conformance::{incident_of, on_devices};
    use rampart_domain::history::Actor;
    use rampart_domain::timestamp::Timestamp;
    let dir = tempfile::tempdir().unwrap();
    let t0 = Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap();
    let id = |i: i64| format!("da-restart-{i}");
    let alert = |i: i64, devices: &[&str]| on_devices(&id(i), t0, i, devices);
    let survivor = {
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        for (i, devs) in [(0, &["d1"][..]), (1, &["d2"]), (2, &["d1", "d2"])] {
            s.ingest(vec![alert(i, devs)], Actor::producer("p"), t0)
                .await
                .unwrap();
        }
        let inc = incident_of(&s, &id(0)).await;
        assert_eq!(incident_of(&s, &id(1)).await, inc, "the bridge merged both");
        let conn = rusqlite::Connection::open(dir.path().join("rampart.db")).unwrap();
        let redirected: i64 = conn
            .query_row(
                "SELECT count(*) FROM incidents WHERE status = 'redirected'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(redirected, 1);
        inc
    };
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    for (i, dev) in [(3, "d1"), (4, "d2")] {
        s.ingest(vec![alert(i, &[dev])], Actor::producer("p"), t0)
            .await
            .unwrap();
        assert_eq!(incident_of(&s, &id(i)).await, survivor, "alert on {dev}");
    }
}
