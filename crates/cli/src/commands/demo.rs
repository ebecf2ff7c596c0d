//! `rampart demo`: a store an analyst can explore at once — two multi-stage attacks across
//! e-mail, endpoint, identity and cloud apps, plus background noise.
use crate::generate::{attacks, Gen};
use indicatif::{ProgressBar, ProgressStyle};
use rampart_domain::clock::{Clock, SystemClock};
use rampart_domain::history::Actor;
use rampart_domain::ids::PrefixRegistry;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory of the embedded store.
    #[arg(long, env = "RAMPART_DATA_DIR", default_value = "./rampart-data")]
    pub data_dir: PathBuf,
    /// Background alerts to add besides the attacks.
    #[arg(long, default_value_t = 2000)]
    pub alerts: u64,
    /// Random seed (the same seed gives the same data).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let store = rampart_store::open(&a.data_dir.to_string_lossy()).await?;
    store.claim_writer().await?;
    fill(&*store, a.alerts, a.seed, true).await?;
    println!(
        "Demo data in {}: 7 attack alerts and {} background alerts. Start with: rampart serve --data-dir {}",
        a.data_dir.display(),
        a.alerts,
        a.data_dir.display()
    );
    Ok(())
}

/// Writes the attacks (if `with_attacks`) and `n` noise alerts into `store`.
pub async fn fill(
    store: &dyn rampart_store::Store,
    n: u64,
    seed: u64,
    with_attacks: bool,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let prefixes = PrefixRegistry::default();
    let mut g = Gen::new(seed, now);
    let to_alert = |v: serde_json::Value| -> anyhow::Result<rampart_domain::alert::NewAlert> {
        let doc = bytes::Bytes::from(serde_json::to_vec(&v)?);
        let mut parsed = rampart_ingest::parse_json_body(&doc, &prefixes, now)?;
        parsed
            .pop()
            .ok_or_else(|| anyhow::anyhow!("generator produced no alert"))
    };
    if with_attacks {
        let batch = attacks(&mut g)
            .into_iter()
            .map(to_alert)
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.ingest(batch, Actor::producer("demo"), now).await?;
    }
    let bar = ProgressBar::new(n);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} alerts ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut i = 0;
    while i < n {
        let take = (n - i).min(5000);
        let batch = (i..i + take)
            .map(|k| to_alert(g.noise(k)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.ingest(batch, Actor::producer("demo"), now).await?;
        i += take;
        bar.set_position(i);
    }
    bar.finish_and_clear();
    Ok(())
}
