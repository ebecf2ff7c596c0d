use crate::support::*;
use serde_json::{json, Value};

async fn seed(app: &TestApp) {
    let mut batch = Vec::new();
    for i in 0..40 {
        let mut a = alert(&format!("q{i}"));
        a["severity"] = json!(["low", "medium", "high", "informational"][i % 4]);
        a["serviceSource"] = json!(if i % 5 == 0 {
            "microsoftDefenderForIdentity"
        } else {
            "microsoftDefenderForEndpoint"
        });
        a["lastActivityDateTime"] = json!(format!("2026-11-{:02}T10:00:00Z", 23 - (i % 20)));
        a["firstActivityDateTime"] = json!("2026-10-01T00:00:00Z");
        if i % 10 == 0 {
            a["status"] = json!("resolved");
        }
        if i == 7 {
            a["evidence"][0]["deviceDnsName"] = json!("SRV-DB01.corp.contoso.com");
            a["title"] = json!("Mimikatz credential theft");
        }
        batch.push(a);
    }
    // One old alert outside the 30-day default.
    let mut old = alert("old");
    old["lastActivityDateTime"] = json!("2026-09-01T00:00:00Z");
    old["firstActivityDateTime"] = json!("2026-09-01T00:00:00Z");
    batch.push(old);
    let (s, _) = app.post_json("/api/v1/alerts", &Value::Array(batch)).await;
    assert_eq!(s, 201);
}

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["providerAlertId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn default_view_is_open_alerts_of_the_last_30_days_newest_first() {
    let app = TestApp::new().await;
    seed(&app).await;
    let (s, v) = app.get("/api/v1/alerts?pageSize=500").await;
    assert_eq!(s, 200);
    assert_eq!(
        v["total"], 36,
        "40 minus 4 resolved, old one excluded: {}",
        v["total"]
    );
    assert_eq!(v["totalIsExact"], true);
    let items = v["items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["status"] != "resolved"));
    let times: Vec<&str> = items
        .iter()
        .map(|i| i["lastActivityDateTime"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(times, sorted);
    let (_, v) = app
        .get("/api/v1/alerts?status=any&since=2026-01-01T00:00:00Z&pageSize=500")
        .await;
    assert_eq!(v["total"], 41);
}

#[tokio::test]
async fn filters_and_condition_language_agree() {
    let app = TestApp::new().await;
    seed(&app).await;
    let (_, a) = app
        .get("/api/v1/alerts?severity=high,medium&serviceSource=identity&pageSize=500")
        .await;
    let (_, b) = app
        .get("/api/v1/alerts?q=severity:high,medium%20source:identity&pageSize=500")
        .await;
    assert_eq!(ids(&a), ids(&b));
    assert!(!ids(&a).is_empty());
    assert!(a["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["serviceSource"] == "microsoftDefenderForIdentity"));
    let (_, v) = app.get("/api/v1/alerts?entity=device:srv-db01").await;
    assert_eq!(ids(&v), ["q7"], "short name matches the FQDN");
    let (_, v) = app
        .get("/api/v1/alerts?q=entity.device:SRV-DB01.corp.contoso.com%20mimikatz")
        .await;
    assert_eq!(ids(&v), ["q7"]);
    let (_, v) = app
        .get("/api/v1/alerts?q=-entity.device:srv-db01&pageSize=500")
        .await;
    assert_eq!(v["total"], 35);
    let (_, v) = app
        .get("/api/v1/alerts?q=severity>=high&pageSize=500")
        .await;
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["severity"] == "high"));
    let (_, v) = app
        .get("/api/v1/alerts?q=status:resolved&pageSize=500")
        .await;
    assert_eq!(
        v["total"], 4,
        "a status in q replaces the default status filter"
    );
}

#[tokio::test]
async fn keyset_pages_cover_everything_once() {
    let app = TestApp::new().await;
    seed(&app).await;
    for sort in ["lastActivity", "firstActivity", "severity", "title"] {
        for order in ["desc", "asc"] {
            let mut seen = Vec::new();
            let mut url = format!("/api/v1/alerts?pageSize=7&sort={sort}&order={order}");
            loop {
                let (s, v) = app.get(&url).await;
                assert_eq!(s, 200, "{v}");
                seen.extend(ids(&v));
                match v["nextCursor"].as_str() {
                    Some(c) => {
                        url = format!(
                            "/api/v1/alerts?pageSize=7&sort={sort}&order={order}&cursor={c}"
                        )
                    }
                    None => break,
                }
            }
            let mut uniq = seen.clone();
            uniq.sort();
            uniq.dedup();
            assert_eq!((seen.len(), uniq.len()), (36, 36), "{sort} {order}");
        }
    }
}

/// Titles up to 64 KiB: a cursor carries only the start of the last title (the store reads
/// the rest from the row), so it stays short, and titles that share a long start still
/// page in order, each alert once.
#[tokio::test]
async fn paging_by_long_titles_keeps_cursors_short() {
    let app = TestApp::new().await;
    let long = "x".repeat(5_000);
    for (i, tail) in ["b", "a", "c", "a", "d"].iter().enumerate() {
        let mut a = alert(&format!("long-{i}"));
        a["title"] = json!(format!("{long}{tail}"));
        app.seed_alert(&a).await;
    }
    for order in ["asc", "desc"] {
        let mut seen = Vec::new();
        let mut url = format!("/api/v1/alerts?pageSize=1&sort=title&order={order}");
        loop {
            let (s, v) = app.get(&url).await;
            assert_eq!(s, 200, "{v}");
            seen.extend(
                v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["title"].as_str().unwrap().chars().last().unwrap()),
            );
            match v["nextCursor"].as_str() {
                Some(c) => {
                    assert!(c.len() < 1024, "a {}-byte cursor", c.len());
                    url = format!("/api/v1/alerts?pageSize=1&sort=title&order={order}&cursor={c}");
                }
                None => break,
            }
        }
        let mut want = vec!['a', 'a', 'b', 'c', 'd'];
        if order == "desc" {
            want.reverse();
        }
        assert_eq!(seen, want, "{order}");
    }
}
