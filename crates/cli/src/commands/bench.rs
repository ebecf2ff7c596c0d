//! `rampart bench`: the performance targets, measured the way a producer or analyst meets
//! them — over HTTP on loopback against a real store with `synchronous=FULL`.
use crate::generate::Gen;
use anyhow::Context;
use rampart_domain::clock::{Clock, SystemClock};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Bulk NDJSON ingest throughput.
    Ingest(IngestArgs),
    /// Queue latency on a large store.
    Queue(QueueArgs),
    /// Re-correlation time over a large store.
    Correlate(CorrelateArgs),
    /// Web UI pages on a large store: queue, alert page with a 200-node story, page weight.
    Ui(QueueArgs),
}

#[derive(Debug, clap::Args)]
pub struct CorrelateArgs {
    /// Alerts in the store (generated if the store has fewer).
    #[arg(long, default_value_t = 1_000_000)]
    pub alerts: u64,
    /// Data directory (shared with `bench queue`, generated once).
    #[arg(long, default_value = "./rampart-bench-data")]
    pub data_dir: PathBuf,
    /// Fill the store and stop: a copy of it times the first rebuild after bulk ingest as
    /// often as needed.
    #[arg(long)]
    pub generate_only: bool,
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Alerts to send.
    #[arg(long, default_value_t = 200_000)]
    pub alerts: u64,
    /// Alerts per bulk request.
    #[arg(long, default_value_t = 1000)]
    pub batch: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Data directory (default: a fresh temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Store without correlating, to measure what correlation costs.
    #[arg(long)]
    pub no_correlation: bool,
    /// Send alerts in time order, as a live feed does, instead of a 29-day backfill in
    /// random order.
    #[arg(long)]
    pub in_order: bool,
    /// Measure what correlation costs: this many rounds, each one run without and one with
    /// correlation into fresh stores, the same alerts in both, the two in alternating order.
    /// Prints each round's ratio and the medians; neighbouring runs share the machine's mood,
    /// which single runs on a shared machine do not.
    #[arg(long, conflicts_with_all = ["data_dir", "no_correlation"])]
    pub compare_correlation: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// Alerts in the store (generated if the store has fewer).
    #[arg(long, default_value_t = 1_000_000)]
    pub alerts: u64,
    /// Requests per measurement.
    #[arg(long, default_value_t = 300)]
    pub requests: usize,
    /// Data directory (kept between runs so the store is generated once).
    #[arg(long, default_value = "./rampart-bench-data")]
    pub data_dir: PathBuf,
}

pub async fn run(b: Bench) -> anyhow::Result<()> {
    match b {
        Bench::Ingest(a) => ingest(a).await,
        Bench::Queue(a) => queue(a).await,
        Bench::Correlate(a) => correlate(a).await,
        Bench::Ui(a) => ui(a).await,
    }
}

struct Running {
    base: String,
    /// A client that authenticates with a Security administrator token (ingest + read).
    client: reqwest::Client,
    /// The served store, for what the bench reads without HTTP.
    store: Arc<dyn rampart_store::Store>,
    /// Stops the server (see [`Running::stop`]).
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    _tmp: Option<tempdir::TempDir>,
}

impl Running {
    /// Stops serving and closes the store (its last checkpoint included), so runs one after
    /// another in one process do not share the machine with an idle server.
    async fn stop(self) {
        let Running {
            store,
            stop,
            served,
            _tmp,
            ..
        } = self;
        let _ = stop.send(());
        let _ = served.await;
        drop(store);
        drop(_tmp);
    }
}

mod tempdir {
    /// A directory removed on drop (bench runs only).
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn start_server(dir: Option<PathBuf>, correlate: bool) -> anyhow::Result<Running> {
    let (dir, tmp) = match dir {
        Some(d) => (d, None),
        None => {
            static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let d =
                std::env::temp_dir().join(format!("rampart-bench-{}-{run}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            (d.clone(), Some(tempdir::TempDir(d)))
        }
    };
    let mut cfg = rampart_server::ServerConfig {
        data_dir: dir,
        ..Default::default()
    };
    cfg.correlation.enabled = correlate;
    let state = super::serve::state_for(&cfg).await?;
    let (_, token) = rampart_server::accounts::mint_token(
        &*state.store,
        "bench",
        "Security administrator",
        None,
        None,
        super::user::cli_actor(),
        state.clock.now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("minting the bench token: {e}"))?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?,
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let store = Arc::clone(&state.store);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(rampart_server::serve_on(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Running {
        base: format!("http://{addr}"),
        client,
        store,
        stop,
        served,
        _tmp: tmp,
    })
}

/// One run's figures.
#[derive(Debug, Clone, Copy)]
struct Measured {
    secs: f64,
    /// CPU seconds of the whole process, and by stage.
    cpu: Option<f64>,
    threads: ByThread,
}

/// The generated bulk bodies (NDJSON, `batch` alerts each) for alerts numbered from `first`,
/// and their total size.
fn bodies(a: &IngestArgs, first: u64) -> anyhow::Result<(Vec<Vec<u8>>, u64)> {
    let mut g = Gen::new(42, SystemClock.now());
    if a.in_order {
        // Times advance with the numbering, so a feed into a filled store continues it.
        g = g.in_order(first + a.alerts);
    }
    eprintln!("generating {} alerts…", a.alerts);
    let mut bodies = Vec::new();
    let (mut bytes, mut i) = (0u64, first);
    let end = first + a.alerts;
    while i < end {
        let n = a.batch.min(end - i);
        let mut body = Vec::with_capacity(usize::try_from(n * 3500).unwrap_or(0));
        for k in i..i + n {
            serde_json::to_writer(&mut body, &g.noise(k))?;
            body.push(b'\n');
        }
        bytes += body.len() as u64;
        bodies.push(body);
        i += n;
    }
    Ok((bodies, bytes))
}

/// Posts every body over `connections` connections and times it.
async fn send_all(
    srv: &Running,
    bodies: Vec<Vec<u8>>,
    connections: usize,
) -> anyhow::Result<Measured> {
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let cpu_before = process_cpu();
    let threads_before = threads_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, queue, url) = (
            srv.client.clone(),
            queue.clone(),
            format!("{}/api/v1/alerts/bulk", srv.base),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
                let Some(body) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                let r = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await?;
                if !r.status().is_success() {
                    anyhow::bail!(
                        "ingest failed: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(Measured {
        secs: started.elapsed().as_secs_f64(),
        cpu: process_cpu().zip(cpu_before).map(|(b, a)| b - a),
        threads: ByThread::between(&threads_before, &threads_cpu()),
    })
}

async fn ingest(a: IngestArgs) -> anyhow::Result<()> {
    if let Some(rounds) = a.compare_correlation {
        return compare_correlation(&a, rounds.max(1)).await;
    }
    let srv = start_server(a.data_dir.clone(), !a.no_correlation).await?;
    // Into an existing store, send alerts it does not hold yet: the generator numbers its
    // provider ids, and the same numbers again would measure re-sends, not ingest.
    let first = srv.store.count_alerts().await?;
    if first > 0 {
        eprintln!("the store holds {first} alerts; the new ones are numbered after them");
    }
    let (bodies, bytes) = bodies(&a, first)?;
    let avg = bytes as f64 / a.alerts as f64;
    let m = send_all(&srv, bodies, a.connections).await?;
    let secs = m.secs;
    println!(
        "bench ingest: {} alerts, average {:.0} bytes/alert, {} per request, {} connections, correlation {}",
        a.alerts,
        avg,
        a.batch,
        a.connections,
        if a.no_correlation { "off" } else { "on" }
    );
    println!(
        "  {:.1} s, {:.0} alerts/s, {:.1} MB/s (synchronous=FULL, HTTP on loopback)",
        secs,
        a.alerts as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    if let Some(cpu) = m.cpu {
        println!(
            "  CPU {:.2} cores, {:.1} µs per alert (the whole process: server and bench client)",
            cpu / secs,
            cpu * 1e6 / a.alerts as f64
        );
    }
    let t = m.threads;
    if t.writer > 0.0 {
        let per_alert = t.writer * 1e6 / a.alerts as f64;
        println!(
            "  writer thread {:.1} µs CPU per alert, busy {:.0} % of the run (the one serial stage: alone it would allow {:.0} alerts/s)",
            per_alert,
            100.0 * t.writer / secs,
            1e6 / per_alert.max(1e-9)
        );
        let us = |s: f64| s * 1e6 / a.alerts as f64;
        println!(
            "  CPU by stage, µs per alert: request side {:.1}, writer {:.1}, correlation {:.1}, checkpoints {:.1}, other {:.1}",
            us(t.request),
            us(t.writer),
            us(t.correlation),
            us(t.checkpoints),
            us(t.other)
        );
    }
    let requests = a.alerts.div_ceil(a.batch.max(1)) as f64;
    let per_request = secs * a.connections as f64 / requests;
    let auth = auth_cost(&srv, 300).await?;
    println!(
        "  auth (token lookup + permission check): {:.3} ms per request = {:.2} % of a request's {:.1} ms",
        ms(auth),
        100.0 * auth.as_secs_f64() / per_request.max(1e-9),
        per_request * 1000.0
    );
    Ok(())
}

/// `bench ingest --compare-correlation N`: alternating runs without and with correlation,
/// in alternating order.
async fn compare_correlation(a: &IngestArgs, rounds: usize) -> anyhow::Result<()> {
    let (bodies, bytes) = bodies(a, 0)?;
    let n = a.alerts as f64;
    println!(
        "bench ingest --compare-correlation: {} alerts ({:.0} bytes each on average), {} per request, {} connections, {}, {rounds} rounds",
        a.alerts,
        bytes as f64 / n,
        a.batch,
        a.connections,
        if a.in_order { "in time order" } else { "random order" }
    );
    let (mut time, mut cpu, mut relative) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let mut pair = [None, None];
        // Off first in odd rounds, on first in even ones: whichever runs second meets what
        // the first left behind (write-back, a warmer or colder cache), so neither side
        // always does.
        let order = if round % 2 == 1 { [0, 1] } else { [1, 0] };
        for slot in order {
            let srv = start_server(None, slot == 1).await?;
            let m = send_all(&srv, bodies.clone(), a.connections).await?;
            srv.stop().await;
            if let Some(p) = pair.get_mut(slot) {
                *p = Some(m);
            }
        }
        let [Some(off), Some(on)] = pair else {
            anyhow::bail!("a run of round {round} did not finish");
        };
        let per = |c: Option<f64>| c.map_or(f64::NAN, |c| c * 1e6 / n);
        let t = on.secs / off.secs - 1.0;
        let c = on.cpu.zip(off.cpu).map(|(x, y)| x / y - 1.0);
        let r = (on.threads.request > 0.0 && off.threads.request > 0.0)
            .then(|| on.threads.relative() / off.threads.relative() - 1.0);
        println!(
            "  round {round}: off {:.0} alerts/s ({:.1} µs CPU per alert), on {:.0} alerts/s ({:.1} µs): correlation adds {:+.0} % time, {}{}",
            n / off.secs,
            per(off.cpu),
            n / on.secs,
            per(on.cpu),
            100.0 * t,
            c.map_or("CPU not measured".to_string(), |c| format!("{:+.0} % CPU", 100.0 * c)),
            r.map_or(String::new(), |r| format!(
                ", {:+.0} % CPU against the request side (writer {:.1} → {:.1}, correlation thread {:.1} µs per alert)",
                100.0 * r,
                off.threads.writer * 1e6 / n,
                on.threads.writer * 1e6 / n,
                on.threads.correlation * 1e6 / n
            ))
        );
        time.push(t);
        cpu.extend(c);
        relative.extend(r);
    }
    println!(
        "  median: correlation adds {:+.0} % time{}{} (target: at most +20 %)",
        100.0 * median(&mut time),
        if cpu.is_empty() {
            String::new()
        } else {
            format!(", {:+.0} % CPU", 100.0 * median(&mut cpu))
        },
        if relative.is_empty() {
            String::new()
        } else {
            format!(
                ", {:+.0} % CPU against the request side",
                100.0 * median(&mut relative)
            )
        }
    );
    Ok(())
}

/// The median of `v` (the mean of the middle two for an even count); NaN when empty.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    match (v.len(), v.get(mid)) {
        (0, _) | (_, None) => f64::NAN,
        (len, Some(m)) if len % 2 == 1 => *m,
        (_, Some(m)) => v.get(mid - 1).map_or(*m, |l| (l + m) / 2.0),
    }
}

/// CPU seconds this process has used, user and system, from `/proc/self/stat` (Linux).
/// Throughput on a shared machine swings with its neighbours; CPU per alert is steadier, and
/// what a change to the ingest path should lower.
fn process_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace().skip(11);
    let (user, system): (f64, f64) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?);
    // The kernel reports these in USER_HZ ticks, 100 per second on Linux.
    Some((user + system) / 100.0)
}

/// CPU seconds each of this process's threads has used, by thread id, with its name
/// (Linux: `comm`, and `schedstat` in nanoseconds).
fn threads_cpu() -> HashMap<u64, (String, f64)> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
        if let Some(ns) = ns {
            out.insert(tid, (name.trim_end().to_string(), ns / 1e9));
        }
    }
    out
}

