//! `TestApp`: a real server per test, on a real SQLite file, with an administrator token.
use rampart_domain::clock::FixedClock;
use rampart_domain::history::Actor;
use rampart_domain::ids::PrefixRegistry;
use rampart_domain::timestamp::Timestamp;
use rampart_server::accounts::{self, UserRequest};
use rampart_server::AppState;
use rampart_store::sqlite::SqliteStore;
use rampart_store::Store;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

pub const NOW: &str = "2026-11-23T12:00:00Z";
/// Password of every user the tests create.
pub const PASSWORD: &str = "correct horse battery staple";

pub fn now() -> Timestamp {
    Timestamp::parse_rfc3339(NOW).unwrap()
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Token(String),
    /// A session cookie value and its CSRF token (`None` to leave the header off).
    Session {
        cookie: String,
        csrf: Option<String>,
    },
}

/// A response: status, JSON body (Null if not JSON), headers.
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The server's clock, for tests that move time.
    #[allow(dead_code)]
    pub clock: FixedClock,
    pub store: Arc<dyn Store>,
    /// A Global administrator token; what `get`/`post` use.
    pub admin: Auth,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn new() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(dir.path()).unwrap());
        let clock = FixedClock::new(now());
        let state = AppState::new(
            store.clone(),
            Arc::new(clock.clone()),
            PrefixRegistry::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(rampart_server::serve_on(
            listener,
            state,
            std::future::pending(),
        ));
        let (_, token) = accounts::mint_token(
            &*store,
            "test-admin",
            "Global administrator",
            None,
            None,
            Actor::system(),
            now(),
        )
        .await
        .unwrap();
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            clock,
            store,
            admin: Auth::Token(token),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token with this role (and optional source limit).
    pub async fn token(&self, role: &str, sources: Option<&[&str]>) -> Auth {
        let (_, t) = accounts::mint_token(
            &*self.store,
            &format!("{role} token"),
            role,
            sources.map(|s| s.iter().map(|x| x.to_string()).collect()),
            None,
            Actor::system(),
            now(),
        )
        .await
        .unwrap();
        Auth::Token(t)
    }

    /// Creates a user with [`PASSWORD`].
    pub async fn user(&self, name: &str, role: &str, sources: Option<&[&str]>) -> Value {
        let u = accounts::create_user(
            &*self.store,
            UserRequest {
                username: name.into(),
                display_name: None,
                password: PASSWORD.into(),
                role: role.into(),
                sources: sources.map(|s| s.iter().map(|x| x.to_string()).collect()),
            },
            None,
            Actor::system(),
            now(),
        )
        .await
        .unwrap();
        serde_json::to_value(u).unwrap()
    }

    /// Signs in and returns the session (cookie + CSRF token).
    pub async fn login(&self, name: &str, password: &str) -> (u16, Auth, Value) {
        let r = self
            .send(
                Method::POST,
                "/api/v1/session",
                &Auth::None,
                Some(json!({"username": name, "password": password})),
            )
            .await;
        let cookie = r
            .headers
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let value = cookie
            .split(';')
            .next()
            .and_then(|kv| kv.split_once('='))
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let csrf = r.body["csrfToken"].as_str().map(str::to_string);
        (
            r.status,
            Auth::Session {
                cookie: value,
                csrf,
            },
            r.body,
        )
    }

    /// Sends a request; checks that every error is problem+json with a matching status.
    pub async fn send(&self, method: Method, path: &str, auth: &Auth, body: Option<Value>) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.send_raw(method, path, auth, bytes, &[]).await
    }

    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.client.request(method, self.url(path));
        match auth {
            Auth::None => {}
            Auth::Token(t) => rb = rb.bearer_auth(t),
            Auth::Session { cookie, csrf } => {
                rb = rb.header("cookie", format!("rampart_session={cookie}"));
                if let Some(c) = csrf {
                    rb = rb.header("x-csrf-token", c);
                }
            }
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let ct = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = r.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 400 {
            assert_eq!(
                ct, "application/problem+json",
                "errors are problem+json: {body}"
            );
            assert_eq!(body["status"], status, "{body}");
        }
        Resp {
            status,
            body,
            headers,
        }
    }

    pub async fn post(&self, path: &str, body: impl Into<Vec<u8>>) -> (u16, Value) {
        let r = self
            .send_raw(Method::POST, path, &self.admin, Some(body.into()), &[])
            .await;
        (r.status, r.body)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post(path, serde_json::to_vec(body).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.send(Method::GET, path, &self.admin, None).await;
        (r.status, r.body)
    }

    /// How many alerts the store holds.
    pub async fn count(&self) -> u64 {
        self.store.count_alerts().await.unwrap()
    }

    /// Posts one alert as the administrator and returns its id.
    #[allow(dead_code)]
    pub async fn seed_alert(&self, a: &Value) -> String {
        let (s, v) = self.post_json("/api/v1/alerts", a).await;
        assert!(s == 201 || s == 200, "{v}");
        v["items"][0]["id"].as_str().unwrap().to_string()
    }
}

/// A small valid Graph alert.
pub fn alert(provider_id: &str) -> Value {
    json!({
        "providerAlertId": provider_id,
        "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": "antivirus",
        "title": format!("Alert {provider_id}"),
        "severity": "medium",
        "category": "Execution",
        "firstActivityDateTime": "2026-11-22T10:00:00Z",
        "lastActivityDateTime": "2026-11-22T11:00:00Z",
        "evidence": [
            {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "WS-17.corp.contoso.com", "roles": [], "verdict": "suspicious"},
            {"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": {"accountName": "alice", "domainName": "CORP"}}
        ]
    })
}
