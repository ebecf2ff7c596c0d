//! The `rampart` command. Thin: parses arguments, loads configuration and calls the library
//! crates; no domain logic lives here.
mod commands;
mod config;
mod generate;

use clap::{Parser, Subcommand};

/// Rampart: self-hosted alert triage and investigation.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API server on the embedded store.
    Serve(commands::serve::Args),
    /// Load an NDJSON file of Graph alerts into the store.
    Ingest(commands::ingest::Args),
    /// Fill a store with realistic generated attacks and background noise.
    Demo(commands::demo::Args),
    /// Measure ingest and queue performance.
    #[command(subcommand)]
    Bench(commands::bench::Bench),
    /// Rebuild automatic incidents from stored alerts (after changing correlation settings).
    Correlate(commands::correlate::Args),
    /// Manage user accounts (works while the server is stopped).
    #[command(subcommand)]
    User(commands::user::UserCmd),
    /// Mint, list and revoke API tokens (works while the server is stopped).
    #[command(subcommand)]
    Token(commands::token::TokenCmd),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(commands::config_cmd::ConfigCmd),
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    // A bad RAMPART_LOG falls back to `info`, and says so once logging works.
    let (filter, bad_filter) = match std::env::var("RAMPART_LOG") {
        Ok(v) => match tracing_subscriber::EnvFilter::try_new(&v) {
            Ok(f) => (f, None),
            Err(e) => ("info".into(), Some(format!("{v:?}: {e}"))),
        },
        Err(_) => ("info".into(), None),
    };
    // Colours only on a terminal: journald and log files would keep the escape codes.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr)
        .init();
    if let Some(why) = bad_filter {
        tracing::warn!("RAMPART_LOG {why}; logging at info");
    }
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => commands::serve::run(a).await,
            Command::Ingest(a) => commands::ingest::run(a).await,
            Command::Demo(a) => commands::demo::run(a).await,
            Command::Bench(b) => commands::bench::run(b).await,
            Command::Correlate(a) => commands::correlate::run(a).await,
            Command::User(c) => commands::user::run(c).await,
            Command::Token(c) => commands::token::run(c).await,
            Command::Config(c) => commands::config_cmd::run(c),
        }
    })
}
