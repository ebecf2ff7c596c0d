//! `rampart user`: manage accounts from the shell, with or without a running server (the
//! embedded store allows one writer per process and SQLite serialises the two).
use anyhow::Context;
use rampart_domain::clock::{Clock, SystemClock};
use rampart_domain::history::{Actor, ActorKind};
use rampart_server::accounts::{self, UserRequest};
use rampart_server::auth::{password, secret};
use rampart_store::{Store, UserPatch};
use std::io::Read;
use std::path::PathBuf;

/// The audit actor for shell commands: whoever can write the data directory.
pub fn cli_actor() -> Actor {
    let who = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    Actor {
        kind: ActorKind::System,
        name: format!("cli:{who}"),
    }
}

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Data directory of the embedded store [default: data_dir from ./rampart.toml, else
    /// ./rampart-data], so the command acts on the store `rampart serve` uses
    #[arg(long, env = "RAMPART_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// Opens the store with the correlation settings of `./rampart.toml`, or the defaults
    /// when the file does not parse and the data directory was given (these commands do
    /// not correlate). The store must exist: a command run from the wrong directory stops
    /// with the path it looked in, instead of acting on a new, empty store.
    pub async fn open(&self) -> anyhow::Result<std::sync::Arc<dyn Store>> {
        self.open_or_create(false).await
    }

    /// [`StoreArgs::open`], creating the store when `create` is set (and saying so, with
    /// its path, on standard error).
    pub async fn open_or_create(&self, create: bool) -> anyhow::Result<std::sync::Arc<dyn Store>> {
        let cfg = match crate::config::load(None) {
            Ok(cfg) => cfg,
            Err(e) if self.data_dir.is_none() => return Err(e),
            Err(_) => rampart_server::ServerConfig::default(),
        };
        let dir = self.data_dir.as_ref().unwrap_or(&cfg.data_dir);
        let url = dir.to_string_lossy();
        if !create {
            return rampart_store::open_existing(&url, cfg.correlation.clone())
                .await
                .with_context(|| {
                    format!(
                        "opening the store in {}: give the server's data directory with \
                         --data-dir (or RAMPART_DATA_DIR), or run this where its rampart.toml is",
                        dir.display()
                    )
                });
        }
        let new = !dir.join(rampart_store::sqlite::DB_FILE).exists();
        let store = self.open_in(&cfg).await?;
        if new {
            eprintln!("created a new, empty store in {}", dir.display());
        }
        Ok(store)
    }

    /// [`StoreArgs::open`], with the configuration it was opened with (`./rampart.toml`, as
    /// `serve` reads it, whose correlation settings the store uses). Unlike `open`, a file
    /// that does not parse is an error: the caller acts on the settings.
    pub async fn open_configured(
        &self,
    ) -> anyhow::Result<(std::sync::Arc<dyn Store>, rampart_server::ServerConfig)> {
        let cfg = crate::config::load(None)?;
        Ok((self.open_in(&cfg).await?, cfg))
    }

    /// Opens the store in the given data directory, else `cfg`'s, with `cfg`'s correlation
    /// settings (the file is read once).
    async fn open_in(
        &self,
        cfg: &rampart_server::ServerConfig,
    ) -> anyhow::Result<std::sync::Arc<dyn Store>> {
        let dir = self.data_dir.as_ref().unwrap_or(&cfg.data_dir);
        rampart_store::open_with(&dir.to_string_lossy(), cfg.correlation.clone())
            .await
            .with_context(|| format!("opening the store in {}", dir.display()))
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCmd {
    /// Create a user. The password comes from stdin with --password-stdin, else from
    /// RAMPART_USER_PASSWORD, else one is generated and printed once.
    Add {
        username: String,
        /// Role name, e.g. "Security operator" (see `GET /api/v1/roles`)
        #[arg(long)]
        role: String,
        /// Limit the role to these service sources (comma-separated; e.g. endpoint,identity)
        #[arg(long, value_delimiter = ',')]
        sources: Option<Vec<String>>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disable a user (ends their sessions).
    Disable {
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Enable a disabled user.
    Enable {
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Change a user's role (ends their sessions).
    SetRole {
        username: String,
        role: String,
        #[arg(long, value_delimiter = ',')]
        sources: Option<Vec<String>>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a user's password from standard input (ends their sessions).
    SetPassword {
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn read_stdin_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().take(4096).read_to_string(&mut s)?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

async fn user_id(store: &dyn Store, name: &str) -> anyhow::Result<String> {
    Ok(store
        .user_login(name)
        .await?
        .with_context(|| format!("no user {name:?}"))?
        .user
        .id)
}

async fn patch(store: &dyn Store, name: &str, p: UserPatch) -> anyhow::Result<()> {
    let id = user_id(store, name).await?;
    let u = store
        .update_user(&id, p, cli_actor(), SystemClock.now())
        .await?;
    println!(
        "{}: role {:?}{}, {}",
        u.username,
        u.role,
        u.sources
            .map(|s| format!(" limited to {}", s.join(",")))
            .unwrap_or_default(),
        if u.disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

pub async fn run(cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            username,
            role,
            sources,
            display_name,
            password_stdin,
            store,
        } => {
            // Accounts may be made before the server first starts, so this one may create
            // the store.
            let store = store.open_or_create(true).await?;
            let (pw, generated) = if password_stdin {
                (read_stdin_password()?, false)
            } else if let Ok(p) = std::env::var("RAMPART_USER_PASSWORD") {
                (p, false)
            } else {
                (secret::new_password(), true)
            };
            let u = accounts::create_user(
                &*store,
                UserRequest {
                    username,
                    display_name,
                    password: pw.clone(),
                    role,
                    sources,
                },
                None,
                cli_actor(),
                SystemClock.now(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created {} ({}) as {:?}", u.username, u.id, u.role);
            if generated {
                println!("one-time password (shown only now): {pw}");
            }
        }
        UserCmd::List { store } => {
            let store = store.open().await?;
            for u in store.list_users().await? {
                println!(
                    "{}\t{}\t{}{}\t{}\tlast login {}",
                    u.id,
                    u.username,
                    u.role,
                    u.sources
                        .map(|s| format!(" [{}]", s.join(",")))
                        .unwrap_or_default(),
                    if u.disabled { "disabled" } else { "enabled" },
                    u.last_login.map_or("never".into(), |t| t.to_rfc3339())
                );
            }
        }
        UserCmd::Disable { username, store } => {
            let s = store.open().await?;
            patch(
                &*s,
                &username,
                UserPatch {
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        }
        UserCmd::Enable { username, store } => {
            let s = store.open().await?;
            patch(
                &*s,
                &username,
                UserPatch {
                    disabled: Some(false),
                    ..Default::default()
                },
            )
            .await?;
        }
        UserCmd::SetRole {
            username,
            role,
            sources,
            store,
        } => {
            let s = store.open().await?;
            let (def, sources) = accounts::checked_role(&*s, &role, sources, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            patch(
                &*s,
                &username,
                UserPatch {
                    role: Some(def.name),
                    sources: Some(sources),
                    ..Default::default()
                },
            )
            .await?;
        }
        UserCmd::SetPassword { username, store } => {
            let s = store.open().await?;
            let pw = read_stdin_password()?;
            rampart_domain::user::check_password(&pw).map_err(|e| anyhow::anyhow!("{e}"))?;
            let hash = password::hash(&pw).map_err(|e| anyhow::anyhow!(e))?;
            patch(
                &*s,
                &username,
                UserPatch {
                    password_hash: Some(hash),
                    ..Default::default()
                },
            )
            .await?;
        }
    }
    Ok(())
}
