//! Through a gateway: each protocol's cells through nginx or HAProxy beside the same cells
//! direct (loopback, warm, plaintext, closed loop): the latency the hop adds (p50 and p99,
//! with 95 % intervals over the rounds, both sides resampled), the bytes on the client's
//! socket that change (headers a gateway adds or removes), the gateway's CPU per operation,
//! the connections the server accepted per cell (through a gateway, its upstream ones: does
//! its keep-alive hold?), and throughput through it against direct. Gateway cells appear
//! only here. For streams, the hop's effect on each message's arrival (median from the
//! call's start).

use wirebench_results::Cell;
use wirebench_results::repeats::{self, Figure, Rounds};
use wirebench_results::vocab::Operation;

use crate::page::TCell;
use crate::{Block, Table, Tags, fmt, td, td_class};

/// The cell direct that `via` is compared with.
fn direct_of<'a>(cells: &'a [Cell], via: &Cell) -> Vec<&'a Cell> {
    cells
        .iter()
        .filter(|c| {
            c.via == "direct"
                && c.protocol == via.protocol
                && c.operation == via.operation
                && c.payload == via.payload
                && c.network == via.network
                && c.concurrency == via.concurrency
                && c.rate.is_none()
                && !c.fresh_connections
                && c.tls == "plain"
                && c.streams == 1
                && !c.sized
        })
        .collect()
}

fn total(c: &Cell) -> f64 {
    c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes
}

/// The share of calls that failed through the gateway, and the commonest way they failed
/// (a rate-limited gateway's 429, as each protocol surfaces it).
fn refused(cells: &[&Cell]) -> String {
    let ops: u64 = cells.iter().map(|c| c.ops).sum();
    let mut kinds: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for c in cells {
        for (k, n) in &c.errors {
            *kinds.entry(k.as_str()).or_default() += n;
        }
    }
    let failed: u64 = kinds.values().sum();
    match kinds.iter().max_by_key(|(_, n)| **n) {
        None => "none".into(),
        Some((kind, _)) => format!("{:.1} % ({kind})", failed as f64 / (failed + ops).max(1) as f64 * 100.0),
    }
}

/// A stream's median message arrival from the start of its call, in µs.
fn message_p50(c: &Cell) -> Option<f64> {
    c.message_latency.as_ref().map(|l| l.p50_ns as f64 / 1000.0)
}

/// Connections the server accepted during a cell, as a number.
fn connections(c: &Cell) -> Option<f64> {
    c.resources.server_connections.map(|n| n as f64)
}

