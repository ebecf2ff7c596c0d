//! The conformance suite: behaviour every [`Store`] backend must show, written against the
//! trait only. `tests/conformance.rs` stamps each case out per backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use crate::query::{AlertQuery, SortKey};
use crate::{IngestOutcome, Store};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use rampart_domain::access::Permission;
use rampart_domain::alert::{AlertFacts, AlertRecord, NewAlert};
use rampart_domain::condition::{self, arbitrary, Condition};
use rampart_domain::entity::EntityKey;
use rampart_domain::history::{Actor, TargetKind};
use rampart_domain::incident::IncidentStatus;
use rampart_domain::timestamp::Timestamp;
use rampart_domain::triage::AlertChange;
use rampart_domain::vocab::{AlertStatus, Classification, Determination, Severity};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

mod access;
mod incident_queue;
pub use access::*;
pub use incident_queue::*;

pub(crate) fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T12:00:00Z").unwrap()
}

/// A minimal record for hand-written cases.
pub fn record(id: &str, provider: Option<&str>, last: Timestamp) -> AlertRecord {
    AlertRecord {
        id: id.into(),
        provider_alert_id: provider.map(str::to_string),
        incident_id: None,
        title: format!("alert {id}"),
        category: None,
        severity: Severity::Medium,
        status: AlertStatus::New,
        classification: Classification::Unknown,
        determination: Determination::Unknown,
        service_source: "microsoftDefenderForEndpoint".into(),
        detection_source: "antivirus".into(),
        investigation_state: None,
        assigned_to: None,
        tags: vec![],
        first_activity: last,
        last_activity: last,
        created: last,
        last_update: last,
        resolved: None,
        version: 1,
        impacted_assets: vec![],
    }
}

pub fn new_alert(record: AlertRecord, entities: Vec<EntityKey>, doc: &[u8]) -> NewAlert {
    NewAlert {
        record,
        entities,
        document: doc.to_vec().into(),
    }
}

/// An alert `minute` minutes after `t0` naming these devices: the shape correlation cases use.
pub fn on_devices(id: &str, t0: Timestamp, minute: i64, devices: &[&str]) -> NewAlert {
    let at = Timestamp::from_micros(t0.micros() + minute * 60_000_000);
    let keys = devices
        .iter()
        .map(|d| EntityKey {
            kind: rampart_domain::entity::EntityKind::Device,
            value: (*d).into(),
        })
        .collect();
    new_alert(record(id, None, at), keys, b"{}")
}

/// The start of the incident cases' timelines.
const T0: Timestamp = Timestamp::from_micros(1_795_420_800_000_000);

/// `m` minutes after [`T0`].
fn minute(m: i64) -> Timestamp {
    Timestamp::from_micros(T0.micros() + m * 60_000_000)
}

/// The incident an alert is in.
pub async fn incident_of(s: &dyn Store, id: &str) -> String {
    s.get_alert(id)
        .await
        .unwrap()
        .and_then(|a| a.record.incident_id)
        .unwrap_or_else(|| panic!("{id} has no incident"))
}

/// A query that sees everything, newest first.
pub fn everything(page_size: usize) -> AlertQuery {
    AlertQuery {
        condition: Condition::default(),
        since: None,
        until: None,
        sort: SortKey::LastActivity,
        desc: true,
        page_size,
        cursor: None,
        now: now(),
        allowed_sources: None,
        denied_sources: vec![],
    }
}

