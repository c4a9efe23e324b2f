//! # wirebench-results: what a run measured, as plain data
//!
//! Owns the shape of `results.json` (with its schema), the words cells are named in
//! ([`vocab`]: operations, roles, transports, verdict kinds; [`network`]: the link
//! profiles), the statistics of a figure over rounds ([`stats`]), the figures a cell's
//! rounds give ([`repeats`]), adding cells and shards together ([`pool`], [`shard`]) and the
//! files exported beside a run ([`export`]).
//!
//! It may not touch: the load engine, the clients, sockets, TLS, the report. Everything here
//! is serde data and arithmetic on it, so the report and `compare` build and test over a
//! results file without compiling a protocol. Dependencies point one way: every other
//! harness crate may use this one; this one uses none of them.
//!
//! `results.json`: everything a run measured, versioned and described by
//! `schema/results.schema.json` (generated from these types, drift-checked by a test).
//!
//! Units are in the field names: `_ns`, `_us`, `_bytes`, `_s`. Per-operation byte figures
//! are means over the recorded operations of a cell. Latency histograms are kept whole
//! (HdrHistogram V2 + DEFLATE, base64) so runs from several machines can be merged later.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod bytes;
pub mod export;
pub mod faults;
pub mod network;
pub mod pool;
pub mod repeats;
pub mod shard;
pub mod stats;
pub mod summary;
pub mod vocab;

pub use self::bytes::{Bytes, HeaderBytes, Layers};
use crate::vocab::Operation;
use crate::vocab::VerdictKind;

/// Version of this file's shape. Bump when a field changes meaning or is removed.
pub const RESULTS_VERSION: u32 = 5;

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Results {
    pub version: u32,
    /// How the run ended.
    pub status: RunStatus,
    /// Why it ended early, when it did.
    pub message: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    /// The exact command line, to reproduce the run.
    pub command: String,
    pub environment: Environment,
    pub options: RunOptions,
    pub protocols: Vec<ProtocolInfo>,
    /// Cross-protocol equivalence, checked before anything was timed.
    pub equivalence: Vec<EquivalenceResult>,
    /// Every run of every cell (`repeat` tells them apart).
    pub cells: Vec<Cell>,
    /// Each cell over its repeats: medians with 95 % bootstrap intervals, spread, noisy
    /// figures (see `wirebench::repeats`).
    #[serde(default)]
    pub summaries: Vec<summary::CellSummary>,
    /// A sharded run (`--shard`): its shard; a merged run (`wirebench merge`): every shard
    /// it adds up. Empty for a run of one process.
    #[serde(default)]
    pub shards: Vec<shard::ShardRun>,
    /// The run's length as its plan estimated it before it started, in seconds (compare with
    /// `started_at` and `finished_at`).
    #[serde(default)]
    pub estimated_s: Option<f64>,
    /// What the run left out, each with the flags of `wirebench run` that add it.
    #[serde(default)]
    pub not_covered: Vec<NotCovered>,
}

/// A dimension a run did not cover.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NotCovered {
    pub what: String,
    /// Flags of `wirebench run` that add it.
    pub command: String,
}

impl Results {
    /// Reads a results file, refusing one of another version.
    pub fn read(path: &std::path::Path) -> anyhow::Result<Results> {
        use anyhow::Context as _;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let results: Results =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(
            results.version == RESULTS_VERSION,
            "{} is results version {}, this wirebench reads version {}",
            path.display(),
            results.version,
            RESULTS_VERSION
        );
        let impossible = results.impossible();
        anyhow::ensure!(
            impossible.is_empty(),
            "{} holds figures no measurement can give: {}",
            path.display(),
            impossible.join("; ")
        );
        Ok(results)
    }

