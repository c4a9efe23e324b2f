//! `wirebench run`: start the servers (or use `--target`), check equivalence, sweep
//! protocols × operations × payloads × load points, write `reports/<timestamp>/results.json`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use wirebench_domain::{Profiles, Store, StoreConfig};

use crate::catalog::{OpParams, Operation};
use crate::clients::{PROTOCOLS, Protocol};
use crate::equivalence::{Verdict, verify};
use crate::kernel;
use crate::load::{CellSpec, Mode, run_cell};
use crate::results::{
    self, Environment, EquivalenceResult, ProtocolInfo, Resources, Results, RunOptions, RunStatus,
};

/// Named sizes of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunProfile {
    /// Every protocol and operation for a moment each: for tests and CI (seconds).
    Smoke,
    /// The default of `make bench`: a few minutes.
    Quick,
    /// Every payload, more load points, longer cells.
    Full,
}

struct ProfileSettings {
    payloads: &'static [&'static str],
    concurrency: &'static [u32],
    warmup: Duration,
    duration: Duration,
    /// Open-loop rate, and which operations get an open-loop point.
    rate: f64,
    open_ops: &'static [Operation],
}

fn settings(p: RunProfile) -> ProfileSettings {
    match p {
        RunProfile::Smoke => ProfileSettings {
            payloads: &["tiny"],
            concurrency: &[2],
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(250),
            rate: 200.0,
            open_ops: &[Operation::GetUser],
        },
        RunProfile::Quick => ProfileSettings {
            payloads: &["small"],
            concurrency: &[1, 16],
            warmup: Duration::from_millis(300),
            duration: Duration::from_millis(1500),
            rate: 1000.0,
            open_ops: &[Operation::GetUser],
        },
        RunProfile::Full => ProfileSettings {
            payloads: &["small", "medium", "large"],
            concurrency: &[1, 4, 16, 64],
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            rate: 2000.0,
            open_ops: &Operation::ALL,
        },
    }
}

/// Options of `wirebench run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// How much to run.
    #[arg(long, value_enum, default_value = "quick")]
    pub profile: RunProfile,
    /// Protocol variants (default: all). See `wirebench protocols`.
    #[arg(long, value_delimiter = ',')]
    pub protocols: Vec<String>,
    /// Operations (default: all): get-user, user-orders, list-orders, stream-orders,
    /// create-order, import-orders, track-orders.
    #[arg(long, value_delimiter = ',')]
    pub operations: Vec<Operation>,
    /// Payload profiles (default: the run profile's).
    #[arg(long, value_delimiter = ',')]
    pub payloads: Vec<String>,
    /// Closed-loop concurrency levels (default: the run profile's).
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<u32>,
    /// Open-loop rate in operations per second (default: the run profile's).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Skip the open-loop points.
    #[arg(long)]
    pub no_open_loop: bool,
    /// Seconds recorded per cell.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds of unrecorded warm-up per cell.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// N: orders per page, stream, import and conversation.
    #[arg(long, default_value_t = 10)]
    pub n: u32,
    /// Fixture seed (must match the server's with --target).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Simulated latency per store call on the spawned server, in microseconds.
    #[arg(long, default_value_t = 0)]
    pub store_latency_us: u64,
    /// Use servers already running: HOST:PORT of the first, the others on the next ports
    /// in `wirebench serve` order (as `serve --port-base` lays them out). One payload only.
    #[arg(long)]
    pub target: Option<String>,
    /// With --target: the server's process id, to measure its CPU and memory.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Directory for reports.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Do not pin server and client to different cores.
    #[arg(long)]
    pub no_pin: bool,
    /// A call slower than this many seconds counts as an error.
    #[arg(long, default_value_t = 5.0)]
    pub call_timeout: f64,
}