/// CPU seconds of one run by stage, from two [`threads_cpu`] snapshots (a thread that ends
/// between them is lost: the store's threads, the correlation thread included, live as
/// long as the store). On a shared machine
/// the whole process's CPU per alert swings by a tenth between neighbouring runs; the
/// request side (parsing and compressing, on the runtime's threads, with the bench client)
/// does the same work whatever the store does, so the stages measured against it are
/// steadier.
#[derive(Debug, Clone, Copy, Default)]
struct ByThread {
    /// The async runtime's threads: HTTP, parsing, compression, the bench client.
    request: f64,
    /// The one writer thread: every write goes through it, so its CPU per alert bounds
    /// throughput.
    writer: f64,
    correlation: f64,
    checkpoints: f64,
    other: f64,
}

impl ByThread {
    fn between(
        before: &HashMap<u64, (String, f64)>,
        after: &HashMap<u64, (String, f64)>,
    ) -> ByThread {
        let mut t = ByThread::default();
        for (tid, (name, secs)) in after {
            let spent = secs - before.get(tid).map_or(0.0, |(_, b)| *b);
            // The kernel keeps 15 bytes of a name: "rampart-sqlite-writer" reads as
            // "rampart-sqlite-"; the runtime's are "tokio-runtime-w".
            let stage = match name.as_str() {
                n if n.starts_with("tokio") => &mut t.request,
                "rampart-sqlite-" => &mut t.writer,
                "rampart-aside" => &mut t.correlation,
                "rampart-checkpt" => &mut t.checkpoints,
                _ => &mut t.other,
            };
            *stage += spent;
        }
        t
    }

