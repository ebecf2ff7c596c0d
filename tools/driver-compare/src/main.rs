//! rusqlite (one writer thread, prepared statements, batches in one transaction) against
//! sqlx-sqlite (async, one connection for writes) on the shape Rampart writes: an alert row
//! of ~300 B, a ~1.5 KB compressed document in a side table, and 6 entity-index rows per
//! alert, WAL with synchronous=FULL, batches of 1,000 alerts. Then 20,000 random point reads.
use rand::{Rng, SeedableRng};
use std::time::Instant;

const ALERTS: usize = 100_000;
const BATCH: usize = 1_000;
const READS: usize = 20_000;
const SCHEMA: &str = "
CREATE TABLE alerts (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
  severity INTEGER NOT NULL, status TEXT NOT NULL, service_source TEXT NOT NULL,
  last_activity INTEGER NOT NULL, keys TEXT NOT NULL);
CREATE INDEX alerts_last ON alerts (last_activity, status, severity, service_source);
CREATE TABLE alert_docs (rid INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE entities (kind INTEGER NOT NULL, value TEXT NOT NULL, rid INTEGER NOT NULL,
  PRIMARY KEY (kind, value, rid)) WITHOUT ROWID;";

struct Alert {
    id: String,
    title: String,
    severity: i64,
    last: i64,
    keys: String,
    body: Vec<u8>,
    entities: Vec<(i64, String)>,
}

fn alerts() -> Vec<Alert> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..ALERTS)
        .map(|i| Alert {
            id: format!("da{:032x}", rng.gen::<u128>()),
            title: format!("Suspicious activity {}", i % 97),
            severity: rng.gen_range(1..5),
            last: 1_790_000_000_000_000 + rng.gen_range(0..2_500_000_000_000i64),
            keys: "[".to_string() + &"{\"kind\":\"device\",\"value\":\"ws-017\"},".repeat(8) + "]",
            body: (0..1500).map(|_| rng.gen::<u8>()).collect(),
            entities: (0..6)
                .map(|k| (k, format!("value-{}-{}", k, rng.gen_range(0..5000))))
                .collect(),
        })
        .collect()
}

fn rusqlite_run(path: &str, data: &[Alert]) -> (f64, f64) {
    let mut c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;")
        .unwrap();
    c.execute_batch(SCHEMA).unwrap();
    let t = Instant::now();
    for chunk in data.chunks(BATCH) {
        let tx = c.transaction().unwrap();
        {
            let mut a = tx.prepare_cached("INSERT INTO alerts (id, title, severity, status, service_source, last_activity, keys) VALUES (?1, ?2, ?3, 'new', 'microsoftDefenderForEndpoint', ?4, ?5)").unwrap();
            let mut d = tx
                .prepare_cached("INSERT INTO alert_docs (rid, body) VALUES (?1, ?2)")
                .unwrap();
            let mut e = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO entities (kind, value, rid) VALUES (?1, ?2, ?3)",
                )
                .unwrap();
            for x in chunk {
                a.execute(rusqlite::params![x.id, x.title, x.severity, x.last, x.keys])
                    .unwrap();
                let rid = tx.last_insert_rowid();
                d.execute(rusqlite::params![rid, x.body]).unwrap();
                for (k, v) in &x.entities {
                    e.execute(rusqlite::params![k, v, rid]).unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    let write = data.len() as f64 / t.elapsed().as_secs_f64();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let t = Instant::now();
    let mut s = c
        .prepare_cached(
            "SELECT a.title, d.body FROM alerts a JOIN alert_docs d USING (rid) WHERE a.id = ?1",
        )
        .unwrap();
    for _ in 0..READS {
        let x = &data[rng.gen_range(0..data.len())];
        let _: (String, Vec<u8>) = s
            .query_row([&x.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
    }
    let read = READS as f64 / t.elapsed().as_secs_f64();
    (write, read)
}

async fn sqlx_run(path: &str, data: &[Alert]) -> (f64, f64) {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    use sqlx::Row;
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .pragma("cache_size", "-65536");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    sqlx::raw_sql(SCHEMA).execute(&pool).await.unwrap();
    let t = Instant::now();
    for chunk in data.chunks(BATCH) {
        let mut tx = pool.begin().await.unwrap();
        for x in chunk {
            let rid = sqlx::query("INSERT INTO alerts (id, title, severity, status, service_source, last_activity, keys) VALUES (?1, ?2, ?3, 'new', 'microsoftDefenderForEndpoint', ?4, ?5)")
                .bind(&x.id).bind(&x.title).bind(x.severity).bind(x.last).bind(&x.keys)
                .execute(&mut *tx).await.unwrap().last_insert_rowid();
            sqlx::query("INSERT INTO alert_docs (rid, body) VALUES (?1, ?2)")
                .bind(rid)
                .bind(&x.body)
                .execute(&mut *tx)
                .await
                .unwrap();
            for (k, v) in &x.entities {
                sqlx::query(
                    "INSERT OR IGNORE INTO entities (kind, value, rid) VALUES (?1, ?2, ?3)",
                )
                .bind(k)
                .bind(v)
                .bind(rid)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
    let write = data.len() as f64 / t.elapsed().as_secs_f64();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let t = Instant::now();
    for _ in 0..READS {
        let x = &data[rng.gen_range(0..data.len())];
        let row = sqlx::query(
            "SELECT a.title, d.body FROM alerts a JOIN alert_docs d USING (rid) WHERE a.id = ?1",
        )
        .bind(&x.id)
        .fetch_one(&pool)
        .await
        .unwrap();
        let _: (String, Vec<u8>) = (row.get(0), row.get(1));
    }
    let read = READS as f64 / t.elapsed().as_secs_f64();
    (write, read)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let data = alerts();
    let dir = std::env::temp_dir().join(format!("driver-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for round in 1..=2 {
        let p1 = dir.join(format!("r{round}.db"));
        let p2 = dir.join(format!("s{round}.db"));
        let d = &data;
        let (rw, rr) = tokio::task::block_in_place(|| rusqlite_run(p1.to_str().unwrap(), d));
        let (sw, sr) = sqlx_run(p2.to_str().unwrap(), d).await;
        println!("round {round}: rusqlite writes {rw:.0} alerts/s, reads {rr:.0}/s | sqlx-sqlite writes {sw:.0} alerts/s, reads {sr:.0}/s");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
