//! Web UI pages over real HTTP: who may see them, their security headers, escaping, and bad
//! input. The browser journey itself is in `ui-tests/` (Chromium).
use crate::support::{alert, Auth, TestApp, PASSWORD};
use reqwest::redirect::Policy;

struct Page {
    status: u16,
    location: String,
    csp: String,
    body: String,
}

async fn page(app: &TestApp, path: &str, auth: &Auth) -> Page {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let mut rb = client.get(app.url(path));
    match auth {
        Auth::None => {}
        Auth::Token(t) => rb = rb.bearer_auth(t),
        Auth::Session { cookie, .. } => {
            rb = rb.header("cookie", format!("rampart_session={cookie}"))
        }
    }
    let r = rb.send().await.unwrap();
    let h = |n: &str| {
        r.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (location, csp) = (h("location"), h("content-security-policy"));
    let status = r.status().as_u16();
    Page {
        status,
        location,
        csp,
        body: r.text().await.unwrap(),
    }
}

async fn analyst(app: &TestApp, role: &str) -> Auth {
    app.user("ana", role, None).await;
    let (s, auth, _) = app.login("ana", PASSWORD).await;
    assert_eq!(s, 201);
    auth
}

#[tokio::test]
async fn signed_out_pages_lead_to_sign_in_and_back() {
    let app = TestApp::new().await;
    for path in [
        "/alerts?severity=high",
        "/incidents",
        "/alerts/x",
        "/entities/device/ws-17",
    ] {
        let p = page(&app, path, &Auth::None).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(p.location.starts_with("/login?next=%2F"), "{}", p.location);
    }
    // Pages are for people: an API token does not open them.
    let p = page(&app, "/alerts", &app.admin).await;
    assert_eq!(p.status, 303);
    let root = page(&app, "/", &Auth::None).await;
    assert_eq!(root.location, "/alerts");
    let login = page(&app, "/login?next=//evil.example/x", &Auth::None).await;
    assert_eq!(login.status, 200);
    assert!(
        login.body.contains(r#"data-next="/alerts""#),
        "no open redirect"
    );
    assert!(!login.body.contains("evil.example"));
}

#[tokio::test]
async fn every_page_forbids_inline_script_and_escapes_alert_text() {
    let app = TestApp::new().await;
    let mut a = alert("xss");
    a["title"] = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>".into();
    let id = app.seed_alert(&a).await;
    let auth = analyst(&app, "Security operator").await;
    for path in [
        "/alerts".to_string(),
        format!("/alerts/{id}"),
        format!("/alerts/{id}/entities/0"),
        "/incidents".to_string(),
        "/entities/device/ws-17".to_string(),
        "/login".to_string(),
    ] {
        let p = page(&app, &path, &auth).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(p.csp.contains("script-src 'self'"), "{path}: {}", p.csp);
        assert!(!p.csp.contains("unsafe-inline"));
        assert!(!p.body.contains("<script>alert(1)"), "{path} leaks markup");
        assert!(!p.body.contains("<img src=x"), "{path} leaks markup");
        // No inline script at all: only <script src=…>.
        assert_eq!(
            p.body.matches("<script").count(),
            p.body.matches("<script src=\"/static/").count(),
            "{path}"
        );
    }
    let p = page(&app, &format!("/alerts/{id}"), &auth).await;
    let at = p.body.find("alert-title").unwrap();
    let title = &p.body[at..at + 120];
    assert!(
        title.contains("&#60;script&#62;alert(1)"),
        "shown as text: {title}"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_page_and_changes_nothing() {
    let app = TestApp::new().await;
    app.seed_alert(&alert("a1")).await;
    let auth = analyst(&app, "Security operator").await;
    let p = page(&app, "/alerts?q=severity%3E%3Dpurple", &auth).await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("id=\"q-error\""),
        "the error sits under the search box"
    );
    assert!(p.body.contains("aria-invalid=\"true\""));
    let p = page(&app, "/alerts?period=forever", &auth).await;
    assert_eq!(p.status, 400);
    let p = page(&app, "/alerts?cursor=garbage", &auth).await;
    assert_eq!(p.status, 400);
    let p = page(&app, "/alerts/no-such-alert", &auth).await;
    assert_eq!(p.status, 404);
    assert!(p.body.contains("no alert"));
    let p = page(&app, "/entities/printer/x", &auth).await;
    assert_eq!(p.status, 404);
    let long = format!("/alerts?q={}", "a".repeat(20_000));
    let p = page(&app, &long, &auth).await;
    assert_eq!(p.status, 400);
    let p = page(&app, &long.replacen("/alerts", "/incidents", 1), &auth).await;
    assert_eq!(p.status, 400, "the incidents queue has the same bound");
    let p = page(&app, "/alerts/x/entities/99999999999999999999", &auth).await;
    assert!(p.status == 400 || p.status == 404, "{}", p.status);
    assert_eq!(app.count().await, 1);
}

#[tokio::test]
async fn readers_get_no_manage_controls_and_source_limits_apply_to_pages() {
    let app = TestApp::new().await;
    let id = app.seed_alert(&alert("r1")).await;
    let mut mail = alert("m1");
    mail["serviceSource"] = "microsoftDefenderForOffice365".into();
    mail["title"] = "Mail only alert".into();
    let mail_id = app.seed_alert(&mail).await;

    let reader = analyst(&app, "Security reader").await;
    let p = page(&app, &format!("/alerts/{id}"), &reader).await;
    assert_eq!(p.status, 200);
    assert!(!p.body.contains("manage-open"));
    assert!(!p.body.contains("comment-form"));
    assert!(!p.body.contains("link-form") && !p.body.contains("id=\"unlink\""));
    let q = page(&app, "/alerts", &reader).await;
    assert!(!q.body.contains("row-select"));

    app.user("edr", "Security operator", Some(&["endpoint"]))
        .await;
    let (_, edr, _) = app.login("edr", PASSWORD).await;
    let q = page(&app, "/alerts", &edr).await;
    assert!(q.body.contains("Alert r1"));
    assert!(
        !q.body.contains("Mail only alert"),
        "the queue is narrowed to the role's sources"
    );
    let p = page(&app, &format!("/alerts/{mail_id}"), &edr).await;
    assert_eq!(p.status, 403);
    let e = page(&app, "/entities/device/ws-17", &edr).await;
    assert!(!e.body.contains("Mail only alert"));
}

#[tokio::test]
async fn assets_are_embedded_with_types() {
    let app = TestApp::new().await;
    for (path, ct) in [
        ("/static/app.js", "text/javascript"),
        ("/static/htmx.min.js", "text/javascript"),
        ("/static/app.css", "text/css"),
    ] {
        let r = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(ct));
        assert!(r.bytes().await.unwrap().len() > 1000);
    }
    let r = reqwest::get(app.url("/static/../Cargo.toml"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn settings_are_for_administrators_and_never_show_a_secret() {
    let app = TestApp::new().await;
    let operator = analyst(&app, "Security operator").await;
    let p = page(&app, "/settings", &operator).await;
    assert_eq!(p.status, 403);
    let q = page(&app, "/alerts", &operator).await;
    assert!(
        !q.body.contains("href=\"/settings\""),
        "no link to a page that refuses"
    );

    app.user("boss", "Global administrator", None).await;
    let (_, boss, _) = app.login("boss", PASSWORD).await;
    let p = page(&app, "/settings", &boss).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("test-admin"), "tokens are listed by name");
    assert!(
        p.body.contains("boss") && p.body.contains("ana"),
        "users are listed"
    );
    assert!(!p.body.contains("rmp_"), "no token secret on the page");
}

#[tokio::test]
async fn an_incident_with_alerts_you_cannot_read_shows_nothing_of_them() {
    let app = TestApp::new().await;
    // Both name device ws-17 and user alice, so correlation puts them in one incident.
    let id = app.seed_alert(&alert("edr-1")).await;
    let mut mail = alert("mail-1");
    mail["serviceSource"] = "microsoftDefenderForOffice365".into();
    mail["title"] = "Secret mail alert title".into();
    mail["firstActivityDateTime"] = "2026-11-22T09:00:00Z".into();
    app.seed_alert(&mail).await;
    app.user("edr", "Security operator", Some(&["endpoint"]))
        .await;
    let (_, edr, _) = app.login("edr", PASSWORD).await;
    let p = page(&app, &format!("/alerts/{id}"), &edr).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("cannot read"),
        "the incident is named only by id"
    );
    assert!(!p.body.contains("Secret mail alert title"));
    assert!(!p.body.contains("incident-link"));
}

#[tokio::test]
async fn the_incidents_queue_filters_by_what_its_alerts_hold() {
    let app = TestApp::new().await;
    app.seed_alert(&alert("f1")).await;
    let mut other = alert("f2");
    other["title"] = "Alert on the file server".into();
    other["evidence"] = serde_json::json!([
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "FS-01"}
    ]);
    app.seed_alert(&other).await;
    let auth = analyst(&app, "Security operator").await;
    let all = page(&app, "/incidents", &auth).await;
    assert!(all.body.contains("Alert f1") && all.body.contains("Alert on the file server"));
    let p = page(&app, "/incidents?q=entity.device%3Afs-01", &auth).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("Alert on the file server"), "{}", p.body);
    assert!(
        !p.body.contains("Alert f1"),
        "the other incident is filtered out"
    );
    assert!(
        p.body.contains("value=\"entity.device:fs-01\""),
        "the box keeps the search"
    );
    let bad = page(&app, "/incidents?q=severity%3E%3D", &auth).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("form-error"),
        "the error is shown on the page"
    );
}

