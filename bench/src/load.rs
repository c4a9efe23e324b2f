//! The load engine: drives one (protocol, operation) cell with C workers and measures it.
//!
//! Built the way wrk and oha are: one current-thread runtime per client thread (pinned to
//! a core when asked), each running its share of workers as local tasks; one connection per
//! worker, opened before the clock starts; parameters built once and reused; a histogram
//! and plain counters per worker, merged only at the end. No channel send per request.
//!
//! - **Closed loop**: each worker sends its next request as soon as the previous answer is
//!   in. Latency is from send to complete answer.
//! - **Open loop**: each worker follows a fixed schedule (rate / C per worker). Latency is
//!   measured from the *intended* send time, so a stalled server is charged for the
//!   requests that could not be sent (coordinated omission, as in wrk2); the uncorrected
//!   figure (from the actual send) is kept beside it.
//!
//! Warm-up requests are run but never recorded. Every cell ends at its deadline or after
//! its request budget, whichever comes first; a request that outlives its timeout counts as
//! an error and its connection is replaced.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::catalog::{OpParams, Operation};
use crate::clients::{Call, ClientError, Connection, Protocol};
use crate::kernel::KernelCounts;
use crate::wire::Tally;

/// Closed or open loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// C workers back to back.
    Closed,
    /// A fixed total rate in operations per second, spread over the C workers.
    Open { rate: f64 },
}

/// Everything one cell needs.
#[derive(Clone)]
pub struct CellSpec {
    pub protocol: &'static dyn Protocol,
    pub addr: SocketAddr,
    pub op: Operation,
    /// Parameters of every call; writes get a fresh idempotency key per call.
    pub params: OpParams,
    pub concurrency: u32,
    pub mode: Mode,
    pub warmup: Duration,
    pub duration: Duration,
    /// At most this many recorded operations in the cell (all workers together).
    pub max_ops: u64,
    /// A call slower than this is an error.
    pub call_timeout: Duration,
    /// Client threads (each its own current-thread runtime).
    pub threads: usize,
    /// Cores to pin client threads to, round robin; empty = no pinning.
    pub cores: Vec<usize>,
    /// Set from outside (Ctrl-C) to end the cell early.
    pub stop: Arc<AtomicBool>,
    /// Makes idempotency keys unique across cells and runs.
    pub key_prefix: String,
}

impl std::fmt::Debug for CellSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellSpec")
            .field("protocol", &self.protocol.name())
            .field("op", &self.op)
            .field("concurrency", &self.concurrency)
            .field("mode", &self.mode)
            .finish()
    }
}

/// Largest latency recorded: one minute, in nanoseconds.
const MAX_NS: u64 = 60_000_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds")
}

/// What a cell measured (all workers merged).
#[derive(Debug, Clone)]
pub struct CellStats {
    /// Latency in ns: closed loop from send; open loop from the intended send.
    pub latency: Histogram<u64>,
    /// Open loop only: latency from the actual send (not corrected for omission).
    pub uncorrected: Option<Histogram<u64>>,
    /// Streams: each message's arrival, in ns from the start of its call.
    pub messages: Histogram<u64>,
    /// Open loop only: how late each request was actually sent after its intended time
    /// (the generator's own scheduling lag, tokio's 1 ms timer granularity included). It is
    /// part of the corrected latency, so it is reported to make that visible.
    pub send_lag: Option<Histogram<u64>>,
    /// Recorded (successful, post-warm-up) operations.
    pub ops: u64,
    pub errors: BTreeMap<String, u64>,
    /// The recorded window: from the end of warm-up to the last recorded answer.
    pub elapsed: Duration,
    /// What the socket carried during the recorded operations, summed: bytes by layer,
    /// header bytes, turns and request waves.
    pub wire: Tally,
    /// Connection set-up (handshakes until ready), summed over connections.
    pub setup: Tally,
    pub connections: u64,
    /// Kernel segment counts over the recorded phase, summed over connections.
    pub segments: u64,
    /// One sample error message per kind, for the report.
    pub error_samples: BTreeMap<String, String>,
}