    fn total(&self) -> f64 {
        self.request + self.writer + self.correlation + self.checkpoints + self.other
    }

    /// The whole run's CPU per second of the request side's.
    fn relative(&self) -> f64 {
        self.total() / self.request.max(1e-9)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied().unwrap_or_default()
}

async fn timed(
    client: &reqwest::Client,
    url: &str,
    n: usize,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = client.get(url).send().await?;
        let status = r.status();
        let _ = r.bytes().await?;
        times.push(t.elapsed());
        if !status.is_success() {
            anyhow::bail!("{url}: {status}");
        }
    }
    times.sort();
    Ok((
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or_default(),
    ))
}

/// Generates alerts into the bench store until it holds `n`.
async fn ensure_store(dir: &std::path::Path, n: u64) -> anyhow::Result<()> {
    let store = rampart_store::open(&dir.to_string_lossy()).await?;
    let have = store.count_alerts().await?;
    if have < n {
        eprintln!("store has {have} alerts; generating {} more…", n - have);
        super::demo::fill(&*store, n - have, have + 1, false).await?;
    }
    Ok(())
}

async fn queue(a: QueueArgs) -> anyhow::Result<()> {
    ensure_store(&a.data_dir, a.alerts).await?;
    let srv = start_server(Some(a.data_dir.clone()), true).await?;
    let client = srv.client.clone();
    let first = format!("{}/api/v1/alerts?severity=high,medium&serviceSource=endpoint&sort=lastActivity&pageSize=50", srv.base);
    let _ = timed(&client, &first, 20).await?; // warm the cache
    let (p50, p99, max) = timed(&client, &first, a.requests).await?;
    println!("bench queue: {} alerts stored", a.alerts);
    println!(
        "  first page (2 filters + sort, 50 rows): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(p50),
        ms(p99),
        ms(max)
    );
    // Walk 200 pages deep, then time that page.
    let mut url = first.clone();
    for _ in 0..200 {
        let body = client.get(&url).send().await?.bytes().await?;
        let v: serde_json::Value = serde_json::from_slice(&body).context("page")?;
        let Some(c) = v.get("nextCursor").and_then(|c| c.as_str()) else {
            break;
        };
        url = format!("{first}&cursor={c}");
    }
    let (d50, d99, dmax) = timed(&client, &url, a.requests).await?;
    println!(
        "  page 200 (same query):                  p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(d50),
        ms(d99),
        ms(dmax)
    );
    let q = format!(
        "{}/api/v1/alerts?q={}&pageSize=50",
        srv.base, "severity%3E%3Dmedium%20entity.user%3Aamir%20powershell"
    );
    let (q50, q99, qmax) = timed(&client, &q, a.requests).await?;
    println!("  q=severity>=medium entity.user:amir powershell: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", ms(q50), ms(q99), ms(qmax));
    let auth = auth_cost(&srv, a.requests).await?;
    println!(
        "  auth (token lookup + permission check): {:.3} ms per request = {:.1} % of the first-page p50",
        ms(auth),
        100.0 * ms(auth) / ms(p50).max(1e-9)
    );
    if let Some(rss) = rss_mb() {
        println!("  process RSS (server + bench client): {rss:.0} MB");
    }
    Ok(())
}