/// A merged incident's page says where its alerts went and offers no triage; the survivor
/// lists the alert linked by hand as such (no entity), and history reads as sentences.
#[tokio::test]
async fn a_merged_incident_page_points_on_and_manual_links_read_as_such() {
    let app = TestApp::new().await;
    let mut a = alert("mg-1");
    a["evidence"] = serde_json::json!([
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "ws-m1"}
    ]);
    let mut b = alert("mg-2");
    b["evidence"] = serde_json::json!([
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "ws-m2"}
    ]);
    let a = app.seed_alert(&a).await;
    let b = app.seed_alert(&b).await;
    let inc = |id: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/alerts/{id}")).await.1["incidentId"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (ia, ib) = (inc(a.clone()).await, inc(b.clone()).await);
    assert_ne!(ia, ib);
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/incidents/{ib}/merge"),
            &app.admin,
            Some(serde_json::json!({"into": ia})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let auth = analyst(&app, "Security operator").await;
    let gone = page(&app, &format!("/incidents/{ib}"), &auth).await;
    assert_eq!(gone.status, 200);
    assert!(gone
        .body
        .contains("they moved to the incident this one was merged into"));
    assert!(
        !gone.body.contains("manage-open"),
        "a merged incident is not triaged"
    );
    assert!(!gone.body.contains("A single alert"));
    let kept = page(&app, &format!("/incidents/{ia}"), &auth).await;
    assert!(kept.body.contains("Linked by hand"), "{}", kept.body);
    assert!(kept
        .body
        .contains(&format!("Took in the alerts of incident {ib}")));
    assert!(!kept.body.contains("changed changed"));
}

