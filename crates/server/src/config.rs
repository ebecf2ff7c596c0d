//! Server settings. The CLI layers defaults, `rampart.toml` and `RAMPART_*` environment
//! variables into this one typed struct.
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings for `rampart serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Config format version, so future layouts can be told apart.
    pub version: u32,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    /// Extra service-source → id-prefix registrations (two lower-case letters).
    pub prefixes: std::collections::BTreeMap<String, String>,
    /// Session lifetime in hours (1–720).
    pub session_hours: i64,
    /// Mark the session cookie `Secure`; set when Rampart is reached over HTTPS (behind a
    /// TLS-terminating proxy).
    pub secure_cookie: bool,
    /// How alerts are grouped into incidents.
    pub correlation: rampart_domain::correlate::CorrelationConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            version: 1,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./rampart-data"),
            prefixes: Default::default(),
            session_hours: crate::state::DEFAULT_SESSION_HOURS,
            secure_cookie: false,
            correlation: Default::default(),
        }
    }
}
