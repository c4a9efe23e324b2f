//! `wirebench run`: start the servers (or use `--target`), check equivalence, sweep
//! protocols × operations × payloads × load points, write `reports/<timestamp>/results.json`
//! and the report beside it.
//!
//! - [`plan`]: what runs, in which order, pinned where (pure);
//! - [`server`]: the `wirebench serve` child, or `--target`'s addresses;
//! - [`gate`]: the equivalence gate before anything is timed;
//! - [`sweep`]: the cells of one payload, with CPU per cell;
//! - [`finish`]: results, `latest`, summary and report.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use wirebench_domain::{Profiles, Store, StoreConfig};

use wirebench_engine::catalog::{OpParams, Operation};
use wirebench_results::{
    self as results, Environment, IdleCpus, ProtocolInfo, Results, RunOptions, RunStatus,
};
use wirebench_wire::kernel;

pub mod checks;
mod coverage;
pub mod finish;
pub mod gate;
pub mod machine;
pub mod plan;
pub mod profiles;
pub mod progress;
pub mod record;
pub mod server;
pub mod setup;
pub mod sweep;
mod timing;
pub mod via;

use self::plan::Plan;
use self::progress::Progress;
use self::sweep::{Stopped, Sweep};

/// Named sizes of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunProfile {
    /// Every protocol and operation for a moment each: for tests and CI (seconds).
    Smoke,
    /// The default of `make bench`, about five minutes: each family's main variant and the
    /// floor on every operation, loopback at 1 and 16 connections, the wan link, get-user
    /// over TLS. Each dimension's flag adds the rest.
    Quick,
    /// Every variant, payload and dimension (about seven and a half hours on two cores:
    /// `--dry-run` prints the estimate for yours).
    Full,
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
    /// Operations (default: all): get-user, user-orders, users-orders, list-orders,
    /// stream-orders, create-order, import-orders, track-orders.
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
    /// Rounds: runs of every cell, each round in a new random order (default: the profile's;
    /// smoke 1, quick 10, full 5).
    #[arg(long)]
    pub repeat: Option<u32>,
    /// Seed of the cells' order in each repeat (default: random; recorded in results.json).
    #[arg(long)]
    pub order_seed: Option<u64>,
    /// Network profiles (default: the run profile's): `loopback`, names from
    /// results/networks.toml (lan, wan, wan-lossy, cable, 4g, 3g) or --networks, or one ad-hoc link such as
    /// `rtt=40ms,down=20mbit,up=5mbit,jitter=1ms,loss=0.1%`. Emulated networks run closed
    /// loop at concurrency 1.
    #[arg(long)]
    pub network: Vec<String>,
    /// A TOML file of more network profiles, in the shape of results/networks.toml.
    #[arg(long)]
    pub networks: Option<PathBuf>,
    /// Also run each operation with a new connection per call (cold, set-up inside its
    /// latency and bytes), beside the warm cells, at the lowest concurrency.
    #[arg(long)]
    pub fresh_connections: bool,
    /// TLS modes (default: the run profile's): `plain`, `tls` (a full handshake per new
    /// connection), `tls-resumed` (new connections resume a session). TLS cells run on
    /// loopback at the lowest concurrency, warm and cold, beside the plaintext ones.
    #[arg(long, value_delimiter = ',')]
    pub tls: Vec<profiles::Security>,
    /// Calls in flight per connection, like h2load's `-m` (default: the run profile's; quick
    /// none, full 4,16,64): the variants that multiplex (HTTP/2) run one connection with M streams, on
    /// loopback, closed loop, beside their usual cells.
    #[arg(long, value_delimiter = ',')]
    pub streams: Vec<u32>,
    /// Gateways in the path, beside `direct` (default: direct only): `nginx`, `haproxy`
    /// (Debian's, started by the run with configs from gateway/). Their cells run on loopback,
    /// warm, closed loop at every concurrency level, on get-user and list-orders (or
    /// --operations), for every variant the gateway routes.
    #[arg(long, value_delimiter = ',')]
    pub via: Vec<String>,
    /// Sizes to sweep, in orders per page or stream (default: the run profile's; quick none,
    /// full 1,10,100,1000): list-orders and stream-orders at each size, at the lowest
    /// concurrency, beside the run's own N. Sizes beyond the payload's orders are skipped.
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<u32>,
    /// With --target: the servers' TLS certificate (PEM, as `serve --tls-cert-out` writes
    /// it), trusted by the TLS cells' clients.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
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
    /// in `wirebench serve` order (as `serve --port-base` lays them out), or the address file
    /// `serve --addr-file` wrote. One payload only.
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
    /// Let idle CPUs sleep: do not ask the kernel (as root, through /dev/cpu_dma_latency) to
    /// keep wake-up latency at 0 µs during the run.
    #[arg(long)]
    pub allow_idle: bool,
    /// Count bytes but do not dissect them (layers stay "pending"): only to measure what
    /// dissection costs the generator.
    #[arg(long)]
    pub no_dissect: bool,
    /// With --target: run shard I of N (e.g. `2/4`): this process's share of every cell's
    /// connections and open-loop rate, each cell in its slot of a schedule all shards share;
    /// `wirebench merge` adds the shards' results up.
    #[arg(long, requires = "target")]
    pub shard: Option<crate::shard::Shard>,
    /// With --shard: the shared start time of the first cell, Unix seconds or RFC 3339
    /// (default: now, which only suits one shard). It also seeds the cells' order, so every
    /// shard runs them in the same order.
    #[arg(long, requires = "shard", value_parser = crate::shard::parse_start)]
    pub start_at: Option<std::time::SystemTime>,
    /// How the terminal summary is printed: a short table per operation for people, every
    /// cell as a table (`full`), or JSON or CSV for programs (then the paths of the files
    /// written go to stderr).
    #[arg(long, value_enum, default_value = "table")]
    pub format: wirebench_report::summary::Format,
    /// Print the plan (cells, cell runs and the estimated time) and stop.
    #[arg(long)]
    pub dry_run: bool,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs `wirebench run`; returns the path of the results file it wrote (none for
/// `--dry-run`).
pub async fn run(args: RunArgs) -> anyhow::Result<Option<PathBuf>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let plan = Plan::new(&args, cores)?;
    let estimate = plan.estimate();
    let line = format!(
        "plan: {} cells, {} cell runs ({} round(s), {} payload(s)), estimated {}",
        plan.cells().len() * plan.payloads.len(),
        plan.cell_runs(),
        plan.repeat,
        plan.payloads.len(),
        progress::duration(estimate)
    );
    if plan.setup.dry_run {
        println!("{line}");
        return Ok(None);
    }
    eprintln!("{line}");
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let dir = plan.setup.out.join(&stamp);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stop = ctrl_c_flag();
    let (_hold, idle_cpus) = hold_idle_cpus(plan.setup.allow_idle);
    if let IdleCpus::AllowedToSleep(why) = &idle_cpus {
        eprintln!("note: idle CPUs may sleep during this run ({why}); latency includes waking them");
    }
    let mut results = new_results(&plan, idle_cpus);
    let progress = Progress::new(estimate);
    for payload in &plan.payloads {
        if let Some(stopped) = run_payload(&plan, payload, &stamp, &stop, &progress, &mut results).await? {
            (results.status, results.message) = match stopped {
                Stopped::Interrupted(cut) => {
                    let cut =
                        cut.map(|c| format!(" ({c} was cut short and is left out)")).unwrap_or_default();
                    let by = STOPPED_BY.get().copied().unwrap_or("a signal");
                    (RunStatus::Interrupted, Some(format!("interrupted by {by}{cut}")))
                }
                Stopped::ServerExited(what) => (RunStatus::Aborted, Some(what)),
            };
            break;
        }
    }
    progress.finish();
    results.finished_at = now_rfc3339();
    results.summaries = wirebench_results::repeats::summarize(&results.cells);
    if let Some(run) = results.shards.first_mut() {
        run.note_cells(&results.cells);
    }
    results.estimated_s = Some(estimate.as_secs_f64());
    finish::finish(&results, &plan.setup.out, &stamp, plan.setup.format).map(Some)
}