/// Re-sending an alert (same id, or same source + providerAlertId) updates it, never duplicates.
/// Ids of the first 500 alerts of any status and time that match `cond`, sorted.
pub async fn matching_ids(s: &dyn Store, cond: Condition, now: Timestamp) -> Vec<String> {
    let mut q = everything(500);
    q.condition = cond;
    q.now = now;
    let mut ids: Vec<String> = s
        .list_alerts(&q)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

pub async fn insert_is_idempotent(s: &dyn Store) {
    let t = now();
    let a = new_alert(
        record("da-1", Some("p-1"), t),
        vec![],
        br#"{"evidence":[{"k":1}]}"#,
    );
    let out = s
        .ingest(vec![a.clone()], Actor::producer("t"), t)
        .await
        .unwrap();
    assert_eq!(out, vec![IngestOutcome::Created]);
    let mut later = a.clone();
    later.record.last_activity = t.plus_micros(1_000_000);
    later.document = br#"{"evidence":[{"k":2}]}"#.to_vec().into();
    assert_eq!(
        s.ingest(vec![later], Actor::producer("t"), t)
            .await
            .unwrap(),
        vec![IngestOutcome::Updated]
    );
    // Same provider key, different id: still the same alert.
    let mut by_key = a.clone();
    by_key.record.id = "da-other".into();
    assert_eq!(
        s.ingest(vec![by_key], Actor::producer("t"), t)
            .await
            .unwrap(),
        vec![IngestOutcome::Updated]
    );
    assert_eq!(s.count_alerts().await.unwrap(), 1);
    let stored = s.get_alert("da-1").await.unwrap().unwrap();
    assert_eq!(stored.record.version, 3);
    assert_eq!(stored.record.last_activity, t.plus_micros(1_000_000));
    let doc: serde_json::Value = serde_json::from_slice(&stored.document).unwrap();
    assert_eq!(
        doc["evidence"].as_array().unwrap().len(),
        2,
        "evidence is the union"
    );
    let h = s.history(TargetKind::Alert, "da-1").await.unwrap();
    assert_eq!(h.len(), 2);
    // Two re-sends of a stored alert in one batch: the second builds on the first.
    let mut third = a.clone();
    third.document = br#"{"evidence":[{"k":3}]}"#.to_vec().into();
    let mut fourth = a.clone();
    fourth.document = br#"{"evidence":[{"k":4}]}"#.to_vec().into();
    assert_eq!(
        s.ingest(vec![third, fourth], Actor::producer("t"), t)
            .await
            .unwrap(),
        vec![IngestOutcome::Updated, IngestOutcome::Updated]
    );
    let stored = s.get_alert("da-1").await.unwrap().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&stored.document).unwrap();
    assert_eq!(doc["evidence"].as_array().unwrap().len(), 4, "{doc}");
    assert_eq!(stored.record.version, 5);
    assert!(h.iter().all(|e| e.action == "resent"));
    // Duplicates inside one batch collapse too.
    let b = new_alert(record("da-2", None, t), vec![], b"{}");
    let out = s
        .ingest(vec![b.clone(), b], Actor::producer("t"), t)
        .await
        .unwrap();
    assert_eq!(out, vec![IngestOutcome::Created, IngestOutcome::Updated]);
    assert_eq!(s.count_alerts().await.unwrap(), 2);
    // … also by provider key under another id, with a new alert after them.
    let c = new_alert(record("da-3", Some("p-3"), t), vec![], b"{}");
    let mut c_again = c.clone();
    c_again.record.id = "da-4".into();
    let d = new_alert(record("da-5", None, t), vec![], b"{}");
    let out = s
        .ingest(vec![c, c_again, d], Actor::producer("t"), t)
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            IngestOutcome::Created,
            IngestOutcome::Updated,
            IngestOutcome::Created
        ]
    );
    assert_eq!(s.count_alerts().await.unwrap(), 4);
    assert!(s.get_alert("da-4").await.unwrap().is_none());
    for id in ["da-3", "da-5"] {
        let a = s.get_alert(id).await.unwrap().unwrap();
        assert!(a.record.incident_id.is_some(), "{id} was correlated");
    }
}

/// A re-send may not move an alert to another service source. The batch that tries is
/// refused whole, before anything of it is stored, and batches committed beside it are not
/// affected.
pub async fn resend_cannot_change_the_source(s: &dyn Store) {
    let t = now();
    let producer = || Actor::producer("t");
    let doc = |n: u8| format!(r#"{{"n":{n}}}"#).into_bytes();
    let endpoint = new_alert(record("da-src-1", Some("p-src-1"), t), vec![], &doc(1));
    s.ingest(vec![endpoint.clone()], producer(), t)
        .await
        .unwrap();
    let mut moved = endpoint.clone();
    moved.record.service_source = "microsoftDefenderForOffice365".into();
    moved.document = doc(2).into();
    let fresh = new_alert(record("da-src-2", None, t), vec![], &doc(3));
    // After a new alert of the same batch. (The provider key includes the source, so the
    // same provider id from another source is another alert.)
    let e = s
        .ingest(vec![fresh.clone(), moved.clone()], producer(), t)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            crate::StoreError::Invalid {
                field: "serviceSource",
                ..
            }
        ),
        "{e:?}"
    );
    // A repeat inside one batch that changes the source of the batch's own new alert.
    let mut twin = fresh.clone();
    twin.record.service_source = "microsoftDefenderForOffice365".into();
    twin.document = doc(4).into();
    assert!(s
        .ingest(vec![fresh.clone(), twin], producer(), t)
        .await
        .is_err());
    assert_eq!(
        s.count_alerts().await.unwrap(),
        1,
        "nothing of a refused batch"
    );
    let stored = s.get_alert("da-src-1").await.unwrap().unwrap();
    assert_eq!(stored.record.service_source, "microsoftDefenderForEndpoint");
    assert_eq!(stored.record.version, 1);
    // Sent together, so that the writer is likely to commit them in one transaction: the
    // refusal costs the others nothing.
    let mut sends: Vec<NewAlert> = (0..8)
        .map(|i| new_alert(record(&format!("da-src-g{i}"), None, t), vec![], &doc(i)))
        .collect();
    sends.insert(3, moved);
    let send = |a: NewAlert| async move { s.ingest(vec![a], producer(), t).await.is_ok() };
    let outcomes = futures_util::future::join_all(sends.into_iter().map(send)).await;
    let expected: Vec<bool> = (0..9).map(|i| i != 3).collect();
    assert_eq!(outcomes, expected);
    assert_eq!(s.count_alerts().await.unwrap(), 9);
}