fn mean(cells: &[&Cell], f: impl Fn(&Cell) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = cells.iter().filter_map(|c| f(c)).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// "+12.3 µs [+10.1 to +14.0]": what `figure` gained from `direct`'s rounds to `via`'s.
fn added(direct: &[&Cell], via: &[&Cell], figure: Figure) -> (String, Option<f64>) {
    let Some((a, b, _, interval)) =
        crate::compare::change(&Rounds::new(direct.to_vec()), &Rounds::new(via.to_vec()), figure.measure())
    else {
        return ("–".into(), None);
    };
    // The figures are in µs; the interval is of the change in percent of A.
    let text = match interval {
        Some((lo, hi)) => {
            format!("{} [{} to {}]", signed(b - a), signed(a * lo / 100.0), signed(a * hi / 100.0))
        }
        None => signed(b - a),
    };
    (text, Some(b - a))
}

/// The columns of the section's tables.
const HEAD: [&str; 12] = [
    "protocol",
    "gateway",
    "connections",
    "p50 direct",
    "p50 added",
    "p99 added",
    "bytes/op direct → through",
    "gateway CPU/op",
    "server connections direct → through",
    "refused (how)",
    "stream message p50 added",
    "throughput through ÷ direct",
];

/// "a → b" of a figure over two sets of rounds, shown by `show`.
fn pair(
    direct: &[&Cell],
    via: &[&Cell],
    f: fn(&Cell) -> Option<f64>,
    show: impl Fn(f64, f64) -> String,
) -> TCell {
    match (mean(direct, f), mean(via, f)) {
        (Some(a), Some(b)) => td(show(a, b)),
        _ => td_class("–", "na"),
    }
}

/// A signed duration in µs.
fn signed(d: f64) -> String {
    if d >= 0.0 { format!("+{}", fmt::micros(d)) } else { format!("−{}", fmt::micros(-d)) }
}

/// One row: `g`'s rounds through a gateway against the same cell direct; and what the hop
/// added to the median, unless the gateway limits the rate (its latency is then its
/// refusals').
fn row(runs: &[Cell], g: &[&Cell]) -> (Vec<TCell>, Option<f64>) {
    let v = g[0];
    let direct: Vec<&Cell> = direct_of(runs, v);
    let (p50_text, p50_added) = added(&direct, g, Figure::P50);
    let (p99_text, _) = added(&direct, g, Figure::P99);
    let p50 = |c: &Cell| c.latency.as_ref().map(|l| l.p50_ns as f64 / 1000.0);
    let cells = vec![
        td(v.protocol.clone()),
        td(v.via.clone()),
        td(v.concurrency.to_string()),
        mean(&direct, p50).map_or_else(|| td_class("–", "na"), |x| td(fmt::micros(x))),
        td(p50_text),
        td(p99_text),
        pair(&direct, g, |c| Some(total(c)), |a, b| format!("{} → {}", fmt::bytes(a), fmt::bytes(b))),
        mean(g, |c| c.resources.gateway_cpu_us_per_op)
            .map_or_else(|| td_class("–", "na"), |x| td(fmt::micros(x))),
        pair(&direct, g, connections, |a, b| format!("{a:.0} → {b:.0}")),
        td(refused(g)),
        pair(&direct, g, message_p50, |a, b| signed(b - a)),
        pair(
            &direct,
            g,
            |c| Some(c.throughput_ops_s),
            |a, b| if a > 0.0 { format!("{:.2}×", b / a) } else { "–".into() },
        ),
    ];
    (cells, p50_added.filter(|_| !v.via.contains('@')))
}

/// The section's blocks: one per operation and payload that ran through a gateway.
pub(crate) fn gateway_blocks(runs: &[Cell]) -> Vec<Block> {
    let groups = repeats::groups(runs);
    let mut via_groups: Vec<&(String, Vec<&Cell>)> =
        groups.iter().filter(|(_, g)| g[0].via != "direct").collect();
    via_groups.sort_by_key(|(_, g)| (g[0].protocol.clone(), g[0].via.clone(), g[0].concurrency));
    let mut keys: Vec<(String, Operation)> =
        via_groups.iter().map(|(_, g)| (g[0].payload.clone(), g[0].operation)).collect();
    keys.sort_by_key(|(p, op)| (p.clone(), op.name()));
    keys.dedup();
    let mut blocks = Vec::new();
    for (payload, op) in keys {
        let mut t = Table::with_head(HEAD.iter().map(|s| (*s).to_owned()).collect());
        let mut most: Option<(f64, String)> = None;
        for (_, g) in via_groups.iter().filter(|(_, g)| g[0].payload == payload && g[0].operation == op) {
            let (cells, hop) = row(runs, g);
            let v = g[0];
            if let Some(a) = hop
                && most.as_ref().is_none_or(|(m, _)| a > *m)
            {
                most = Some((a, format!("{} via {} at {} connections", v.protocol, v.via, v.concurrency)));
            }
            t.rows.push(cells);
        }
        let intro =
            most.map(|(a, who)| format!("The hop adds the most to {who}: {} at the median.", fmt::micros(a)));
        let (tags, heading) = (Tags::op(op, &payload), format!("{op} ({payload})"));
        blocks.push(Block { tags, heading, intro, charts: Vec::new(), tables: vec![t] });
    }
    blocks
}
