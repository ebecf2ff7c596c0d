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

/// The commands run beside the server act on an existing store only: run from a directory
/// without its `rampart.toml`, they stop and name the directory they looked in, and leave
/// no new store behind. `user add` may create one (accounts can be made before the first
/// start) and says so.
#[test]
fn tools_refuse_a_data_directory_without_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["user", "list"][..],
        &["token", "list"],
        &["correlate", "--since", "all"],
    ] {
        let out = rampart(d, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains("no Rampart store in ./rampart-data") && err.contains("--data-dir"),
            "{args:?}: {err}"
        );
        assert!(!d.join("rampart-data").exists(), "{args:?} made a store");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["user", "add", "ana", "--role", "Security reader"])
        .current_dir(d)
        .env_remove("RAMPART_DATA_DIR")
        .env("RAMPART_USER_PASSWORD", "Ana-pass-000001")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("created a new, empty store"));
    let out = rampart(d, &["user", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ana"));
}

/// A relative `data_dir` in a configuration file is relative to the file, so `serve
/// --config …` started anywhere and a tool run beside the file share one store.
#[test]
fn a_relative_data_dir_is_relative_to_its_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let (etc, elsewhere) = (dir.path().join("etc"), dir.path().join("elsewhere"));
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        etc.join("rampart.toml"),
        "version = 1\ndata_dir = \"./data\"\n",
    )
    .unwrap();
    std::fs::write(
        elsewhere.join("alerts.ndjson"),
        alert_line("da-rel-1", "ws-1"),
    )
    .unwrap();
    // `ingest` reads ./rampart.toml: from `etc`, the file's own directory.
    let out = rampart(&etc, &["ingest", "../elsewhere/alerts.ndjson"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(etc.join("data").join("rampart.db").exists());
    // `serve --config` from elsewhere finds the same store (and says where it is); a port
    // that is taken stops it before it opens the store or makes an administrator.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = etc.join("rampart.toml");
    let out = rampart(
        &elsewhere,
        &[
            "serve",
            "--config",
            &config.to_string_lossy(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("listening on"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("administrator"));
    assert!(!elsewhere.join("data").exists() && !elsewhere.join("rampart-data").exists());
    let out = rampart(&etc, &["user", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "serve made an administrator before it could listen"
    );
    drop(taken);
    // On a free port it serves the store beside its configuration.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args([
            "serve",
            "--config",
            &config.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(&elsewhere)
        .env_remove("RAMPART_DATA_DIR")
        .env_remove("RAMPART_LISTEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut said = String::new();
    {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(serve.stdout.take().unwrap()).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if line.starts_with("Rampart is running") {
                said = line;
                break;
            }
        }
    }
    let _ = serve.kill();
    let _ = serve.wait();
    let data = etc.join("data");
    assert!(
        said.ends_with(&format!("(data: {})", data.display())),
        "{said}"
    );
}

/// An empty input is not a successful import.
#[test]
fn ingest_of_an_empty_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("none.ndjson"), "").unwrap();
    let out = rampart(dir.path(), &["ingest", "none.ndjson"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("held no alerts"));
}
