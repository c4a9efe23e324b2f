//! The sweep: every planned cell of one payload, measured in turn, with the CPU both sides
//! used over the cell's recorded window.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::checks;
use super::gate::Gate;
use super::plan::{CellPlan, Plan};
use super::profiles::Security;
use super::progress::Progress;
use super::server::ServerChild;
use crate::shard::{SLOT_MARGIN, Shard};
use wirebench_engine::catalog::OpParams;
use wirebench_engine::load::{CellSpec, CellStats, Mode, run_cell};
use wirebench_results::{self as results, Cell, Checks, Resources};
use wirebench_wire::Dial;
use wirebench_wire::kernel;
use wirebench_wire::tls::ClientTls;

/// Most recorded operations in one cell, all workers together.
const MAX_OPS_PER_CELL: u64 = 5_000_000;

/// Why a sweep ended before its last cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Ctrl-C; with the cell it cut short (left out of the results: its window is not the
    /// plan's).
    Interrupted(Option<String>),
    /// The server child exited; the message says when.
    ServerExited(String),
}

/// What every cell of a payload shares.
#[derive(Debug)]
pub struct Sweep<'a> {
    pub plan: &'a Plan,
    pub payload: &'a str,
    pub n: u32,
    pub addrs: &'a BTreeMap<String, SocketAddr>,
    pub params: &'a OpParams,
    pub call_timeout: Duration,
    /// Makes idempotency keys unique across runs.
    pub stamp: &'a str,
    pub stop: &'a Arc<AtomicBool>,
    /// The server's process id, when known, for its CPU and memory.
    pub server_pid: Option<u32>,
    /// The servers' TLS certificate, for the TLS cells' clients to trust.
    pub tls_cert: Option<&'a super::server::Cert>,
    /// A sharded run: this shard, and the shared start of its schedule.
    pub shard: Option<(Shard, SystemTime)>,
    /// The gateways started for the plan's `--via` cells.
    pub gateways: &'a [crate::gateway::Gateway],
}