    /// Figures no measurement can give, one line each: a cell whose typical call spent longer
    /// decoding its answer than the client process spent on CPU per call, all work included.
    ///
    /// The decode time is a clock read around each decode, so a decode the scheduler
    /// interrupted is long on the clock, not on the CPU: the median call (not the mean, which
    /// one interruption of a few milliseconds moves in a short cell) is held to the CPU time
    /// per call. Counting another call's decoding as this call's, as a per-connection clock did
    /// for calls sharing a connection, moves every call, the median with them.
    pub fn impossible(&self) -> Vec<String> {
        self.cells
            .iter()
            .filter_map(|c| {
                let decode_us = c.client_decode.as_ref()?.p50_ns as f64 / 1e3;
                let cpu_us = c.resources.client_cpu_us_per_op?;
                (decode_us > cpu_us).then(|| {
                    format!(
                        "{}: the median call decoded for {decode_us:.2} µs, above the client's whole CPU time per call ({cpu_us:.2} µs)",
                        repeats::key(c)
                    )
                })
            })
            .collect()
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Complete,
    /// Stopped by Ctrl-C; what was measured is kept.
    Interrupted,
    /// Stopped because the server died or could not start; what was measured is kept.
    Aborted,
}

/// The machine and build that produced the numbers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    pub cpu_model: String,
    pub cores: usize,
    pub kernel: String,
    pub os: String,
    pub rustc: String,
    pub git_revision: String,
    pub wirebench_version: String,
    /// Versions of the crates that shape the wire.
    pub crate_versions: BTreeMap<String, String>,
    /// Cores the server was pinned to (empty: not pinned).
    pub server_cores: Vec<usize>,
    /// Cores the client threads were pinned to (empty: not pinned).
    pub client_cores: Vec<usize>,
    /// Whether the binary was built with optimizations.
    pub release_build: bool,
    /// The allocator settings the server ran with, when the run started it
    /// (`MALLOC_ARENA_MAX=1`: one glibc heap arena; see `run::server::spawn`).
    #[serde(default)]
    pub server_allocator: Option<String>,
    /// Whether idle CPUs were kept from sleeping during the run (a 0 µs PM QoS wake-up
    /// latency request), or why not. When they slept, every request that found a CPU idle
    /// paid for waking it.
    pub idle_cpus: IdleCpus,
}

/// What idle CPUs did during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum IdleCpus {
    /// Kept awake: `/dev/cpu_dma_latency` held at 0 µs for the whole run.
    KeptAwake,
    /// Allowed to sleep, for this reason (`--allow-idle`, or the request was refused).
    AllowedToSleep(String),
}

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RunOptions {
    /// smoke, quick or full.
    pub profile: String,
    pub protocols: Vec<String>,
    pub operations: Vec<Operation>,
    pub payloads: Vec<String>,
    pub concurrency: Vec<u32>,
    /// Open-loop rate in operations per second, when an open-loop point was run.
    pub rate: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// N of the catalog (orders per page, stream, import, conversation).
    pub n: u32,
    pub seed: u64,
    /// Servers already running elsewhere, when given.
    pub target: Option<String>,
    /// Simulated latency per store call, in microseconds.
    pub store_latency_us: u64,
    /// Whether the counting layer dissected the bytes into layers (off only to measure the
    /// dissector's own cost).
    pub dissect: bool,
    /// Runs of every cell; each cell in `cells` names its repeat.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Seed of the cells' order in each repeat (`--order-seed` replays it).
    #[serde(default)]
    pub order_seed: u64,
    /// The network profiles run (inputs: each with its source).
    #[serde(default)]
    pub networks: Vec<crate::network::Network>,
    /// Whether cold cells (a new connection per call) ran beside the warm ones.
    #[serde(default)]
    pub fresh_connections: bool,
}

/// Defaults of fields older results files lack (here and in `repeats`).
pub(crate) fn one() -> u32 {
    1
}

pub(crate) fn plain() -> String {
    "plain".to_owned()
}

pub(crate) fn direct() -> String {
    "direct".to_owned()
}

pub(crate) fn loopback() -> String {
    crate::network::LOOPBACK.to_owned()
}

/// A protocol variant that took part.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProtocolInfo {
    pub name: String,
    pub describe: String,
    pub server: String,
    /// How its documents encode records: `json` or `protobuf` (empty: not recorded).
    #[serde(default)]
    pub encoding: String,
    /// A variant that compresses: its codec and the variant it otherwise equals.
    #[serde(default)]
    pub compression: Option<(String, String)>,
    /// What carries its documents (absent: not recorded, a run before the matrix).
    #[serde(default)]
    pub transport: Option<crate::vocab::Transport>,
    /// Its family as a reader names it ("REST", "gRPC", …); empty: not recorded.
    #[serde(default)]
    pub family: String,
    /// Main, variant or reference (absent: not recorded).
    #[serde(default)]
    pub role: Option<crate::vocab::Role>,
}

