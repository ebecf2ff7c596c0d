//! Manage alert over real HTTP: status, classification/determination, assignment, tags,
//! comments, optimistic concurrency, bulk, history.
use crate::support::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn patch(app: &TestApp, auth: &Auth, id: &str, body: Value) -> Resp {
    app.send(
        Method::PATCH,
        &format!("/api/v1/alerts/{id}"),
        auth,
        Some(body),
    )
    .await
}

async fn alert_json(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/alerts/{id}")).await.1
}

async fn history(app: &TestApp, id: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/alerts/{id}/history")).await.1["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn resolve_as_true_alert_with_history() {
    let app = TestApp::new().await;
    app.user("alice", "Security operator", None).await;
    let (_, alice, _) = app.login("alice", PASSWORD).await;
    let id = app.seed_alert(&alert("r1")).await;
    let r = patch(&app, &alice, &id, json!({
        "status": "resolved", "classification": "truePositive", "determination": "malware",
        "assignedTo": "alice", "addTags": ["ransomware"], "comment": "Contained; host isolated.", "version": 1
    })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["etag"], "\"2\"");
    let a = alert_json(&app, &id).await;
    assert_eq!(a["status"], "resolved");
    assert_eq!(a["classification"], "truePositive");
    assert_eq!(a["determination"], "malware");
    assert_eq!(a["assignedTo"], "alice");
    assert_eq!(a["tags"], json!(["ransomware"]));
    assert_eq!(a["resolvedDateTime"], NOW.replace('Z', ".000000Z"));
    assert_eq!(a["version"], 2);
    let h = history(&app, &id).await;
    let fields: Vec<&str> = h.iter().filter_map(|e| e["field"].as_str()).collect();
    for f in [
        "status",
        "resolvedDateTime",
        "assignedTo",
        "classification",
        "determination",
        "tags",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    let status = h.iter().find(|e| e["field"] == "status").unwrap();
    assert_eq!(
        (status["oldValue"].as_str(), status["newValue"].as_str()),
        (Some("new"), Some("resolved"))
    );
    let comment = h.iter().find(|e| e["action"] == "comment").unwrap();
    assert_eq!(comment["text"], "Contained; host isolated.");
    assert_eq!(comment["actor"]["name"], "alice");
    // Time order.
    let seqs: Vec<i64> = h.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // The queue filter sees the new state.
    let (_, q) = app
        .get("/api/v1/alerts?status=resolved&q=classification:truePositive")
        .await;
    assert_eq!(q["total"], 1);
}

#[tokio::test]
async fn bad_updates_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    app.user("off", "Security operator", None).await;
    let off = app.store.user_login("off").await.unwrap().unwrap().user.id;
    app.store
        .update_user(
            &off,
            rampart_store::UserPatch {
                disabled: Some(true),
                ..Default::default()
            },
            rampart_domain::history::Actor::system(),
            now(),
        )
        .await
        .unwrap();
    let id = app.seed_alert(&alert("b1")).await;
    let before = alert_json(&app, &id).await;
    let h_before = history(&app, &id).await.len();
    let big = "x".repeat(1_000_000);
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"classification": "falsePositive", "determination": "malware", "version": 1}),
            400,
            "determination",
        ),
        (
            json!({"determination": "malware", "version": 1}),
            400,
            "determination",
        ),
        (json!({"status": "closed", "version": 1}), 400, "status"),
        (
            json!({"status": "unknownFutureValue", "version": 1}),
            400,
            "status",
        ),
        (
            json!({"assignedTo": "off", "version": 1}),
            400,
            "assignedTo",
        ),
        (
            json!({"assignedTo": "ghost", "version": 1}),
            400,
            "assignedTo",
        ),
        (
            json!({"addTags": [" padded"], "version": 1}),
            400,
            "addTags",
        ),
        (
            json!({"status": "resolved", "version": "1"}),
            400,
            "version",
        ),
        (
            json!({"status": "resolved", "version": 1, "severity": "low"}),
            400,
            "severity",
        ),
        (json!({"comment": big, "version": 1}), 400, "comment"),
        (json!({"version": 1}), 400, "body"),
        (json!({"status": "resolved"}), 428, ""),
        (json!({"status": "resolved", "version": 7}), 409, ""),
    ];
    for (body, status, field) in cases {
        let r = patch(&app, &app.admin, &id, body.clone()).await;
        let shown: String = body.to_string().chars().take(120).collect();
        assert_eq!(r.status, status, "{shown} → {}", r.body);
        if !field.is_empty() {
            assert_eq!(r.body["field"], field, "{shown} → {}", r.body);
        }
    }
    assert_eq!(alert_json(&app, &id).await, before, "nothing changed");
    assert_eq!(
        history(&app, &id).await.len(),
        h_before,
        "no history written"
    );
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/alerts/{id}/comments"),
            &app.admin,
            Some(json!({"text": "y".repeat(1_000_000)})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "text");
    let r = patch(
        &app,
        &app.admin,
        "da-nope",
        json!({"status": "resolved", "version": 1}),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_stale_update_loses_and_if_match_works() {
    let app = TestApp::new().await;
    let id = app.seed_alert(&alert("s1")).await;
    // Two analysts read version 1; the first wins, the second gets 409.
    let r = patch(
        &app,
        &app.admin,
        &id,
        json!({"status": "inProgress", "version": 1}),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = patch(
        &app,
        &app.admin,
        &id,
        json!({"status": "resolved", "version": 1}),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("current version 2"));
    assert_eq!(alert_json(&app, &id).await["status"], "inProgress");
    let r = app
        .send_raw(
            Method::PATCH,
            &format!("/api/v1/alerts/{id}"),
            &app.admin,
            Some(br#"{"status":"resolved"}"#.to_vec()),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Only `"N"`, `W/"N"` or `N`, in one header; anything else is a 400 that changes nothing.
    let bad: [&[(&str, &str)]; 6] = [
        &[("if-match", "\"3")],
        &[("if-match", "3\"")],
        &[("if-match", "W/3")],
        &[("if-match", "+3")],
        &[("if-match", "\"\"3\"\"")],
        &[("if-match", "3"), ("if-match", "999")],
    ];
    for headers in bad {
        let r = app
            .send_raw(
                Method::PATCH,
                &format!("/api/v1/alerts/{id}"),
                &app.admin,
                Some(br#"{"status":"new"}"#.to_vec()),
                headers,
            )
            .await;
        assert_eq!(r.status, 400, "{headers:?}: {}", r.body);
        assert_eq!(r.body["field"], "If-Match", "{headers:?}: {}", r.body);
    }
    assert_eq!(alert_json(&app, &id).await["version"], 3);
    // A no-op change keeps the version.
    let r = patch(
        &app,
        &app.admin,
        &id,
        json!({"status": "resolved", "version": 3}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], 3);
}

#[tokio::test]
async fn readers_read_but_never_change() {
    let app = TestApp::new().await;
    let id = app.seed_alert(&alert("rd1")).await;
    app.user("rita", "Security reader", None).await;
    let (_, rita, _) = app.login("rita", PASSWORD).await;
    assert_eq!(
        app.send(Method::GET, &format!("/api/v1/alerts/{id}"), &rita, None)
            .await
            .status,
        200
    );
    let r = patch(
        &app,
        &rita,
        &id,
        json!({"status": "resolved", "version": 1}),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.body["detail"].as_str().unwrap().contains("alerts.manage"));
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/alerts/{id}/comments"),
            &rita,
            Some(json!({"text": "hi"})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(alert_json(&app, &id).await["status"], "new");
}

#[tokio::test]
async fn tags_rename_everywhere() {
    let app = TestApp::new().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = app.seed_alert(&alert(&format!("t{i}"))).await;
        let tags = if i < 2 {
            json!(["apt-29", "keep"])
        } else {
            json!(["keep"])
        };
        assert_eq!(
            patch(&app, &app.admin, &id, json!({"tags": tags, "version": 1}))
                .await
                .status,
            200
        );
        ids.push(id);
    }
    let r = app
        .send(
            Method::POST,
            "/api/v1/tags/rename",
            &app.admin,
            Some(json!({"from": "apt-29", "to": "Midnight Blizzard"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["renamed"], 2);
    assert_eq!(
        alert_json(&app, &ids[0]).await["tags"],
        json!(["Midnight Blizzard", "keep"])
    );
    let (_, q) = app.get("/api/v1/alerts?tag=Midnight%20Blizzard").await;
    assert_eq!(q["total"], 2);
    let (_, q) = app.get("/api/v1/alerts?tag=apt-29").await;
    assert_eq!(q["total"], 0);
    let r = app
        .send(
            Method::POST,
            "/api/v1/tags/rename",
            &app.admin,
            Some(json!({"from": "keep", "to": ""})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "to");
}

#[tokio::test]
async fn bulk_updates_by_ids_and_by_condition() {
    let app = TestApp::new().await;
    let mut batch = Vec::new();
    for i in 0..30 {
        let mut a = alert(&format!("k{i}"));
        if i % 3 == 0 {
            a["serviceSource"] = json!("microsoftDefenderForIdentity");
        }
        batch.push(a);
    }
    let (s, v) = app.post_json("/api/v1/alerts", &Value::Array(batch)).await;
    assert_eq!(s, 201);
    let ids: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();

    // By ids, with an unknown id and an operator limited to endpoint.
    let op = app.token("Security operator", Some(&["endpoint"])).await;
    let mut sel: Vec<Value> = ids[..6].iter().map(|i| json!(i)).collect();
    sel.push(json!("da-missing"));
    let r = app
        .send(
            Method::POST,
            "/api/v1/alerts/bulk-update",
            &op,
            Some(json!({"ids": sel, "status": "inProgress", "comment": "triaging"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["matched"], 7);
    assert_eq!(r.body["changed"], 4);
    assert_eq!(
        r.body["forbidden"].as_array().unwrap().len(),
        2,
        "identity alerts are out of scope"
    );
    assert_eq!(r.body["notFound"], json!(["da-missing"]));
    assert_eq!(
        alert_json(&app, &ids[0]).await["status"],
        "new",
        "out-of-scope alert untouched"
    );
    assert_eq!(alert_json(&app, &ids[1]).await["status"], "inProgress");
    assert!(history(&app, &ids[1])
        .await
        .iter()
        .any(|e| e["text"] == "triaging"));

    // By condition; a determination that fits no alert's classification fails per alert.
    let r = app
        .send(Method::POST, "/api/v1/alerts/bulk-update", &app.admin, Some(json!({"q": "source:identity", "status": "resolved", "classification": "falsePositive", "determination": "notMalicious"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["changed"], 10);
    let (_, q) = app.get("/api/v1/alerts?status=resolved").await;
    assert_eq!(q["total"], 10);
    let r = app
        .send(
            Method::POST,
            "/api/v1/alerts/bulk-update",
            &app.admin,
            Some(json!({"q": "source:identity", "determination": "malware"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["changed"], 0);
    assert_eq!(r.body["failed"].as_array().unwrap().len(), 10);

    // Bad selections.
    for (body, field) in [
        (json!({"status": "resolved"}), "ids"),
        (json!({"ids": [], "status": "resolved"}), "ids"),
        (
            json!({"ids": vec!["x"; 10_001], "status": "resolved"}),
            "ids",
        ),
        (json!({"q": "status:closed", "status": "resolved"}), "q"),
        (
            json!({"ids": ["x"], "status": "resolved", "version": 3}),
            "version",
        ),
    ] {
        let r = app
            .send(
                Method::POST,
                "/api/v1/alerts/bulk-update",
                &app.admin,
                Some(body),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.body["field"], field, "{}", r.body);
    }
}

#[tokio::test]
async fn bulk_applies_to_ten_thousand_alerts_in_one_call() {
    let app = TestApp::new().await;
    let mut body = Vec::new();
    for i in 0..10_000 {
        serde_json::to_writer(&mut body, &alert(&format!("m{i}"))).unwrap();
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
    assert_eq!(r.status, 201);
    let ids: Vec<Value> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    let r = app
        .send(
            Method::POST,
            "/api/v1/alerts/bulk-update",
            &app.admin,
            Some(json!({"ids": ids, "assignedTo": null, "addTags": ["wave-1"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["changed"], 10_000);
    let (_, q) = app.get("/api/v1/alerts?tag=wave-1&pageSize=1").await;
    assert_eq!(q["total"], 10_000);
    // Over the limit by condition.
    let mut body = Vec::new();
    serde_json::to_writer(&mut body, &alert("m-extra")).unwrap();
    app.send_raw(
        Method::POST,
        "/api/v1/alerts/bulk",
        &app.admin,
        Some(body),
        &[],
    )
    .await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/alerts/bulk-update",
            &app.admin,
            Some(json!({"q": "", "status": "resolved"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["field"], "q");
    let (_, q) = app.get("/api/v1/alerts?status=resolved").await;
    assert_eq!(q["total"], 0, "nothing changed");
}

#[tokio::test]
async fn history_has_no_route_that_edits_or_deletes() {
    let app = TestApp::new().await;
    let id = app.seed_alert(&alert("h1")).await;
    for m in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
        let r = app
            .send(
                m.clone(),
                &format!("/api/v1/alerts/{id}/history"),
                &app.admin,
                Some(json!({})),
            )
            .await;
        assert!(
            r.status == 405 || r.status == 404,
            "{m} history → {}",
            r.status
        );
    }
}