/// A running server child, stopped (and reaped) on drop.
struct ServerChild {
    child: Child,
    addrs: BTreeMap<String, SocketAddr>,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wirebench serve` for `payload` and waits (bounded) until it is ready.
fn spawn_server(args: &RunArgs, payload: &str, cores: &[usize], dir: &Path) -> anyhow::Result<ServerChild> {
    let addr_file = dir.join(format!(".servers-{payload}.json"));
    let _ = std::fs::remove_file(&addr_file);
    let exe = std::env::current_exe().context("locating the wirebench binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["serve", "--port-base", "0", "--payload", payload])
        .args(["--seed", &args.seed.to_string(), "--store-latency-us", &args.store_latency_us.to_string()])
        .arg("--addr-file")
        .arg(&addr_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if !cores.is_empty() {
        let list: Vec<String> = cores.iter().map(ToString::to_string).collect();
        cmd.args(["--cpus", &list.join(",")]);
    }
    let child = cmd.spawn().context("starting wirebench serve")?;
    let mut server = ServerChild { child, addrs: BTreeMap::new() };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&addr_file)
            && let Ok(addrs) = serde_json::from_str(&text)
        {
            server.addrs = addrs;
            let _ = std::fs::remove_file(&addr_file);
            return Ok(server);
        }
        if let Some(status) = server.child.try_wait()? {
            bail!("wirebench serve exited before it was ready ({status})");
        }
        if Instant::now() > deadline {
            bail!("wirebench serve was not ready within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `--target HOST:PORT` as addresses in server registry order.
fn target_addrs(target: &str) -> anyhow::Result<BTreeMap<String, SocketAddr>> {
    let first: SocketAddr =
        target.parse().with_context(|| format!("--target {target}: expected HOST:PORT"))?;
    Ok(wirebench_servers::SERVERS
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name().to_owned(), SocketAddr::new(first.ip(), first.port() + i as u16)))
        .collect())
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs `wirebench run`; returns the path of the results file it wrote.
pub async fn run(args: RunArgs) -> anyhow::Result<PathBuf> {
    let profile = settings(args.profile);
    let protocols: Vec<&'static dyn Protocol> = if args.protocols.is_empty() {
        PROTOCOLS.to_vec()
    } else {
        args.protocols
            .iter()
            .map(|n| {
                crate::clients::protocol(n).with_context(|| {
                    let known: Vec<_> = PROTOCOLS.iter().map(|p| p.name()).collect();
                    format!("unknown protocol {n:?} (known: {})", known.join(", "))
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    let operations =
        if args.operations.is_empty() { Operation::ALL.to_vec() } else { args.operations.clone() };
    let payloads: Vec<String> = if !args.payloads.is_empty() {
        args.payloads.clone()
    } else if args.target.is_some() {
        vec!["small".into()]
    } else {
        profile.payloads.iter().map(|s| (*s).to_owned()).collect()
    };
    if args.target.is_some() && payloads.len() > 1 {
        bail!("with --target the server holds one payload; pass exactly one --payloads");
    }
    let concurrency =
        if args.concurrency.is_empty() { profile.concurrency.to_vec() } else { args.concurrency.clone() };
    let warmup = args.warmup.map_or(profile.warmup, Duration::from_secs_f64);
    let duration = args.duration.map_or(profile.duration, Duration::from_secs_f64);
    let rate = args.rate.unwrap_or(profile.rate);
    let profiles = Profiles::builtin();
    for p in &payloads {
        profiles.get(p)?;
    }

    // Server on core 0, client threads on the others, when there are at least two.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = !args.no_pin && cores >= 2 && args.target.is_none();
    let (server_cores, client_cores): (Vec<usize>, Vec<usize>) =
        if pin { (vec![0], (1..cores).collect()) } else { (Vec::new(), Vec::new()) };
    let client_threads = if pin { client_cores.len() } else { cores.saturating_sub(1).max(1) };

    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let dir = args.out.join(&stamp);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nCtrl-C: finishing the current cell and writing what was measured");
                stop.store(true, Ordering::Relaxed);
            }
        });
    }

    let mut results = Results {
        version: results::RESULTS_VERSION,
        status: RunStatus::Complete,
        message: None,
        started_at: now_rfc3339(),
        finished_at: String::new(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        environment: Environment::detect(server_cores.clone(), client_cores.clone()),
        options: RunOptions {
            profile: format!("{:?}", args.profile).to_lowercase(),
            protocols: protocols.iter().map(|p| p.name().to_owned()).collect(),
            operations: operations.clone(),
            payloads: payloads.clone(),
            concurrency: concurrency.clone(),
            rate: (!args.no_open_loop).then_some(rate),
            warmup_s: warmup.as_secs_f64(),
            duration_s: duration.as_secs_f64(),
            n: args.n,
            seed: args.seed,
            target: args.target.clone(),
            store_latency_us: args.store_latency_us,
        },
        protocols: protocols
            .iter()
            .map(|p| ProtocolInfo {
                name: p.name().into(),
                describe: p.describe().into(),
                server: p.server().into(),
            })
            .collect(),
        equivalence: Vec::new(),
        cells: Vec::new(),
    };

    // Load points: every closed-loop concurrency, plus one open-loop point where asked.
    let mut points: Vec<(u32, Option<f64>)> = concurrency.iter().map(|c| (*c, None)).collect();
    let open_concurrency = concurrency.iter().copied().max().unwrap_or(1);
    let cells_per_payload: usize = protocols
        .iter()
        .map(|p| {
            operations
                .iter()
                .filter(|op| p.unsupported(**op).is_none())
                .map(|op| {
                    concurrency.len() + usize::from(!args.no_open_loop && profile.open_ops.contains(op))
                })
                .sum::<usize>()
        })
        .sum();
    let bar = indicatif::ProgressBar::new((cells_per_payload * payloads.len()) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    if !args.no_open_loop {
        points.push((open_concurrency, Some(rate)));
    }

    'payloads: for payload in &payloads {
        let fixtures = wirebench_domain::generate(profiles.get(payload)?, args.seed);
        let reads_user = 1;
        let writes_user = fixtures.users.last().map_or(1, |u| u.id);
        let track_ids: Vec<u64> = fixtures.orders.iter().take(args.n as usize).map(|o| o.id).collect();
        let reference = Store::with_fixtures(StoreConfig::default(), fixtures);
        let mut params = OpParams::new(reads_user, args.n, track_ids);
        params.new_order = crate::catalog::sample_new_order(writes_user);

        let (mut child, addrs) = match &args.target {
            Some(t) => (None, target_addrs(t)?),
            None => {
                bar.set_message(format!("starting servers ({payload})"));
                let child = spawn_server(&args, payload, &server_cores, &dir)?;
                let addrs = child.addrs.clone();
                (Some(child), addrs)
            }
        };
        let server_pid = child.as_ref().map(|c| c.child.id()).or(args.server_pid);
        if let Some(pid) = child.as_ref().map(|c| c.child.id()) {
            note(&bar, format!("server: pid {pid}, payload {payload}"));
        }

        // Equivalence first: a protocol that disagrees is not timed.
        let mut failed: Vec<(&str, Operation)> = Vec::new();
        for protocol in &protocols {
            let Some(addr) = addrs.get(protocol.server()).copied() else {
                bail!("no address for server {}", protocol.server());
            };
            for op in &operations {
                let mut p = params.clone();
                p.idempotency_key = op.writes().then(|| format!("{stamp}-eq-{}-{op}", protocol.name()));
                let verdict = verify(*protocol, addr, *op, &p, &reference).await;
                let (name, detail) = match verdict {
                    Verdict::Agrees => ("agrees", None),
                    Verdict::Unsupported(why) => ("unsupported", Some(why.to_owned())),
                    Verdict::Fails(why) => {
                        failed.push((protocol.name(), *op));
                        ("fails", Some(why))
                    }
                };
                results.equivalence.push(EquivalenceResult {
                    protocol: protocol.name().into(),
                    payload: payload.clone(),
                    operation: *op,
                    verdict: name.into(),
                    detail,
                });
            }
        }
        for (protocol, op) in &failed {
            note(&bar, format!("not timed: {protocol} {op} disagrees with the reference (see results.json)"));
        }

        for protocol in &protocols {
            let addr = addrs[protocol.server()];
            for op in &operations {
                if protocol.unsupported(*op).is_some() || failed.contains(&(protocol.name(), *op)) {
                    continue;
                }
                for (concurrency, rate) in &points {
                    if rate.is_some() && !profile.open_ops.contains(op) {
                        continue;
                    }
                    if stop.load(Ordering::Relaxed) {
                        results.status = RunStatus::Interrupted;
                        results.message = Some("interrupted by Ctrl-C".into());
                        break 'payloads;
                    }
                    if let Some(child) = child.as_mut()
                        && let Some(status) = child.child.try_wait()?
                    {
                        results.status = RunStatus::Aborted;
                        results.message =
                            Some(format!("the server exited ({status}) before {} {op}", protocol.name()));
                        break 'payloads;
                    }
                    let label = match rate {
                        Some(r) => format!("{payload} {} {op} open {r}/s", protocol.name()),
                        None => format!("{payload} {} {op} c={concurrency}", protocol.name()),
                    };
                    bar.set_message(label);
                    let spec = CellSpec {
                        protocol: *protocol,
                        addr,
                        op: *op,
                        params: params.clone(),
                        concurrency: *concurrency,
                        mode: rate.map_or(Mode::Closed, |rate| Mode::Open { rate }),
                        warmup,
                        duration,
                        max_ops: 5_000_000,
                        call_timeout: Duration::from_secs_f64(args.call_timeout),
                        threads: client_threads,
                        cores: client_cores.clone(),
                        stop: stop.clone(),
                        key_prefix: format!(
                            "{stamp}-{}-{op}-{concurrency}-{}",
                            protocol.name(),
                            rate.is_some()
                        ),
                    };
                    let (stats, cpu) =
                        tokio::task::spawn_blocking(move || measure(&spec, server_pid)).await?;
                    let resources = Resources {
                        server_cpu_us_per_op: cpu.server.map(|d| per_op_us(d, stats.ops)),
                        client_cpu_us_per_op: Some(per_op_us(cpu.client, stats.ops)),
                        server_peak_rss_bytes: server_pid.and_then(|p| kernel::peak_rss(Some(p))),
                        client_peak_rss_bytes: kernel::peak_rss(None),
                    };
                    results.cells.push(results::cell(
                        protocol.name(),
                        *op,
                        payload,
                        args.n,
                        *concurrency,
                        *rate,
                        &stats,
                        resources,
                    ));
                    bar.inc(1);
                }
            }
        }
        drop(child);
    }
    bar.finish_and_clear();
    results.finished_at = now_rfc3339();
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    update_latest(&args.out, &stamp);
    print_summary(&results);
    // Printed through `reports/latest`, the path that stays valid for the newest run.
    let latest = args.out.join("latest");
    println!("results: {} (= {})", latest.join("results.json").display(), path.display());
    match crate::report::write(&path, &crate::report::ReportOptions::default()) {
        Ok(report) => {
            let name = report.file_name().map(std::path::PathBuf::from).unwrap_or_default();
            println!("report: {}", latest.join(name).display());
        }
        Err(e) => eprintln!("report not written: {e}"),
    }
    match results.status {
        RunStatus::Complete => Ok(path),
        _ => bail!(
            "{} — partial results written to {}",
            results.message.clone().unwrap_or_default(),
            path.display()
        ),
    }
}

/// CPU used during a cell's recorded window.
struct CpuUse {
    server: Option<Duration>,
    client: Duration,
}

/// Runs a cell while sampling CPU from the end of warm-up to the end.
fn measure(spec: &CellSpec, server_pid: Option<u32>) -> (crate::load::CellStats, CpuUse) {
    let measure_from = Instant::now() + Duration::from_millis(20) + spec.warmup;
    let sampler = std::thread::spawn(move || {
        std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
        (server_pid.and_then(kernel::process_cpu), kernel::self_cpu())
    });
    let stats = run_cell(spec);
    let (server_start, client_start) = sampler.join().unwrap_or((None, Duration::ZERO));
    let server_end = server_pid.and_then(kernel::process_cpu);
    let cpu = CpuUse {
        server: server_start.zip(server_end).map(|(a, b)| b.saturating_sub(a)),
        client: kernel::self_cpu().saturating_sub(client_start),
    };
    (stats, cpu)
}

/// A line for the user, above the progress bar (or plainly when there is no terminal).
fn note(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

fn per_op_us(d: Duration, ops: u64) -> f64 {
    if ops == 0 { 0.0 } else { d.as_secs_f64() * 1e6 / ops as f64 }
}

/// Points `reports/latest` at this run.
fn update_latest(out: &Path, stamp: &str) {
    let latest = out.join("latest");
    let _ = std::fs::remove_file(&latest);
    #[cfg(unix)]
    let _ = std::os::unix::fs::symlink(stamp, &latest);
}

fn fmt_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.1}µs", ns as f64 / 1e3),
        _ => format!("{:.2}ms", ns as f64 / 1e6),
    }
}

/// The short table printed at the end of a run.
pub fn print_summary(r: &Results) {
    println!(
        "{:<13} {:<14} {:<7} {:>5} {:>10} {:>9} {:>9} {:>9} {:>9} {:>4} {:>7}",
        "protocol",
        "operation",
        "payload",
        "load",
        "ops/s",
        "p50",
        "p99",
        "sent B",
        "recv B",
        "RTs",
        "errors"
    );
    for c in &r.cells {
        let load = match c.rate {
            Some(rate) => format!("{rate:.0}/s"),
            None => format!("c{}", c.concurrency),
        };
        let (p50, p99) =
            c.latency.as_ref().map_or(("-".into(), "-".into()), |l| (fmt_ns(l.p50_ns), fmt_ns(l.p99_ns)));
        println!(
            "{:<13} {:<14} {:<7} {:>5} {:>10.0} {:>9} {:>9} {:>9.0} {:>9.0} {:>4.1} {:>7}",
            c.protocol,
            c.operation.name(),
            c.payload,
            load,
            c.throughput_ops_s,
            p50,
            p99,
            c.bytes.sent_per_op.total_bytes,
            c.bytes.received_per_op.total_bytes,
            c.round_trips_per_op,
            c.errors.values().sum::<u64>()
        );
    }
    let fails = r.equivalence.iter().filter(|e| e.verdict == "fails").count();
    if fails > 0 {
        println!("{fails} equivalence failure(s): those cells were not timed (details in results.json)");
    }
}
