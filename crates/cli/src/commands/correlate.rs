//! `rampart correlate`: rebuilds automatic incidents from stored alerts, after the operator
//! changed the window or the allow-list (or for alerts stored before correlation existed).
//! Manual links, and incidents an analyst resolved, are kept.
use super::user::StoreArgs;
use anyhow::Context;
use rampart_domain::clock::{Clock, SystemClock};
use rampart_domain::timestamp::{Timestamp, DAY_MICROS};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Re-place alerts active since this time: RFC 3339, a duration back from now (`30d`,
    /// `12h`), or `all`
    #[arg(long, default_value = "all")]
    pub since: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Parses `--since`.
pub fn since(s: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("all") {
        return Ok(Timestamp::from_micros(0));
    }
    let unit = |suffix: char, micros: i64| -> Option<anyhow::Result<Timestamp>> {
        s.strip_suffix(suffix).map(|n| {
            let n: i64 = n
                .parse()
                .with_context(|| format!("--since {s:?}: not a number of {suffix}"))?;
            Ok(now.plus_micros(-n.saturating_mul(micros)))
        })
    };
    if let Some(t) = unit('d', DAY_MICROS).or_else(|| unit('h', DAY_MICROS / 24)) {
        return t;
    }
    Timestamp::parse_rfc3339(s)
        .map_err(|e| anyhow::anyhow!("--since {s:?}: {e}; expected RFC 3339, 30d, 12h or all"))
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let since = since(&a.since, now)?;
    let store = a.store.open().await?;
    store.claim_writer().await?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message("re-correlating stored alerts…");
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let s = store.correlate(since, now).await?;
    bar.finish_and_clear();
    println!(
        "re-correlated {} alerts in {:.1} s: {} moved, {} incidents with alerts",
        s.alerts,
        started.elapsed().as_secs_f64(),
        s.moved,
        s.incidents
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now = Timestamp::from_secs(10 * 86_400);
        assert_eq!(since("all", now).unwrap().micros(), 0);
        assert_eq!(since("2d", now).unwrap(), Timestamp::from_secs(8 * 86_400));
        assert_eq!(since("24h", now).unwrap(), Timestamp::from_secs(9 * 86_400));
        assert!(since("2026-11-01T00:00:00Z", now).is_ok());
        assert!(since("yesterday", now).is_err());
        assert!(since("xd", now).is_err());
    }
}