/// A batch's later item is read as a repeat only of names an alert of the batch will carry:
/// a re-send's own id or provider key that matched nothing stored is not one.
pub async fn repeats_follow_only_names_that_exist(s: &dyn Store) {
    let t = now();
    let producer = || Actor::producer("t");
    let doc = |n: u8| format!(r#"{{"n":{n}}}"#).into_bytes();
    let stored = new_alert(record("da-rep-1", Some("p-rep"), t), vec![], &doc(1));
    s.ingest(vec![stored], producer(), t).await.unwrap();
    // Found by provider key under another id, then that id alone: a new alert.
    let by_key = new_alert(record("da-rep-zz", Some("p-rep"), t), vec![], &doc(2));
    let by_id = new_alert(record("da-rep-zz", None, t), vec![], &doc(3));
    let out = s.ingest(vec![by_key, by_id], producer(), t).await.unwrap();
    assert_eq!(out, vec![IngestOutcome::Updated, IngestOutcome::Created]);
    assert_eq!(
        s.get_alert("da-rep-1")
            .await
            .unwrap()
            .unwrap()
            .record
            .version,
        2
    );
    assert!(s.get_alert("da-rep-zz").await.unwrap().is_some());
    // Found by id with a provider key it was not stored with, then that key under another
    // id: the stored alert keeps its key, so the second is new.
    let by_id = new_alert(record("da-rep-1", Some("p-new"), t), vec![], &doc(4));
    let by_new_key = new_alert(record("da-rep-b", Some("p-new"), t), vec![], &doc(5));
    let out = s
        .ingest(vec![by_id, by_new_key], producer(), t)
        .await
        .unwrap();
    assert_eq!(out, vec![IngestOutcome::Updated, IngestOutcome::Created]);
    assert!(s.get_alert("da-rep-b").await.unwrap().is_some());
    assert_eq!(s.count_alerts().await.unwrap(), 3);
}

/// Documents read back byte for byte, NUL, bidi controls and all.
pub async fn documents_read_back_byte_identical(s: &dyn Store) {
    let t = now();
    let doc =
        "{\"title\":\"a\\u0000b \u{202e}gnp.exe <script>\",\"x\":[1,2.50,\"=cmd|'/C calc'!A0\"]}  "
            .as_bytes();
    let mut r = record("da-nul", None, t);
    r.title = "a\0b \u{202e}gnp.exe <script>".into();
    s.ingest(
        vec![new_alert(r.clone(), vec![], doc)],
        Actor::producer("t"),
        t,
    )
    .await
    .unwrap();
    let got = s.get_alert("da-nul").await.unwrap().unwrap();
    assert_eq!(got.document, doc);
    assert!(
        got.record.incident_id.is_some(),
        "every new alert lands in an incident"
    );
    r.incident_id = got.record.incident_id.clone();
    assert_eq!(got.record, r);
    assert!(s.get_alert("nope").await.unwrap().is_none());
}

/// Keyset paging visits every match exactly once, in order, also across ties.
pub async fn keyset_paging_is_stable(s: &dyn Store) {
    let t = now();
    let batch: Vec<NewAlert> = (0..103)
        .map(|i| {
            // Ties: groups of five share a lastActivity.
            let mut r = record(
                &format!("da-{i:03}"),
                None,
                t.plus_micros(-(i / 5) * 1_000_000),
            );
            r.severity = Severity::from_rank(1 + i % 4);
            r.title = format!("t{}", i % 7);
            new_alert(r, vec![], b"{}")
        })
        .collect();
    s.ingest(batch, Actor::producer("t"), t).await.unwrap();
    for sort in [
        SortKey::LastActivity,
        SortKey::FirstActivity,
        SortKey::Severity,
        SortKey::Title,
    ] {
        for desc in [true, false] {
            let mut q = everything(7);
            q.sort = sort;
            q.desc = desc;
            let mut seen = Vec::new();
            loop {
                let page = s.list_alerts(&q).await.unwrap();
                assert_eq!(page.total, 103);
                assert!(page.total_is_exact);
                seen.extend(page.items);
                match page.next_cursor {
                    Some(c) => q.cursor = Some(crate::Cursor::decode(&c, sort, desc).unwrap()),
                    None => break,
                }
            }
            let ids: BTreeSet<_> = seen.iter().map(|r| r.id.clone()).collect();
            assert_eq!(
                ids.len(),
                103,
                "{sort:?} desc={desc}: every alert exactly once"
            );
            assert_eq!(seen.len(), 103);
            let keys: Vec<String> = seen
                .iter()
                .map(|r| match sort {
                    SortKey::LastActivity => format!("{:020}", r.last_activity.micros()),
                    SortKey::FirstActivity => format!("{:020}", r.first_activity.micros()),
                    SortKey::Severity => r.severity.rank().to_string(),
                    SortKey::Title => r.title.clone(),
                })
                .collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if desc {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{sort:?} desc={desc}: in order");
        }
    }
}

/// The time window, source scopes and the capped total.
pub async fn window_scope_and_total(s: &dyn Store) {
    let t = now();
    let mut batch = Vec::new();
    for i in 0..30 {
        let mut r = record(&format!("x-{i}"), None, t.plus_micros(-i * 86_400_000_000));
        if i % 3 == 0 {
            r.service_source = "microsoftDefenderForOffice365".into();
        }
        batch.push(new_alert(r, vec![], b"{}"));
    }
    s.ingest(batch, Actor::producer("t"), t).await.unwrap();
    let mut q = everything(100);
    q.since = Some(t.plus_micros(-9 * 86_400_000_000));
    assert_eq!(s.list_alerts(&q).await.unwrap().total, 10);
    q.until = Some(t.plus_micros(-4 * 86_400_000_000));
    assert_eq!(s.list_alerts(&q).await.unwrap().total, 5);
    let mut q = everything(100);
    q.denied_sources = vec!["microsoftDefenderForOffice365".into()];
    let page = s.list_alerts(&q).await.unwrap();
    assert_eq!(page.total, 20);
    assert!(page
        .items
        .iter()
        .all(|r| r.service_source != "microsoftDefenderForOffice365"));
    let mut q = everything(100);
    q.allowed_sources = Some(vec!["microsoftDefenderForOffice365".into()]);
    assert_eq!(s.list_alerts(&q).await.unwrap().total, 10);
    q.allowed_sources = Some(vec![]);
    assert_eq!(s.list_alerts(&q).await.unwrap().total, 0);
}

/// Beyond the cap the total is a lower bound, and the first page is still served.
pub async fn total_is_capped(s: &dyn Store) {
    let t = now();
    let n = crate::TOTAL_CAP as i64 + 5;
    let batch: Vec<NewAlert> = (0..n)
        .map(|i| new_alert(record(&format!("c-{i}"), None, t), vec![], b"{}"))
        .collect();
    s.ingest(batch, Actor::producer("t"), t).await.unwrap();
    let page = s.list_alerts(&everything(10)).await.unwrap();
    assert_eq!(page.total, crate::TOTAL_CAP);
    assert!(!page.total_is_exact);
    assert_eq!(page.items.len(), 10);
    assert!(page.next_cursor.is_some());
}

/// A rebuild with unchanged settings keeps every incident id and moves nothing, even where
/// placing alerts in time order builds a group through a merge whose survivor started with
/// a fresh id: d1 → A; d2, d2 → B (fresh, larger); d1+d2 merges A into B. Ingest left all
/// four in one incident, so the rebuild must give that group the same id back.
pub async fn recorrelation_keeps_incident_ids(s: &dyn Store) {
    let t0 = T0;
    let devices: [&[&str]; 4] = [&["d1"], &["d2"], &["d2"], &["d1", "d2"]];
    for (i, devs) in (0..).zip(devices) {
        let alert = on_devices(&format!("da-keep-{i}"), t0, i, devs);
        let at = alert.record.last_activity;
        s.ingest(vec![alert], Actor::producer("p"), at)
            .await
            .unwrap();
    }
    let incident = |i: usize| async move { incident_of(s, &format!("da-keep-{i}")).await };
    let before = incident(0).await;
    for i in 1..4 {
        assert_eq!(
            incident(i).await,
            before,
            "ingest put alert {i} with the others"
        );
    }
    let now = Timestamp::from_micros(t0.micros() + 3_600_000_000);
    for run in 1..=2 {
        let sum = s.correlate(Timestamp::from_micros(0), now).await.unwrap();
        assert_eq!(sum.alerts, 4, "run {run}");
        assert_eq!(sum.moved, 0, "run {run} moved alerts");
        for i in 0..4 {
            assert_eq!(incident(i).await, before, "run {run}, alert {i}");
        }
    }
}

/// Roll-ups of incidents opened, joined and merged within one ingest batch: the row must say
/// what its alerts say (count, highest severity, sources, time span), however the batch
/// built it.
pub async fn rollups_within_one_batch(s: &dyn Store) {
    let t0 = T0;
    let mut batch = vec![
        on_devices("da-roll-0", t0, 0, &["r1"]),
        on_devices("da-roll-1", t0, 5, &["r1"]),
        on_devices("da-roll-2", t0, 10, &["r2"]),
        on_devices("da-roll-3", t0, 15, &["r1", "r2"]),
    ];
    batch[1].record.severity = Severity::High;
    batch[2].record.severity = Severity::Low;
    batch[2].record.service_source = "microsoftDefenderForIdentity".into();
    batch[2].record.category = Some("CredentialAccess".into());
    let at = Timestamp::from_micros(t0.micros() + 20 * 60_000_000);
    s.ingest(batch, Actor::producer("p"), at).await.unwrap();
    let id = incident_of(s, "da-roll-0").await;
    all_in(s, "da-roll", 4, &id).await;
    let inc = s.get_incident(&id).await.unwrap().unwrap().incident;
    assert_eq!(inc.alert_count, 4);
    assert_eq!(inc.severity, Severity::High);
    assert_endpoint_and_identity(&inc);
    assert_eq!(inc.categories, vec!["CredentialAccess".to_string()]);
    assert_eq!(inc.first_activity, t0);
    assert_eq!(
        inc.last_activity,
        Timestamp::from_micros(t0.micros() + 15 * 60_000_000)
    );
    assert!(
        inc.display_name.contains("4 alerts"),
        "{}",
        inc.display_name
    );
}

/// Alerts `{prefix}-0` to `{prefix}-{n-1}` are all in incident `id`.
async fn all_in(s: &dyn Store, prefix: &str, n: usize, id: &str) {
    for i in 0..n {
        assert_eq!(
            incident_of(s, &format!("{prefix}-{i}")).await,
            id,
            "alert {prefix}-{i}"
        );
    }
}

/// The incident rolled up the two service sources the roll-up cases use.
fn assert_endpoint_and_identity(inc: &rampart_domain::incident::IncidentRecord) {
    let sources: BTreeSet<&str> = inc.service_sources.iter().map(String::as_str).collect();
    assert_eq!(
        sources,
        BTreeSet::from([
            "microsoftDefenderForEndpoint",
            "microsoftDefenderForIdentity"
        ])
    );
}

/// Roll-ups of an incident joined by later batches: each batch adds to the stored row (count,
/// highest severity, sources and categories in order of arrival, time span, name).
pub async fn rollups_across_batches(s: &dyn Store) {
    let (t0, at) = (T0, minute);
    let first = on_devices("da-grow-0", t0, 30, &["g1"]);
    s.ingest(vec![first], Actor::producer("p"), at(31))
        .await
        .unwrap();
    let id = incident_of(s, "da-grow-0").await;
    let one = s.get_incident(&id).await.unwrap().unwrap().incident;
    assert_eq!((one.alert_count, one.severity), (1, Severity::Medium));
    assert_eq!(one.display_name, "alert da-grow-0");

    let mut batch = vec![
        on_devices("da-grow-1", t0, 40, &["g1"]),
        on_devices("da-grow-2", t0, 20, &["g1"]),
    ];
    batch[0].record.severity = Severity::High;
    batch[0].record.service_source = "microsoftDefenderForIdentity".into();
    batch[0].record.category = Some("CredentialAccess".into());
    batch[1].record.severity = Severity::Low;
    batch[1].record.category = Some("Execution".into());
    batch[1].record.first_activity = at(10);
    s.ingest(batch, Actor::producer("p"), at(41)).await.unwrap();
    let three = s.get_incident(&id).await.unwrap().unwrap().incident;
    for i in 1..3 {
        assert_eq!(incident_of(s, &format!("da-grow-{i}")).await, id);
    }
    assert_eq!((three.alert_count, three.severity), (3, Severity::High));
    assert_eq!(
        three.service_sources,
        vec![
            "microsoftDefenderForEndpoint".to_string(),
            "microsoftDefenderForIdentity".to_string()
        ]
    );
    assert_eq!(
        three.categories,
        vec!["CredentialAccess".to_string(), "Execution".to_string()]
    );
    assert_eq!(
        (three.first_activity, three.last_activity),
        (at(10), at(40))
    );
    assert_eq!(
        three.display_name,
        "Multi-stage incident involving CredentialAccess & Execution (3 alerts)"
    );

    let mut last = on_devices("da-grow-3", t0, 50, &["g1"]);
    last.record.category = Some("Execution".into());
    s.ingest(vec![last], Actor::producer("p"), at(51))
        .await
        .unwrap();
    let four = s.get_incident(&id).await.unwrap().unwrap().incident;
    assert_eq!((four.alert_count, four.severity), (4, Severity::High));
    assert_eq!(four.categories.len(), 2, "{:?}", four.categories);
    assert_eq!(four.last_activity, at(50));
    assert!(
        four.display_name.ends_with("(4 alerts)"),
        "{}",
        four.display_name
    );
}

/// A merge of stored incidents: the survivor's roll-up takes in the absorbed incident's
/// (count, severity, sources, categories, time span, name), which is left empty and
/// redirected. Categories: the survivor's, in their order of arrival, then those the
/// absorbed incident brings.
pub async fn rollups_of_a_merge_across_batches(s: &dyn Store) {
    let (t0, at) = (T0, minute);
    let mut first = on_devices("da-join-0", t0, 10, &["j1"]);
    first.record.severity = Severity::High;
    first.record.service_source = "microsoftDefenderForIdentity".into();
    first.record.category = Some("CredentialAccess".into());
    first.record.first_activity = at(2);
    s.ingest(vec![first], Actor::producer("p"), at(11))
        .await
        .unwrap();
    let mut batch = vec![
        on_devices("da-join-1", t0, 12, &["j2"]),
        on_devices("da-join-2", t0, 14, &["j2"]),
    ];
    batch[1].record.severity = Severity::Low;
    batch[1].record.category = Some("Execution".into());
    s.ingest(batch, Actor::producer("p"), at(15)).await.unwrap();
    let (absorbed, survivor) = (
        incident_of(s, "da-join-0").await,
        incident_of(s, "da-join-1").await,
    );
    assert_ne!(absorbed, survivor);

    // One more alert for the second incident, then one that bridges the two: the larger
    // incident survives.
    let mut batch = vec![
        on_devices("da-join-3", t0, 18, &["j2"]),
        on_devices("da-join-4", t0, 20, &["j1", "j2"]),
    ];
    batch[0].record.category = Some("Exfiltration".into());
    s.ingest(batch, Actor::producer("p"), at(21)).await.unwrap();
    all_in(s, "da-join", 5, &survivor).await;
    let inc = s.get_incident(&survivor).await.unwrap().unwrap().incident;
    assert_eq!((inc.alert_count, inc.severity), (5, Severity::High));
    assert_endpoint_and_identity(&inc);
    assert_eq!(
        inc.categories,
        ["Execution", "Exfiltration", "CredentialAccess"].map(String::from)
    );
    assert_eq!((inc.first_activity, inc.last_activity), (at(2), at(20)));
    assert_eq!(
        inc.display_name,
        "Multi-stage incident involving Execution & Exfiltration & CredentialAccess (5 alerts)"
    );
    let gone = s.get_incident(&absorbed).await.unwrap().unwrap().incident;
    assert_eq!(
        (gone.alert_count, gone.status),
        (0, IncidentStatus::Redirected)
    );
    // Its name and severity stay, for whoever follows a link to it.
    assert_eq!(
        (gone.display_name.as_str(), gone.severity),
        ("alert da-join-0", Severity::High)
    );
    assert_eq!(
        gone.redirect_incident_id.as_deref(),
        Some(survivor.as_str())
    );
}

/// An incident's severity is its active alerts' highest, whichever way alerts arrive: once
/// every alert is resolved it shows theirs, a lower alert that joins then replaces it (by a
/// link or by a merge), and resolved alerts an absorbed incident brings do not raise it.
pub async fn severity_follows_the_active_alerts(s: &dyn Store) {
    let at = minute;
    let severity = |id: String| async move {
        s.get_incident(&id)
            .await
            .unwrap()
            .unwrap()
            .incident
            .severity
    };
    let resolve = |id: &'static str| async move {
        let g = access::grant("Security operator", None, Permission::AlertsManage);
        let change = AlertChange {
            status: Some(AlertStatus::Resolved),
            ..Default::default()
        };
        let v = s.get_alert(id).await.unwrap().unwrap().record.version;
        s.update_alert(&g, id, &change, v, None, at(60))
            .await
            .unwrap();
    };
    let mut high = on_devices("da-sev-0", T0, 0, &["sev1"]);
    high.record.severity = Severity::High;
    s.ingest(vec![high], Actor::producer("p"), at(1))
        .await
        .unwrap();
    let id = incident_of(s, "da-sev-0").await;
    resolve("da-sev-0").await;
    assert_eq!(
        severity(id.clone()).await,
        Severity::High,
        "all resolved: theirs"
    );

    let mut low = on_devices("da-sev-1", T0, 2, &["sev1"]);
    low.record.severity = Severity::Low;
    s.ingest(vec![low], Actor::producer("p"), at(3))
        .await
        .unwrap();
    assert_eq!(incident_of(s, "da-sev-1").await, id);
    assert_eq!(
        severity(id.clone()).await,
        Severity::Low,
        "the one active alert's"
    );
    let mut medium = on_devices("da-sev-2", T0, 4, &["sev1"]);
    medium.record.severity = Severity::Medium;
    s.ingest(vec![medium], Actor::producer("p"), at(5))
        .await
        .unwrap();
    assert_eq!(severity(id.clone()).await, Severity::Medium);

    // An incident whose only alert is resolved (high) is absorbed by one with a low active
    // alert: the survivor stays low.
    let mut resolved = on_devices("da-sev-3", T0, 6, &["sev2"]);
    resolved.record.severity = Severity::High;
    let mut quiet = on_devices("da-sev-4", T0, 7, &["sev3"]);
    quiet.record.severity = Severity::Low;
    s.ingest(vec![resolved, quiet], Actor::producer("p"), at(8))
        .await
        .unwrap();
    resolve("da-sev-3").await;
    let mut bridge = on_devices("da-sev-5", T0, 9, &["sev2", "sev3"]);
    bridge.record.severity = Severity::Low;
    s.ingest(vec![bridge], Actor::producer("p"), at(10))
        .await
        .unwrap();
    let merged = incident_of(s, "da-sev-5").await;
    assert_eq!(incident_of(s, "da-sev-3").await, merged);
    assert_eq!(incident_of(s, "da-sev-4").await, merged);
    assert_eq!(severity(merged).await, Severity::Low);
}

/// A re-sent alert moves its incident's roll-up with it: a later last activity and a raised
/// severity show on the incident, and the alert is not counted twice.
pub async fn resend_moves_the_incident_rollup(s: &dyn Store) {
    let (t0, at) = (T0, minute);
    for (i, m) in [(0, 0), (1, 5)] {
        let a = on_devices(&format!("da-rs-{i}"), t0, m, &["rs1"]);
        s.ingest(vec![a], Actor::producer("p"), at(m + 1))
            .await
            .unwrap();
    }
    let id = incident_of(s, "da-rs-0").await;
    assert_eq!(incident_of(s, "da-rs-1").await, id);
    let before = s.get_incident(&id).await.unwrap().unwrap().incident;
    assert_eq!((before.alert_count, before.last_activity), (2, at(5)));

    let mut again = on_devices("da-rs-0", t0, 30, &["rs1"]);
    again.record.severity = Severity::High;
    again.document = br#"{"status":"updated"}"#.to_vec().into();
    let out = s
        .ingest(vec![again], Actor::producer("p"), at(31))
        .await
        .unwrap();
    assert_eq!(out, [IngestOutcome::Updated]);
    let after = s.get_incident(&id).await.unwrap().unwrap().incident;
    assert_eq!(after.alert_count, 2, "a re-send is not a new alert");
    assert_eq!(after.severity, Severity::High);
    assert_eq!((after.first_activity, after.last_activity), (t0, at(30)));
}

/// A re-send that names an entity the alert did not name before correlates through it at
/// ingest: the alert's incident and the incident of that entity become one, the alert's
/// reasons say why, and both incidents' histories record the merge.
pub async fn resend_with_a_new_entity_merges_incidents(s: &dyn Store) {
    let at = minute;
    s.ingest(
        vec![
            on_devices("da-rn-0", T0, 0, &["rn1"]),
            on_devices("da-rn-1", T0, 1, &["rn2"]),
            on_devices("da-rn-2", T0, 2, &["rn2"]),
        ],
        Actor::producer("p"),
        at(3),
    )
    .await
    .unwrap();
    let (one, two) = (
        incident_of(s, "da-rn-0").await,
        incident_of(s, "da-rn-1").await,
    );
    assert_ne!(one, two);
    assert_eq!(incident_of(s, "da-rn-2").await, two);

    let mut again = on_devices("da-rn-0", T0, 4, &["rn1", "rn2"]);
    again.document = br#"{"evidence":"a second device"}"#.to_vec().into();
    let out = s
        .ingest(vec![again], Actor::producer("p"), at(5))
        .await
        .unwrap();
    assert_eq!(out, [IngestOutcome::Updated]);
    assert_eq!(incident_of(s, "da-rn-0").await, two, "the larger survives");
    let gone = s.get_incident(&one).await.unwrap().unwrap().incident;
    assert_eq!(gone.status, IncidentStatus::Redirected);
    assert_eq!(gone.redirect_incident_id.as_deref(), Some(two.as_str()));
    let kept = s.get_incident(&two).await.unwrap().unwrap();
    assert_eq!(kept.incident.alert_count, 3);
    assert_eq!(
        (kept.incident.first_activity, kept.incident.last_activity),
        (T0, at(4))
    );
    assert!(
        kept.reasons
            .iter()
            .any(|r| r.alert_id == "da-rn-0" && r.value == "rn2"),
        "{:?}",
        kept.reasons
    );
    let h = s.history(TargetKind::Incident, &one).await.unwrap();
    assert!(h.iter().any(|e| e.action == "merged"), "{h:?}");

    // The same document again is a retry: nothing moves, no reason is added twice, the
    // alert keeps its version and gets no history event.
    let version = s
        .get_alert("da-rn-0")
        .await
        .unwrap()
        .unwrap()
        .record
        .version;
    let events = s.history(TargetKind::Alert, "da-rn-0").await.unwrap().len();
    let mut same = on_devices("da-rn-0", T0, 4, &["rn1", "rn2"]);
    same.document = br#"{"evidence":"a second device"}"#.to_vec().into();
    s.ingest(vec![same], Actor::producer("p"), at(6))
        .await
        .unwrap();
    let now = s.get_alert("da-rn-0").await.unwrap().unwrap().record;
    assert_eq!(now.version, version);
    assert_eq!(
        s.history(TargetKind::Alert, "da-rn-0").await.unwrap().len(),
        events
    );
    let kept = s.get_incident(&two).await.unwrap().unwrap();
    assert_eq!(
        kept.reasons
            .iter()
            .filter(|r| r.alert_id == "da-rn-0" && r.value == "rn2")
            .count(),
        1
    );
}

/// The differential property: for random alerts and random conditions, the SQL filter
/// returns exactly the alerts `Condition::eval` accepts. `make` opens a fresh, empty store.
pub async fn filter_sql_matches_eval<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let cases: u32 = std::env::var("RAMPART_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let alerts_strategy = arbitrary::arb_alerts(24);
    let conds_strategy = proptest::collection::vec(arbitrary::arb_condition(), 1..12);
    for case in 0..cases {
        let alerts: Vec<(AlertRecord, Vec<EntityKey>)> =
            alerts_strategy.new_tree(&mut runner).unwrap().current();
        let conditions: Vec<String> = conds_strategy.new_tree(&mut runner).unwrap().current();
        let store = make().await;
        let alerts: Vec<(AlertRecord, Vec<EntityKey>)> = alerts
            .into_iter()
            .map(|(mut r, e)| {
                // The store merges on (serviceSource, providerAlertId); keep them unique.
                r.provider_alert_id = r.provider_alert_id.map(|p| format!("{p}#{}", r.id));
                (r, e)
            })
            .collect();
        let batch = alerts
            .iter()
            .map(|(r, e)| new_alert(r.clone(), e.clone(), b"{}"))
            .collect();
        store
            .ingest(batch, Actor::producer("t"), arbitrary::ARB_NOW)
            .await
            .unwrap();
        // Evaluate against what was stored: correlation assigns the incident.
        let mut stored = Vec::with_capacity(alerts.len());
        for (r, e) in alerts {
            let got = store.get_alert(&r.id).await.unwrap().unwrap();
            stored.push((got.record, e));
        }
        let alerts = stored;
        for text in &conditions {
            let cond = condition::parse(text)
                .unwrap_or_else(|e| panic!("generated condition {text:?} does not parse: {e}"));
            let expected: BTreeSet<String> = alerts
                .iter()
                .filter(|(r, e)| {
                    cond.eval(
                        &AlertFacts {
                            record: r,
                            entities: e,
                        },
                        arbitrary::ARB_NOW,
                    )
                })
                .map(|(r, _)| r.id.clone())
                .collect();
            let got: BTreeSet<String> = matching_ids(store.as_ref(), cond, arbitrary::ARB_NOW)
                .await
                .into_iter()
                .collect();
            assert_eq!(
                got, expected,
                "case {case}: condition {text:?} disagrees between SQL and eval"
            );
        }
    }
}
