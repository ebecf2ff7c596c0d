//! Incidents over real HTTP: correlation at ingest, the incident page, triage, merge, links.
use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Sends `body` to `path` with POST, as the admin.
async fn post(app: &TestApp, path: &str, body: Value) -> Resp {
    app.send(Method::POST, path, &app.admin, Some(body)).await
}

/// Unlinks `alert` from its incident by hand, as the admin.
async fn unlink(app: &TestApp, alert: &str) -> Resp {
    app.send(
        Method::POST,
        &format!("/api/v1/alerts/{alert}/unlink"),
        &app.admin,
        None,
    )
    .await
}

/// Merges incident `from` into `into` by hand, as the admin.
async fn merge(app: &TestApp, from: &str, into: &str) -> Resp {
    post(
        app,
        &format!("/api/v1/incidents/{from}/merge"),
        json!({ "into": into }),
    )
    .await
}

fn on(provider: &str, device: &str, user: Option<&str>, extra: Vec<Value>) -> Value {
    let mut a = alert(provider);
    let mut ev = vec![
        json!({"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": device}),
    ];
    if let Some(u) = user {
        ev.push(json!({"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": {"accountName": u, "domainName": "CORP"}}));
    }
    ev.extend(extra);
    a["evidence"] = Value::Array(ev);
    a
}

