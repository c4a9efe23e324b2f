//! A cell over its rounds: the figures `results.json` keeps in `summaries`, which the
//! report, the summary and `compare` quote (each with its 95 % interval; see
//! [`crate::stats`] for how both are taken), and the one pooled cell per key the report's
//! tables and charts draw ([`merge`]).

use std::collections::BTreeMap;

use crate::Cell;
use crate::stats::{self, Basis, Estimate};
pub use crate::summary::CellSummary;
use crate::vocab::Operation;

/// A figure of a cell, over one round or several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Throughput,
    P50,
    P99,
    Bytes,
    ClientCpu,
    ServerCpu,
}

/// The figures summarised per cell.
pub const FIGURES: [Figure; 6] =
    [Figure::Throughput, Figure::P50, Figure::P99, Figure::Bytes, Figure::ClientCpu, Figure::ServerCpu];

impl Figure {
    /// Its name in `summaries` and the report: `p50_us`, …
    pub fn name(self) -> &'static str {
        match self {
            Figure::Throughput => "throughput_ops_s",
            Figure::P50 => "p50_us",
            Figure::P99 => "p99_us",
            Figure::Bytes => "bytes_per_op",
            Figure::ClientCpu => "client_cpu_us_per_op",
            Figure::ServerCpu => "server_cpu_us_per_op",
        }
    }

    /// True where more is better (throughput); the others are costs.
    pub fn higher_is_better(self) -> bool {
        self == Figure::Throughput
    }

    /// How it is taken from a cell's rounds.
    pub fn measure(self) -> Measure {
        match self {
            Figure::Throughput => Measure::Throughput,
            Figure::P50 => Measure::Quantile(0.5),
            Figure::P99 => Measure::Quantile(0.99),
            Figure::Bytes => Measure::PerOp(|c| {
                Some(c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes)
            }),
            Figure::ClientCpu => Measure::PerOp(|c| c.resources.client_cpu_us_per_op),
            Figure::ServerCpu => Measure::PerOp(|c| c.resources.server_cpu_us_per_op),
        }
    }
}

/// How a figure is taken over a cell's rounds.
#[derive(Debug, Clone, Copy)]
pub enum Measure {
    /// A latency percentile of every call, in µs.
    Quantile(f64),
    /// Every call over all recorded time.
    Throughput,
    /// A per-operation figure of each round, weighted by its calls.
    PerOp(fn(&Cell) -> Option<f64>),
}

/// One cell's rounds, ready to be resampled.
#[derive(Debug)]
pub struct Rounds<'a> {
    pub cells: Vec<&'a Cell>,
    /// Every round's latency histogram as (value in ns, round, calls), sorted by value.
    latency: Vec<(f64, u32, u64)>,
}