/// One equivalence verdict.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EquivalenceResult {
    pub protocol: String,
    pub payload: String,
    pub operation: Operation,
    pub verdict: VerdictKind,
    /// The reason (unsupported) or the difference (fails).
    pub detail: Option<String>,
    /// Store calls the server made for this one operation (when it agreed and the server's
    /// control channel could count them): where N+1 store calls show.
    pub store_calls: Option<u64>,
    /// The gateway the check went through (`direct`: none).
    #[serde(default = "direct")]
    pub via: String,
}

/// Latency summary plus the whole histogram.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Latency {
    pub count: u64,
    pub min_ns: u64,
    pub mean_ns: f64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    /// HdrHistogram V2 + DEFLATE, base64: the full distribution (3 significant figures).
    pub histogram: String,
}

impl Latency {
    /// Summarises a histogram; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let mut bytes = Vec::new();
        V2DeflateSerializer::new().serialize(h, &mut bytes).expect("histogram serializes");
        use base64::Engine as _;
        Some(Latency {
            count: h.len(),
            min_ns: h.min(),
            mean_ns: h.mean(),
            p50_ns: h.value_at_quantile(0.50),
            p90_ns: h.value_at_quantile(0.90),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            histogram: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    /// Decodes the stored histogram.
    pub fn histogram(&self) -> Option<Histogram<u64>> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.histogram).ok()?;
        hdrhistogram::serialization::Deserializer::new().deserialize(&mut &bytes[..]).ok()
    }
}

/// CPU and memory.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Resources {
    /// Server CPU time per operation: the server process's CPU clock over the recorded
    /// window (every thread, exited ones included), when the server process is known.
    pub server_cpu_us_per_op: Option<f64>,
    /// Harness CPU time per operation (the whole client process's CPU clock), decoding
    /// included.
    pub client_cpu_us_per_op: Option<f64>,
    /// A cell through a gateway: the gateway's processes' CPU time per operation (nginx's
    /// master and workers, HAProxy's one process) over the recorded window.
    #[serde(default)]
    pub gateway_cpu_us_per_op: Option<f64>,
    /// Connections the server accepted during the cell (warm-up included): the client's
    /// direct, the gateway's upstream ones through a gateway. None without a control channel.
    #[serde(default)]
    pub server_connections: Option<u64>,
    /// Peak resident set (VmHWM): since the cell's start when `peak_rss_per_cell`, else since
    /// the process started.
    pub server_peak_rss_bytes: Option<u64>,
    pub client_peak_rss_bytes: Option<u64>,
    /// Resident set at the cell's start (the server's just after its store was reset).
    #[serde(default)]
    pub server_rss_start_bytes: Option<u64>,
    #[serde(default)]
    pub client_rss_start_bytes: Option<u64>,
    /// Both peaks were restarted at the cell's start (`/proc/PID/clear_refs`).
    #[serde(default)]
    pub peak_rss_per_cell: bool,
    /// The server's store was put back to its fixtures before the cell (every write undone,
    /// every idempotency key forgotten): false against `--target` servers.
    #[serde(default)]
    pub store_reset: bool,
}