/// Starts the servers for one payload (unless `--target`), gates, sweeps; the cells and
/// verdicts go into `results`.
async fn run_payload(
    plan: &Plan,
    payload: &str,
    stamp: &str,
    stop: &Arc<AtomicBool>,
    progress: &Progress,
    results: &mut Results,
) -> anyhow::Result<Option<Stopped>> {
    let setup = &plan.setup;
    let fixtures = wirebench_domain::generate(Profiles::builtin().get(payload)?, setup.seed);
    let writes_user = fixtures.users.last().map_or(1, |u| u.id);
    let track_ids: Vec<u64> = fixtures.orders.iter().take(setup.n as usize).map(|o| o.id).collect();
    let reference = Store::with_fixtures(StoreConfig::default(), fixtures);
    let mut params = OpParams::new(1, setup.n, track_ids);
    params.new_order = wirebench_engine::catalog::sample_new_order(writes_user);
    // The variants that carry no records size what they replay; writes carry a key as long
    // as a timed write's of the variant named (see `Sweep::spec`).
    let key_of = |name: &str| Some(format!("{stamp}-0-{name}-create-order-1-false-0-0"));
    let stand_ins = wirebench_engine::clients::stand_ins(&plan.protocols, &reference, &params, &key_of).await;
    params.stand_ins = Arc::new(stand_ins.map_err(|e| anyhow::anyhow!("{e}"))?);

    let mut child = match &setup.target {
        Some(_) => None,
        None => {
            progress.cell(format!("starting servers ({payload})"));
            let cap = plan.connection_cap();
            let serving = (cap, !plan.tls.is_empty());
            let child = server::spawn(
                (setup.seed, setup.store_latency_us),
                payload,
                serving,
                &plan.pinning.server_cores,
                &setup.out.join(stamp),
            )?;
            progress.note(format!("server: pid {}, payload {payload}", child.pid()));
            Some(child)
        }
    };
    let addrs = match (&child, &setup.target) {
        (Some(child), _) => child.addrs.clone(),
        (None, Some(target)) => server::target_addrs(target)?,
        (None, None) => unreachable!("a run either spawns its server or has a target"),
    };
    let tls_cert = match (&child, &setup.tls_cert) {
        (Some(child), _) => child.tls_cert.clone(),
        (None, Some(path)) => Some(server::read_cert(path)?),
        (None, None) => None,
    };
    if !plan.tls.is_empty() {
        let cert = tls_cert.clone().context("TLS cells, but no certificate from the servers")?;
        wirebench_wire::tls::ClientTls::new(cert, false).context("trusting the servers' certificate")?;
    }
    if let Some(shard) = setup.shard {
        results.shards = vec![shard_run(shard, plan.start, &addrs, progress).await?];
    }
    let against = gate::Against { local: &reference, control: child.as_ref().map(|c| &c.control) };
    let mut gate = gate::check(plan, &addrs, &params, against, (payload, stamp))?;
    let gateways =
        crate::gateway::start_all(&plan.vias, &addrs, &setup.out.join(stamp), |n| progress.note(n));
    gate.check_via(plan, &gateways, &params, against, (payload, stamp), progress);
    for (protocol, op) in &gate.failed {
        progress.note(format!("not timed: {protocol} {op} disagrees with the reference (see results.json)"));
    }
    results.equivalence.extend(gate.results.iter().cloned());
    let sweep = Sweep {
        plan,
        payload,
        n: setup.n,
        addrs: &addrs,
        params: &params,
        call_timeout: setup.call_timeout,
        stamp,
        stop,
        server_pid: child.as_ref().map(server::ServerChild::pid).or(setup.server_pid),
        tls_cert: tls_cert.as_ref(),
        shard: setup.shard.map(|s| (s, plan.start)),
        gateways: &gateways,
    };
    sweep.run(&gate, child.as_mut(), progress, &mut results.cells).await
}