impl Sweep<'_> {
    /// Measures every cell the gate let through, round by round, appending them to `out`;
    /// stops early on Ctrl-C or when the server child exits.
    pub async fn run(
        &self,
        gate: &Gate,
        mut server: Option<&mut ServerChild>,
        progress: &Progress,
        out: &mut Vec<Cell>,
    ) -> anyhow::Result<Option<Stopped>> {
        self.warm(gate, progress).await?;
        progress.advance(self.plan.setup_time());
        let cells = (0..self.plan.repeat).flat_map(|repeat| {
            self.plan.cells_in_order(self.payload, repeat).into_iter().map(move |c| (repeat, c))
        });
        // A sharded run's schedule: when the next cell is due, whether or not it runs here.
        let mut due = self.shard.map(|(_, start)| start);
        for (repeat, cell) in cells {
            let slot = due;
            if let Some(at) = due.as_mut() {
                let (warmup, duration) = self.plan.timing(&cell);
                *at += warmup + duration + SLOT_MARGIN;
            }
            if let Some(stopped) =
                self.one((repeat, cell), slot, gate, server.as_deref_mut(), progress, out).await?
            {
                return Ok(Some(stopped));
            }
        }
        Ok(None)
    }

    /// Runs one cell once (from `slot` in a sharded run) and appends its result.
    async fn one(
        &self,
        (repeat, cell): (u32, CellPlan),
        slot: Option<SystemTime>,
        gate: &Gate,
        mut server: Option<&mut ServerChild>,
        progress: &Progress,
        out: &mut Vec<Cell>,
    ) -> anyhow::Result<Option<Stopped>> {
        let share = self.shard.map_or(1, |(shard, _)| shard.share(cell.point.concurrency()));
        let passed = match cell.via {
            None => gate.passed(cell.protocol.name(), cell.op),
            Some(via) => {
                self.gateways.iter().any(|g| g.via() == via)
                    && gate.passed_via(&via.name(), cell.protocol.name(), cell.op)
            }
        };
        if !passed || share == 0 {
            progress.advance(self.plan.expected(&cell));
            return Ok(None);
        }
        let start_lag = match slot {
            Some(slot) => Some(wait_for(slot, self.stop).await),
            None => None,
        };
        if self.stop.load(Ordering::Relaxed) {
            return Ok(Some(Stopped::Interrupted(None)));
        }
        if let Some(server) = server.as_deref_mut()
            && let Some(status) = server.exited()?
        {
            let what = format!("the server exited ({status}) before {} {}", cell.protocol.name(), cell.op);
            return Ok(Some(Stopped::ServerExited(what)));
        }
        progress.cell(self.label(repeat, &cell));
        let mut start = Start::now(server.as_deref().map(|s| &s.control))?;
        let spec = self.spec(repeat, cell);
        let started = SystemTime::now() + spec.warmup;
        let server_pid = self.server_pid;
        let gateway = cell.via.and_then(|v| self.gateways.iter().find(|g| g.via() == v)).map(|g| g.pids());
        let (mut stats, cpu) =
            tokio::task::spawn_blocking(move || measure(spec, (server_pid, gateway))).await?;
        if self.stop.load(Ordering::Relaxed) {
            let what = format!("{} {} {}", cell.protocol.name(), cell.op, cell.point);
            return Ok(Some(Stopped::Interrupted(Some(what))));
        }
        let control = server.as_deref().map(|s| &s.control);
        let after = control.and_then(|c| tokio::task::block_in_place(|| c.accepted()).ok());
        start.accepted = start.accepted.zip(after).map(|(a, b)| b.saturating_sub(a));
        let params = self.params_of(&cell);
        let checks = tokio::task::block_in_place(|| {
            checks::verify(control, (cell.protocol.name(), cell.op), &params, &stats.samples)
        });
        for _ in 0..checks.mismatches {
            let why = checks.mismatch.clone().unwrap_or_default();
            stats.count_error("check".into(), why);
        }
        // Without a control channel (--target) nothing can be read back: said, not flagged.
        let unchecked =
            control.and(checks.unchecked.clone()).map(|why| format!("answers not checked: {why}"));
        let mut result = self.result((repeat, cell), &stats, &cpu, &start, (checks, unchecked));
        self.timed(&mut result, &cell, started, start_lag);
        out.push(result);
        progress.advance(self.plan.expected(&cell));
        Ok(None)
    }

    /// What the progress line says of a cell run.
    fn label(&self, repeat: u32, cell: &CellPlan) -> String {
        let run = if self.plan.repeat > 1 {
            format!(" (round {}/{})", repeat + 1, self.plan.repeat)
        } else {
            String::new()
        };
        let network = &self.plan.networks[cell.network];
        let on = if network.is_loopback() { String::new() } else { format!(" on {}", network.name) };
        let cold = if cell.fresh { " cold" } else { "" };
        let size = cell.size.map(|n| format!(" n={n}")).unwrap_or_default();
        format!("{} {} {} {}{size}{on}{cold}{run}", self.payload, cell.protocol.name(), cell.op, cell.point)
    }

    /// Brings the server to the state it keeps between cells before the first one: the
    /// busiest planned cell (highest concurrency) of each protocol, and of each operation,
    /// runs once for a warm-up's length and is discarded. Without it the first cells meet a
    /// server that has never held that many connections (the runtime's I/O slabs) nor freed a
    /// write-heavy cell's memory (the allocator's own bookkeeping), and start about 10 %
    /// smaller and colder than all the others.
    async fn warm(&self, gate: &Gate, progress: &Progress) -> anyhow::Result<()> {
        let passed: Vec<CellPlan> = self
            .plan
            .cells()
            .into_iter()
            .filter(|c| gate.passed(c.protocol.name(), c.op))
            .filter(|c| !c.fresh && self.plan.networks[c.network].is_loopback())
            .collect();
        let busiest = |same: fn(&CellPlan, &CellPlan) -> bool| {
            let mut out: Vec<CellPlan> = Vec::new();
            for cell in &passed {
                match out.iter().position(|b| same(b, cell)) {
                    Some(i) if cell.point.concurrency() > out[i].point.concurrency() => out[i] = *cell,
                    Some(_) => {}
                    None => out.push(*cell),
                }
            }
            out
        };
        let mut warm = busiest(|a, b| a.protocol.name() == b.protocol.name());
        warm.extend(busiest(|a, b| a.op == b.op));
        for cell in warm {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            progress.cell(format!(
                "{} warming {} at c={}",
                self.payload,
                cell.protocol.name(),
                cell.point.concurrency()
            ));
            let mut spec = self.spec(0, cell);
            spec.key_prefix = format!("{}-warm-{}", self.stamp, cell.protocol.name());
            spec.mode = Mode::Closed;
            (spec.warmup, spec.duration) = (Duration::ZERO, self.plan.warmup.max(Duration::from_millis(50)));
            tokio::task::spawn_blocking(move || run_cell(&spec)).await?;
        }
        Ok(())
    }

    /// When the cell's window began and, in a sharded run, how late it started and the load of
    /// all shards together.
    fn timed(&self, result: &mut Cell, cell: &CellPlan, started: SystemTime, start_lag: Option<u64>) {
        result.started_unix_s = Some(crate::shard::unix_s(started));
        result.start_lag_ns = start_lag;
        if self.shard.is_some() {
            let (concurrency, rate) = (cell.point.concurrency(), cell.point.rate());
            result.total_load = Some(results::TotalLoad { concurrency, rate });
        }
    }

    /// The connections and open-loop rate this process runs the cell at: the plan's, or this
    /// shard's share of them.
    fn load(&self, cell: &CellPlan) -> (u32, Option<f64>) {
        let (concurrency, rate) = (cell.point.concurrency(), cell.point.rate());
        match self.shard {
            Some((shard, _)) => (shard.share(concurrency), rate.map(|r| shard.rate(r))),
            None => (concurrency, rate),
        }
    }

    fn spec(&self, repeat: u32, cell: CellPlan) -> CellSpec {
        let pinning = &self.plan.pinning;
        let (warmup, duration) = self.plan.timing(&cell);
        let network = &self.plan.networks[cell.network];
        CellSpec {
            protocol: cell.protocol,
            dial: Dial::to(self.addr_of(&cell))
                .through(Some(network.clone()))
                .secured(self.client_tls(cell.security))
                .dissected(self.plan.dissect),
            op: cell.op,
            params: self.params_of(&cell),
            concurrency: self.load(&cell).0,
            streams: cell.streams,
            mode: self.load(&cell).1.map_or(Mode::Closed, |rate| Mode::Open { rate }),
            warmup,
            duration,
            max_ops: MAX_OPS_PER_CELL,
            min_ops: self.plan.min_ops(&cell),
            overtime: super::timing::NETWORK_MIN_OPS_MAX,
            call_timeout: self.call_timeout,
            threads: pinning.client_threads,
            cores: pinning.client_cores.clone(),
            fresh_connections: cell.fresh,
            stop: self.stop.clone(),
            on_recording: None,
            key_prefix: format!(
                "{}{}-{repeat}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}",
                self.stamp,
                self.shard.map(|(s, _)| format!("-shard{}", s.index)).unwrap_or_default(),
                cell.protocol.name(),
                cell.op,
                cell.point.concurrency(),
                cell.point.rate().is_some(),
                cell.network,
                cell.fresh,
                cell.security.name(),
                cell.streams,
                cell.size.unwrap_or(0),
                cell.via.map_or_else(|| "direct".to_owned(), crate::gateway::Via::name)
            ),
        }
    }

    /// Where a cell's clients connect: the server, or the gateway in front of it.
    fn addr_of(&self, cell: &CellPlan) -> SocketAddr {
        let direct = self.addrs[cell.protocol.server()];
        let Some(via) = cell.via else { return direct };
        let gateway = self.gateways.iter().find(|g| g.via() == via);
        // The plan leaves out the cells of a gateway that did not start, and of the variants
        // no gateway routes.
        gateway.and_then(|g| g.dial_for(cell.protocol).ok()).expect("a started gateway that routes the cell")
    }

    /// A cell's parameters: the run's, with a size sweep's N.
    fn params_of(&self, cell: &CellPlan) -> OpParams {
        let mut params = self.params.clone();
        if let Some(n) = cell.size {
            params.n = n;
        }
        params
    }

    /// The TLS settings of a cell's clients: a new session cache per cell, so a resumed
    /// cell's first connection (in its warm-up) makes the first full handshake.
    fn client_tls(&self, security: Security) -> Option<ClientTls> {
        let resume = match security {
            Security::Plain => return None,
            Security::Tls => false,
            Security::TlsResumed => true,
        };
        let cert =
            self.tls_cert.expect("a run with TLS cells has the servers' certificate (checked at start)");
        Some(ClientTls::new(cert.clone(), resume).expect("the certificate was tried at start"))
    }

    fn result(
        &self,
        (repeat, cell): (u32, CellPlan),
        stats: &CellStats,
        cpu: &CpuUse,
        start: &Start,
        checked: (Checks, Option<String>),
    ) -> Cell {
        let (checks, unchecked) = checked;
        let mut problems: Vec<String> = unchecked.into_iter().collect();
        let mut per_op = |cpu: &Result<Duration, String>, whose: &str| match cpu {
            Ok(d) => Some(per_op_us(*d, stats.ops)),
            Err(e) => {
                problems.push(format!("{whose} CPU not measured: {e}"));
                None
            }
        };
        let resources = Resources {
            server_cpu_us_per_op: cpu.server.as_ref().and_then(|c| per_op(c, "server")),
            client_cpu_us_per_op: per_op(&cpu.client, "client"),
            gateway_cpu_us_per_op: cpu.gateway.as_ref().and_then(|c| per_op(c, "gateway")),
            server_connections: start.accepted,
            server_peak_rss_bytes: self.server_pid.and_then(|p| kernel::peak_rss(Some(p))),
            client_peak_rss_bytes: kernel::peak_rss(None),
            server_rss_start_bytes: start.server_rss,
            client_rss_start_bytes: start.client_rss,
            peak_rss_per_cell: start.peaks_reset,
            store_reset: start.store_reset,
        };
        let at = super::record::CellPoint {
            protocol: cell.protocol.name(),
            operation: cell.op,
            payload: self.payload,
            network: &self.plan.networks[cell.network].name,
            fresh_connections: cell.fresh,
            tls: cell.security.name(),
            streams: cell.streams,
            sized: cell.size.is_some(),
            via: &cell.via.map_or_else(|| "direct".to_owned(), crate::gateway::Via::name),
            n: cell.size.unwrap_or(self.n),
            repeat,
            concurrency: self.load(&cell).0,
            rate: self.load(&cell).1,
        };
        super::record::cell(at, stats, (resources, checks), problems)
    }
}

