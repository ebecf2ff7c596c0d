//! `rampart ingest FILE`: NDJSON of Graph alerts straight into the store, with a progress bar,
//! with the data directory, id prefixes and correlation settings `serve` uses
//! (`./rampart.toml`).
//!
//! A file is often a backfill: alerts older than the correlation window behind the newest
//! alert, which the engine no longer remembers, so ingest can leave them unlinked (see
//! docs/incidents.md, "Late alerts"). The command counts them, and with `--correlate`
//! re-correlates the period they cover afterwards, as `rampart correlate --since` would.
use super::user::StoreArgs;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rampart_domain::clock::{Clock, SystemClock};
use rampart_domain::history::Actor;
use rampart_domain::timestamp::Timestamp;
use rampart_store::{AlertQuery, IngestOutcome, SortKey, Store};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// NDJSON file, one Graph alert per line (`-` for standard input).
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Lines per transaction.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Afterwards, if the file held new alerts older than the correlation window behind the
    /// newest alert (a backfill), run `rampart correlate --since` from one window before the
    /// oldest of them: every alert active since then is placed again, up to now (manual
    /// links and resolved incidents stay)
    #[arg(long)]
    pub correlate: bool,
}

/// Counts the imported alerts that correlation at ingest may have left unlinked: those
/// older than the window behind the newest alert stored or imported before them.
#[derive(Debug)]
struct Backfill {
    window: i64,
    newest: Option<i64>,
    late: u64,
    oldest_late: Option<i64>,
}

impl Backfill {
    fn new(window_micros: i64, newest_stored: Option<Timestamp>) -> Backfill {
        Backfill {
            window: window_micros,
            newest: newest_stored.map(Timestamp::micros),
            late: 0,
            oldest_late: None,
        }
    }

    /// One imported alert, in file order, by its last activity (what the window trails).
    fn saw(&mut self, at: Timestamp) {
        let at = at.micros();
        if self
            .newest
            .is_some_and(|n| at < n.saturating_sub(self.window))
        {
            self.late += 1;
            self.oldest_late = Some(self.oldest_late.map_or(at, |o| o.min(at)));
        }
        self.newest = Some(self.newest.map_or(at, |n| n.max(at)));
    }

    /// Where a re-correlation must start to link the late alerts: a window before the
    /// oldest, so it also re-places what they could link with.
    fn since(&self) -> Option<Timestamp> {
        self.oldest_late
            .map(|o| Timestamp::from_micros(o.saturating_sub(self.window)))
    }
}

