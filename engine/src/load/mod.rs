//! The load engine: drives one (protocol, operation) cell with C workers and measures it.
//!
//! Built the way wrk and oha are: one current-thread runtime per client thread (pinned to
//! a core when asked), each running its share of workers (one `FuturesUnordered`, so a
//! socket's wake-up polls the one worker it is for); one connection per worker; the
//! engine is generic over the client ([`drive`]), so a call goes through no boxed future and
//! no virtual dispatch; parameters are built once per worker and reused; a histogram and
//! plain counters per worker, merged only at the end. No channel send per request.
//!
//! - **Connections first**: every worker opens its connection, then all threads meet at a
//!   barrier; the schedule (and warm-up) starts only then, so connection set-up never
//!   delays the first sends.
//! - **Closed loop**: each worker sends its next request as soon as the previous answer is
//!   in.
//! - **Open loop**: each worker follows a fixed schedule (rate / C per worker), woken for
//!   each send by its thread's [`clock`] within about a microsecond of the intended time. Latency
//!   is measured from the *intended* send, so a stalled server is charged for the requests
//!   that could not be sent (coordinated omission, as in wrk2); the uncorrected figure
//!   (from the actual send) is kept beside it, and the gap between intended and actual send
//!   is split in two: the time a due request waited for its worker's previous call
//!   (connection wait: the server's queueing) and the generator's own lateness (send lag).
//!
//! **Latency ends at the last byte** of the answer read from the socket (the counting layer
//! stamps it); the client's decoding into domain types is timed apart, per call.
//!
//! **Nothing is lost from the tail**: a call that times out is recorded at its timeout (and
//! counted as an error), an open-loop send that was due before the deadline but never left
//! is counted as missed, and a worker or thread that panics is an error of its cell.
//!
//! Warm-up requests are run but never recorded. Every cell ends at its deadline or after
//! its request budget, whichever comes first.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use hdrhistogram::Histogram;

use self::client::{Client, ClientError, Drive};
use crate::catalog::{OpParams, Operation, Outcome};
use wirebench_wire::Tally;

pub mod client;
pub mod clock;
mod worker;

use self::clock::Clock;
use self::worker::{Window, Worker};

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
    pub protocol: &'static dyn Drive,
    /// Where and how every connection of the cell is opened: the server, the emulated link
    /// (none: loopback), TLS (none: plaintext), dissection.
    pub dial: wirebench_wire::Dial,
    pub op: Operation,
    /// Parameters of every call; writes get a fresh idempotency key per call.
    pub params: OpParams,
    /// Connections (closed loop: each runs `streams` calls back to back at once).
    pub concurrency: u32,
    /// Calls in flight on each connection at once (HTTP/2 streams; 1 for every protocol that
    /// runs one call at a time, see [`client::Client::lane`]).
    pub streams: u32,
    pub mode: Mode,
    pub warmup: Duration,
    pub duration: Duration,
    /// At most this many recorded operations in the cell (all workers together).
    pub max_ops: u64,
    /// Closed loop: each worker goes on past the cell's length until it has recorded this
    /// many calls, for at most `overtime` more (an operation of many round trips on an
    /// emulated network is longer than a short cell).
    pub min_ops: u64,
    pub overtime: Duration,
    /// A call slower than this is an error, recorded at this latency.
    pub call_timeout: Duration,
    /// Client threads (each its own current-thread runtime).
    pub threads: usize,
    /// Cores to pin client threads to, round robin; empty = no pinning.
    pub cores: Vec<usize>,
    /// Every call on a new connection, its set-up inside its latency (cold), instead of one
    /// connection per worker for the whole cell (warm).
    pub fresh_connections: bool,
    /// Set from outside (Ctrl-C) to end the cell early.
    pub stop: Arc<AtomicBool>,
    /// Makes idempotency keys unique across cells and runs.
    pub key_prefix: String,
    /// Told when the recorded window starts (the end of warm-up), as soon as it is known,
    /// so CPU can be sampled over exactly that window.
    pub on_recording: Option<std::sync::mpsc::SyncSender<Instant>>,
}

