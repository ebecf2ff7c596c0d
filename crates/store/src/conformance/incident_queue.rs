//! Conformance cases for the incident queue (its order, paging and filters) and incident
//! comments.
use super::{incident_of, minute, on_devices, T0};
use crate::{IncidentQuery, Store};
use rampart_domain::access::{authorize, builtin, Permission, Principal, PrincipalKind};
use rampart_domain::condition;
use rampart_domain::history::{Actor, TargetKind};
use rampart_domain::incident::{IncidentChange, IncidentStatus};

/// An incident-managing grant of a Security operator called `tester`.
fn operator() -> rampart_domain::access::Grant {
    let p = Principal::new(
        PrincipalKind::User,
        "u-1",
        "tester",
        vec![builtin("Security operator").unwrap()],
    );
    authorize(&p, Permission::IncidentsManage, None).unwrap()
}

/// The ids of the queue's pages of `size` for `q`, following each page's key to the next.
async fn queue_ids(s: &dyn Store, q: &IncidentQuery, size: usize) -> Vec<String> {
    let mut q = IncidentQuery {
        page_size: size,
        ..q.clone()
    };
    let mut ids = Vec::new();
    for _ in 0..100 {
        let page = s.list_incidents(&q).await.unwrap();
        ids.extend(page.items.into_iter().map(|i| i.id));
        match page.next {
            Some(k) => q.after = Some(k),
            None => return ids,
        }
    }
    panic!("the queue did not end within 100 pages: {ids:?}");
}

/// The queue lists incidents by last update, newest first, as the reference product does:
/// an incident moves to the top when ingest links an alert to it or an analyst changes
/// it, whatever its alerts' activity times. Ties (incidents opened in one batch) go by row
/// id, newest first (here, creation order), and paging by one gives the same order with nothing twice.
/// The default window is on last update; `since` and `until` stay on last activity.
pub async fn incident_queue_by_last_update(s: &dyn Store) {
    // Each alert `(id, minute of activity, device)`, stored at minute `at`.
    let store = |alerts: &'static [(&'static str, i64, &'static str)], at: i64| async move {
        let batch = alerts
            .iter()
            .map(|(id, m, device)| on_devices(id, T0, *m, &[device]))
            .collect();
        s.ingest(batch, Actor::producer("p"), minute(at))
            .await
            .unwrap();
    };
    // A is active earliest but stored first; B (active latest) and C share a batch.
    store(&[("da-ou-a", 0, "ou-a")], 1).await;
    store(&[("da-ou-b", 50, "ou-b"), ("da-ou-c", 5, "ou-c")], 2).await;
    let (a, b, c) = (
        incident_of(s, "da-ou-a").await,
        incident_of(s, "da-ou-b").await,
        incident_of(s, "da-ou-c").await,
    );
    let (a, b, c) = (a.as_str(), b.as_str(), c.as_str());
    let all = IncidentQuery {
        now: minute(60),
        ..IncidentQuery::default()
    };
    assert_eq!(queue_ids(s, &all, 50).await, [c, b, a]);
    // A new alert on A's device, active before everything in B and C, links to A and
    // updates it.
    store(&[("da-ou-a2", 3, "ou-a")], 4).await;
    assert_eq!(incident_of(s, "da-ou-a2").await, a);
    assert_eq!(queue_ids(s, &all, 50).await, [a, c, b]);
    // An analyst's change updates B.
    let grant = operator();
    let version = s.get_incident(b).await.unwrap().unwrap().incident.version;
    let change = IncidentChange {
        status: Some(IncidentStatus::InProgress),
        ..IncidentChange::default()
    };
    s.update_incident(&grant, b, &change, version, None, minute(5))
        .await
        .unwrap();
    let order = [b, a, c];
    assert_eq!(queue_ids(s, &all, 50).await, order);
    assert_eq!(queue_ids(s, &all, 1).await, order, "paged one by one");
    // The default window: updated at or after minute 4.
    let recent = IncidentQuery {
        updated_since: Some(minute(4)),
        ..all.clone()
    };
    assert_eq!(queue_ids(s, &recent, 1).await, [b, a]);
    // `since` and `until` are on last activity: B's alert is active at minute 50, A's
    // latest at minute 3, C's at minute 5.
    let active = |since: i64, until: i64| IncidentQuery {
        since: Some(minute(since)),
        until: Some(minute(until)),
        ..all.clone()
    };
    assert_eq!(queue_ids(s, &active(10, 60), 50).await, [b]);
    assert_eq!(queue_ids(s, &active(2, 10), 1).await, [a, c]);
    let filtered = IncidentQuery {
        alerts: condition::parse("entity.device:ou-c").unwrap(),
        ..all.clone()
    };
    assert_eq!(queue_ids(s, &filtered, 50).await, [c]);
}

