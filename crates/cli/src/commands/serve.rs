//! `rampart serve`: the API on the embedded store.
use anyhow::Context;
use rampart_domain::clock::SystemClock;
use rampart_server::accounts;
use rampart_server::state::AuthSettings;
use rampart_server::{AppState, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "RAMPART_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory of the embedded store [default: ./rampart-data]
    #[arg(long, env = "RAMPART_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file [default: ./rampart.toml if present]
    #[arg(long, env = "RAMPART_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Resolves the layered configuration.
pub fn resolve(a: &Args) -> anyhow::Result<ServerConfig> {
    let mut cfg = crate::config::load(a.config.as_deref())?;
    if let Some(l) = a.listen {
        cfg.listen = l;
    }
    if let Some(d) = &a.data_dir {
        cfg.data_dir = d.clone();
    }
    Ok(cfg)
}

/// Builds the application state for a configuration. The id prefixes are checked before
/// the store is opened, so a bad `[prefixes]` entry leaves no new data directory behind.
pub async fn state_for(cfg: &ServerConfig) -> anyhow::Result<AppState> {
    let prefixes = crate::config::prefixes(cfg)?;
    let store = rampart_store::open_with(&cfg.data_dir.to_string_lossy(), cfg.correlation.clone())
        .await
        .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?;
    store.claim_writer().await?;
    let mut state = AppState::new(store, Arc::new(SystemClock), prefixes);
    state.auth = Arc::new(AuthSettings {
        session_hours: cfg.session_hours,
        secure_cookie: cfg.secure_cookie,
    });
    Ok(state)
}

/// `RAMPART_ADMIN_PASSWORD`, checked against the password rules before anything is
/// created.
fn admin_password() -> anyhow::Result<Option<String>> {
    let pw = std::env::var("RAMPART_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(p) = &pw {
        rampart_domain::user::check_password(p)
            .map_err(|e| anyhow::anyhow!("RAMPART_ADMIN_PASSWORD: {e}"))?;
    }
    Ok(pw)
}

/// First run: creates the administrator when no user exists, with `RAMPART_ADMIN_PASSWORD`
/// or a generated password printed once.
async fn bootstrap(state: &AppState, pw: Option<String>) -> anyhow::Result<()> {
    let from_env = pw.is_some();
    let made = accounts::bootstrap_admin(&*state.store, pw, state.clock.now())
        .await
        .map_err(|e| anyhow::anyhow!("creating the first administrator: {e}"))?;
    match made {
        Some((u, Some(pw))) => println!(
            "Created the administrator {:?}. One-time password (shown only now): {pw}\n\
             Sign in and change it, or create your own accounts with `rampart user add`.",
            u.username
        ),
        Some((u, None)) if from_env => println!(
            "Created the administrator {:?} with the password from RAMPART_ADMIN_PASSWORD.",
            u.username
        ),
        _ => {}
    }
    Ok(())
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let cfg = resolve(&a)?;
    let pw = admin_password()?;
    // Listen first: a port that is taken or not allowed fails before the store exists or
    // the first administrator is made, whose one-time password would otherwise be printed
    // once, beside an error, and never again.
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let state = state_for(&cfg).await?;
    bootstrap(&state, pw).await?;
    let addr = listener.local_addr()?;
    println!(
        "Rampart is running at http://{addr}/  (data: {})",
        cfg.data_dir.display()
    );
    // On a large store with a cold cache the engine takes seconds to load; now, not in
    // the first ingest request. Ingest that arrives meanwhile waits behind it, as before.
    let store = Arc::clone(&state.store);
    tokio::spawn(async move {
        if let Err(e) = store.warm_up().await {
            tracing::warn!(error = %e, "could not load the correlation engine at start; the first ingest will");
        }
    });
    rampart_server::serve_on(listener, state, shutdown_signal()).await?;
    eprintln!("Rampart stopped.");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (service managers), so both stop the server cleanly.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