impl CellSpec {
    /// Workers of the cell: one per call in flight, `streams` per connection.
    pub fn workers(&self) -> u32 {
        self.concurrency.max(1) * self.streams.max(1)
    }
}

impl std::fmt::Debug for CellSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellSpec")
            .field("protocol", &self.protocol.variant())
            .field("op", &self.op)
            .field("concurrency", &self.concurrency)
            .field("streams", &self.streams)
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
    /// Latency in ns to the answer's last byte: closed loop from send; open loop from the
    /// intended send. Timed-out calls are in it, at the timeout.
    pub latency: Histogram<u64>,
    /// Open loop only: latency from the actual send (not corrected for omission).
    pub uncorrected: Option<Histogram<u64>>,
    /// Streams: each message's arrival, in ns from the start of its call.
    pub messages: Histogram<u64>,
    /// Open loop only: the generator's own lateness — from when a request could leave (its
    /// intended time, or when its worker's previous call ended, whichever is later) to when
    /// it left. Part of the corrected latency.
    pub send_lag: Option<Histogram<u64>>,
    /// Open loop only: how long each due request waited for its worker's previous call to
    /// end (0 when the worker was free): a slow or stalled server's queueing, part of the
    /// corrected latency.
    pub connection_wait: Option<Histogram<u64>>,
    /// Client time decoding each successful call's answer into domain types, in ns.
    pub decode: Histogram<u64>,
    /// Recorded (successful, post-warm-up) operations.
    pub ops: u64,
    pub errors: BTreeMap<String, u64>,
    /// Open loop: sends due within the recorded window that never left (the worker was
    /// still behind, or had no connection, when the deadline came).
    pub missed: u64,
    /// The recorded window: from the first recorded call's start (its intended send in open
    /// loop) to the last recorded answer. (From the end of warm-up instead, a short cell of
    /// long calls on an emulated network counted the call in flight at that moment as time
    /// without an operation: up to a tenth of a 400 ms cell of 40 ms calls.)
    pub elapsed: Duration,
    /// When the first recorded call started and the last recorded answer arrived.
    pub span: Option<(Instant, Instant)>,
    /// What the socket carried during the recorded operations, summed: bytes by layer,
    /// header bytes, turns and request waves.
    pub wire: Tally,
    /// Connection set-up (handshakes until ready), summed over connections.
    pub setup: Tally,
    /// Round trips of those set-ups: per connection, the times its client waited for the
    /// server (half its turns, rounded down), summed.
    pub setup_round_trips: u64,
    pub connections: u64,
    /// Connections whose TLS session was resumed.
    pub resumed: u64,
    /// Their TLS handshakes' bytes each way (tickets after the handshake not included).
    pub tls_handshake: [u64; 2],
    /// Kernel segment counts over the recorded phase, summed over connections.
    pub segments: u64,
    /// One sample error message per kind, for the report.
    pub error_samples: BTreeMap<String, String>,
    /// What was kept to check against the server's store after the cell.
    pub samples: Samples,
}

/// Answers kept during a cell for checking against the server's own store once it is over:
/// one read in [`SAMPLE_EVERY`], and a sample of the records writes created (each write's
/// answer is also checked against its request as it arrives; see
/// [`crate::catalog::check_write`]).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub reads: Vec<Outcome>,
    /// Orders create-order returned, to read back.
    pub created: Vec<wirebench_domain::Order>,
    /// Ids import-orders reported, to read back.
    pub imported: Vec<wirebench_domain::Id>,
    /// Writes whose answer was checked against their request.
    pub writes_checked: u64,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.reads.extend(other.reads);
        self.created.extend(other.created);
        self.imported.extend(other.imported);
        self.writes_checked += other.writes_checked;
    }
}