/// One endpoint alert whose story is a `nodes`-process tree (each process the child of an
/// earlier one), for timing the alert page.
fn story_alert(nodes: i64) -> serde_json::Value {
    let t0 = SystemClock.now().plus_micros(-3_600_000_000);
    let at = |i: i64| t0.plus_micros(i * 1_000_000).to_rfc3339();
    let evidence: Vec<serde_json::Value> = (0..nodes)
        .map(|i| {
            let parent = if i == 0 { 0 } else { (i - 1) / 3 };
            serde_json::json!({
                "@odata.type": "#microsoft.graph.security.processEvidence",
                "processId": 10_000 + i, "parentProcessId": 10_000 + parent, "mdeDeviceId": "bench-story-device",
                "processCreationDateTime": at(i + 1), "parentProcessCreationDateTime": at(if i == 0 { 0 } else { parent + 1 }),
                "processCommandLine": format!("worker.exe --task {i} --input C:\\data\\batch-{i}.bin"),
                "imageFile": {"fileName": format!("worker{}.exe", i % 7), "filePath": "C:\\Program Files\\Bench", "sha256": format!("{:064x}", i)},
                "parentProcessImageFile": {"fileName": "worker.exe"},
                "userAccount": {"accountName": "svc-bench", "domainName": "CORP"},
                "verdict": "suspicious", "roles": []
            })
        })
        .collect();
    serde_json::json!({
        "providerAlertId": format!("bench-story-{nodes}"),
        "serviceSource": "microsoftDefenderForEndpoint",
        "detectionSource": "microsoftDefenderForEndpoint",
        "title": format!("Bench story with {nodes} processes"),
        "severity": "high", "category": "Execution",
        "firstActivityDateTime": at(0), "lastActivityDateTime": at(nodes),
        "evidence": evidence,
    })
}

