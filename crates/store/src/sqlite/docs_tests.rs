//! Document compression with a trained dictionary (`docs.rs`): every document reads back as
//! sent before, across and after training, across a restart and through a re-send, and a
//! frame naming a dictionary the store lacks is an error, not a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::SqliteStore;
use crate::conformance::{new_alert, record};
use crate::Store;
use rampart_domain::history::Actor;
use rampart_domain::timestamp::Timestamp;
use rusqlite::Connection;
use std::path::Path;

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap()
}

/// A Graph-like document for alert `n`: shared structure, varying values.
fn document(n: u32) -> Vec<u8> {
    format!(
        r##"{{"id":"da-d-{n}","title":"Suspicious PowerShell command line {m}","severity":"medium","serviceSource":"microsoftDefenderForEndpoint","detectionSource":"antivirus","evidence":[{{"@odata.type":"#microsoft.graph.security.deviceEvidence","deviceDnsName":"ws-{d}.corp.contoso.com","roles":[],"verdict":"suspicious","remediationStatus":"none"}},{{"@odata.type":"#microsoft.graph.security.processEvidence","processId":{p},"processCommandLine":"powershell.exe -enc {n:08x}{m:04x}","imageFile":{{"fileName":"powershell.exe","filePath":"C:\\Windows\\System32"}},"verdict":"unknown"}},{{"@odata.type":"#microsoft.graph.security.userEvidence","userAccount":{{"accountName":"user{u}","domainName":"CORP"}}}}]}}"##,
        m = n % 97,
        d = n % 13,
        p = 1000 + n * 7,
        u = n % 29,
    )
    .into_bytes()
}

async fn put(s: &SqliteStore, range: std::ops::Range<u32>) {
    let batch = range
        .map(|n| {
            let at = Timestamp::from_micros(t0().micros() + i64::from(n) * 1_000_000);
            new_alert(
                record(&format!("da-d-{n}"), None, at),
                Vec::new(),
                &document(n),
            )
        })
        .collect();
    s.ingest(batch, Actor::producer("p"), t0()).await.unwrap();
}