impl<'a> Rounds<'a> {
    /// The rounds of one cell (their histograms decoded once).
    pub fn new(cells: Vec<&'a Cell>) -> Rounds<'a> {
        let mut latency = Vec::new();
        for (i, c) in cells.iter().enumerate() {
            if let Some(h) = c.latency.as_ref().and_then(crate::Latency::histogram) {
                latency.extend(
                    h.iter_recorded().map(|v| (v.value_iterated_to() as f64, i as u32, v.count_at_value())),
                );
            }
        }
        latency.sort_by(|a, b| a.0.total_cmp(&b.0));
        Rounds { cells, latency }
    }

    /// A measure with each round counted `weights[i]` times.
    pub fn measure(&self, m: Measure, weights: &[f64]) -> Option<f64> {
        let rounds = self.cells.iter().zip(weights);
        match m {
            Measure::Quantile(q) => stats::weighted_quantile(&self.latency, weights, q).map(|ns| ns / 1e3),
            Measure::Throughput => {
                let ops: f64 = rounds.clone().map(|(c, w)| c.ops as f64 * w).sum();
                let time: f64 = rounds.map(|(c, w)| c.elapsed_s * w).sum();
                (time > 0.0).then(|| ops / time)
            }
            Measure::PerOp(read) => {
                let parts: Vec<(f64, f64)> =
                    rounds.filter_map(|(c, w)| read(c).map(|v| (v, c.ops.max(1) as f64 * w))).collect();
                let weight: f64 = parts.iter().map(|(_, w)| w).sum();
                (weight > 0.0).then(|| parts.iter().map(|(v, w)| v * w).sum::<f64>() / weight)
            }
        }
    }

    /// All rounds counted once.
    pub fn ones(&self) -> Vec<f64> {
        vec![1.0; self.cells.len()]
    }

    /// The figure with its 95 % interval (see [`crate::stats`]).
    pub fn estimate(&self, f: Figure) -> Option<Estimate> {
        self.estimate_of(f.measure())
    }

    /// A measure with its 95 % interval.
    pub fn estimate_of(&self, m: Measure) -> Option<Estimate> {
        let n = self.cells.len();
        let value = self.measure(m, &self.ones())?;
        let per_round: Vec<f64> = (0..n)
            .filter_map(|i| {
                let mut w = vec![0.0; n];
                w[i] = 1.0;
                self.measure(m, &w)
            })
            .collect();
        let spread = stats::spread(&per_round, value);
        if n >= 2 {
            let (low, high) = stats::bootstrap(&[n], |w| self.measure(m, &w[0]))?;
            return Some(Estimate { value, low, high, runs: n, basis: Basis::Rounds, spread });
        }
        // One round: a percentile's rank among its calls, nothing else.
        let Measure::Quantile(q) = m else { return Some(Estimate::exact(value, 1)) };
        let calls: u64 = self.latency.iter().map(|p| p.2).sum();
        let (lo, hi) = stats::quantile_ranks(calls, q);
        let at = |rank: u64| {
            let mut seen = 0;
            self.latency.iter().find(|p| {
                seen += p.2;
                seen > rank
            })
        };
        let (low, high) = (at(lo)?.0 / 1e3, at(hi)?.0 / 1e3);
        Some(Estimate {
            value,
            low: low.min(value),
            high: high.max(value),
            runs: 1,
            basis: Basis::Calls,
            spread,
        })
    }
}

/// The key that matches a cell across rounds and across results files.
pub fn key(c: &Cell) -> String {
    let at = Where {
        network: &c.network,
        fresh: c.fresh_connections,
        tls: &c.tls,
        streams: c.streams,
        size: c.sized.then_some(c.n),
        via: &c.via,
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
        via: &s.via,
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
    via: &'a str,
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
    if at.network != crate::network::LOOPBACK {
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
    if at.via != "direct" {
        key += &format!(" via {}", at.via);
    }
    key
}

/// The cells grouped by [`key`], in first-seen order.
pub fn groups(cells: &[Cell]) -> Vec<(String, Vec<&Cell>)> {
    let mut out: Vec<(String, Vec<&Cell>)> = Vec::new();
    let mut at: BTreeMap<String, usize> = BTreeMap::new();
    for c in cells {
        let k = key(c);
        match at.get(&k) {
            Some(&i) => out[i].1.push(c),
            None => {
                at.insert(k.clone(), out.len());
                out.push((k, vec![c]));
            }
        }
    }
    out
}

/// A cell's summary over its rounds.
pub fn summary(group: Vec<&Cell>) -> CellSummary {
    let first = group[0];
    let rounds = Rounds::new(group);
    let figures: BTreeMap<String, Estimate> =
        FIGURES.iter().filter_map(|f| Some((f.name().to_owned(), rounds.estimate(*f)?))).collect();
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
        via: first.via.clone(),
        mode: first.mode.clone(),
        concurrency: first.concurrency,
        rate: first.rate,
        runs: rounds.cells.len(),
        figures,
        noisy,
    }
}

/// Every cell's summary over its rounds.
pub fn summarize(cells: &[Cell]) -> Vec<CellSummary> {
    groups(cells).into_iter().map(|(_, group)| summary(group)).collect()
}

/// One cell per [`key`] for the report's tables and charts: its rounds added together (see
/// [`crate::pool::rounds`]). A cell whose histograms do not decode keeps its first
/// round, flagged.
pub fn merge(cells: &[Cell]) -> Vec<Cell> {
    groups(cells)
        .into_iter()
        .map(|(_, group)| {
            crate::pool::rounds(&group).unwrap_or_else(|e| {
                let mut first = group[0].clone();
                first.flags.push(format!("its rounds could not be added: {e:#}"));
                first
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(p50_us: &[u64], ops_per_s: f64) -> Cell {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for us in p50_us {
            h.record(us * 1000).unwrap();
        }
        let mut c: Cell = serde_json::from_value(crate::tests_support::cell_json()).unwrap();
        c.latency = crate::Latency::of(&h);
        c.ops = p50_us.len() as u64;
        c.elapsed_s = c.ops as f64 / ops_per_s;
        c.throughput_ops_s = ops_per_s;
        c
    }

    #[test]
    fn a_figure_pools_every_call_of_every_round_and_its_interval_holds_the_rounds() {
        // Two rounds at 10 µs, one at 30 µs: the pooled p50 is 10 µs; the interval reaches
        // the slow round (a resample may hold it twice).
        let cells = [round(&[10; 100], 1000.0), round(&[10; 100], 1000.0), round(&[30; 100], 500.0)];
        let rounds = Rounds::new(cells.iter().collect());
        let p50 = rounds.estimate(Figure::P50).unwrap();
        // (HdrHistogram reports a value as the top of its bucket: 10.007 µs at 3 figures.)
        assert!((p50.value - 10.0).abs() < 0.01 && p50.runs == 3 && p50.basis == Basis::Rounds, "{p50:?}");
        assert!(p50.low >= 9.9 && p50.high >= 29.9, "{p50:?}");
        assert!(p50.noisy());
        // Throughput: 300 calls over 0.1 + 0.1 + 0.2 s.
        let t = rounds.estimate(Figure::Throughput).unwrap();
        assert!((t.value - 750.0).abs() < 1e-9, "{t:?}");
    }

    #[test]
    fn one_round_gives_a_percentile_the_interval_of_its_rank_among_the_calls() {
        let calls: Vec<u64> = (1..=100).collect();
        let cells = [round(&calls, 1000.0)];
        let p50 = Rounds::new(cells.iter().collect()).estimate(Figure::P50).unwrap();
        assert_eq!(p50.basis, Basis::Calls);
        assert!(p50.low >= 39.0 && p50.low < 50.0 && p50.high > 51.0 && p50.high <= 62.0, "{p50:?}");
        let t = Rounds::new(cells.iter().collect()).estimate(Figure::Throughput).unwrap();
        assert_eq!(t.basis, Basis::None);
    }
}
