//! The sweep: every planned cell of one payload, measured in turn, with the CPU both sides
//! used over the cell's recorded window.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::gate::Gate;
use super::plan::{CellPlan, Plan};
use super::progress::Progress;
use super::server::ServerChild;
use crate::catalog::OpParams;
use crate::kernel;
use crate::load::{CellSpec, CellStats, Mode, run_cell};
use crate::results::{self, Cell, Resources};

/// Most recorded operations in one cell, all workers together.
const MAX_OPS_PER_CELL: u64 = 5_000_000;

/// Why a sweep ended before its last cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Ctrl-C.
    Interrupted,
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
}

impl Sweep<'_> {
    /// Measures every cell the gate let through, appending them to `out`; stops early on
    /// Ctrl-C or when the server child exits.
    pub async fn run(
        &self,
        gate: &Gate,
        mut server: Option<&mut ServerChild>,
        progress: &Progress,
        out: &mut Vec<Cell>,
    ) -> anyhow::Result<Option<Stopped>> {
        for cell in self.plan.cells() {
            if !gate.passed(cell.protocol.name(), cell.op) {
                progress.skip();
                continue;
            }
            if self.stop.load(Ordering::Relaxed) {
                return Ok(Some(Stopped::Interrupted));
            }
            if let Some(server) = server.as_deref_mut()
                && let Some(status) = server.exited()?
            {
                let what =
                    format!("the server exited ({status}) before {} {}", cell.protocol.name(), cell.op);
                return Ok(Some(Stopped::ServerExited(what)));
            }
            progress.cell(format!("{} {} {} {}", self.payload, cell.protocol.name(), cell.op, cell.point));
            let spec = self.spec(cell);
            let server_pid = self.server_pid;
            let (stats, cpu) = tokio::task::spawn_blocking(move || measure(&spec, server_pid)).await?;
            out.push(self.result(cell, &stats, &cpu));
            progress.done();
        }
        Ok(None)
    }

    fn spec(&self, cell: CellPlan) -> CellSpec {
        let pinning = &self.plan.pinning;
        CellSpec {
            protocol: cell.protocol,
            addr: self.addrs[cell.protocol.server()],
            op: cell.op,
            params: self.params.clone(),
            concurrency: cell.point.concurrency(),
            mode: cell.point.rate().map_or(Mode::Closed, |rate| Mode::Open { rate }),
            warmup: self.plan.warmup,
            duration: self.plan.duration,
            max_ops: MAX_OPS_PER_CELL,
            call_timeout: self.call_timeout,
            threads: pinning.client_threads,
            cores: pinning.client_cores.clone(),
            stop: self.stop.clone(),
            key_prefix: format!(
                "{}-{}-{}-{}-{}",
                self.stamp,
                cell.protocol.name(),
                cell.op,
                cell.point.concurrency(),
                cell.point.rate().is_some()
            ),
        }
    }

    fn result(&self, cell: CellPlan, stats: &CellStats, cpu: &CpuUse) -> Cell {
        let resources = Resources {
            server_cpu_us_per_op: cpu.server.map(|d| per_op_us(d, stats.ops)),
            client_cpu_us_per_op: Some(per_op_us(cpu.client, stats.ops)),
            server_peak_rss_bytes: self.server_pid.and_then(|p| kernel::peak_rss(Some(p))),
            client_peak_rss_bytes: kernel::peak_rss(None),
        };
        results::cell(
            cell.protocol.name(),
            cell.op,
            self.payload,
            self.n,
            cell.point.concurrency(),
            cell.point.rate(),
            stats,
            resources,
        )
    }
}

/// CPU used during a cell's recorded window.
#[derive(Debug)]
struct CpuUse {
    server: Option<Duration>,
    client: Duration,
}

/// Runs a cell while sampling CPU from the end of warm-up to the end.
fn measure(spec: &CellSpec, server_pid: Option<u32>) -> (CellStats, CpuUse) {
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

fn per_op_us(d: Duration, ops: u64) -> f64 {
    if ops == 0 { 0.0 } else { d.as_secs_f64() * 1e6 / ops as f64 }
}