/// The state a cell starts from.
#[derive(Debug)]
struct Start {
    store_reset: bool,
    /// Connections the server had accepted when the cell began; after it, those it accepted
    /// during the cell.
    accepted: Option<u64>,
    server_rss: Option<u64>,
    client_rss: Option<u64>,
    peaks_reset: bool,
}

impl Start {
    /// Puts the server's store back to its fixtures (through its control channel, when this
    /// run started the server) and restarts both processes' peak RSS.
    fn now(control: Option<&wirebench_engine::control::Control>) -> anyhow::Result<Start> {
        let (store_reset, server_rss, server_peak) = match control {
            Some(control) => {
                let (rss, peak) = tokio::task::block_in_place(|| control.reset())?;
                (true, rss, peak)
            }
            None => (false, None, false),
        };
        let accepted = control.and_then(|c| tokio::task::block_in_place(|| c.accepted()).ok());
        // The harness too: what the last cell freed should not count in this one's memory.
        kernel::release_free_heap();
        let client_peak = kernel::reset_peak_rss(None).is_ok();
        Ok(Start {
            store_reset,
            accepted,
            server_rss,
            client_rss: kernel::rss(None),
            peaks_reset: server_peak && client_peak,
        })
    }
}

/// CPU used during a cell's recorded window, or why it could not be read.
#[derive(Debug)]
struct CpuUse {
    server: Option<Result<Duration, String>>,
    client: Result<Duration, String>,
    /// The gateway's processes together, for a cell through one.
    gateway: Option<Result<Duration, String>>,
}

