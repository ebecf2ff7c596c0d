//! Sign-in, sessions, CSRF, throttling, tokens, users and roles, over real HTTP.
use crate::support::*;
use rampart_server::accounts;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn login_session_csrf_and_logout() {
    let app = TestApp::new().await;
    app.user("alice", "Security operator", None).await;
    let id = app.seed_alert(&alert("a1")).await;

    let (s, session, body) = app.login("alice", PASSWORD).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["role"], "Security operator");
    assert!(body["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("alerts.manage")));
    assert!(body.get("password").is_none());

    // Reading with the cookie works; GET needs no CSRF header.
    let r = app
        .send(Method::GET, "/api/v1/session", &session, None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "alice");

    // A change with the cookie but without the CSRF header is refused and changes nothing.
    let Auth::Session { cookie, .. } = session.clone() else {
        unreachable!()
    };
    let no_csrf = Auth::Session {
        cookie: cookie.clone(),
        csrf: None,
    };
    let patch = json!({"status": "inProgress", "version": 1});
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/alerts/{id}"),
            &no_csrf,
            Some(patch.clone()),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("x-csrf-token"));
    let wrong = Auth::Session {
        cookie: cookie.clone(),
        csrf: Some("nope".into()),
    };
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/alerts/{id}"),
            &wrong,
            Some(patch.clone()),
        )
        .await;
    assert_eq!(r.status, 403);
    let (_, a) = app.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(a["status"], "new");
    assert_eq!(a["version"], 1);

    // With it, the change goes through and the history names alice.
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/alerts/{id}"),
            &session,
            Some(patch),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, h) = app.get(&format!("/api/v1/alerts/{id}/history")).await;
    let last = h["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], json!({"kind": "user", "name": "alice"}));

    // Sign out: the cookie is cleared and stops working.
    let r = app
        .send(Method::DELETE, "/api/v1/session", &session, None)
        .await;
    assert_eq!(r.status, 204);
    assert!(r.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = app
        .send(Method::GET, "/api/v1/session", &session, None)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn cookie_is_httponly_samesite_and_sessions_expire() {
    let app = TestApp::new().await;
    app.user("bob", "Security reader", None).await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(json!({"username": "bob", "password": PASSWORD})),
        )
        .await;
    let c = r.headers["set-cookie"].to_str().unwrap();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"),
        "{c}"
    );
    let (_, session, _) = app.login("bob", PASSWORD).await;
    app.clock.advance_micros(11 * 3600 * 1_000_000);
    assert_eq!(
        app.send(Method::GET, "/api/v1/session", &session, None)
            .await
            .status,
        200
    );
    app.clock.advance_micros(2 * 3600 * 1_000_000);
    let r = app
        .send(Method::GET, "/api/v1/session", &session, None)
        .await;
    assert_eq!(r.status, 401);
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn failed_logins_are_audited_without_the_password_and_throttled() {
    let app = TestApp::new().await;
    app.user("carol", "Security operator", None).await;
    for _ in 0..5 {
        let (s, _, b) = app.login("carol", "wrong password!!").await;
        assert_eq!(s, 401, "{b}");
    }
    // The sixth attempt is throttled even with the right password.
    let (s, _, b) = app.login("carol", PASSWORD).await;
    assert_eq!(s, 429, "{b}");
    let (_, audit) = app.get("/api/v1/audit?target=auth").await;
    let items = audit["items"].as_array().unwrap();
    assert!(items.len() >= 6);
    let text = audit.to_string();
    assert!(
        !text.contains("wrong password!!") && !text.contains(PASSWORD),
        "no password in the audit"
    );
    assert!(items
        .iter()
        .any(|e| e["text"].as_str().unwrap().contains("wrong password")));
    assert!(items
        .iter()
        .any(|e| e["text"].as_str().unwrap().contains("throttled")));
    // The window passes; the right password works again.
    app.clock.advance_micros(16 * 60 * 1_000_000);
    let (s, _, _) = app.login("carol", PASSWORD).await;
    assert_eq!(s, 201);
    // Unknown users get the same answer as wrong passwords.
    let (s, _, b) = app.login("nobody", PASSWORD).await;
    assert_eq!(s, 401);
    assert_eq!(
        b["detail"],
        "wrong username or password, or the account is disabled"
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_blocks_sign_in() {
    let app = TestApp::new().await;
    let dave = app.user("dave", "Security operator", None).await;
    let (_, session, _) = app.login("dave", PASSWORD).await;
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{}", dave["id"].as_str().unwrap()),
            &app.admin,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.send(Method::GET, "/api/v1/session", &session, None)
            .await
            .status,
        401
    );
    let (s, _, _) = app.login("dave", PASSWORD).await;
    assert_eq!(s, 401);
    let (_, h) = app
        .get(&format!(
            "/api/v1/audit?target={}",
            dave["id"].as_str().unwrap()
        ))
        .await;
    assert!(h["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["field"] == "disabled" && e["newValue"] == "true"));
}

#[tokio::test]
async fn tokens_are_shown_once_listed_with_use_and_revocable() {
    let app = TestApp::new().await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/tokens",
            &app.admin,
            Some(json!({"name": "edr", "role": "Ingest only"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.body["token"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("rmp_"));
    let producer = Auth::Token(secret.clone());
    // Ingest-only: may send, may not read back.
    let r = app
        .send(Method::POST, "/api/v1/alerts", &producer, Some(alert("t1")))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .send(Method::GET, "/api/v1/alerts", &producer, None)
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body["detail"].as_str().unwrap().contains("alerts.read"));
    // Listed with last use, never with the secret.
    let (_, list) = app.get("/api/v1/tokens").await;
    assert!(!list.to_string().contains(&secret));
    let t = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(t["role"], "Ingest only");
    // Revoked: refused at once.
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            &app.admin,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .send(Method::POST, "/api/v1/alerts", &producer, Some(alert("t2")))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(app.count().await, 1);
    assert_eq!(
        app.send(Method::DELETE, "/api/v1/tokens/tok-nope", &app.admin, None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn nobody_grants_more_than_they_hold() {
    let app = TestApp::new().await;
    let secadmin = app.token("Security administrator", None).await;
    // A security administrator may mint an operator token but not a global administrator one.
    let r = app
        .send(
            Method::POST,
            "/api/v1/tokens",
            &secadmin,
            Some(json!({"name": "x", "role": "Security operator"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .send(
            Method::POST,
            "/api/v1/tokens",
            &secadmin,
            Some(json!({"name": "y", "role": "Global administrator"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Organization management may create users, but not global administrators.
    let org = app.token("Organization management", None).await;
    let mk = |role: &str| json!({"username": format!("u{}", role.len()), "password": PASSWORD, "role": role});
    let r = app
        .send(
            Method::POST,
            "/api/v1/users",
            &org,
            Some(mk("Security reader")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .send(
            Method::POST,
            "/api/v1/users",
            &org,
            Some(mk("Global administrator")),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn bad_account_input_is_refused_by_field() {
    let app = TestApp::new().await;
    let cases = [
        (
            json!({"username": "x y", "password": PASSWORD, "role": "Security reader"}),
            "username",
        ),
        (
            json!({"username": "ok", "password": "short", "role": "Security reader"}),
            "password",
        ),
        (
            json!({"username": "ok", "password": PASSWORD, "role": "Overlord"}),
            "role",
        ),
        (
            json!({"username": "ok", "password": PASSWORD, "role": "Security reader", "sources": []}),
            "sources",
        ),
        (
            json!({"username": "ok", "password": PASSWORD, "role": "Security reader", "admin": true}),
            "admin",
        ),
        (
            json!({"username": 7, "password": PASSWORD, "role": "Security reader"}),
            "username",
        ),
        // Letters outside ASCII: case folding and look-alikes of other accounts.
        (
            json!({"username": "ü", "password": PASSWORD, "role": "Security reader"}),
            "username",
        ),
        (
            json!({"username": "\u{430}dmin", "password": PASSWORD, "role": "Security reader"}),
            "username",
        ),
    ];
    for (body, field) in cases {
        let r = app
            .send(
                Method::POST,
                "/api/v1/users",
                &app.admin,
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{body} → {}", r.body);
        assert_eq!(r.body["field"], field, "{body} → {}", r.body);
    }
    let (_, users) = app.get("/api/v1/users").await;
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        0,
        "nothing created"
    );
    app.user("erin", "Security reader", None).await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/users",
            &app.admin,
            Some(json!({"username": "ERIN", "password": PASSWORD, "role": "Security reader"})),
        )
        .await;
    assert_eq!(r.status, 409, "usernames are case-insensitive: {}", r.body);
    // Custom role names: blanks around them and fullwidth forms of a built-in are refused,
    // and no role is made.
    for name in [" Tier 1", "Tier 1 ", "\u{ff33}ecurity reader"] {
        let r = app
            .send(
                Method::POST,
                "/api/v1/roles",
                &app.admin,
                Some(json!({"name": name, "permissions": ["alerts.read"]})),
            )
            .await;
        assert_eq!(r.status, 400, "{name:?} → {}", r.body);
        assert_eq!(r.body["field"], "name", "{name:?} → {}", r.body);
    }
    let (_, roles) = app.get("/api/v1/roles").await;
    assert!(
        roles["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["builtin"] == true),
        "no custom role made: {roles}"
    );
}

#[tokio::test]
async fn roles_list_builtins_and_custom_roles() {
    let app = TestApp::new().await;
    let r = app
        .send(Method::POST, "/api/v1/roles", &app.admin, Some(json!({"name": "Endpoint triage", "permissions": ["alerts.manage"], "sources": ["endpoint"]})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["permissions"],
        json!(["alerts.read", "alerts.manage"])
    );
    let (_, roles) = app.get("/api/v1/roles").await;
    let names: Vec<&str> = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for n in [
        "Global administrator",
        "Security administrator",
        "Security operator",
        "Global reader",
        "Security reader",
        "Compliance administrator",
        "Organization management",
        "Endpoint triage",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    // A custom role limited to endpoint can be given to a user and only reaches endpoint.
    app.user("frank", "Endpoint triage", None).await;
    let (_, frank, _) = app.login("frank", PASSWORD).await;
    let e = app.seed_alert(&alert("e1")).await;
    let mut idn = alert("i1");
    idn["serviceSource"] = json!("microsoftDefenderForIdentity");
    let i = app.seed_alert(&idn).await;
    assert_eq!(
        app.send(Method::GET, &format!("/api/v1/alerts/{e}"), &frank, None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.send(Method::GET, &format!("/api/v1/alerts/{i}"), &frank, None)
            .await
            .status,
        403
    );
    let r = app.send(Method::GET, "/api/v1/alerts", &frank, None).await;
    assert_eq!(
        r.body["total"], 1,
        "the queue shows only what the role reaches"
    );
}

#[tokio::test]
async fn first_run_creates_one_administrator() {
    let app = TestApp::new().await;
    let made = accounts::bootstrap_admin(&*app.store, None, now())
        .await
        .unwrap();
    let (user, pw) = made.unwrap();
    assert_eq!(user.username, "admin");
    assert_eq!(user.role, "Global administrator");
    let pw = pw.unwrap();
    let (s, _, _) = app.login("admin", &pw).await;
    assert_eq!(s, 201);
    assert!(
        accounts::bootstrap_admin(&*app.store, None, now())
            .await
            .unwrap()
            .is_none(),
        "only once"
    );
}

#[tokio::test]
async fn unauthenticated_requests_get_401_and_public_routes_stay_public() {
    let app = TestApp::new().await;
    for (m, p) in [
        (Method::GET, "/api/v1/alerts"),
        (Method::POST, "/api/v1/alerts"),
        (Method::GET, "/api/v1/users"),
    ] {
        let r = app.send(m, p, &Auth::None, None).await;
        assert_eq!(r.status, 401, "{p}");
        assert_eq!(r.headers["www-authenticate"], "Bearer");
    }
    let r = app
        .send(
            Method::GET,
            "/api/v1/alerts",
            &Auth::Token("rmp_forged".into()),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    let r = app
        .send_raw(
            Method::GET,
            "/api/v1/alerts",
            &Auth::None,
            None,
            &[("authorization", "Basic Zm9vOmJhcg==")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        app.send(Method::GET, "/api/v1/health", &Auth::None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.send(Method::GET, "/api/v1/openapi.json", &Auth::None, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn producer_chosen_ids_cannot_read_other_histories() {
    let app = TestApp::new().await;
    app.login("nobody", "wrong password!!").await;
    let mut a = alert("x");
    a["id"] = json!("auth");
    assert_eq!(app.post_json("/api/v1/alerts", &a).await.0, 201);
    let (s, h) = app.get("/api/v1/alerts/auth/history").await;
    assert_eq!(s, 200);
    assert!(!h.to_string().contains("loginFailed"), "{h}");
    // And the access audit does not show alert comments.
    let id = app.seed_alert(&alert("c")).await;
    app.send(
        Method::POST,
        &format!("/api/v1/alerts/{id}/comments"),
        &app.admin,
        Some(json!({"text": "secret note"})),
    )
    .await;
    let (_, audit) = app.get("/api/v1/audit").await;
    assert!(!audit.to_string().contains("secret note"));
}

#[tokio::test]
async fn a_resend_cannot_move_an_alert_to_another_source() {
    let app = TestApp::new().await;
    let mut mail = alert("m1");
    mail["id"] = json!("fa-mail-1");
    mail["serviceSource"] = json!("microsoftDefenderForOffice365");
    app.seed_alert(&mail).await;
    let endpoint_producer = app.token("Ingest only", Some(&["endpoint"])).await;
    let mut hijack = mail.clone();
    hijack["serviceSource"] = json!("microsoftDefenderForEndpoint");
    let r = app
        .send(
            Method::POST,
            "/api/v1/alerts",
            &endpoint_producer,
            Some(hijack),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["field"], "serviceSource");
    let (_, a) = app.get("/api/v1/alerts/fa-mail-1").await;
    assert_eq!(a["serviceSource"], "microsoftDefenderForOffice365");
    // Aliases and odd casing are stored under the Graph spelling, so limits see them.
    let mut aliased = alert("m2");
    aliased["serviceSource"] = json!("EMAIL");
    let id = app.seed_alert(&aliased).await;
    let reader = app.token("Security reader", Some(&["endpoint"])).await;
    let r = app
        .send(Method::GET, "/api/v1/alerts?status=any", &reader, None)
        .await;
    assert!(
        !r.body.to_string().contains(&id),
        "an e-mail alert stays out of an endpoint-only queue"
    );
}

#[tokio::test]
async fn json_bodies_need_a_json_content_type() {
    let app = TestApp::new().await;
    app.user("gina", "Security reader", None).await;
    let body = format!(r#"{{"username":"gina","password":"{PASSWORD}"}}"#).into_bytes();
    let r = app
        .send_raw(
            Method::POST,
            "/api/v1/session",
            &Auth::None,
            Some(body.clone()),
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(r.status, 415, "a cross-site form cannot sign anyone in");
    assert!(r.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn the_last_global_administrator_stays() {
    let app = TestApp::new().await;
    let root = app.user("root", "Global administrator", None).await;
    let id = root["id"].as_str().unwrap();
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &app.admin,
            Some(json!({"role": "Security reader"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    app.user("root2", "Global administrator", None).await;
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &app.admin,
            Some(json!({"role": "Security reader"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The last enabled Global administrator cannot be disabled, demoted or limited to some
/// sources; the refusal names the field the request set, and nothing changes.
#[tokio::test]
async fn the_last_global_administrator_stays_and_the_refusal_names_the_field() {
    let app = TestApp::new().await;
    let solo = app.user("solo", "Global administrator", None).await;
    let path = format!("/api/v1/users/{}", solo["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"disabled": true}), "disabled"),
        (json!({"role": "Security reader"}), "role"),
        (json!({"sources": ["endpoint"]}), "sources"),
    ] {
        let r = app
            .send(Method::PATCH, &path, &app.admin, Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["field"], field, "{body}: {}", r.body);
    }
    let (_, users) = app.get("/api/v1/users").await;
    let me = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "solo")
        .unwrap()
        .clone();
    assert_eq!(
        (me["role"].as_str(), me["disabled"].as_bool()),
        (Some("Global administrator"), Some(false))
    );
    // With a second one, the first may step down.
    app.user("second", "Global administrator", None).await;
    let r = app
        .send(
            Method::PATCH,
            &path,
            &app.admin,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