/// The incident queue filtered by its alerts: an incident is listed when one of its alerts
/// matches the condition (entity, source, free text), whatever its other alerts are.
pub async fn incident_queue_filters_by_alerts(s: &dyn Store) {
    let mut a = on_devices("da-qa-0", T0, 0, &["qa1"]);
    a.record.title = "Mimikatz credential theft".into();
    let mut b = on_devices("da-qb-0", T0, 1, &["qb1"]);
    b.record.service_source = "microsoftDefenderForIdentity".into();
    let a2 = on_devices("da-qa-1", T0, 2, &["qa1"]);
    s.ingest(vec![a, b, a2], Actor::producer("p"), minute(3))
        .await
        .unwrap();
    let (ia, ib) = (
        incident_of(s, "da-qa-0").await,
        incident_of(s, "da-qb-0").await,
    );
    assert_ne!(ia, ib);
    let listed = |q: &'static str| {
        let query = IncidentQuery {
            alerts: condition::parse(q).unwrap_or_default(),
            now: minute(10),
            page_size: 50,
            ..IncidentQuery::default()
        };
        async move {
            let mut ids = queue_ids(s, &query, 50).await;
            ids.sort_unstable();
            ids
        }
    };
    let mut both = vec![ia.clone(), ib.clone()];
    both.sort_unstable();
    assert_eq!(listed("").await, both);
    assert_eq!(listed("entity.device:qa1").await, vec![ia.clone()]);
    assert_eq!(listed("mimikatz").await, vec![ia.clone()]);
    assert_eq!(
        listed("serviceSource:microsoftDefenderForIdentity").await,
        vec![ib.clone()]
    );
    assert_eq!(
        listed("-entity.device:qa1").await,
        vec![ib.clone()],
        "only da-qb-0 is an alert without the device"
    );
    assert!(listed("entity.device:nowhere").await.is_empty());
}

/// A comment lands in the incident's history as the caller, alone or with a change in the
/// same transaction; a change that fails takes its comment with it, and a merged incident
/// takes no comments. Comments leave the version alone, as an alert's do.
pub async fn incident_comments(s: &dyn Store) {
    s.ingest(
        vec![
            on_devices("da-cm-a", T0, 0, &["cm-a"]),
            on_devices("da-cm-b", T0, 1, &["cm-b"]),
        ],
        Actor::producer("p"),
        minute(2),
    )
    .await
    .unwrap();
    let (a, b) = (
        incident_of(s, "da-cm-a").await,
        incident_of(s, "da-cm-b").await,
    );
    let grant = operator();
    let comments = |id: String| async move {
        s.history(TargetKind::Incident, &id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "comment")
            .map(|e| (e.actor.name, e.text.unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let version = s.get_incident(&a).await.unwrap().unwrap().incident.version;
    let e = s
        .add_incident_comment(&grant, &a, "looked at the host", minute(3))
        .await
        .unwrap();
    assert!(e.seq > 0, "{e:?}");
    assert_eq!(e.text.as_deref(), Some("looked at the host"));
    assert_eq!(
        s.get_incident(&a).await.unwrap().unwrap().incident.version,
        version
    );
    let change = IncidentChange {
        status: Some(IncidentStatus::InProgress),
        ..IncidentChange::default()
    };
    s.update_incident(&grant, &a, &change, version, Some("taking it"), minute(4))
        .await
        .unwrap();
    // A stale version fails the change and its comment.
    let stale = s
        .update_incident(&grant, &a, &change, version, Some("lost"), minute(5))
        .await;
    assert!(stale.is_err(), "{stale:?}");
    assert_eq!(
        comments(a.clone()).await,
        [
            ("tester".to_string(), "looked at the host".to_string()),
            ("tester".to_string(), "taking it".to_string())
        ]
    );
    let missing = s
        .add_incident_comment(&grant, "inc-nothing", "x", minute(5))
        .await;
    assert!(
        matches!(missing, Err(crate::StoreError::NotFound)),
        "{missing:?}"
    );
    s.merge_incidents(&grant, &b, &a, minute(6)).await.unwrap();
    let merged = s
        .add_incident_comment(&grant, &b, "too late", minute(7))
        .await;
    assert!(
        matches!(merged, Err(crate::StoreError::Invalid { field: "id", .. })),
        "{merged:?}"
    );
    assert!(comments(b).await.is_empty());
}