pub use wirebench_results::vocab::{SAMPLE_EVERY, WRITE_SAMPLE_EVERY, WRITES_KEPT_FIRST};

impl CellStats {
    fn new(open: bool) -> Self {
        CellStats {
            latency: histogram(),
            uncorrected: open.then(histogram),
            messages: histogram(),
            send_lag: open.then(histogram),
            connection_wait: open.then(histogram),
            decode: histogram(),
            ops: 0,
            errors: BTreeMap::new(),
            missed: 0,
            elapsed: Duration::ZERO,
            span: None,
            wire: Tally::default(),
            setup: Tally::default(),
            setup_round_trips: 0,
            connections: 0,
            resumed: 0,
            tls_handshake: [0; 2],
            segments: 0,
            error_samples: BTreeMap::new(),
            samples: Samples::default(),
        }
    }

    fn merge(&mut self, other: CellStats) {
        self.latency.add(&other.latency).expect("same bounds");
        if let (Some(a), Some(b)) = (&mut self.uncorrected, &other.uncorrected) {
            a.add(b).expect("same bounds");
        }
        self.messages.add(&other.messages).expect("same bounds");
        for (a, b) in
            [(&mut self.send_lag, &other.send_lag), (&mut self.connection_wait, &other.connection_wait)]
        {
            if let (Some(a), Some(b)) = (a, b) {
                a.add(b).expect("same bounds");
            }
        }
        self.decode.add(&other.decode).expect("same bounds");
        self.ops += other.ops;
        self.missed += other.missed;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.error_samples {
            self.error_samples.entry(k).or_insert(v);
        }
        self.span = match (self.span, other.span) {
            (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
            (a, b) => a.or(b),
        };
        self.elapsed =
            self.span.map_or(Duration::ZERO, |(first, last)| last.saturating_duration_since(first));
        self.wire.add(&other.wire);
        self.setup.add(&other.setup);
        self.setup_round_trips += other.setup_round_trips;
        self.connections += other.connections;
        self.resumed += other.resumed;
        self.tls_handshake[0] += other.tls_handshake[0];
        self.tls_handshake[1] += other.tls_handshake[1];
        self.segments += other.segments;
        self.samples.merge(other.samples);
    }

    /// A connection was opened: its set-up (what it counted until ready) goes in the sums.
    fn opened(&mut self, counters: &wirebench_wire::WireCounters) {
        let setup = counters.snapshot();
        self.setup.add(&setup);
        self.setup_round_trips += setup.turns / 2;
        self.connections += 1;
        self.resumed += u64::from(counters.tls_resumed() == Some(true));
        let [up, down] = counters.tls_handshake().unwrap_or_default();
        self.tls_handshake[0] += up;
        self.tls_handshake[1] += down;
    }

    fn error(&mut self, e: &ClientError) {
        self.count_error(e.kind(), e.to_string());
    }

    /// Counts one error of `kind`, keeping `sample` if it is the first.
    pub fn count_error(&mut self, kind: String, sample: String) {
        self.error_samples.entry(kind.clone()).or_insert(sample);
        *self.errors.entry(kind).or_default() += 1;
    }

    /// Stats of a worker or thread that panicked: one `panic` error, with its message.
    fn panicked(open: bool, payload: &(dyn std::any::Any + Send)) -> CellStats {
        let message = payload
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a client panicked".into());
        let mut stats = CellStats::new(open);
        stats.count_error("panic".into(), message);
        stats
    }

    /// Total errors of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Runs one cell to its end and returns the merged measurements.
pub fn run_cell(spec: &CellSpec) -> CellStats {
    spec.protocol.run_cell(spec)
}

/// [`run_cell`] for one client type: threads, each a current-thread runtime running its
/// share of the workers, which first open their connections and meet at a barrier.
pub(crate) fn drive<C: Client>(client: &'static C, spec: &CellSpec) -> CellStats {
    let open = matches!(spec.mode, Mode::Open { .. });
    let threads = spec.threads.clamp(1, spec.concurrency.max(1) as usize);
    let barrier = Barrier::new(threads);
    let start = OnceLock::new();
    let mut merged = CellStats::new(open);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                // A connection's lanes share its thread (a connection lives on one runtime).
                let streams = spec.streams.max(1);
                let ids: Vec<u32> =
                    (0..spec.workers()).filter(|w| (w / streams) as usize % threads == t).collect();
                let core = (!spec.cores.is_empty()).then(|| spec.cores[t % spec.cores.len()]);
                let (barrier, start) = (&barrier, &start);
                scope.spawn(move || client_thread(client, spec, &ids, core, barrier, start))
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(stats) => merged.merge(stats),
                Err(payload) => merged.merge(CellStats::panicked(open, &*payload)),
            }
        }
    });
    merged
}