/// Both processes' CPU clocks at one moment.
#[derive(Debug)]
struct CpuSample {
    server: Option<std::io::Result<Duration>>,
    client: std::io::Result<Duration>,
    gateway: Option<std::io::Result<Duration>>,
}

impl CpuSample {
    fn now((server_pid, gateway): (Option<u32>, Option<&[u32]>)) -> CpuSample {
        let sum =
            |pids: &[u32]| pids.iter().map(|p| kernel::process_cpu(*p)).sum::<std::io::Result<Duration>>();
        CpuSample {
            server: server_pid.map(kernel::process_cpu),
            client: kernel::self_cpu(),
            gateway: gateway.map(sum),
        }
    }
}

/// `end - start` of one process's CPU clock, or why there is none (`missing`: why there is
/// no start sample).
fn used(
    start: Option<&std::io::Result<Duration>>,
    end: &std::io::Result<Duration>,
    missing: &str,
) -> Result<Duration, String> {
    match (start, end) {
        (Some(Ok(a)), Ok(b)) => Ok(b.saturating_sub(*a)),
        (None, _) => Err(missing.to_owned()),
        (Some(Err(e)), _) | (_, Err(e)) => Err(format!("CPU clock unreadable: {e}")),
    }
}

/// Runs a cell while sampling both processes' CPU clocks at the start of its recorded window
/// (which the engine announces once its connections are open) and at its end.
fn measure(
    mut spec: CellSpec,
    (server_pid, gateway): (Option<u32>, Option<Vec<u32>>),
) -> (CellStats, CpuUse) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Instant>(1);
    spec.on_recording = Some(tx);
    let pids = gateway.clone();
    let sampler = std::thread::spawn(move || {
        let at = rx.recv().ok()?;
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        Some(CpuSample::now((server_pid, pids.as_deref())))
    });
    let stats = run_cell(&spec);
    // Closing the channel lets a sampler that was never told a window return.
    drop(spec);
    let end = CpuSample::now((server_pid, gateway.as_deref()));
    let (start, missing) = match sampler.join() {
        Ok(start) => (start, "the cell never reached its recorded window"),
        Err(_) => (None, "the CPU sampler thread panicked"),
    };
    let cpu = CpuUse {
        server: end.server.as_ref().map(|e| used(start.as_ref().and_then(|s| s.server.as_ref()), e, missing)),
        client: used(start.as_ref().map(|s| &s.client), &end.client, missing),
        gateway: end
            .gateway
            .as_ref()
            .map(|e| used(start.as_ref().and_then(|s| s.gateway.as_ref()), e, missing)),
    };
    (stats, cpu)
}

fn per_op_us(d: Duration, ops: u64) -> f64 {
    if ops == 0 { 0.0 } else { d.as_secs_f64() * 1e6 / ops as f64 }
}

/// Sleeps until `slot` (in steps, so Ctrl-C is not kept waiting); returns how late it is
/// then, in nanoseconds (0 when on time).
async fn wait_for(slot: SystemTime, stop: &AtomicBool) -> u64 {
    loop {
        let now = SystemTime::now();
        match slot.duration_since(now) {
            Ok(left) if !left.is_zero() && !stop.load(Ordering::Relaxed) => {
                tokio::time::sleep(left.min(Duration::from_millis(200))).await;
            }
            Ok(_) => return 0,
            Err(late) => return u64::try_from(late.duration().as_nanos()).unwrap_or(u64::MAX),
        }
    }
}