impl CellStats {
    fn new(open: bool) -> Self {
        CellStats {
            latency: histogram(),
            uncorrected: open.then(histogram),
            messages: histogram(),
            send_lag: open.then(histogram),
            ops: 0,
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
            wire: Tally::default(),
            setup: Tally::default(),
            connections: 0,
            segments: 0,
            error_samples: BTreeMap::new(),
        }
    }

    fn merge(&mut self, other: CellStats) {
        self.latency.add(&other.latency).expect("same bounds");
        if let (Some(a), Some(b)) = (&mut self.uncorrected, &other.uncorrected) {
            a.add(b).expect("same bounds");
        }
        self.messages.add(&other.messages).expect("same bounds");
        if let (Some(a), Some(b)) = (&mut self.send_lag, &other.send_lag) {
            a.add(b).expect("same bounds");
        }
        self.ops += other.ops;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.error_samples {
            self.error_samples.entry(k).or_insert(v);
        }
        self.elapsed = self.elapsed.max(other.elapsed);
        self.wire.add(&other.wire);
        self.setup.add(&other.setup);
        self.connections += other.connections;
        self.segments += other.segments;
    }

    fn error(&mut self, e: &ClientError) {
        let kind = e.kind();
        self.error_samples.entry(kind.clone()).or_insert_with(|| e.to_string());
        *self.errors.entry(kind).or_default() += 1;
    }

    /// Total errors of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Runs one cell to its end and returns the merged measurements.
pub fn run_cell(spec: &CellSpec) -> CellStats {
    let open = matches!(spec.mode, Mode::Open { .. });
    let threads = spec.threads.clamp(1, spec.concurrency.max(1) as usize);
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + spec.warmup;
    let deadline = measure_from + spec.duration;
    let mut merged = CellStats::new(open);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let workers: Vec<u32> =
                    (0..spec.concurrency).filter(|w| *w as usize % threads == t).collect();
                let core = (!spec.cores.is_empty()).then(|| spec.cores[t % spec.cores.len()]);
                scope.spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core_affinity::CoreId { id: core });
                    }
                    let rt =
                        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    // The thread's workers run concurrently inside one task: no spawn, no Send.
                    let all = workers.into_iter().map(|w| worker(spec, w, start, measure_from, deadline));
                    let mut stats = CellStats::new(open);
                    for s in rt.block_on(futures::future::join_all(all)) {
                        stats.merge(s);
                    }
                    stats
                })
            })
            .collect();
        for h in handles {
            if let Ok(s) = h.join() {
                merged.merge(s);
            }
        }
    });
    merged
}

/// Per-call parameters: reads reuse the template; writes need a fresh key every time.
fn params_for(spec: &CellSpec, worker: u32, seq: u64) -> std::borrow::Cow<'_, OpParams> {
    if spec.op.writes() {
        let mut p = spec.params.clone();
        p.idempotency_key = Some(format!("{}-{worker}-{seq}", spec.key_prefix));
        std::borrow::Cow::Owned(p)
    } else {
        std::borrow::Cow::Borrowed(&spec.params)
    }
}

async fn connect(spec: &CellSpec, stats: &mut CellStats, deadline: Instant) -> Option<Box<dyn Connection>> {
    while Instant::now() < deadline && !spec.stop.load(Ordering::Relaxed) {
        let attempt =
            tokio::time::timeout(spec.call_timeout, spec.protocol.connect(spec.addr, spec.op)).await;
        match attempt {
            Ok(Ok(conn)) => {
                stats.setup.add(&conn.counters().snapshot());
                stats.connections += 1;
                return Some(conn);
            }
            Ok(Err(e)) => stats.error(&e),
            Err(_) => stats.error(&ClientError::Timeout),
        }
        // A refused or dead server: back off a little, never spin.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn segments(k: Option<KernelCounts>) -> u64 {
    k.map_or(0, |k| u64::from(k.segs_in) + u64::from(k.segs_out))
}

/// One worker: one connection at a time, its own stats.
struct Worker<'a> {
    spec: &'a CellSpec,
    id: u32,
    stats: CellStats,
    conn: Box<dyn Connection>,
    /// The connection's kernel segment count when recording began on it.
    segs_at_start: Option<u64>,
    /// When the last recorded answer was complete.
    last_recorded: Option<Instant>,
}

