//! Layered configuration: defaults → `rampart.toml` (or `--config`) → `RAMPART_*` environment
//! variables → command-line flags (clap reads the environment for each flag).
use anyhow::Context;
use rampart_server::ServerConfig;
use std::path::{Path, PathBuf};

/// Where `--config` defaults to.
pub const DEFAULT_CONFIG_FILE: &str = "rampart.toml";

/// Loads the file layer: an explicit `--config` must exist; the default file is optional.
/// A relative `data_dir` set in the file is relative to the file's directory, so `serve
/// --config /etc/rampart/rampart.toml` and a tool run from that directory find one store,
/// wherever each was started from.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<ServerConfig> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut cfg: ServerConfig = toml::from_str(&text)
                .with_context(|| format!("reading configuration {}", path.display()))?;
            let sets_data_dir =
                toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("data_dir"));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if sets_data_dir && cfg.data_dir.is_relative() {
                    // Without the `.` of `./data`, which `components` drops.
                    cfg.data_dir = dir.join(&cfg.data_dir).components().collect();
                }
            }
            if !(1..=720).contains(&cfg.session_hours) {
                anyhow::bail!(
                    "{}: session_hours must be 1–720, not {}",
                    path.display(),
                    cfg.session_hours
                );
            }
            cfg.correlation
                .allow_keys()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if cfg.correlation.window_hours < 1 || cfg.correlation.max_prevalence < 1 {
                anyhow::bail!(
                    "{}: correlation.window_hours and max_prevalence must be at least 1",
                    path.display()
                );
            }
            if cfg.version != 1 {
                anyhow::bail!(
                    "{}: unsupported config version {}",
                    path.display(),
                    cfg.version
                );
            }
            Ok(cfg)
        }
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(ServerConfig::default())
        }
        Err(e) => Err(e).with_context(|| format!("reading configuration {}", path.display())),
    }
}

/// The id prefixes of a configuration: the built-ins and its `[prefixes]`.
pub fn prefixes(cfg: &ServerConfig) -> anyhow::Result<rampart_domain::ids::PrefixRegistry> {
    let mut prefixes = rampart_domain::ids::PrefixRegistry::default();
    for (source, prefix) in &cfg.prefixes {
        prefixes
            .register(source, prefix)
            .with_context(|| format!("registering prefix for {source}"))?;
    }
    Ok(prefixes)
}

/// A commented example configuration.
pub fn example() -> String {
    let d = ServerConfig::default();
    format!(
        "# Rampart configuration. listen and data_dir may also be set as RAMPART_LISTEN and\n\
         # RAMPART_DATA_DIR, or as flags; flags win over the environment, which wins over this file.\n\
         version = 1\n\n\
         # Address the API and UI listen on (RAMPART_LISTEN).\n\
         listen = \"{}\"\n\n\
         # Directory of the embedded SQLite store (RAMPART_DATA_DIR).\n\
         data_dir = \"{}\"\n\n\
         # Hours a sign-in lasts before the analyst signs in again (1–720).\n\
         session_hours = {}\n\n\
         # Send the session cookie only over HTTPS; set this when a TLS proxy fronts Rampart.\n\
         secure_cookie = false\n\n\
         # Correlation: alerts sharing a host, account, mailbox, hash, IP, URL, domain or\n\
         # process within the window join one incident; entities seen with more hosts than\n\
         # max_prevalence, or listed in allow_list, never link alerts.\n\
         [correlation]\n\
         enabled = true\n\
         window_hours = 24\n\
         max_prevalence = 5\n\
         allow_list = []   # e.g. [\"ip:10.0.0.53\", \"user:svc-scanner\"]\n\n\
         # Extra service sources and their two-letter alert-id prefixes.\n\
         [prefixes]\n\
         # acmeEdr = \"ac\"\n",
        d.listen,
        d.data_dir.display(),
        d.session_hours
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_printed_example_is_a_valid_configuration() {
        let cfg: rampart_server::ServerConfig = toml::from_str(&super::example()).unwrap();
        assert_eq!(cfg.correlation, Default::default());
        assert_eq!(cfg.session_hours, 12);
    }
}
