//! Paths that only start at scale, which the conformance cases (a handful of alerts) never
//! reach: a rebuild that sets the incident index aside and rolls up in one pass over the
//! table, and an ingest batch large enough to be correlated on a thread beside the writer.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::SqliteStore;
use crate::conformance::on_devices;
use crate::Store;
use rampart_domain::correlate::CorrelationConfig;
use rampart_domain::history::Actor;
use rampart_domain::timestamp::Timestamp;
use rusqlite::Connection;

/// Incidents whose rolled-up count, activity span or severity disagree with their alerts'
/// rows (redirected incidents hold none, and count zero).
pub(super) fn wrong_rollups(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM incidents i WHERE i.alert_count != (SELECT count(*) FROM alerts a WHERE a.incident_id = i.id)
            OR (i.alert_count > 0 AND (
                i.first_activity != (SELECT min(first_activity) FROM alerts a WHERE a.incident_id = i.id)
                OR i.last_activity != (SELECT max(last_activity) FROM alerts a WHERE a.incident_id = i.id)
                OR i.severity != (SELECT max(severity) FROM alerts a WHERE a.incident_id = i.id)))",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_that_moves_most_alerts_keeps_the_index_and_true_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let off = CorrelationConfig {
        enabled: false,
        ..CorrelationConfig::default()
    };
    // 21,000 alerts stored without correlation, on 20,500 devices: the rebuild places
    // every one (moved ≥ 10,000) and touches more than 20,000 incidents.
    let t0 = Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap();
    {
        let s = SqliteStore::open_dir_with(dir.path(), off).unwrap();
        for chunk in 0..21 {
            let batch = (0..1000)
                .map(|i| {
                    let n = chunk * 1000 + i;
                    // The last 500 repeat devices named 500 minutes earlier (within the
                    // window).
                    let dev = format!("rb-{}", if n < 20_500 { n } else { n - 500 });
                    on_devices(&format!("da-rb-{n}"), t0, n, &[dev.as_str()])
                })
                .collect();
            s.ingest(batch, Actor::producer("p"), t0).await.unwrap();
        }
    }
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let now = Timestamp::from_micros(t0.micros() + 30 * 86_400_000_000);
    let sum = s.correlate(Timestamp::from_micros(0), now).await.unwrap();
    assert_eq!(sum.alerts, 21_000);
    assert_eq!(sum.moved, 21_000);
    drop(s);

    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    let index: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'alerts_incident'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(index.contains("incident_id"), "{index}");
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT rid FROM alerts WHERE incident_id = 'x'",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("alerts_incident"), "{plan}");
    assert_eq!(wrong_rollups(&conn), 0);
    let (incidents, two): (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(alert_count = 2) FROM incidents WHERE alert_count > 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(incidents, 20_500);
    assert_eq!(two, 500, "devices named twice hold two alerts");
    let named: String = conn
        .query_row(
            "SELECT display_name FROM incidents WHERE alert_count = 1 LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(named.starts_with("alert da-rb-"), "{named}");
}

/// A batch with enough new alerts is correlated on a thread beside the writer: the outcome
/// is the same as placing them one by one (pairs on one device share an incident, repeats
/// update, splits and merges land in order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_correlated_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let t0 = Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap();
    let mut batch: Vec<_> = (0..200)
        .map(|n| {
            let dev = format!("lb-{}", n / 2);
            on_devices(&format!("da-lb-{n}"), t0, n, &[dev.as_str()])
        })
        .collect();
    // A repeat of the first alert, one alert that bridges the first two pairs (a merge of
    // two incidents this batch opened), then links to the survivor and to an incident the
    // merge did not touch, which the batch writes once at its end.
    batch.push(batch[0].clone());
    batch.push(on_devices("da-lb-bridge", t0, 300, &["lb-0", "lb-1"]));
    batch.push(on_devices("da-lb-after", t0, 301, &["lb-1"]));
    batch.push(on_devices("da-lb-later", t0, 302, &["lb-50"]));
    let out = s.ingest(batch, Actor::producer("p"), t0).await.unwrap();
    assert_eq!(out.len(), 204);
    assert_eq!(out[200], crate::IngestOutcome::Updated);
    assert_eq!(s.count_alerts().await.unwrap(), 203);
    let inc = |n: &str| {
        let s = &s;
        let id = format!("da-lb-{n}");
        async move { crate::conformance::incident_of(s, &id).await }
    };
    let first = inc("0").await;
    for n in ["1", "2", "3", "bridge", "after"] {
        assert_eq!(inc(n).await, first, "alert {n} is in the merged incident");
    }
    for pair in 2..100 {
        let (a, b) = (
            inc(&(2 * pair).to_string()).await,
            inc(&(2 * pair + 1).to_string()).await,
        );
        assert_eq!(a, b, "pair {pair}");
        assert_ne!(a, first);
    }
    assert_eq!(inc("later").await, inc("100").await);
    let detail = s.get_incident(&first).await.unwrap().unwrap();
    assert_eq!(detail.incident.alert_count, 6);
    let later = s.get_incident(&inc("later").await).await.unwrap().unwrap();
    assert_eq!(later.incident.alert_count, 3);
    drop(s);
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    let redirected: i64 = conn
        .query_row(
            "SELECT count(*) FROM incidents WHERE status = 'redirected' AND alert_count = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(redirected, 1, "the bridge absorbed one incident");
    assert_eq!(wrong_rollups(&conn), 0);
}

/// `serve` warms the engine at start: afterwards it holds the stored window, and the first
/// ingest does not load it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warming_up_loads_the_engine_before_any_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap();
    {
        let s = SqliteStore::open_dir(dir.path()).unwrap();
        let batch = (0..10)
            .map(|n| on_devices(&format!("da-wu-{n}"), t0, n, &["wu-1"]))
            .collect();
        s.ingest(batch, Actor::producer("p"), t0).await.unwrap();
    }
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let tracked = |s: &SqliteStore| {
        s.engine
            .lock()
            .unwrap()
            .as_ref()
            .map(|e| e.corr.tracked_alerts())
    };
    assert_eq!(tracked(&s), None, "opening alone loads nothing");
    s.warm_up().await.unwrap();
    assert_eq!(tracked(&s), Some(10));
    let off = SqliteStore::open_dir_with(
        dir.path().join("off").as_path(),
        CorrelationConfig {
            enabled: false,
            ..CorrelationConfig::default()
        },
    )
    .unwrap();
    off.warm_up().await.unwrap();
    assert_eq!(tracked(&off), None, "nothing to warm without correlation");
}

