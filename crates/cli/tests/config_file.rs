//! The `rampart` binary run as an operator runs it, in a directory of its own: each test's
//! process has its own working directory, so `./rampart.toml` is read as in production
//! without tests changing a shared one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::path::Path;
use std::process::{Command, Output};

fn rampart(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .current_dir(dir)
        .env_remove("RAMPART_DATA_DIR")
        .env_remove("RAMPART_LISTEN")
        .env_remove("RAMPART_LOG")
        .output()
        .unwrap()
}

/// The Graph alert of the ingest crate's fixture as alert `id`, naming only `device` and
/// the DNS server 10.0.0.53.
fn alert_line(id: &str, device: &str) -> String {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ingest/fixtures/graph_alert.json"
    );
    let mut alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    alert["id"] = id.into();
    alert["providerAlertId"] = id.into();
    alert["evidence"] = serde_json::json!([
        {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": device},
        {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "10.0.0.53"}
    ]);
    alert.to_string()
}

/// A `rampart.toml` that does not parse stops `rampart ingest` before it opens a store:
/// the operator hears which file is wrong, and nothing is imported with settings they did
/// not write.
#[test]
fn ingest_stops_on_a_configuration_that_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("alerts.ndjson"), alert_line("da-cfg-1", "ws-1")).unwrap();
    for (broken, says) in [
        (
            "version = 1\ndata_dir = \"store\"\n[correlation\n",
            "rampart.toml",
        ),
        (
            "version = 1\ndata_dir = \"store\"\n[correlation]\nallow_list = [\"nokind\"]\n",
            "allow_list",
        ),
        (
            "version = 1\ndata_dir = \"store\"\n[correlation]\nwindow_hours = 0\n",
            "window_hours",
        ),
    ] {
        std::fs::write(d.join("rampart.toml"), broken).unwrap();
        let out = rampart(d, &["ingest", "alerts.ndjson"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{broken:?} was accepted");
        assert!(stderr.contains(says), "{broken:?}: {stderr}");
        assert!(
            !d.join("store").exists() && !d.join("rampart-data").exists(),
            "{broken:?} opened a store"
        );
    }
}

/// A valid `rampart.toml` is what `rampart ingest` acts on: its data directory, and its
/// correlation allow-list (an allow-listed DNS server links nothing).
#[test]
fn ingest_uses_the_data_dir_and_allow_list_of_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("rampart.toml"),
        "version = 1\ndata_dir = \"store\"\n[correlation]\nallow_list = [\"ip:10.0.0.53\"]\n",
    )
    .unwrap();
    let lines = [
        alert_line("da-cfg-1", "ws-1"),
        alert_line("da-cfg-2", "ws-2"),
    ];
    std::fs::write(d.join("alerts.ndjson"), lines.join("\n")).unwrap();
    let out = rampart(d, &["ingest", "alerts.ndjson"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = d.join("store");
    assert!(
        store.join("rampart.db").exists(),
        "not in the configured data_dir"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let incidents: Vec<String> = rt.block_on(async {
        let s = rampart_store::open(&store.to_string_lossy()).await.unwrap();
        let mut out = Vec::new();
        for id in ["da-cfg-1", "da-cfg-2"] {
            let a = s.get_alert(id).await.unwrap().expect("imported");
            out.push(a.record.incident_id.expect("in an incident"));
        }
        out
    });
    assert_ne!(
        incidents[0], incidents[1],
        "the allow-listed address glued two alerts"
    );
}
