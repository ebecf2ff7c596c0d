//! Every rejection: a 4xx problem naming the problem, nothing stored, server still serving.
use crate::support::*;
use serde_json::json;

async fn rejected(app: &TestApp, path: &str, body: Vec<u8>, status: u16, needle: &str) {
    let before = app.count().await;
    let (s, v) = app.post(path, body).await;
    assert_eq!(s, status, "{path}: {v}");
    let detail = v["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "{needle:?} not in {detail:?}");
    assert_eq!(app.count().await, before, "nothing stored");
}

#[tokio::test]
async fn malformed_and_hostile_bodies() {
    let app = TestApp::new().await;
    let a = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = alert("x");
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "invalid JSON"),
        (b"".to_vec(), 400, "invalid JSON"),
        (
            br#"{"providerAlertId":"x","title":"t","severity":"low","title":"u"}"#.to_vec(),
            400,
            "duplicate key",
        ),
        (
            br#"{"providerAlertId":"x","title":"\ud800","severity":"low"}"#.to_vec(),
            400,
            "lone surrogates are refused",
        ),
        (
            b"{\"providerAlertId\":\"x\",\"title\":\"\xff\xfe\",\"severity\":\"low\"}".to_vec(),
            400,
            "invalid JSON",
        ),
        (
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            400,
            "recursion limit",
        ),
        (
            a(&|v| v["severity"] = json!("critical")),
            400,
            "severity: unknown value",
        ),
        (a(&|v| v["status"] = json!("closed")), 400, "status"),
        (
            a(&|v| {
                v.as_object_mut().unwrap().remove("title");
            }),
            400,
            "title: is required",
        ),
        (
            a(&|v| {
                v.as_object_mut().unwrap().remove("providerAlertId");
            }),
            400,
            "id: an alert needs",
        ),
        (
            a(&|v| v["title"] = json!(42)),
            400,
            "title: expected a string",
        ),
        (
            a(&|v| v["evidence"][0]["rbacGroupId"] = json!("4242")),
            400,
            "evidence[0].rbacGroupId",
        ),
        (
            a(&|v| {
                v["classification"] = json!("falsePositive");
                v["determination"] = json!("malware");
            }),
            400,
            "not allowed with classification",
        ),
        (
            a(&|v| v["firstActivityDateTime"] = json!("2026-11-22 10:00")),
            400,
            "RFC 3339",
        ),
        (
            a(&|v| v["title"] = json!("x".repeat(10 * 1024 * 1024))),
            413,
            "limit",
        ),
        (
            json!([alert("ok"), {"title": "t"}])
                .to_string()
                .into_bytes(),
            400,
            "item 1:",
        ),
        (b"[]".to_vec(), 400, "no alerts"),
        (
            a(&|v| v["lastActivityDateTime"] = json!("2030-01-01T00:00:00Z")),
            400,
            "lastActivityDateTime: is more than an hour ahead of the server's clock",
        ),
        (
            a(&|v| v["createdDateTime"] = json!("0001-01-01T00:00:00+00:01")),
            400,
            "years 0001-9999 in UTC",
        ),
        (
            a(&|v| {
                v["id"] = json!("bulk");
            }),
            400,
            "id: \"bulk\" names an API route",
        ),
        (
            a(&|v| v["tags"] = json!(["fine", " lead"])),
            400,
            "tags[1]: tag \" lead\" must not start or end with blanks",
        ),
    ];
    for (body, status, needle) in cases {
        rejected(&app, "/api/v1/alerts", body, status, needle).await;
    }
    // Problems with the JSON itself name the body, as the triage routes do.
    let (s, v) = app.post("/api/v1/alerts", b"{not json".to_vec()).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("body")), "{v}");
    // NUL in a string is accepted (and kept), not rejected.
    let (s, _) = app
        .post(
            "/api/v1/alerts",
            a(&|v| v["title"] = json!("nul\u{0}inside")),
        )
        .await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn oversized_bodies_are_413_without_reading_them_all() {
    let app = TestApp::new().await;
    // 40 MiB of NDJSON, streamed: over the 32 MiB limit.
    let line = format!("{}\n", alert("big"));
    let n = 40 * 1024 * 1024 / line.len();
    let body = line.repeat(n).into_bytes();
    rejected(&app, "/api/v1/alerts/bulk", body, 413, "exceeds").await;
    // A single line over 1 MiB inside an acceptable body.
    let mut huge = alert("huge");
    huge["description"] = json!("d".repeat(1024 * 1024 + 10));
    rejected(
        &app,
        "/api/v1/alerts/bulk",
        format!("{huge}\n").into_bytes(),
        413,
        "line 1",
    )
    .await;
}

#[tokio::test]
async fn bad_queries_name_the_parameter() {
    let app = TestApp::new().await;
    let cases = [
        ("/api/v1/alerts?q=severity>=bogus", "q", "column 11"),
        ("/api/v1/alerts?q=%22unterminated", "q", "column 1"),
        ("/api/v1/alerts?cursor=garbage", "cursor", "cursor"),
        ("/api/v1/alerts?pageSize=501", "pageSize", "pageSize"),
        ("/api/v1/alerts?pageSize=0", "pageSize", "pageSize"),
        ("/api/v1/alerts?sort=colour", "sort", "sort"),
        ("/api/v1/alerts?order=sideways", "order", "order"),
        ("/api/v1/alerts?since=yesterday", "since", "since"),
        ("/api/v1/alerts?severity=critical", "severity", "critical"),
        ("/api/v1/alerts?entity=ws-17", "entity", "kind:value"),
        ("/api/v1/alerts?entity=planet:mars", "entity", "entity kind"),
        (
            "/api/v1/alerts?severity=high,,low",
            "severity",
            "empty value in list",
        ),
        (
            "/api/v1/alerts?severity=high,",
            "severity",
            "empty value in list",
        ),
        ("/api/v1/alerts?q=%FF", "query", "not UTF-8"),
        ("/api/v1/incidents?q=%FF", "query", "not UTF-8"),
        (
            "/api/v1/incidents?status=active,,resolved",
            "status",
            "empty value in list",
        ),
        (
            "/api/v1/incidents?assignedTo=",
            "assignedTo",
            "empty filter",
        ),
        ("/api/v1/incidents?tag=%20", "tag", "empty filter"),
        ("/api/v1/incidents?status=", "status", "empty filter"),
    ];
    for (path, field, needle) in cases {
        let (s, v) = app.get(path).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert_eq!(v["field"], field, "{path}: {v}");
        assert!(
            v["detail"].as_str().unwrap().contains(needle),
            "{path}: {v}"
        );
    }
    let (s, v) = app.get("/api/v1/alerts?colour=red").await;
    assert_eq!(s, 400);
    assert!(v["detail"].as_str().unwrap().contains("colour"), "{v}");
    let (s, v) = app
        .get(&format!("/api/v1/alerts?q={}", "a".repeat(9000)))
        .await;
    assert_eq!(s, 400, "{v}");
    // A cursor from another sort order is refused.
    for i in 0..3 {
        app.post_json("/api/v1/alerts", &alert(&format!("c{i}")))
            .await;
    }
    let (_, page) = app.get("/api/v1/alerts?pageSize=1").await;
    let c = page["nextCursor"].as_str().unwrap();
    let (s, v) = app
        .get(&format!(
            "/api/v1/alerts?pageSize=1&sort=severity&cursor={c}"
        ))
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = app.get("/api/v1/alerts/does-not-exist").await;
    assert_eq!(s, 404);
    let (s, _) = app.get("/api/v1/nowhere").await;
    assert_eq!(s, 404);
}