/// Page 2 of the incident queue links back to the first page with the same filters, and its
/// next link keeps them too.
#[tokio::test]
async fn later_incident_pages_link_to_the_first_with_the_filters() {
    let app = TestApp::new().await;
    let batch: Vec<serde_json::Value> = (0..52)
        .map(|i| {
            let mut a = alert(&format!("pg-{i}"));
            a["severity"] = "high".into();
            a["evidence"] = serde_json::json!([
                {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": format!("pg-host-{i}")}
            ]);
            a
        })
        .collect();
    let (s, v) = app
        .post_json("/api/v1/alerts", &serde_json::Value::Array(batch))
        .await;
    assert!(s == 201 || s == 200, "{v}");
    let auth = analyst(&app, "Security operator").await;
    let first = page(&app, "/incidents?severity=high", &auth).await;
    assert!(!first.body.contains("First page"));
    let next = first
        .body
        .split("href=\"")
        .filter_map(|p| p.split('"').next())
        .find(|h| h.contains("cursor="))
        .expect("a next link")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(next.contains("severity=high"), "{next}");
    let second = page(&app, &next, &auth).await;
    assert_eq!(second.status, 200);
    assert!(
        second
            .body
            .contains("href=\"/incidents?severity=high\">« First page"),
        "{}",
        second.body
    );
}
