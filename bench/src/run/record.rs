//! A cell's record: the engine's measurements ([`CellStats`]: histograms, the wire's tally,
//! the connections' set-up) turned into the plain data of `results.json` ([`Cell`]), with
//! the flags that say why a figure needs care. The one place the engine meets the results'
//! types: `results` itself knows nothing of the engine.

use std::collections::BTreeMap;

use wirebench_engine::catalog::Operation;
use wirebench_engine::load::CellStats;
use wirebench_results::{Bytes, Cell, Checks, HeaderBytes, Latency, Layers, Resources};
use wirebench_wire::{Dir, Framing, Tally};

/// Where a cell sits in the sweep.
#[derive(Debug, Clone, Copy)]
pub struct CellPoint<'a> {
    pub protocol: &'a str,
    pub operation: Operation,
    pub payload: &'a str,
    pub network: &'a str,
    pub fresh_connections: bool,
    pub tls: &'a str,
    pub streams: u32,
    pub sized: bool,
    /// The gateway in the path (`direct`: none).
    pub via: &'a str,
    pub n: u32,
    pub repeat: u32,
    pub concurrency: u32,
    /// Open loop: the intended rate.
    pub rate: Option<f64>,
}

/// Share of the latency p50 the send lag p99 may reach before a cell is flagged.
pub const SEND_LAG_SHARE: f64 = 0.10;

/// Why a cell's figures need care: errors, missed sends, a send lag that is a visible share
/// of its latency, and `problems` found by the caller (unmeasured CPU...).
pub fn flags(stats: &CellStats, mut problems: Vec<String>) -> Vec<String> {
    let mut flags = Vec::new();
    if stats.error_count() > 0 {
        let kinds: Vec<String> = stats.errors.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        flags.push(format!("{} error(s): {}", stats.error_count(), kinds.join(", ")));
    }
    if stats.missed > 0 {
        flags.push(format!("{} send(s) due in the recorded window never left", stats.missed));
    }
    if let Some(lag) = &stats.send_lag
        && !lag.is_empty()
        && !stats.latency.is_empty()
    {
        let (p99, p50) = (lag.value_at_quantile(0.99), stats.latency.value_at_quantile(0.5));
        if p99 as f64 > SEND_LAG_SHARE * p50 as f64 {
            flags.push(format!(
                "send lag p99 {:.1} µs is over {:.0} % of the latency p50 {:.1} µs",
                p99 as f64 / 1e3,
                SEND_LAG_SHARE * 100.0,
                p50 as f64 / 1e3
            ));
        }
    }
    flags.append(&mut problems);
    flags
}

/// Builds a cell from the engine's measurements.
pub fn cell(
    at: CellPoint<'_>,
    stats: &CellStats,
    (resources, checks): (Resources, Checks),
    problems: Vec<String>,
) -> Cell {
    let per = |v: u64| v as f64 / stats.ops.max(1) as f64;
    Cell {
        protocol: at.protocol.to_owned(),
        operation: at.operation,
        payload: at.payload.to_owned(),
        network: at.network.to_owned(),
        fresh_connections: at.fresh_connections,
        tls: at.tls.to_owned(),
        streams: at.streams,
        sized: at.sized,
        via: at.via.to_owned(),
        n: at.n,
        repeat: at.repeat,
        mode: if at.rate.is_some() { "open" } else { "closed" }.to_owned(),
        concurrency: at.concurrency,
        rate: at.rate,
        ops: stats.ops,
        errors: stats.errors.clone(),
        error_samples: stats.error_samples.clone(),
        elapsed_s: stats.elapsed.as_secs_f64(),
        throughput_ops_s: if stats.elapsed.is_zero() {
            0.0
        } else {
            stats.ops as f64 / stats.elapsed.as_secs_f64()
        },
        latency: Latency::of(&stats.latency),
        latency_uncorrected: stats.uncorrected.as_ref().and_then(Latency::of),
        message_latency: Latency::of(&stats.messages),
        send_lag: stats.send_lag.as_ref().and_then(Latency::of),
        connection_wait: stats.connection_wait.as_ref().and_then(Latency::of),
        missed: stats.missed,
        client_decode: Latency::of(&stats.decode),
        flags: flags(stats, problems),
        checks,
        bytes: bytes(stats),
        round_trips_per_op: per(stats.wire.waves),
        requests_per_op: per(stats.wire.requests),
        turns_per_op: per(stats.wire.turns),
        resources,
        started_unix_s: None,
        start_lag_ns: None,
        total_load: None,
    }
}

/// The bytes of a cell: its tally per operation, each way, layer by layer, and its
/// connections' set-up.
fn bytes(stats: &CellStats) -> Bytes {
    let ops = stats.ops.max(1) as f64;
    let conns = stats.connections.max(1) as f64;
    let mut headers = BTreeMap::new();
    for (slot, [sent, received]) in stats.wire.headers.iter().enumerate() {
        if sent + received > 0 {
            let name = wirebench_wire::tally::header_name(slot).unwrap_or_else(|| format!("slot {slot}"));
            headers.insert(name, HeaderBytes { sent: *sent as f64 / ops, received: *received as f64 / ops });
        }
    }
    Bytes {
        sent_per_op: layers(&stats.wire, Dir::Sent, ops),
        received_per_op: layers(&stats.wire, Dir::Received, ops),
        setup_sent_per_connection: stats.setup.bytes[0] as f64 / conns,
        setup_received_per_connection: stats.setup.bytes[1] as f64 / conns,
        setup_tls_sent_per_connection: stats.tls_handshake[0] as f64 / conns,
        setup_tls_received_per_connection: stats.tls_handshake[1] as f64 / conns,
        setup_round_trips_per_connection: stats.setup_round_trips as f64 / conns,
        connections: stats.connections,
        connections_resumed: stats.resumed,
        tcp_ip_headers_per_op_estimate: stats.segments as f64
            * wirebench_wire::kernel::HEADER_BYTES_PER_SEGMENT as f64
            / ops,
        headers_per_op: headers,
        hpack_written_out_per_op: (stats.wire.hpack_written_out.iter().sum::<u64>() > 0).then(|| {
            let [sent, received] = stats.wire.hpack_written_out;
            HeaderBytes { sent: sent as f64 / ops, received: received as f64 / ops }
        }),
    }
}

/// One direction of a tally, per operation.
fn layers(t: &Tally, dir: Dir, ops: f64) -> Layers {
    let d = dir.index();
    let per = |v: u64| v as f64 / ops;
    Layers {
        total_bytes: per(t.bytes[d]),
        framing_bytes: per(t.framing_total(dir)),
        envelope_bytes: per(t.envelope[d]),
        data_bytes: per(t.data[d]),
        pending_bytes: per(t.pending(dir)),
        framing_by_kind: Framing::ALL
            .iter()
            .zip(t.framing[d])
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.name().to_owned(), per(n)))
            .collect(),
    }
}