/// This shard's record, with its clock's offset from the target server measured now.
async fn shard_run(
    shard: crate::shard::Shard,
    start: std::time::SystemTime,
    addrs: &std::collections::BTreeMap<String, std::net::SocketAddr>,
    progress: &Progress,
) -> anyhow::Result<crate::shard::ShardRun> {
    let (protocol, path) = wirebench_engine::clients::PROTOCOLS
        .iter()
        .find_map(|p| Some((p, p.clock_path()?)))
        .context("no protocol can read a server's clock")?;
    let server = protocol.server();
    let addr = addrs.get(server).copied().with_context(|| format!("no {server} server among the targets"))?;
    let run = crate::shard::started(shard, start, crate::shard::clock_offset(addr, path).await);
    progress.note(format!("shard {shard}: clock offset from the server {}", run.clock_offset_shown()));
    Ok(run)
}

/// The signal that stopped the run, for its message.
static STOPPED_BY: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// A flag that Ctrl-C or SIGTERM sets: the current cell ends early and what was measured
/// before it is written. A second signal quits at once.
fn ctrl_c_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            eprintln!("warning: SIGTERM cannot be caught; it will end the run without its results");
            return;
        };
        let mut signalled = async || {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok().then_some("Ctrl-C"),
                r = term.recv() => r.map(|()| "SIGTERM"),
            }
        };
        if let Some(what) = signalled().await {
            eprintln!(
                "\n{what}: stopping the current cell and writing what was measured (a second signal quits now)"
            );
            let _ = STOPPED_BY.set(what);
            flag.store(true, Ordering::Relaxed);
        }
        // A second signal, when finishing takes too long: quit at once (the server child stops
        // when its control channel closes with this process).
        if let Some(what) = signalled().await {
            eprintln!("error: interrupted twice ({what}) — nothing more written");
            std::process::exit(130);
        }
    });
    stop
}