/// The dictionary id each stored frame names (0: none), by alert number.
fn frame_dicts(dir: &Path) -> Vec<(u32, u32)> {
    let conn = Connection::open(dir.join("rampart.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT a.id, d.body FROM alerts a JOIN alert_docs d USING (rid)")
        .unwrap();
    let mut out: Vec<(u32, u32)> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .unwrap()
        .map(|r| {
            let (id, body) = r.unwrap();
            let n = id.trim_start_matches("da-d-").parse().unwrap();
            let dict = zstd::zstd_safe::get_dict_id_from_frame(&body).map_or(0, |d| d.get());
            (n, dict)
        })
        .collect();
    out.sort_unstable();
    out
}

fn stored_dicts(dir: &Path) -> Vec<i64> {
    let conn = Connection::open(dir.join("rampart.db")).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM doc_dicts").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn check_all(s: &SqliteStore, range: std::ops::Range<u32>) {
    for n in range {
        let a = s.get_alert(&format!("da-d-{n}")).await.unwrap().unwrap();
        assert_eq!(a.document, document(n), "document of alert {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_read_back_across_training_restart_and_resend() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    // 1,000 samples complete with the batch ending at alert 1,050: that batch still goes
    // without the dictionary, the next ones use it.
    for start in (0..1_050).step_by(150) {
        put(&s, start..start + 150).await;
    }
    assert_eq!(stored_dicts(dir.path()).len(), 1, "one dictionary trained");
    let dict = u32::try_from(stored_dicts(dir.path())[0]).unwrap();
    put(&s, 1_050..1_300).await;
    let frames = frame_dicts(dir.path());
    assert!(
        frames.iter().all(|(n, d)| (*n < 1_050) == (*d == 0)),
        "frames: {frames:?}"
    );
    assert!(frames
        .iter()
        .filter(|(_, d)| *d != 0)
        .all(|(_, d)| *d == dict));
    check_all(&s, 0..1_300).await;

    // Smaller with the dictionary (the same documents, compressed both ways).
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    let avg = |cond: &str| -> f64 {
        conn.query_row(
            &format!("SELECT avg(length(body)) FROM alert_docs WHERE {cond}"),
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (before, after) = (avg("rid <= 1000"), avg("rid > 1050"));
    assert!(after < before * 0.8, "{after} against {before} bytes");

    drop(s);
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    check_all(&s, 0..1_300).await;
    // The stored dictionary is used again, and no second one is trained.
    put(&s, 1_300..2_500).await;
    assert_eq!(stored_dicts(dir.path()).len(), 1);
    assert!(frame_dicts(dir.path())
        .iter()
        .filter(|(n, _)| *n >= 1_300)
        .all(|(_, d)| *d == dict));

    // A re-send of an alert stored before training: the merged document is written with
    // the dictionary and reads back merged.
    let mut resent = document(3);
    resent.truncate(resent.len() - 2);
    resent.extend_from_slice(br#"],"description":"seen again"}"#);
    let at = Timestamp::from_micros(t0().micros() + 3_000_000);
    s.ingest(
        vec![new_alert(record("da-d-3", None, at), Vec::new(), &resent)],
        Actor::producer("p"),
        t0(),
    )
    .await
    .unwrap();
    let a = s.get_alert("da-d-3").await.unwrap().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&a.document).unwrap();
    assert_eq!(doc["description"], "seen again");
    assert_eq!(doc["title"], "Suspicious PowerShell command line 3");
    assert!(frame_dicts(dir.path()).contains(&(3, dict)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_naming_a_missing_dictionary_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    put(&s, 0..2).await;
    // A frame compressed with a dictionary this store never held.
    let samples: Vec<Vec<u8>> = (0..300).map(document).collect();
    let foreign = zstd::dict::from_samples(&samples, 4096).unwrap();
    let body = zstd::bulk::Compressor::with_dictionary(1, &foreign)
        .unwrap()
        .compress(&document(1))
        .unwrap();
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    conn.execute(
        "UPDATE alert_docs SET body = ?1 WHERE rid = (SELECT rid FROM alerts WHERE id = 'da-d-1')",
        [body],
    )
    .unwrap();
    let err = s.get_alert("da-d-1").await.unwrap_err();
    assert!(err.to_string().contains("dictionary"), "{err}");
    // The other alert still reads.
    check_all(&s, 0..1).await;
}

/// A damaged dictionary row (right magic number, garbled tables): documents that use it are
/// an error to read, not a panic, and a store reopened on it ingests and reads new alerts
/// without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_dictionary_is_an_error_and_is_not_used_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    put(&s, 0..1_000).await;
    put(&s, 1_000..1_010).await;
    let dict = stored_dicts(dir.path())[0];
    let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
    let mut raw: Vec<u8> = conn
        .query_row("SELECT dict FROM doc_dicts WHERE id = ?1", [dict], |r| {
            r.get(0)
        })
        .unwrap();
    for b in raw.iter_mut().skip(8).take(512) {
        *b = 0xff;
    }
    conn.execute(
        "UPDATE doc_dicts SET dict = ?1 WHERE id = ?2",
        rusqlite::params![raw, dict],
    )
    .unwrap();
    drop(s);
    let s = SqliteStore::open_dir(dir.path()).unwrap();
    let err = s.get_alert("da-d-1005").await.unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
    check_all(&s, 0..1_000).await;
    put(&s, 2_000..2_010).await;
    check_all(&s, 2_000..2_010).await;
    assert!(frame_dicts(dir.path())
        .iter()
        .filter(|(n, _)| *n >= 2_000)
        .all(|(_, d)| *d == 0));
}

/// A process that opened the store before another one trained the dictionary takes that
/// dictionary up when it claims the directory, instead of training a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_takes_up_the_dictionary_another_one_trained() {
    let dir = tempfile::tempdir().unwrap();
    let late = SqliteStore::open_dir(dir.path()).unwrap();
    {
        let early = SqliteStore::open_dir(dir.path()).unwrap();
        for start in (0..1_200).step_by(200) {
            put(&early, start..start + 200).await;
        }
    }
    let trained = stored_dicts(dir.path());
    assert_eq!(trained.len(), 1);
    for start in (1_200..2_400).step_by(200) {
        put(&late, start..start + 200).await;
    }
    assert_eq!(stored_dicts(dir.path()), trained, "no second dictionary");
    let dict = u32::try_from(trained[0]).unwrap();
    assert!(frame_dicts(dir.path())
        .iter()
        .filter(|(n, _)| *n >= 1_200)
        .all(|(_, d)| *d == dict));
    check_all(&late, 0..2_400).await;
}