/// The newest last activity stored (the correlation engine's window trails it).
async fn newest_stored(store: &dyn Store) -> anyhow::Result<Option<Timestamp>> {
    let q = AlertQuery {
        condition: Default::default(),
        since: None,
        until: None,
        sort: SortKey::LastActivity,
        desc: true,
        page_size: 1,
        cursor: None,
        now: SystemClock.now(),
        allowed_sources: None,
        denied_sources: vec![],
    };
    Ok(store
        .list_alerts(&q)
        .await?
        .items
        .first()
        .map(|a| a.last_activity))
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let (store, cfg) = a.store.open_configured().await?;
    let correlation = &cfg.correlation;
    store.claim_writer().await?;
    let mut backfill = if correlation.enabled {
        Some(Backfill::new(
            correlation.window_micros(),
            newest_stored(store.as_ref()).await?,
        ))
    } else {
        if a.correlate {
            eprintln!("correlation is off in rampart.toml: --correlate does nothing");
        }
        None
    };
    let prefixes = crate::config::prefixes(&cfg)?;
    let (reader, total): (Box<dyn BufRead>, u64) = if a.file.as_os_str() == "-" {
        (Box::new(BufReader::new(std::io::stdin())), 0)
    } else {
        let f = std::fs::File::open(&a.file)
            .with_context(|| format!("opening {}", a.file.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(BufReader::with_capacity(1 << 20, f)), len)
    };
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut accepted, mut rejected, mut line_no) = (0usize, 0usize, 0usize);
    let mut chunk = Vec::new();
    let mut lines_in_chunk = 0;
    let mut first_line_of_chunk = 1;
    let flush = |chunk: &mut Vec<u8>,
                 first: usize|
     -> Option<(Vec<rampart_domain::alert::NewAlert>, usize)> {
        let now = SystemClock.now();
        // The chunk's buffer becomes the alerts' documents (shared, not copied).
        let body = bytes::Bytes::from(std::mem::take(chunk));
        let parsed = rampart_ingest::parse_bulk(&body, &prefixes, now);
        let mut good = Vec::new();
        let mut bad = 0;
        for l in parsed {
            match l.result {
                Ok(a) => good.push(a),
                Err(e) => {
                    bad += 1;
                    let line = first + l.line - 1;
                    let msg = e.to_string();
                    let msg = msg.split_once(": ").map_or(msg.as_str(), |(_, m)| m);
                    eprintln!("line {line}: rejected: {msg}");
                }
            }
        }
        Some((good, bad))
    };
    let mut buf = Vec::new();
    let mut r = reader;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n > 0 {
            line_no += 1;
            chunk.extend_from_slice(&buf);
            if !buf.ends_with(b"\n") {
                chunk.push(b'\n');
            }
            lines_in_chunk += 1;
            bar.inc(n as u64);
        }
        if (n == 0 && !chunk.is_empty()) || lines_in_chunk >= a.batch {
            if let Some((good, bad)) = flush(&mut chunk, first_line_of_chunk) {
                rejected += bad;
                accepted += good.len();
                if !good.is_empty() {
                    let times: Vec<Timestamp> =
                        good.iter().map(|g| g.record.last_activity).collect();
                    let outcomes = store
                        .ingest(good, Actor::producer("cli"), SystemClock.now())
                        .await?;
                    // Only new alerts are placed by correlation; a re-send keeps its incident.
                    if let Some(b) = backfill.as_mut() {
                        for (at, o) in times.into_iter().zip(outcomes) {
                            if o == IngestOutcome::Created {
                                b.saw(at);
                            }
                        }
                    }
                }
            }
            lines_in_chunk = 0;
            first_line_of_chunk = line_no + 1;
            bar.set_message(format!("{accepted} accepted, {rejected} rejected"));
        }
        if n == 0 {
            break;
        }
    }
    bar.finish_and_clear();
    println!("{accepted} accepted, {rejected} rejected ({line_no} lines)");
    if accepted == 0 {
        anyhow::bail!(if rejected == 0 {
            "no line was accepted: the input held no alerts"
        } else {
            "no line was accepted"
        });
    }
    if let Some((b, since)) = backfill.as_ref().and_then(|b| Some((b, b.since()?))) {
        if a.correlate {
            let bar = ProgressBar::new_spinner();
            bar.set_message("re-correlating the imported period…");
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            let s = store.correlate(since, SystemClock.now()).await?;
            bar.finish_and_clear();
            println!(
                "re-correlated {} alerts active since {}: {} moved, {} incidents with alerts",
                s.alerts,
                since.to_rfc3339(),
                s.moved,
                s.incidents
            );
        } else {
            let (n, it) = match b.late {
                1 => ("1 alert was".to_string(), "it"),
                n => (format!("{n} alerts were"), "them"),
            };
            println!(
                "{n} older than the {} h correlation window behind the newest alert before \
                 {it}, so ingest may have left {it} unlinked: run `rampart correlate --since {}` \
                 (or import with --correlate) to link {it}",
                correlation.window_hours,
                since.to_rfc3339()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rampart_domain::timestamp::DAY_MICROS;

    const HOUR: i64 = DAY_MICROS / 24;

    fn at(day: i64, hour: i64) -> Timestamp {
        Timestamp::from_micros(1_790_000_000_000_000 + day * DAY_MICROS + hour * HOUR)
    }

    #[test]
    fn alerts_behind_the_window_of_what_came_before_are_late() {
        let mut b = Backfill::new(DAY_MICROS, Some(at(10, 0)));
        b.saw(at(9, 12)); // within the window behind day 10
        b.saw(at(3, 0)); // late
        b.saw(at(12, 0)); // the newest moves on
        b.saw(at(11, 5)); // within the window behind day 12
        b.saw(at(2, 5)); // late, the oldest
        assert_eq!(b.late, 2);
        assert_eq!(b.since(), Some(at(1, 5)));
        let mut fresh = Backfill::new(DAY_MICROS, None);
        fresh.saw(at(5, 0));
        fresh.saw(at(4, 12));
        assert_eq!((fresh.late, fresh.since()), (0, None));
    }

    fn line(id: &str, device: &str, when: Timestamp) -> String {
        let t = when.to_rfc3339();
        serde_json::json!({
            "id": id,
            "providerAlertId": id,
            "serviceSource": "microsoftDefenderForEndpoint",
            "title": format!("alert {id}"),
            "severity": "medium",
            "firstActivityDateTime": t,
            "lastActivityDateTime": t,
            "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": device}],
        })
        .to_string()
    }

    async fn import(dir: &std::path::Path, lines: &[String], correlate: bool) {
        let file = dir.join("import.ndjson");
        std::fs::write(&file, lines.join("\n")).unwrap();
        run(Args {
            file,
            store: StoreArgs {
                data_dir: Some(dir.join("data")),
            },
            batch: 2000,
            correlate,
        })
        .await
        .unwrap();
    }

    async fn incident_of(dir: &std::path::Path, id: &str) -> String {
        let store = rampart_store::open(&dir.join("data").to_string_lossy())
            .await
            .unwrap();
        let a = store.get_alert(id).await.unwrap().expect("stored");
        a.record.incident_id.expect("in an incident")
    }

    /// A backfilled alert is late once the store holds alerts a window newer: the engine,
    /// warmed with that window only, cannot link it to its neighbour imported earlier, and
    /// `--correlate` links them (and what comes after), as the rebuild does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backfill_imported_with_correlate_is_linked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        import(
            d,
            &[
                line("da-new", "ws-9", at(10, 0)),
                line("da-a", "ws-1", at(1, 0)),
            ],
            false,
        )
        .await;
        import(d, &[line("da-c", "ws-1", at(1, 1))], false).await;
        assert_ne!(
            incident_of(d, "da-a").await,
            incident_of(d, "da-c").await,
            "the engine no longer remembers da-a: the limit --correlate is for"
        );
        import(d, &[line("da-e", "ws-1", at(1, 2))], true).await;
        let a = incident_of(d, "da-a").await;
        assert_eq!(incident_of(d, "da-c").await, a);
        assert_eq!(incident_of(d, "da-e").await, a);
        assert_ne!(incident_of(d, "da-new").await, a);
    }
}