async fn incident_of(app: &TestApp, alert: &str) -> String {
    app.get(&format!("/api/v1/alerts/{alert}")).await.1["incidentId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn incident(app: &TestApp, id: &str) -> Value {
    let (s, v) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn bulk(app: &TestApp, alerts: &[Value]) {
    let mut body = Vec::new();
    for a in alerts {
        serde_json::to_writer(&mut body, a).unwrap();
        body.push(b'\n');
    }
    let r = app
        .send_raw(
            Method::POST,
            "/api/v1/alerts/bulk",
            &app.admin,
            Some(body),
            &[],
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
}

#[tokio::test]
async fn related_alerts_form_one_incident_with_reasons() {
    let app = TestApp::new().await;
    let mut first = on("c1", "WS-17.corp.contoso.com", Some("alice"), vec![]);
    first["severity"] = json!("medium");
    first["category"] = json!("InitialAccess");
    let a = app.seed_alert(&first).await;
    // The same account, spelled as a UPN, on another host.
    let mut second = on(
        "c2",
        "SRV-DB01",
        None,
        vec![
            json!({"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": {"accountName": "alice", "userPrincipalName": "alice@corp.contoso.com"}}),
        ],
    );
    second["severity"] = json!("high");
    second["category"] = json!("LateralMovement");
    second["lastActivityDateTime"] = json!("2026-11-22T15:00:00Z");
    let b = app.seed_alert(&second).await;
    let unrelated = app
        .seed_alert(&on("c3", "ws-99", Some("zed"), vec![]))
        .await;
    let inc = incident_of(&app, &a).await;
    assert_eq!(incident_of(&app, &b).await, inc);
    assert_ne!(incident_of(&app, &unrelated).await, inc);
    let v = incident(&app, &inc).await;
    assert_eq!(v["alertIds"], json!([a, b]));
    assert_eq!(v["severity"], "high", "the highest of its active alerts");
    assert_eq!(v["alertCount"], 2);
    assert_eq!(v["status"], "active");
    assert_eq!(v["firstActivityDateTime"], "2026-11-22T10:00:00.000000Z");
    assert_eq!(v["lastActivityDateTime"], "2026-11-22T15:00:00.000000Z");
    assert!(
        v["displayName"]
            .as_str()
            .unwrap()
            .contains("InitialAccess & LateralMovement"),
        "{}",
        v["displayName"]
    );
    let reasons = v["correlationReasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(
        reasons[0],
        json!({"alertId": b, "kind": "user", "value": "alice", "rule": "sharedEntity"})
    );
    assert!(v["entities"]["device"]
        .as_array()
        .unwrap()
        .contains(&json!("ws-17")));
    assert!(v["entities"]["user"]
        .as_array()
        .unwrap()
        .contains(&json!("alice")));
    // The incident queue shows it.
    let (_, q) = app.get("/api/v1/incidents").await;
    assert_eq!(q["total"], 2);
    let (_, q) = app.get("/api/v1/incidents?severity=high").await;
    assert_eq!(q["items"][0]["id"], inc.as_str());
    // Filters on the incidents' alerts: entity, category, the condition language.
    let other = incident_of(&app, &unrelated).await;
    for (query, want) in [
        ("entity=device:ws-17", vec![inc.as_str()]),
        ("entity=user:zed", vec![other.as_str()]),
        ("category=LateralMovement", vec![inc.as_str()]),
        ("q=entity.user:alice%20severity:high", vec![inc.as_str()]),
        ("q=entity.user:alice%20severity:low", vec![]),
        (
            "serviceSource=microsoftDefenderForEndpoint",
            vec![inc.as_str(), other.as_str()],
        ),
    ] {
        let (s, v) = app.get(&format!("/api/v1/incidents?{query}")).await;
        assert_eq!(s, 200, "{query}: {v}");
        let mut ids: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let mut want = want;
        want.sort_unstable();
        assert_eq!(ids, want, "{query}");
        assert_eq!(v["total"], want.len(), "{query}");
    }
    for (query, field) in [
        ("q=severity>=", "q"),
        ("entity=ws-17", "entity"),
        ("category=", "category"),
    ] {
        let (s, v) = app.get(&format!("/api/v1/incidents?{query}")).await;
        assert_eq!(s, 400, "{query}: {v}");
        assert!(
            v["detail"].as_str().unwrap().starts_with(field),
            "{query}: {v}"
        );
    }
    // Resolving an alert lowers the incident's severity to that of its remaining alerts.
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/alerts/{b}"),
            &app.admin,
            Some(json!({"status": "resolved", "version": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(incident(&app, &inc).await["severity"], "medium");
}

#[tokio::test]
async fn dns_server_and_common_binaries_do_not_glue() {
    let app = TestApp::new().await;
    let alerts: Vec<Value> = (0..1000)
        .map(|i| on(&format!("dns{i}"), &format!("ws-{i}"), Some(&format!("user{i}")), vec![json!({"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "10.0.0.53"})]))
        .collect();
    bulk(&app, &alerts).await;
    let (_, q) = app.get("/api/v1/incidents?pageSize=1").await;
    assert_eq!(q["total"], 1000, "every alert in its own incident");
    // powershell.exe's hash, seen on many hosts, joins nothing.
    let ps = json!({"@odata.type": "#microsoft.graph.security.fileEvidence", "fileDetails": {"fileName": "powershell.exe", "sha256": "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c"}});
    let background: Vec<Value> = (0..10)
        .map(|i| {
            on(
                &format!("bg{i}"),
                &format!("host-{i}"),
                None,
                vec![ps.clone()],
            )
        })
        .collect();
    bulk(&app, &background).await;
    let x = app
        .seed_alert(&on("ps1", "fin-01", Some("carol"), vec![ps.clone()]))
        .await;
    let y = app
        .seed_alert(&on("ps2", "hr-07", Some("dave"), vec![ps]))
        .await;
    assert_ne!(incident_of(&app, &x).await, incident_of(&app, &y).await);
}

#[tokio::test]
async fn resolving_an_incident_resolves_its_alerts_and_closes_it_to_new_ones() {
    let app = TestApp::new().await;
    let a = app.seed_alert(&on("r1", "ws-1", None, vec![])).await;
    let b = app.seed_alert(&on("r2", "ws-1", None, vec![])).await;
    let inc = incident_of(&app, &a).await;
    let r = app
        .send(Method::PATCH, &format!("/api/v1/incidents/{inc}"), &app.admin, Some(json!({"status": "resolved", "classification": "truePositive", "determination": "malware", "comment": "Reimaged ws-1", "version": 9})))
        .await;
    assert_eq!(r.status, 409, "stale: {}", r.body);
    let version = incident(&app, &inc).await["version"].clone();
    let r = app
        .send(Method::PATCH, &format!("/api/v1/incidents/{inc}"), &app.admin, Some(json!({"status": "resolved", "classification": "truePositive", "determination": "malware", "comment": "Reimaged ws-1", "version": version})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for id in [&a, &b] {
        let v = app.get(&format!("/api/v1/alerts/{id}")).await.1;
        assert_eq!(
            (v["status"].as_str(), v["classification"].as_str()),
            (Some("resolved"), Some("truePositive"))
        );
    }
    let (_, h) = app.get(&format!("/api/v1/incidents/{inc}/history")).await;
    assert!(h["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["text"] == "Reimaged ws-1"));
    // A new alert on the same host starts a new incident: a closed case stays closed.
    let c = app.seed_alert(&on("r3", "ws-1", None, vec![])).await;
    assert_ne!(incident_of(&app, &c).await, inc);
    // A verdict that fits the incident but not one of its alerts names that alert, and
    // changes nothing.
    let v = app.seed_alert(&on("r9", "ws-v", None, vec![])).await;
    let inc3 = incident_of(&app, &v).await;
    let patch = |body: Value| {
        let path = format!("/api/v1/incidents/{inc3}");
        let app = &app;
        async move { app.send(Method::PATCH, &path, &app.admin, Some(body)).await }
    };
    let r =
        patch(json!({"classification": "truePositive", "determination": "malware", "version": 1}))
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = patch(json!({"status": "resolved", "determination": "malware", "version": 2})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["field"], "determination");
    assert!(
        r.body["detail"].as_str().unwrap().contains(&v),
        "{}",
        r.body
    );
    assert_eq!(incident(&app, &inc3).await["status"], "active");
    // Bad changes.
    for (body, field) in [
        (json!({"status": "redirected", "version": 1}), "status"),
        (
            json!({"classification": "falsePositive", "determination": "apt", "version": 1}),
            "determination",
        ),
        (json!({"assignedTo": "ghost", "version": 1}), "assignedTo"),
        (
            json!({"determination": "unknownFutureValue", "version": 1}),
            "determination",
        ),
        (
            json!({"classification": "unknownFutureValue", "version": 1}),
            "classification",
        ),
    ] {
        let inc2 = incident_of(&app, &c).await;
        let r = app
            .send(
                Method::PATCH,
                &format!("/api/v1/incidents/{inc2}"),
                &app.admin,
                Some(body),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["field"], field);
    }
}

#[tokio::test]
async fn manual_merge_link_and_unlink() {
    let app = TestApp::new().await;
    let a = app.seed_alert(&on("m1", "ws-a", None, vec![])).await;
    let b = app.seed_alert(&on("m2", "ws-b", None, vec![])).await;
    let c = app.seed_alert(&on("m3", "ws-c", None, vec![])).await;
    let (ia, ib, ic) = (
        incident_of(&app, &a).await,
        incident_of(&app, &b).await,
        incident_of(&app, &c).await,
    );
    // Comment on B, then merge B into A: B's alerts and history come along.
    let vb = incident(&app, &ib).await["version"].clone();
    app.send(
        Method::PATCH,
        &format!("/api/v1/incidents/{ib}"),
        &app.admin,
        Some(json!({"comment": "look at ws-b", "version": vb})),
    )
    .await;
    let r = merge(&app, &ib, &ia).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(incident_of(&app, &b).await, ia);
    // The moved alert's own history says where it went, and its version moved.
    let (_, hb) = app.get(&format!("/api/v1/alerts/{b}/history")).await;
    assert!(
        hb["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "linked"
                && e["oldValue"] == ib.as_str()
                && e["newValue"] == ia.as_str()),
        "{hb}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/alerts/{b}")).await.1["version"],
        2
    );
    let vb = incident(&app, &ib).await;
    assert_eq!(
        (vb["status"].as_str(), vb["redirectIncidentId"].as_str()),
        (Some("redirected"), Some(ia.as_str()))
    );
    let (_, h) = app.get(&format!("/api/v1/incidents/{ia}/history")).await;
    assert!(
        h["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["text"] == "look at ws-b"),
        "absorbed history shows on the survivor"
    );
    // Bad merges and links change nothing.
    let cases = [
        (
            format!("/api/v1/incidents/{ia}/merge"),
            json!({"into": ia}),
            400,
            "into",
        ),
        (
            format!("/api/v1/incidents/{ia}/merge"),
            json!({"into": ib}),
            400,
            "into",
        ),
        (
            format!("/api/v1/incidents/{ib}/merge"),
            json!({"into": ic}),
            400,
            "id",
        ),
        (
            format!("/api/v1/incidents/{ia}/merge"),
            json!({"into": "inc-nope"}),
            400,
            "into",
        ),
        (
            "/api/v1/incidents/inc-nope/merge".to_string(),
            json!({"into": ia}),
            404,
            "",
        ),
        (
            format!("/api/v1/alerts/{c}/link"),
            json!({"incidentId": "inc-nope"}),
            400,
            "incidentId",
        ),
        (
            format!("/api/v1/alerts/{c}/link"),
            json!({"incidentId": ib}),
            400,
            "incidentId",
        ),
    ];
    for (path, body, status, field) in cases {
        let r = app
            .send(Method::POST, &path, &app.admin, Some(body.clone()))
            .await;
        assert_eq!(r.status, status, "{path} {body} → {}", r.body);
        if !field.is_empty() {
            assert_eq!(r.body["field"], field, "{path} {body} → {}", r.body);
        }
    }
    assert_eq!(incident_of(&app, &c).await, ic);
    assert_eq!(incident(&app, &ia).await["alertCount"], 2);
    // Link C into A by hand: sticky, and explained.
    let r = post(
        &app,
        &format!("/api/v1/alerts/{c}/link"),
        json!({"incidentId": ia}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = incident(&app, &ia).await;
    assert_eq!(v["alertCount"], 3);
    assert!(v["correlationReasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["alertId"] == c.as_str() && r["rule"] == "manual"));
    // C's old incident is empty: no alerts, so no sources or categories either.
    let emptied = incident(&app, &ic).await;
    assert_eq!(
        (
            emptied["alertCount"].as_i64(),
            emptied["serviceSources"].as_array().map(Vec::len),
            emptied["categories"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0), Some(0)),
        "{emptied}"
    );
    // A new alert on C's host does not pull C back out.
    let d = app.seed_alert(&on("m4", "ws-c", None, vec![])).await;
    assert_eq!(incident_of(&app, &c).await, ia);
    assert_eq!(
        incident_of(&app, &d).await,
        ia,
        "it correlates to where C now is"
    );
    // Unlink A: it gets an incident of its own.
    let r = unlink(&app, &a).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(incident_of(&app, &a).await, new);
    let (_, h) = app.get(&format!("/api/v1/alerts/{a}/history")).await;
    assert!(h["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "linked" && e["newValue"] == new.as_str()));
    // Unlinking it again changes nothing: it is already alone, and no empty incident is
    // left behind.
    let (_, before) = app.get(&format!("/api/v1/alerts/{a}/history")).await;
    let again = unlink(&app, &a).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["id"], new.as_str());
    assert_eq!(incident_of(&app, &a).await, new);
    assert_eq!(incident(&app, &new).await["alertCount"], 1);
    let (_, after) = app.get(&format!("/api/v1/alerts/{a}/history")).await;
    assert_eq!(before, after, "no history for a change that did not happen");
}

#[tokio::test]
async fn recorrelation_rebuilds_automatic_links_and_keeps_manual_ones() {
    let app = TestApp::new().await;
    let a = app.seed_alert(&on("k1", "ws-1", None, vec![])).await;
    let b = app.seed_alert(&on("k2", "ws-1", None, vec![])).await;
    let c = app.seed_alert(&on("k3", "ws-2", None, vec![])).await;
    let (ia, ic) = (incident_of(&app, &a).await, incident_of(&app, &c).await);
    assert_eq!(incident_of(&app, &b).await, ia);
    post(
        &app,
        &format!("/api/v1/alerts/{c}/link"),
        json!({"incidentId": ia}),
    )
    .await;
    let s = app
        .store
        .correlate(rampart_domain::timestamp::Timestamp::from_micros(0), now())
        .await
        .unwrap();
    assert_eq!(s.alerts, 2, "the manual link is not re-placed");
    assert_eq!(s.moved, 0, "same settings, same incidents, same ids");
    assert_eq!(incident_of(&app, &a).await, ia);
    assert_eq!(incident_of(&app, &b).await, ia);
    assert_eq!(incident_of(&app, &c).await, ia);
    let _ = ic;
}

#[tokio::test]
async fn process_lineage_links_parent_and_child_alerts() {
    let app = TestApp::new().await;
    let proc_ev = |pid: i64, created: &str, parent: Option<(i64, &str)>| {
        let mut p = json!({"@odata.type": "#microsoft.graph.security.processEvidence", "processId": pid,
            "processCreationDateTime": created, "mdeDeviceId": "mde-7f3a", "processCommandLine": "x.exe"});
        if let Some((ppid, pc)) = parent {
            p["parentProcessId"] = json!(ppid);
            p["parentProcessCreationDateTime"] = json!(pc);
        }
        p
    };
    let parent = app
        .seed_alert(&on(
            "lp1",
            "ws-lineage",
            None,
            vec![proc_ev(4000, "2026-11-22T09:00:00Z", None)],
        ))
        .await;
    // The child's alert names its host differently; only the process tree links them.
    let child = app
        .seed_alert(&on(
            "lp2",
            "10.20.30.40",
            None,
            vec![proc_ev(
                7000,
                "2026-11-22T09:05:00Z",
                Some((4000, "2026-11-22T09:00:00Z")),
            )],
        ))
        .await;
    assert_eq!(
        incident_of(&app, &parent).await,
        incident_of(&app, &child).await
    );
    let v = incident(&app, &incident_of(&app, &child).await).await;
    assert_eq!(v["correlationReasons"][0]["kind"], "process");
}

/// A producer re-sends an alert with evidence of a second device: the alert's incident and
/// the second device's incident merge at once, the page says why, and the absorbed
/// incident points at the survivor.
#[tokio::test]
async fn a_resend_with_new_evidence_correlates_at_once() {
    let app = TestApp::new().await;
    let a = app.seed_alert(&on("rs-a", "ws-41", None, vec![])).await;
    let b = app.seed_alert(&on("rs-b", "ws-42", None, vec![])).await;
    let c = app.seed_alert(&on("rs-c", "ws-42", None, vec![])).await;
    let (one, two) = (incident_of(&app, &a).await, incident_of(&app, &b).await);
    assert_ne!(one, two);
    assert_eq!(incident_of(&app, &c).await, two);

    let again = on(
        "rs-a",
        "ws-41",
        None,
        vec![
            json!({"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "WS-42.corp.contoso.com"}),
        ],
    );
    bulk(&app, &[again]).await;
    assert_eq!(
        incident_of(&app, &a).await,
        two,
        "the larger incident survives"
    );
    let v = incident(&app, &two).await;
    assert_eq!(v["alertCount"], 3);
    assert!(
        v["correlationReasons"].as_array().unwrap().contains(
            &json!({"alertId": a, "kind": "device", "value": "ws-42", "rule": "sharedEntity"})
        ),
        "{}",
        v["correlationReasons"]
    );
    let gone = incident(&app, &one).await;
    assert_eq!(gone["status"], "redirected");
    assert_eq!(gone["redirectIncidentId"], two.as_str());
}

#[tokio::test]
async fn queue_lists_the_most_recently_updated_incident_first_and_pages_by_cursor() {
    let app = TestApp::new().await;
    let alerts: Vec<Value> = (0..30)
        .map(|i| on(&format!("qo{i}"), &format!("qo-host-{i}"), None, vec![]))
        .collect();
    bulk(&app, &alerts).await;
    let on_host_0 = || async {
        let (_, v) = app.get("/api/v1/incidents?entity=device:qo-host-0").await;
        assert_eq!(v["total"], 1, "{v}");
        v["items"][0].clone()
    };
    let oldest = on_host_0().await["id"].as_str().unwrap().to_string();
    // A minute later, a new alert on the first host joins (and updates) its incident.
    app.clock.advance_micros(60_000_000);
    bulk(&app, &[on("qo-late", "qo-host-0", None, vec![])]).await;
    let joined = on_host_0().await;
    assert_eq!(joined["id"], oldest.as_str());
    assert_eq!(joined["alertCount"], 2);
    let (mut seen, mut cursor, mut updated) = (Vec::new(), None::<String>, Vec::new());
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/incidents?pageSize=7&cursor={c}"),
            None => "/api/v1/incidents?pageSize=7".to_string(),
        };
        let (s, v) = app.get(&path).await;
        assert_eq!(s, 200, "{v}");
        for i in v["items"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_string());
            updated.push(i["lastUpdateDateTime"].as_str().unwrap().to_string());
        }
        match v["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.first(), Some(&oldest), "the updated incident leads");
    assert_eq!(seen.len(), 30);
    let distinct: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 30, "no incident twice across pages");
    assert!(
        updated.windows(2).all(|w| w[0] >= w[1]),
        "newest update first: {updated:?}"
    );
    // A cursor of the alert queue (ordered by last activity) is not one of this queue's.
    let (_, alerts) = app.get("/api/v1/alerts?pageSize=1").await;
    let foreign = alerts["nextCursor"].as_str().unwrap();
    let (s, v) = app
        .get(&format!("/api/v1/incidents?cursor={foreign}"))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("cursor"), "{v}");
}

/// Bodies that are not JSON objects, cut short, or missing a field get a 400 that names
/// `body` or the field, and change nothing; a huge value is not quoted back whole.
#[tokio::test]
async fn malformed_bodies_name_the_body_or_the_field_and_change_nothing() {
    let app = TestApp::new().await;
    let a = app.seed_alert(&on("mb1", "ws-mb1", None, vec![])).await;
    let b = app.seed_alert(&on("mb2", "ws-mb2", None, vec![])).await;
    let (ia, ib) = (incident_of(&app, &a).await, incident_of(&app, &b).await);
    let before = (incident(&app, &ia).await, incident(&app, &ib).await);
    let huge = format!("\"{}\"", "x".repeat(1_000_000));
    let cases: Vec<(Method, String, Vec<u8>, &str)> = vec![
        // serde would fill the update from an array, field by position.
        (
            Method::PATCH,
            format!("/api/v1/incidents/{ia}"),
            br#"["inProgress",null,null,null,[],[],"via array",1]"#.to_vec(),
            "body",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{ib}/merge"),
            format!(r#"["{ia}"]"#).into_bytes(),
            "body",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{ib}/merge"),
            b"{".to_vec(),
            "body",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{ib}/merge"),
            b"{}".to_vec(),
            "into",
        ),
        (
            Method::POST,
            format!("/api/v1/alerts/{a}/link"),
            b"{\"incidentId\": 7}".to_vec(),
            "incidentId",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{ib}/merge"),
            format!("{{\"into\": {huge}}}").into_bytes(),
            "into",
        ),
        // A route that takes no body refuses one instead of ignoring it.
        (
            Method::POST,
            format!("/api/v1/alerts/{a}/unlink"),
            b"{\"x\": 1}".to_vec(),
            "body",
        ),
    ];
    for (method, path, body, field) in cases {
        let r = app
            .send_raw(method, &path, &app.admin, Some(body), &[])
            .await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.body["field"], field, "{path}: {}", r.body);
        let detail = r.body["detail"].as_str().unwrap();
        assert!(
            detail.len() < 2_000,
            "{path}: detail of {} bytes",
            detail.len()
        );
    }
    assert_eq!(
        (incident(&app, &ia).await, incident(&app, &ib).await),
        before,
        "nothing changed"
    );
}

/// P merged into Q, then Q into R: P names R, links aimed at P are sent to R, and R's
/// history carries P's comment.
#[tokio::test]
async fn a_chain_of_merges_leads_to_the_last_survivor() {
    let app = TestApp::new().await;
    let ids = [
        app.seed_alert(&on("ch1", "ws-ch1", None, vec![])).await,
        app.seed_alert(&on("ch2", "ws-ch2", None, vec![])).await,
        app.seed_alert(&on("ch3", "ws-ch3", None, vec![])).await,
        app.seed_alert(&on("ch4", "ws-ch4", None, vec![])).await,
    ];
    let (p, q, r) = (
        incident_of(&app, &ids[0]).await,
        incident_of(&app, &ids[1]).await,
        incident_of(&app, &ids[2]).await,
    );
    let v = incident(&app, &p).await["version"].clone();
    let c = app
        .send(
            Method::PATCH,
            &format!("/api/v1/incidents/{p}"),
            &app.admin,
            Some(json!({"comment": "seen on ws-ch1 first", "version": v})),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    for (from, into) in [(&p, &q), (&q, &r)] {
        let m = merge(&app, from, into).await;
        assert_eq!(m.status, 200, "{}", m.body);
    }
    assert_eq!(incident(&app, &p).await["redirectIncidentId"], r.as_str());
    let l = post(
        &app,
        &format!("/api/v1/alerts/{}/link", ids[3]),
        json!({ "incidentId": p }),
    )
    .await;
    assert_eq!(l.status, 400, "{}", l.body);
    assert!(
        l.body["detail"].as_str().unwrap().contains(r.as_str()),
        "{}",
        l.body
    );
    let (_, h) = app.get(&format!("/api/v1/incidents/{r}/history")).await;
    assert!(
        h["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["text"] == "seen on ws-ch1 first"),
        "{h}"
    );
    assert_eq!(incident_of(&app, &ids[0]).await, r);
}

/// A route that reads no query parameters refuses them, naming the first, and does nothing:
/// `?dryRun=1` on a merge must not look accepted and merge anyway.
#[tokio::test]
async fn routes_without_parameters_refuse_a_query_string() {
    let app = TestApp::new().await;
    let a = app.seed_alert(&on("qs1", "ws-qs1", None, vec![])).await;
    let b = app.seed_alert(&on("qs2", "ws-qs2", None, vec![])).await;
    let (ia, ib) = (incident_of(&app, &a).await, incident_of(&app, &b).await);
    let r = post(
        &app,
        &format!("/api/v1/incidents/{ib}/merge?dryRun=1"),
        json!({ "into": ia }),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["field"], "dryRun");
    assert_eq!(incident(&app, &ib).await["status"], "active", "not merged");
    for path in [
        format!("/api/v1/incidents/{ia}?foo=1"),
        format!("/api/v1/incidents/{ia}/history?foo"),
        format!("/api/v1/alerts/{a}?x=y&z=1"),
    ] {
        let r = app.send(Method::GET, &path, &app.admin, None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
    // The listing routes still take theirs, and name the one at fault.
    let r = app
        .send(
            Method::GET,
            "/api/v1/incidents?pageSize=5",
            &app.admin,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .send(Method::GET, "/api/v1/incidents?status=", &app.admin, None)
        .await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (400, Some("status")),
        "{}",
        r.body
    );
    for (query, field) in [
        ("pageSize=-1", "pageSize"),
        ("pageSize=abc", "pageSize"),
        ("pageSize=1&pageSize=2", "pageSize"),
        ("foo=bar", "foo"),
        ("severity=", "severity"),
    ] {
        for list in ["incidents", "alerts"] {
            let r = app
                .send(
                    Method::GET,
                    &format!("/api/v1/{list}?{query}"),
                    &app.admin,
                    None,
                )
                .await;
            assert_eq!(r.status, 400, "{list}?{query}: {}", r.body);
            assert_eq!(r.body["field"], field, "{list}?{query}: {}", r.body);
        }
    }
}

#[tokio::test]
async fn incident_comments_go_to_its_history_and_bad_ones_change_nothing() {
    let app = TestApp::new().await;
    let a = app.seed_alert(&on("cm1", "ws-c1", None, vec![])).await;
    let b = app.seed_alert(&on("cm2", "ws-c2", None, vec![])).await;
    let (inc, other) = (incident_of(&app, &a).await, incident_of(&app, &b).await);
    let path = format!("/api/v1/incidents/{inc}/comments");
    let version = incident(&app, &inc).await["version"].clone();
    let r = post(&app, &path, json!({"text": "<b>Checked</b> the host"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["action"], "comment");
    assert_eq!(r.body["text"], "<b>Checked</b> the host");
    assert_eq!(
        incident(&app, &inc).await["version"],
        version,
        "a comment is not a change"
    );
    // Blank, too long, unknown field, not an object, unknown incident, merged incident.
    for (p, body, status, field) in [
        (path.clone(), json!({"text": "  "}), 400, "text"),
        (
            path.clone(),
            json!({"text": "x".repeat(16 * 1024 + 1)}),
            400,
            "text",
        ),
        (
            path.clone(),
            json!({"text": "x", "pinned": true}),
            400,
            "pinned",
        ),
        (path.clone(), json!(["x"]), 400, "body"),
        (
            "/api/v1/incidents/inc-nothing/comments".to_string(),
            json!({"text": "x"}),
            404,
            "",
        ),
    ] {
        let r = post(&app, &p, body).await;
        assert_eq!(r.status, status, "{}", r.body);
        if !field.is_empty() {
            assert_eq!(r.body["field"], field, "{}", r.body);
        }
    }
    // A reader may not comment.
    let reader = app.token("Security reader", None).await;
    let r = app
        .send(Method::POST, &path, &reader, Some(json!({"text": "hi"})))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(merge(&app, &other, &inc).await.status, 200);
    let r = post(
        &app,
        &format!("/api/v1/incidents/{other}/comments"),
        json!({"text": "late"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains(&inc),
        "{}",
        r.body
    );
    let (_, h) = app.get(&format!("/api/v1/incidents/{inc}/history")).await;
    let texts: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "comment")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(texts, ["<b>Checked</b> the host"]);
}

/// A link into an incident that holds alerts the caller's role does not reach is a 403
/// naming the permission and the source, as the other 403s do, and changes nothing.
#[tokio::test]
async fn a_link_beyond_the_callers_sources_names_permission_and_source() {
    let app = TestApp::new().await;
    let a = app.seed_alert(&on("sc1", "ws-sc1", None, vec![])).await;
    let mut other = on("sc2", "ws-sc2", None, vec![]);
    other["serviceSource"] = json!("microsoftDefenderForIdentity");
    let b = app.seed_alert(&other).await;
    let (ia, ib) = (incident_of(&app, &a).await, incident_of(&app, &b).await);
    let endpoint_only = app.token("Security operator", Some(&["endpoint"])).await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/alerts/{a}/link"),
            &endpoint_only,
            Some(json!({"incidentId": ib})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "permission incidents.manage required for service source microsoftDefenderForIdentity"
        ) && detail.contains(&ib),
        "{detail}"
    );
    assert_eq!(incident_of(&app, &a).await, ia);
}