/// One measured (protocol, operation, payload, load point).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Cell {
    pub protocol: String,
    pub operation: Operation,
    pub payload: String,
    /// The network profile the client's connections went through (`loopback`: none).
    #[serde(default = "loopback")]
    pub network: String,
    /// Every call on a new connection, its set-up inside its latency and bytes.
    #[serde(default)]
    pub fresh_connections: bool,
    /// What protected the connections: `plain`, `tls` (full handshakes) or `tls-resumed`.
    #[serde(default = "plain")]
    pub tls: String,
    /// Calls in flight on each connection (HTTP/2 streams); 1: one at a time.
    #[serde(default = "one")]
    pub streams: u32,
    /// A cell of the size sweep (its `n` is the size swept, not the run's N).
    #[serde(default)]
    pub sized: bool,
    /// The gateway the calls went through (`direct`: none).
    #[serde(default = "direct")]
    pub via: String,
    /// N of the catalog for this cell.
    pub n: u32,
    /// Which run of this cell (0-based; see `options.repeat`).
    #[serde(default)]
    pub repeat: u32,
    /// closed or open.
    pub mode: String,
    pub concurrency: u32,
    /// Open loop: the intended total rate, operations per second.
    pub rate: Option<f64>,
    /// Recorded successful operations.
    pub ops: u64,
    /// Errors by kind (connect, io, timeout, decode, server:CODE).
    pub errors: BTreeMap<String, u64>,
    /// One example message per error kind.
    pub error_samples: BTreeMap<String, String>,
    pub elapsed_s: f64,
    pub throughput_ops_s: f64,
    /// To the last byte of the answer on the socket. Closed loop: from send. Open loop: from
    /// the intended send (corrected). Timed-out calls are in it, at the timeout.
    pub latency: Option<Latency>,
    /// Open loop only: from the actual send (not corrected for coordinated omission).
    pub latency_uncorrected: Option<Latency>,
    /// Streams: each message's arrival from the start of its call.
    pub message_latency: Option<Latency>,
    /// Open loop only: the generator's own lateness per send, from when the request could
    /// leave (its intended time, or the end of its worker's previous call if later) to when
    /// it left. It is inside `latency`; a cell whose send-lag p99 exceeds 10 % of its
    /// latency p50 is flagged.
    pub send_lag: Option<Latency>,
    /// Open loop only: how long due requests waited for their worker's previous call (the
    /// server's queueing; 0 when the worker was free). Inside `latency`.
    pub connection_wait: Option<Latency>,
    /// Open loop: sends due within the recorded window that never left.
    pub missed: u64,
    /// Client time per successful operation decoding the answer's bytes into domain types
    /// (JSON or protobuf parsing, conversion, gzip inflation): not part of `latency`.
    pub client_decode: Option<Latency>,
    /// Why this cell's figures need care (errors, missed sends, send lag, unmeasured CPU,
    /// answers that disagree with the server's store). A flagged cell is shown, but never
    /// feeds a claim.
    pub flags: Vec<String>,
    /// Answers checked while and after the cell ran.
    pub checks: Checks,
    pub bytes: Bytes,
    /// Request waves per operation, counted on the socket: the requests that left before any
    /// answer to them arrived form one wave (the operation's application round trips).
    pub round_trips_per_op: f64,
    /// Requests (HTTP requests, gRPC or WebSocket messages, frames) the client sent per
    /// operation.
    pub requests_per_op: f64,
    /// Direction changes on the socket per operation (a request and its answer are 2).
    pub turns_per_op: f64,
    pub resources: Resources,
    /// When the recorded window began, Unix seconds (the interval logs' start timestamps).
    #[serde(default)]
    pub started_unix_s: Option<f64>,
    /// A sharded run: how late the cell started after its slot in the shared schedule.
    #[serde(default)]
    pub start_lag_ns: Option<u64>,
    /// A sharded run: the load of all shards together, of which `concurrency` and `rate`
    /// are this shard's share (an input).
    #[serde(default)]
    pub total_load: Option<TotalLoad>,
}

/// The load a cell of a sharded run puts on the server, all shards together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TotalLoad {
    pub concurrency: u32,
    pub rate: Option<f64>,
}

/// What a timed cell's answers were checked against.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Checks {
    /// Writes whose answer was checked against their request as it arrived.
    pub writes_checked: u64,
    /// Records the writes created, read back from the server's store after the cell (a
    /// sample: every worker's first writes, then one in [`crate::vocab::WRITE_SAMPLE_EVERY`]).
    pub writes_read_back: u64,
    /// Sampled records the store had already forgotten (it keeps the newest
    /// `wirebench_domain::store::DEFAULT_MAX_CREATED` created orders): not checkable.
    #[serde(default)]
    pub writes_forgotten: u64,
    /// Sampled reads (one in a thousand) compared with the server's store after the cell.
    pub reads_compared: u64,
    /// Answers that disagreed (each is also an error of the cell).
    pub mismatches: u64,
    /// The first disagreement.
    pub mismatch: Option<String>,
    /// Why some checks could not be made, if any could not.
    pub unchecked: Option<String>,
}

/// Of the closed-loop cells that recorded an operation and that `keep` picks, the one at the
/// lowest concurrency: where per-operation figures are read.
pub fn lowest_closed(cells: &[Cell], keep: impl Fn(&Cell) -> bool) -> Option<&Cell> {
    cells.iter().filter(|c| c.mode == "closed" && c.ops > 0 && keep(c)).min_by_key(|c| c.concurrency)
}

/// The JSON Schema of results.json, as written to `schema/results.schema.json`.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Results);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serializes");
    text.push('\n');
    text
}

