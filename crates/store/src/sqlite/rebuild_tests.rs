//! The large-rebuild paths: the incident index set aside and rebuilt, and roll-ups read in
//! one pass over the table. They only start above thousands of moved alerts, so the
//! conformance cases (a handful of alerts) never reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::SqliteStore;
use crate::conformance::on_devices;
use crate::Store;
use rampart_domain::correlate::CorrelationConfig;
use rampart_domain::history::Actor;
use rampart_domain::timestamp::Timestamp;
use rusqlite::Connection;

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
    // Every incident's roll-up says what its alerts say.
    let wrong: i64 = conn
        .query_row(
            "SELECT count(*) FROM incidents i WHERE i.alert_count != (SELECT count(*) FROM alerts a WHERE a.incident_id = i.id)
                OR i.first_activity != (SELECT min(first_activity) FROM alerts a WHERE a.incident_id = i.id)
                OR i.last_activity != (SELECT max(last_activity) FROM alerts a WHERE a.incident_id = i.id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(wrong, 0);
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