/// One client thread: open its workers' connections, wait for every thread, run the
/// schedule from the shared start.
fn client_thread<C: Client>(
    client: &'static C,
    spec: &CellSpec,
    ids: &[u32],
    core: Option<usize>,
    barrier: &Barrier,
    start: &OnceLock<Instant>,
) -> CellStats {
    let open = matches!(spec.mode, Mode::Open { .. });
    if let Some(core) = core {
        // Pinning is best effort (a core may be offline); an unpinned thread still measures.
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            barrier.wait();
            let mut stats = CellStats::new(open);
            stats.error(&ClientError::Io(e));
            return stats;
        }
    };
    // Connections first, bounded like the cell itself.
    let open_by = Instant::now() + spec.warmup + spec.duration;
    let mut workers: Vec<Worker<'_, C>> = ids.iter().map(|id| Worker::new(client, spec, *id)).collect();
    let opening =
        futures::future::join_all(workers.iter_mut().filter(|w| w.leads()).map(|w| w.open(open_by)));
    let opened = rt.block_on(std::panic::AssertUnwindSafe(opening).catch_unwind());
    worker::join_lanes(&mut workers);
    barrier.wait();
    if let Err(payload) = opened {
        return CellStats::panicked(open, &*payload);
    }
    let start = *start.get_or_init(|| Instant::now() + Duration::from_millis(1));
    let window = Window::new(start, spec.warmup, spec.duration).with_overtime(spec.overtime);
    if let Some(tx) = &spec.on_recording {
        // Only the first thread's message is read; the others find the channel full.
        let _ = tx.try_send(window.measure_from);
    }
    let clock = match rt.block_on(async { Clock::new(workers.len()) }) {
        Ok(clock) => clock,
        Err(e) => {
            let mut stats = CellStats::new(open);
            stats.error(&ClientError::Io(e));
            return stats;
        }
    };
    let runs = workers.into_iter().enumerate().map(|(slot, w)| {
        std::panic::AssertUnwindSafe(w.run(window, &clock, slot))
            .catch_unwind()
            .map(|r| r.unwrap_or_else(|payload| CellStats::panicked(open, &*payload)))
    });
    let all = async {
        // Not `join_all`: under 31 futures it polls every worker whenever any one is woken
        // (16 connections: 16 polls, and as many waker registrations, per answer).
        // `FuturesUnordered` polls only the workers whose socket or timer woke them.
        let done: Vec<CellStats> = runs.collect::<futures::stream::FuturesUnordered<_>>().collect().await;
        clock.close();
        done
    };
    // The workers first: woken by the clock, they are polled before it plans its next sleep.
    let (done, clocked) = rt.block_on(async { futures::join!(all, clock.run()) });
    let mut stats = CellStats::new(open);
    if let Err(e) = clocked {
        stats.error(&ClientError::Io(e));
    }
    for s in done {
        stats.merge(s);
    }
    stats
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}