/// An incident that holds a manual link keeps its own alerts through a rebuild: the group
/// that most of them fall into takes the incident's id (and its triage), even when the new
/// settings bring in an alert from elsewhere. Before, a group could never take an incident
/// with a manual link, so the analyst's incident was left holding only the linked alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_leaves_an_incident_with_a_manual_link_its_own_alerts() {
    use rampart_domain::access::{authorize, builtin, Permission, Principal, PrincipalKind};
    let dir = tempfile::tempdir().unwrap();
    let t0 = Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap();
    let hour = CorrelationConfig {
        window_hours: 1,
        ..CorrelationConfig::default()
    };
    let role = builtin("Security operator").unwrap();
    let p = Principal::new(PrincipalKind::User, "u-1", "analyst", vec![role]);
    let grant = authorize(&p, Permission::IncidentsManage, None).unwrap();
    let later = Timestamp::from_micros(t0.micros() + 86_400_000_000);
    let (y_inc, f_inc) = {
        let s = SqliteStore::open_dir_with(dir.path(), hour).unwrap();
        // With a one-hour window, y (minute 0) stays apart from f1 and f2 (minutes 180 and
        // 181) although all three are on d1; m is elsewhere.
        let batch = vec![
            on_devices("da-mk-y", t0, 0, &["mk-d1"]),
            on_devices("da-mk-f1", t0, 180, &["mk-d1"]),
            on_devices("da-mk-f2", t0, 181, &["mk-d1"]),
            on_devices("da-mk-m", t0, 200, &["mk-d7"]),
        ];
        s.ingest(batch, Actor::producer("p"), t0).await.unwrap();
        let of = |id: &'static str| crate::conformance::incident_of(&s, id);
        let (y, f, m) = (
            of("da-mk-y").await,
            of("da-mk-f1").await,
            of("da-mk-m").await,
        );
        assert_eq!(of("da-mk-f2").await, f);
        assert!(y != f && m != f && m != y);
        s.link_alert(&grant, "da-mk-m", &f, later).await.unwrap();
        (y, f)
    };
    // The default window brings y into f1 and f2's group: most of that group was in F, so
    // it takes F, beside the manual link.
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    for run in 1..=2 {
        let sum = s.correlate(Timestamp::from_micros(0), later).await.unwrap();
        for id in ["da-mk-y", "da-mk-f1", "da-mk-f2", "da-mk-m"] {
            assert_eq!(
                crate::conformance::incident_of(&s, id).await,
                f_inc,
                "run {run}: {id}"
            );
        }
        assert_eq!(sum.moved, if run == 1 { 1 } else { 0 }, "run {run}");
    }
    let y = s.get_incident(&y_inc).await.unwrap().unwrap();
    assert_eq!(y.incident.alert_count, 0, "y's old incident is left empty");
}
