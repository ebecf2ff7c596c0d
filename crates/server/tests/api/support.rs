//! `TestApp`: a real server per test.
use rampart_domain::clock::FixedClock;
use rampart_domain::ids::PrefixRegistry;
use rampart_domain::timestamp::Timestamp;
use rampart_server::AppState;
use rampart_store::sqlite::SqliteStore;
use serde_json::{json, Value};
use std::sync::Arc;

pub const NOW: &str = "2026-11-23T12:00:00Z";

pub fn now() -> Timestamp {
    Timestamp::parse_rfc3339(NOW).unwrap()
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The server's clock, for tests that move time.
    #[allow(dead_code)]
    pub clock: FixedClock,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn new() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let clock = FixedClock::new(now());
        let state = AppState {
            store: Arc::new(store),
            clock: Arc::new(clock.clone()),
            prefixes: Arc::new(PrefixRegistry::default()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(rampart_server::serve_on(
            listener,
            state,
            std::future::pending(),
        ));
        TestApp {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            clock,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = r.bytes().await.unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 400 {
            assert_eq!(
                ct, "application/problem+json",
                "errors are problem+json: {v}"
            );
            assert_eq!(v["status"], status, "{v}");
        }
        (status, v)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post(path, serde_json::to_vec(body).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// How many alerts the store holds (through the health endpoint).
    pub async fn count(&self) -> u64 {
        let (s, v) = self.get("/api/v1/health").await;
        assert_eq!(s, 200);
        v["alerts"].as_u64().unwrap()
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
