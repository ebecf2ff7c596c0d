//! The authorization matrix: every route × every built-in role × (unlimited, limited to
//! endpoint) × (an endpoint alert = own source, an identity alert = other source), against
//! the real server. The expected answer is derived from the built-in role table and the
//! route table alone, independently of `authorize()`; the probe for each route is written
//! here, and a route without a probe fails the test.
use crate::support::*;
use rampart_domain::access::{Permission, BUILTIN_ROLES};
use rampart_server::api::{Access, Reach, RouteRule, ROUTE_RULES};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const OWN: &str = "microsoftDefenderForEndpoint";
const OTHER: &str = "microsoftDefenderForIdentity";

/// What the tables say should happen.
fn expected(rule: &RouteRule, perms: &[Permission], limited: bool, target: &str) -> bool {
    let p = match rule.access {
        Access::Public | Access::Authenticated => return true,
        Access::Perm(p) => p,
    };
    let holds = perms.iter().any(|h| *h == p || h.implies().contains(&p));
    // A limited role grants only source-scoped permissions, and only for its sources.
    let reaches = match (rule.reach, limited) {
        (_, false) => true,
        (Reach::Tenant, true) => p.is_source_scoped(),
        (Reach::PerObject, true) => p.is_source_scoped() && target == OWN,
        (Reach::AllSources, true) => false,
    };
    holds && reaches
}

struct Fixture {
    ids: std::collections::HashMap<&'static str, String>,
    incidents: std::collections::HashMap<&'static str, String>,
    target_user: String,
}

/// An alert from `source` that correlates with nothing else (its own host), as the
/// administrator; returns (alert id, incident id).
async fn lone_alert(app: &TestApp, source: &str, tag: &str) -> (String, String) {
    let mut a = alert(&format!("lone-{tag}"));
    a["serviceSource"] = json!(source);
    a["evidence"] = json!([{"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": format!("lone-{tag}")}]);
    let id = app.seed_alert(&a).await;
    let inc = app.get(&format!("/api/v1/alerts/{id}")).await.1["incidentId"]
        .as_str()
        .unwrap()
        .to_string();
    (id, inc)
}

fn allowed(r: &Resp) -> bool {
    assert!(r.status < 500, "server error: {}", r.body);
    r.status != 401 && r.status != 403
}