impl Worker<'_> {
    /// Adds the segments the current connection exchanged while recording.
    fn close_segments(&mut self) {
        if let Some(start) = self.segs_at_start.take() {
            self.stats.segments += segments(self.conn.counters().kernel()).saturating_sub(start);
        }
    }

    /// Replaces a broken or timed-out connection. False when none could be opened before the
    /// deadline: the worker is done.
    async fn reconnect(&mut self, deadline: Instant) -> bool {
        self.close_segments();
        match connect(self.spec, &mut self.stats, deadline).await {
            Some(conn) => {
                self.conn = conn;
                true
            }
            None => false,
        }
    }

    /// Records one finished, successful call: latency from `from` (the intended or actual
    /// send), its bytes and messages.
    fn record(&mut self, call: &Call, wire: &Tally, from: Instant, sent_at: Instant, done: Instant) {
        let stats = &mut self.stats;
        stats.latency.saturating_record(nanos(done - from));
        if let Some(u) = &mut stats.uncorrected {
            u.saturating_record(nanos(done - sent_at));
        }
        if let Some(lag) = &mut stats.send_lag {
            lag.saturating_record(nanos(sent_at.saturating_duration_since(from)));
        }
        for t in &call.message_times {
            stats.messages.saturating_record(nanos(*t));
        }
        stats.ops += 1;
        stats.wire.add(wire);
        self.last_recorded = Some(done);
    }

    /// Runs one call and accounts for it; false when the worker must stop.
    async fn step(
        &mut self,
        seq: u64,
        intended: Option<Instant>,
        measure_from: Instant,
        deadline: Instant,
    ) -> bool {
        let now = Instant::now();
        let recording = intended.unwrap_or(now) >= measure_from;
        if recording && self.segs_at_start.is_none() {
            self.segs_at_start = Some(segments(self.conn.counters().kernel()));
        }
        let params = params_for(self.spec, self.id, seq);
        let before = self.conn.counters().snapshot();
        let sent_at = Instant::now();
        let result =
            tokio::time::timeout(self.spec.call_timeout, self.conn.call(self.spec.op, &params)).await;
        let done = Instant::now();
        let failure = match result {
            Ok(Ok(call)) => {
                if recording {
                    let wire = self.conn.counters().snapshot().since(&before);
                    self.record(&call, &wire, intended.unwrap_or(sent_at), sent_at, done);
                }
                return true;
            }
            Ok(Err(e)) => e,
            Err(_) => ClientError::Timeout,
        };
        if recording {
            self.stats.error(&failure);
        }
        // A server error leaves the connection usable; anything else replaces it.
        matches!(failure, ClientError::Server { .. }) || self.reconnect(deadline).await
    }
}

async fn worker(
    spec: &CellSpec,
    id: u32,
    start: Instant,
    measure_from: Instant,
    deadline: Instant,
) -> CellStats {
    let open_rate = match spec.mode {
        Mode::Open { rate } => Some(rate / f64::from(spec.concurrency.max(1))),
        Mode::Closed => None,
    };
    let mut stats = CellStats::new(open_rate.is_some());
    let budget = spec.max_ops.div_ceil(u64::from(spec.concurrency.max(1)));
    tokio::time::sleep_until(start.into()).await;
    let Some(conn) = connect(spec, &mut stats, deadline).await else { return stats };
    let mut w = Worker { spec, id, stats, conn, segs_at_start: None, last_recorded: None };
    let interval = open_rate.map(|r| Duration::from_secs_f64(1.0 / r.max(1e-9)));
    // Stagger the workers' schedules evenly within one interval.
    let mut intended =
        interval.map(|i| start + i.mul_f64(f64::from(id) / f64::from(spec.concurrency.max(1))));
    let mut seq = 0u64;
    while !spec.stop.load(Ordering::Relaxed) && w.stats.ops < budget {
        if let Some(at) = intended
            && at > Instant::now()
        {
            tokio::time::sleep_until(at.into()).await;
        }
        if Instant::now() >= deadline || !w.step(seq, intended, measure_from, deadline).await {
            break;
        }
        seq += 1;
        if let (Some(at), Some(i)) = (&mut intended, interval) {
            *at += i;
        }
    }
    w.close_segments();
    w.stats.elapsed = w.last_recorded.map_or(Duration::ZERO, |l| l.saturating_duration_since(measure_from));
    w.stats
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}
