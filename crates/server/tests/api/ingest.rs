use crate::support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_graph_document_is_accepted_as_is_and_reads_back() {
    let app = TestApp::new().await;
    let fixture = include_bytes!("../../../ingest/fixtures/graph_alert.json");
    let (s, v) = app.post("/api/v1/alerts", fixture.to_vec()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["created"], 1);
    let (s, a) = app
        .get("/api/v1/alerts/da637578995287051192_756343937")
        .await;
    assert_eq!(s, 200);
    let original: Value = serde_json::from_slice(fixture).unwrap();
    // Producer fields come back unchanged, including 7-digit fractions and unknown evidence.
    assert_eq!(a["createdDateTime"], original["createdDateTime"]);
    assert_eq!(a["evidence"], original["evidence"]);
    assert_eq!(a["mitreTechniques"], original["mitreTechniques"]);
    // Rampart's own fields are laid over it.
    assert_eq!(a["version"], 1);
    assert!(
        a["incidentId"].as_str().unwrap().starts_with("inc-"),
        "correlation placed it"
    );
    assert_eq!(a["tags"], json!([]));
}

#[tokio::test]
async fn resending_updates_and_never_duplicates() {
    let app = TestApp::new().await;
    let (s, v) = app.post_json("/api/v1/alerts", &alert("p-1")).await;
    assert_eq!(s, 201);
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("da"),
        "derived id with the endpoint prefix: {id}"
    );
    let mut again = alert("p-1");
    again["lastActivityDateTime"] = json!("2026-11-22T13:00:00Z");
    again["evidence"].as_array_mut().unwrap().push(
        json!({"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "203.0.113.9"}),
    );
    let (s, v) = app.post_json("/api/v1/alerts", &again).await;
    assert_eq!(s, 200, "an update is 200: {v}");
    assert_eq!(v["items"][0]["id"], id.as_str());
    assert_eq!(v["updated"], 1);
    assert_eq!(app.count().await, 1);
    let (_, a) = app.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(a["version"], 2);
    assert_eq!(a["evidence"].as_array().unwrap().len(), 3);
    assert_eq!(a["lastActivityDateTime"], "2026-11-22T13:00:00Z");
    let (_, h) = app.get(&format!("/api/v1/alerts/{id}/history")).await;
    let actions: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "resent"]);
}

#[tokio::test]
async fn arrays_and_ndjson_bulk() {
    let app = TestApp::new().await;
    let (s, v) = app
        .post_json("/api/v1/alerts", &json!([alert("a1"), alert("a2")]))
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["accepted"], 2);
    let ndjson: String = (0..50)
        .map(|i| format!("{}\n", alert(&format!("b{i}"))))
        .collect();
    let (s, v) = app.post("/api/v1/alerts/bulk", ndjson).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["created"], 50);
    assert_eq!(v["items"][49]["line"], 50);
    assert_eq!(app.count().await, 52);
}

#[tokio::test]
async fn bulk_is_atomic_by_default_and_per_line_on_request() {
    let app = TestApp::new().await;
    let body = format!(
        "{}\n{{\"title\":\"no id\",\"severity\":\"low\"}}\n{}\n",
        alert("g1"),
        alert("g2")
    );
    let (s, v) = app.post("/api/v1/alerts/bulk", body.clone()).await;
    assert_eq!(s, 400);
    assert!(
        v["detail"].as_str().unwrap().starts_with("line 2: id:"),
        "{v}"
    );
    assert_eq!(v["field"], "id");
    assert_eq!(app.count().await, 0, "nothing stored");
    let (s, v) = app.post("/api/v1/alerts/bulk?atomic=false", body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["rejected"], 1);
    assert_eq!(v["items"][1]["line"], 2);
    assert_eq!(v["items"][1]["field"], "id");
    assert_eq!(app.count().await, 2);
}

#[tokio::test]
async fn hostile_strings_round_trip_verbatim() {
    let app = TestApp::new().await;
    let title = "<script>alert(1)</script><img src=x onerror=alert(2)> =cmd|' /C calc'!A0 \u{202e}exe.txt \u{0}end";
    let mut a = alert("h1");
    a["title"] = json!(title);
    a["evidence"][0]["deviceDnsName"] = json!("javascript:alert(3)");
    let (s, v) = app.post_json("/api/v1/alerts", &a).await;
    assert_eq!(s, 201, "{v}");
    let id = v["items"][0]["id"].as_str().unwrap();
    let (_, got) = app.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(got["title"], title);
    assert_eq!(got["evidence"][0]["deviceDnsName"], "javascript:alert(3)");
}
