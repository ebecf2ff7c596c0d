//! `rampart ingest FILE`: NDJSON of Graph alerts straight into the store, with a progress bar.
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rampart_domain::clock::{Clock, SystemClock};
use rampart_domain::history::Actor;
use rampart_domain::ids::PrefixRegistry;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// NDJSON file, one Graph alert per line (`-` for standard input).
    pub file: PathBuf,
    /// Data directory of the embedded store.
    #[arg(long, env = "RAMPART_DATA_DIR", default_value = "./rampart-data")]
    pub data_dir: PathBuf,
    /// Lines per transaction.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let store = rampart_store::open(&a.data_dir.to_string_lossy()).await?;
    store.claim_writer().await?;
    let prefixes = PrefixRegistry::default();
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
                    store
                        .ingest(good, Actor::producer("cli"), SystemClock.now())
                        .await?;
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
    if rejected > 0 && accepted == 0 {
        anyhow::bail!("no line was accepted");
    }
    Ok(())
}