/// Sends the request `rule` describes, as `auth`, about an alert from `source`; true if it
/// was allowed.
async fn probe(
    app: &TestApp,
    fx: &Fixture,
    rule: &RouteRule,
    auth: &Auth,
    source: &str,
    n: usize,
) -> bool {
    let id = fx.ids[source].clone();
    let incident = fx.incidents[source].clone();
    let mut fresh = alert(&format!("mx-{n}"));
    fresh["serviceSource"] = json!(source);
    fresh["evidence"] = json!([{"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": format!("mx-host-{n}")}]);
    let m = |s: &str| Method::from_bytes(s.as_bytes()).unwrap();
    let send = |method: Method, path: String, body: Option<Value>| async move {
        app.send(method, &path, auth, body).await
    };
    match (rule.method, rule.path) {
        ("POST", "/api/v1/session") => {
            let (s, _, _) = app.login("mx", PASSWORD).await;
            s == 201
        }
        ("GET", "/api/v1/session") | ("GET", "/api/v1/roles") | ("GET", "/api/v1/users")
        | ("GET", "/api/v1/tokens") | ("GET", "/api/v1/audit") | ("GET", "/api/v1/health")
        | ("GET", "/api/v1/openapi.json") => allowed(&send(m(rule.method), rule.path.into(), None).await),
        ("DELETE", "/api/v1/session") => {
            // Tokens cannot sign out (400), but they got past authorization.
            allowed(&send(Method::DELETE, rule.path.into(), None).await)
        }
        ("GET", "/api/v1/alerts") => {
            let r = send(Method::GET, "/api/v1/alerts?status=any&pageSize=500".into(), None).await;
            allowed(&r) && r.body["items"].as_array().unwrap().iter().any(|a| a["id"] == id.as_str())
        }
        ("POST", "/api/v1/alerts") => allowed(&send(Method::POST, rule.path.into(), Some(fresh)).await),
        ("POST", "/api/v1/alerts/bulk") => {
            let mut body = serde_json::to_vec(&fresh).unwrap();
            body.push(b'\n');
            allowed(&app.send_raw(Method::POST, rule.path, auth, Some(body), &[]).await)
        }
        ("POST", "/api/v1/alerts/bulk-update") => {
            let r = send(Method::POST, rule.path.into(), Some(json!({"ids": [id], "addTags": [format!("b{n}")]}))).await;
            allowed(&r) && r.body["forbidden"].as_array().unwrap().is_empty()
        }
        ("GET", "/api/v1/alerts/{id}") | ("GET", "/api/v1/alerts/{id}/history") => {
            allowed(&send(Method::GET, rule.path.replace("{id}", &id), None).await)
        }
        ("PATCH", "/api/v1/alerts/{id}") => {
            let version = app.get(&format!("/api/v1/alerts/{id}")).await.1["version"].clone();
            let body = json!({"addTags": [format!("p{n}")], "version": version});
            allowed(&send(Method::PATCH, rule.path.replace("{id}", &id), Some(body)).await)
        }
        ("POST", "/api/v1/alerts/{id}/comments") => allowed(
            &send(Method::POST, rule.path.replace("{id}", &id), Some(json!({"text": format!("c{n}")}))).await,
        ),
        ("POST", "/api/v1/tags/rename") => allowed(
            &send(Method::POST, rule.path.into(), Some(json!({"from": format!("none-{n}"), "to": "x"}))).await,
        ),
        ("POST", "/api/v1/users") => allowed(
            &send(Method::POST, rule.path.into(), Some(json!({"username": format!("new{n}"), "password": PASSWORD, "role": "Security reader"}))).await,
        ),
        ("PATCH", "/api/v1/users/{id}") => allowed(
            &send(Method::PATCH, rule.path.replace("{id}", &fx.target_user), Some(json!({"displayName": format!("T{n}")}))).await,
        ),
        ("POST", "/api/v1/roles") => allowed(
            &send(Method::POST, rule.path.into(), Some(json!({"name": format!("Role {n}"), "permissions": ["alerts.read"]}))).await,
        ),
        ("POST", "/api/v1/tokens") => allowed(
            &send(Method::POST, rule.path.into(), Some(json!({"name": format!("t{n}"), "role": "Ingest only"}))).await,
        ),
        ("DELETE", "/api/v1/tokens/{id}") => {
            let (t, _) = rampart_server::accounts::mint_token(&*app.store, "victim", "Ingest only", None, None, rampart_domain::history::Actor::system(), now()).await.unwrap();
            allowed(&send(Method::DELETE, rule.path.replace("{id}", &t.id), None).await)
        }
        ("GET", "/api/v1/incidents") => {
            let r = send(Method::GET, "/api/v1/incidents?status=any&pageSize=500".into(), None).await;
            allowed(&r) && r.body["items"].as_array().unwrap().iter().any(|i| i["id"] == incident.as_str())
        }
        ("GET", "/api/v1/incidents/{id}") | ("GET", "/api/v1/incidents/{id}/history") => {
            allowed(&send(Method::GET, rule.path.replace("{id}", &incident), None).await)
        }
        ("PATCH", "/api/v1/incidents/{id}") => {
            let version = app.get(&format!("/api/v1/incidents/{incident}")).await.1["version"].clone();
            let body = json!({"addTags": [format!("i{n}")], "version": version});
            allowed(&send(Method::PATCH, rule.path.replace("{id}", &incident), Some(body)).await)
        }
        ("POST", "/api/v1/incidents/{id}/comments") => {
            let body = json!({"text": format!("c{n}")});
            allowed(&send(Method::POST, rule.path.replace("{id}", &incident), Some(body)).await)
        }
        ("POST", "/api/v1/incidents/{id}/merge") => {
            let (_, from) = lone_alert(app, source, &format!("mf{n}")).await;
            let (_, into) = lone_alert(app, source, &format!("mi{n}")).await;
            allowed(&send(Method::POST, rule.path.replace("{id}", &from), Some(json!({"into": into}))).await)
        }
        ("POST", "/api/v1/alerts/{id}/link") => {
            let (a, _) = lone_alert(app, source, &format!("la{n}")).await;
            let (_, into) = lone_alert(app, source, &format!("li{n}")).await;
            allowed(&send(Method::POST, rule.path.replace("{id}", &a), Some(json!({"incidentId": into}))).await)
        }
        ("POST", "/api/v1/alerts/{id}/unlink") => {
            let (a, _) = lone_alert(app, source, &format!("ul{n}")).await;
            allowed(&send(Method::POST, rule.path.replace("{id}", &a), None).await)
        }
        (m, p) => panic!("{m} {p} has no probe in the authorization matrix; add one"),
    }
}

#[tokio::test]
async fn every_route_every_role_every_source() {
    let app = TestApp::new().await;
    app.user("mx", "Security reader", None).await;
    let target = app.user("target", "Security reader", None).await;
    let mut ids = std::collections::HashMap::new();
    let mut incidents = std::collections::HashMap::new();
    for (src, name) in [(OWN, "own"), (OTHER, "other")] {
        let (a, i) = lone_alert(&app, src, name).await;
        ids.insert(src, a);
        incidents.insert(src, i);
    }
    let fx = Fixture {
        ids,
        incidents,
        target_user: target["id"].as_str().unwrap().to_string(),
    };
    let mut failures = Vec::new();
    let mut n = 0;
    for role in BUILTIN_ROLES {
        for limited in [false, true] {
            let auth = app
                .token(role.name, limited.then_some(&["endpoint"][..]))
                .await;
            for rule in ROUTE_RULES {
                for source in [OWN, OTHER] {
                    n += 1;
                    let want = expected(rule, role.permissions, limited, source);
                    let got = probe(&app, &fx, rule, &auth, source, n).await;
                    if want != got {
                        failures.push(format!(
                            "{} {} as {}{} on {}: expected {}, got {}",
                            rule.method,
                            rule.path,
                            role.name,
                            if limited { " (endpoint only)" } else { "" },
                            if source == OWN {
                                "own source"
                            } else {
                                "other source"
                            },
                            if want { "allow" } else { "deny" },
                            if got { "allow" } else { "deny" },
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(n >= ROUTE_RULES.len() * BUILTIN_ROLES.len() * 4);
}

#[tokio::test]
async fn every_documented_route_has_exactly_one_rule() {
    let app = TestApp::new().await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let ruled: BTreeSet<(String, String)> = ROUTE_RULES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(ruled.len(), ROUTE_RULES.len(), "duplicate rules");
    assert_eq!(
        documented, ruled,
        "routes (via the OpenAPI document) and access rules differ"
    );
}