const BENCH_ANALYST: &str = "bench-analyst";
const BENCH_PASSWORD: &str = "bench-analyst-password";

/// Creates the bench analyst (before the server opens the store).
async fn ensure_analyst(dir: &std::path::Path) -> anyhow::Result<()> {
    let store = rampart_store::open(&dir.to_string_lossy()).await?;
    if store.user_login(BENCH_ANALYST).await?.is_none() {
        rampart_server::accounts::create_user(
            &*store,
            rampart_server::accounts::UserRequest {
                username: BENCH_ANALYST.into(),
                display_name: None,
                password: BENCH_PASSWORD.into(),
                role: "Security operator".into(),
                sources: None,
            },
            None,
            super::user::cli_actor(),
            SystemClock.now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the bench analyst: {e}"))?;
    }
    Ok(())
}

/// Signs the bench analyst in and returns a client that sends the session cookie.
async fn ui_client(srv: &Running) -> anyhow::Result<reqwest::Client> {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/session", srv.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(
            serde_json::json!({"username": BENCH_ANALYST, "password": BENCH_PASSWORD}).to_string(),
        )
        .send()
        .await?;
    let cookie = r
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie")?
        .to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        reqwest::header::HeaderValue::from_str(&cookie)?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

async fn ui(a: QueueArgs) -> anyhow::Result<()> {
    ensure_store(&a.data_dir, a.alerts).await?;
    ensure_analyst(&a.data_dir).await?;
    let srv = start_server(Some(a.data_dir.clone()), true).await?;
    let r = srv
        .client
        .post(format!("{}/api/v1/alerts", srv.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(story_alert(200).to_string())
        .send()
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await?)?;
    let story_id = v["items"][0]["id"]
        .as_str()
        .context("story alert id")?
        .to_string();
    let client = ui_client(&srv).await?;
    println!("bench ui: {} alerts stored", a.alerts);
    let pages = [
        ("queue, default view (/alerts)", "/alerts".to_string()),
        ("queue, 2 filters + sort", "/alerts?severity=high&severity=medium&serviceSource=microsoftDefenderForEndpoint&sort=lastActivity".to_string()),
        ("incidents queue", "/incidents".to_string()),
        ("alert page, 200-process story", format!("/alerts/{story_id}")),
    ];
    for (name, path) in &pages {
        let url = format!("{}{path}", srv.base);
        let _ = timed(&client, &url, 10).await?;
        let (p50, p99, max) = timed(&client, &url, a.requests).await?;
        println!(
            "  {name:<32} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(p50),
            ms(p99),
            ms(max)
        );
    }
    let mut weight = 0usize;
    let html = client
        .get(format!("{}/alerts", srv.base))
        .send()
        .await?
        .bytes()
        .await?;
    weight += html.len();
    for asset in ["app.css", "app.js", "htmx.min.js", "favicon.svg"] {
        weight += client
            .get(format!("{}/static/{asset}", srv.base))
            .send()
            .await?
            .bytes()
            .await?
            .len();
    }
    println!(
        "  queue page weight: {:.1} KB HTML + assets = {:.1} KB (uncompressed)",
        html.len() as f64 / 1024.0,
        weight as f64 / 1024.0
    );
    if let Some(rss) = rss_mb() {
        println!("  process RSS (server + bench client): {rss:.0} MB");
    }
    Ok(())
}

/// Authentication cost per request: the median of a route that only authenticates
/// (`GET /session`) minus that of a public route of similar size (`GET /health`); both read
/// the store once.
async fn auth_cost(srv: &Running, n: usize) -> anyhow::Result<Duration> {
    let who = format!("{}/api/v1/session", srv.base);
    let health = format!("{}/api/v1/health", srv.base);
    let _ = timed(&srv.client, &health, 20).await?;
    let (a50, _, _) = timed(&srv.client, &who, n).await?;
    let (h50, _, _) = timed(&srv.client, &health, n).await?;
    Ok(a50.saturating_sub(h50))
}

/// Fills the store like `bench queue`, then times a full re-correlation.
async fn correlate(a: CorrelateArgs) -> anyhow::Result<()> {
    let store = rampart_store::open(&a.data_dir.to_string_lossy()).await?;
    let have = store.count_alerts().await?;
    if have < a.alerts {
        eprintln!(
            "store has {have} alerts; generating {} more…",
            a.alerts - have
        );
        super::demo::fill(&*store, a.alerts - have, have + 1, false).await?;
    }
    let n = store.count_alerts().await?;
    if a.generate_only {
        println!("bench correlate: {n} alerts stored, not re-correlated (--generate-only)");
        return Ok(());
    }
    let started = Instant::now();
    let s = store
        .correlate(
            rampart_domain::timestamp::Timestamp::from_micros(0),
            SystemClock.now(),
        )
        .await?;
    let secs = started.elapsed().as_secs_f64();
    println!("bench correlate: {n} alerts stored");
    println!(
        "  re-correlated {} alerts in {:.1} s ({:.0} alerts/s): {} moved, {} incidents",
        s.alerts,
        secs,
        s.alerts as f64 / secs.max(1e-9),
        s.moved,
        s.incidents
    );
    if let Some(rss) = rss_mb() {
        println!("  process RSS: {rss:.0} MB");
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [0.3, 0.1, 0.2]), 0.2);
        assert_eq!(median(&mut [0.4, 0.1, 0.3, 0.2]), 0.25);
        assert!(median(&mut []).is_nan());
    }
}
