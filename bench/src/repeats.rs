//! A cell's figures across its repeats: what `results.json` keeps in `summaries`, and what the
//! report and `compare` quote (the median, with its 95 % bootstrap interval and spread).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::Operation;
use crate::results::Cell;
use crate::stats::{self, Estimate};

/// How to read one figure off one run of a cell.
pub type Read = fn(&Cell) -> Option<f64>;

/// The figures summarised per cell, each with how to read it off one run.
pub const FIGURES: [(&str, Read); 6] = [
    ("throughput_ops_s", |c| Some(c.throughput_ops_s)),
    ("p50_us", |c| c.latency.as_ref().map(|l| l.p50_ns as f64 / 1e3)),
    ("p99_us", |c| c.latency.as_ref().map(|l| l.p99_ns as f64 / 1e3)),
    ("bytes_per_op", |c| Some(c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes)),
    ("client_cpu_us_per_op", |c| c.resources.client_cpu_us_per_op),
    ("server_cpu_us_per_op", |c| c.resources.server_cpu_us_per_op),
];

/// True for figures where more is better (throughput); the others are costs.
pub fn higher_is_better(figure: &str) -> bool {
    figure == "throughput_ops_s"
}

/// One cell (protocol, operation, payload, load point) over its repeats.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CellSummary {
    pub protocol: String,
    pub operation: Operation,
    pub payload: String,
    #[serde(default = "crate::results::loopback")]
    pub network: String,
    #[serde(default)]
    pub fresh_connections: bool,
    #[serde(default = "crate::results::plain")]
    pub tls: String,
    #[serde(default = "crate::results::one")]
    pub streams: u32,
    /// A cell of the size sweep: N orders.
    #[serde(default)]
    pub size: Option<u32>,
    pub mode: String,
    pub concurrency: u32,
    pub rate: Option<f64>,
    /// Repeats measured.
    pub runs: usize,
    /// Each figure's median across repeats with its interval and spread.
    pub figures: BTreeMap<String, Estimate>,
    /// Figures whose repeats spread wider than 5 % of their median.
    pub noisy: Vec<String>,
}

/// The key that matches a cell across repeats and across results files.
pub fn key(c: &Cell) -> String {
    let at = Where {
        network: &c.network,
        fresh: c.fresh_connections,
        tls: &c.tls,
        streams: c.streams,
        size: c.sized.then_some(c.n),
    };
    key_parts(&c.protocol, c.operation, &c.payload, (c.concurrency, c.rate), at)
}

/// The [`key`] of the cell a summary describes.
pub fn key_of(s: &CellSummary) -> String {
    let at = Where {
        network: &s.network,
        fresh: s.fresh_connections,
        tls: &s.tls,
        streams: s.streams,
        size: s.size,
    };
    key_parts(&s.protocol, s.operation, &s.payload, (s.concurrency, s.rate), at)
}

/// Network, connection, security and streams of a cell, named in its key when not
/// loopback, warm, plain and one call per connection.
struct Where<'a> {
    network: &'a str,
    fresh: bool,
    tls: &'a str,
    streams: u32,
    size: Option<u32>,
}

fn key_parts(
    protocol: &str,
    op: Operation,
    payload: &str,
    load: (u32, Option<f64>),
    at: Where<'_>,
) -> String {
    let (concurrency, rate) = load;
    let load = rate.map_or_else(|| format!("c{concurrency}"), |r| format!("{r:.0}/s c{concurrency}"));
    let mut key = format!("{protocol} {} {payload} {load}", op.name());
    if at.network != crate::net::LOOPBACK {
        key += &format!(" on {}", at.network);
    }
    if at.fresh {
        key += " cold";
    }
    if at.tls != "plain" {
        key += &format!(" {}", at.tls);
    }
    if at.streams > 1 {
        key += &format!(" m{}", at.streams);
    }
    if let Some(n) = at.size {
        key += &format!(" n{n}");
    }
    key
}

/// The cells grouped by [`key`], in first-seen order.
pub fn groups(cells: &[Cell]) -> Vec<(String, Vec<&Cell>)> {
    let mut out: Vec<(String, Vec<&Cell>)> = Vec::new();
    for c in cells {
        let k = key(c);
        match out.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(c),
            None => out.push((k, vec![c])),
        }
    }
    out
}

/// One figure's values across a group's repeats.
pub fn values(group: &[&Cell], read: Read) -> Vec<f64> {
    group.iter().filter_map(|c| read(c)).collect()
}

/// Every cell's summary across its repeats.
pub fn summarize(cells: &[Cell]) -> Vec<CellSummary> {
    groups(cells)
        .into_iter()
        .map(|(_, group)| {
            let first = group[0];
            let figures: BTreeMap<String, Estimate> = FIGURES
                .iter()
                .filter_map(|(name, read)| {
                    Some(((*name).to_owned(), stats::estimate(&values(&group, *read))?))
                })
                .collect();
            let noisy = figures.iter().filter(|(_, e)| e.noisy()).map(|(n, _)| n.clone()).collect();
            CellSummary {
                protocol: first.protocol.clone(),
                operation: first.operation,
                payload: first.payload.clone(),
                network: first.network.clone(),
                fresh_connections: first.fresh_connections,
                tls: first.tls.clone(),
                streams: first.streams,
                size: first.sized.then_some(first.n),
                mode: first.mode.clone(),
                concurrency: first.concurrency,
                rate: first.rate,
                runs: group.len(),
                figures,
                noisy,
            }
        })
        .collect()
}

/// One cell per [`key`] for the report's tables and charts: the run whose throughput is the
/// median of its repeats (its histograms and bytes), with throughput, p50, p99 and CPU per
/// operation replaced by their medians across the repeats.
pub fn merge(cells: &[Cell]) -> Vec<Cell> {
    groups(cells)
        .into_iter()
        .map(|(_, group)| {
            let mut by_throughput = group.clone();
            by_throughput.sort_by(|a, b| a.throughput_ops_s.total_cmp(&b.throughput_ops_s));
            let mut cell = by_throughput[by_throughput.len() / 2].clone();
            if group.len() > 1 {
                let med = |read: fn(&Cell) -> Option<f64>| {
                    let v = values(&group, read);
                    (!v.is_empty()).then(|| stats::median(&v))
                };
                cell.throughput_ops_s = med(FIGURES[0].1).unwrap_or(cell.throughput_ops_s);
                if let Some(l) = cell.latency.as_mut() {
                    l.p50_ns = med(FIGURES[1].1).map_or(l.p50_ns, |us| (us * 1e3).round() as u64);
                    l.p99_ns = med(FIGURES[2].1).map_or(l.p99_ns, |us| (us * 1e3).round() as u64);
                }
                cell.resources.client_cpu_us_per_op = med(FIGURES[4].1);
                cell.resources.server_cpu_us_per_op = med(FIGURES[5].1);
                // Flagged when any of its runs was: a figure is only as good as its worst run.
                for run in &group {
                    for f in &run.flags {
                        if !cell.flags.contains(f) {
                            cell.flags.push(f.clone());
                        }
                    }
                }
            }
            cell
        })
        .collect()
}
