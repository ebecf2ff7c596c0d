//! `rampart token`: mint, list and revoke API tokens from the shell. `create` prints only the
//! token on stdout so scripts can capture it.
use super::user::{cli_actor, StoreArgs};
use rampart_domain::clock::{Clock, SystemClock};
use rampart_server::accounts;

#[derive(Debug, clap::Subcommand)]
pub enum TokenCmd {
    /// Mint a token and print it (only the token, on stdout).
    Create {
        /// A name saying who uses it, e.g. "edr-forwarder"
        #[arg(long)]
        name: String,
        /// Role, e.g. "Ingest only" or "Security operator"
        #[arg(long)]
        role: String,
        /// Limit to these service sources (comma-separated)
        #[arg(long, value_delimiter = ',')]
        sources: Option<Vec<String>>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens with role, last use and revocation.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by id.
    Revoke {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create {
            name,
            role,
            sources,
            store,
        } => {
            let s = store.open().await?;
            let (t, secret) = accounts::mint_token(
                &*s,
                &name,
                &role,
                sources,
                None,
                cli_actor(),
                SystemClock.now(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "minted {} ({:?}, role {:?}); it is shown only now",
                t.id, t.name, t.role
            );
            println!("{secret}");
        }
        TokenCmd::List { store } => {
            let s = store.open().await?;
            for t in s.list_tokens().await? {
                println!(
                    "{}\t{}\t{}\tby {}\tlast used {}\t{}",
                    t.id,
                    t.name,
                    t.role,
                    t.created_by,
                    t.last_used.map_or("never".into(), |x| x.to_rfc3339()),
                    t.revoked
                        .map_or("active".into(), |x| format!("revoked {}", x.to_rfc3339()))
                );
            }
        }
        TokenCmd::Revoke { id, store } => {
            let s = store.open().await?;
            let t = s.revoke_token(&id, cli_actor(), SystemClock.now()).await?;
            println!("revoked {} ({:?})", t.id, t.name);
        }
    }
    Ok(())
}