/// Keeps idle CPUs awake for the run, unless told not to or not permitted.
fn hold_idle_cpus(allow_idle: bool) -> (Option<kernel::WakeupLatencyHold>, IdleCpus) {
    if allow_idle {
        return (None, IdleCpus::AllowedToSleep("--allow-idle".into()));
    }
    match kernel::WakeupLatencyHold::acquire() {
        Ok(hold) => (Some(hold), IdleCpus::KeptAwake),
        Err(e) => (None, IdleCpus::AllowedToSleep(format!("/dev/cpu_dma_latency: {e}"))),
    }
}

/// The results of a run before anything is measured.
fn new_results(plan: &Plan, idle_cpus: IdleCpus) -> Results {
    let setup = &plan.setup;
    Results {
        version: results::RESULTS_VERSION,
        status: RunStatus::Complete,
        message: None,
        started_at: now_rfc3339(),
        finished_at: String::new(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        environment: Environment {
            server_allocator: setup.target.is_none().then(|| {
                let (name, default) = server::SERVER_ARENAS;
                let value = std::env::var(name).unwrap_or_else(|_| default.to_owned());
                format!("glibc malloc, {name}={value}")
            }),
            ..machine::detect(plan.pinning.server_cores.clone(), plan.pinning.client_cores.clone(), idle_cpus)
        },
        options: RunOptions {
            profile: format!("{:?}", setup.profile).to_lowercase(),
            protocols: plan.protocols.iter().map(|p| p.name().to_owned()).collect(),
            operations: plan.operations.clone(),
            payloads: plan.payloads.clone(),
            concurrency: plan.concurrency.clone(),
            rate: plan.rate,
            warmup_s: plan.warmup.as_secs_f64(),
            duration_s: plan.duration.as_secs_f64(),
            n: setup.n,
            seed: setup.seed,
            repeat: plan.repeat,
            order_seed: plan.order_seed,
            networks: plan.networks.clone(),
            fresh_connections: plan.fresh,
            target: setup.target.clone(),
            store_latency_us: setup.store_latency_us,
            dissect: plan.dissect,
        },
        protocols: plan
            .protocols
            .iter()
            .map(|p| ProtocolInfo {
                name: p.name().into(),
                describe: p.describe().into(),
                server: p.server().into(),
                encoding: p.encoding().into(),
                compression: p.compression().map(|(codec, of)| (codec.into(), of.into())),
                transport: Some(p.transport()),
                family: p.family().into(),
                role: Some(p.role()),
            })
            .collect(),
        equivalence: Vec::new(),
        cells: Vec::new(),
        summaries: Vec::new(),
        shards: Vec::new(),
        estimated_s: None,
        not_covered: coverage::not_covered(plan),
    }
}