/// Minimal results and cells as JSON, for the unit tests of this crate and of the crates over
/// it (a test's fixture, not an API).
#[doc(hidden)]
pub mod tests_support {
    /// A results file of a run on a 2-core machine with the given cells (as JSON values):
    /// tests set the fields they are about.
    pub fn results_json(cells: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "version": super::RESULTS_VERSION, "status": "complete", "message": null, "started_at": "a",
            "finished_at": "b", "command": "wirebench run",
            "environment": {
                "cpu_model": "cpu", "cores": 2, "kernel": "k", "os": "linux", "rustc": "r",
                "git_revision": "g", "wirebench_version": "0", "crate_versions": {},
                "server_cores": [], "client_cores": [], "release_build": true,
                "idle_cpus": {"state": "kept_awake"}
            },
            "options": {
                "profile": "quick", "protocols": [], "operations": ["get-user"], "payloads": ["tiny"],
                "concurrency": [1], "rate": null, "warmup_s": 0.0, "duration_s": 0.1, "n": 10, "seed": 1,
                "target": null, "store_latency_us": 0, "dissect": true
            },
            "protocols": [], "equivalence": [], "cells": cells
        })
    }

    /// One closed-loop get-user cell of protocol `a` at concurrency 1, with nothing measured.
    pub fn cell_json() -> serde_json::Value {
        let layers = serde_json::json!({"total_bytes": 100.0, "framing_bytes": 25.0, "envelope_bytes": 25.0,
            "data_bytes": 50.0, "pending_bytes": 0.0, "framing_by_kind": {}});
        serde_json::json!({
            "protocol": "a", "operation": "get-user", "payload": "tiny", "n": 10, "mode": "closed",
            "concurrency": 1, "rate": null, "ops": 0, "errors": {}, "error_samples": {}, "elapsed_s": 0.0,
            "throughput_ops_s": 0.0, "latency": null, "latency_uncorrected": null, "message_latency": null,
            "missed": 0, "client_decode": null, "flags": [], "send_lag": null, "connection_wait": null,
            "checks": {"writes_checked": 0, "writes_read_back": 0, "reads_compared": 0, "mismatches": 0,
                "mismatch": null, "unchecked": null},
            "bytes": {
                "sent_per_op": layers, "received_per_op": layers,
                "setup_sent_per_connection": 0.0, "setup_received_per_connection": 0.0,
                "connections": 1, "tcp_ip_headers_per_op_estimate": 0.0, "headers_per_op": {}
            },
            "round_trips_per_op": 1.0, "requests_per_op": 1.0, "turns_per_op": 2.0,
            "resources": {"server_cpu_us_per_op": null, "client_cpu_us_per_op": null,
                "server_peak_rss_bytes": null, "client_peak_rss_bytes": null}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_decode(p50_ns: u64, cpu_us: f64) -> serde_json::Value {
        let mut cell = tests_support::cell_json();
        cell["ops"] = 1000.into();
        cell["client_decode"] = serde_json::json!({"count": 1000, "min_ns": 1, "mean_ns": p50_ns as f64,
            "p50_ns": p50_ns, "p90_ns": p50_ns, "p99_ns": p50_ns, "p999_ns": p50_ns, "max_ns": p50_ns,
            "histogram": ""});
        cell["resources"]["client_cpu_us_per_op"] = cpu_us.into();
        cell
    }

    /// Writes a results file of `cells` and reads it back.
    fn read_back(tag: &str, cells: serde_json::Value) -> anyhow::Result<Results> {
        let path = std::env::temp_dir().join(format!("wirebench-{tag}-{}.json", std::process::id()));
        std::fs::write(&path, tests_support::results_json(cells).to_string()).unwrap();
        let read = Results::read(&path);
        std::fs::remove_file(&path).unwrap();
        read
    }

    #[test]
    fn decoding_longer_than_the_clients_cpu_is_impossible_and_refused() {
        let cells = serde_json::json!([with_decode(2_000, 11.8), with_decode(14_900, 11.8)]);
        let err = read_back("impossible", cells).unwrap_err().to_string();
        assert!(err.contains("figures no measurement can give"), "{err}");
        assert!(err.contains("14.90 µs") && err.contains("11.80 µs"), "{err}");
        assert!(!err.contains("2.00 µs"), "only the impossible cell is named: {err}");
    }

    #[test]
    fn decoding_within_the_clients_cpu_is_read() {
        let cells = serde_json::json!([with_decode(2_000, 11.8), with_decode(11_800, 11.8)]);
        assert_eq!(read_back("possible", cells).unwrap().cells.len(), 2);
    }
}
