//! Multiplexing: throughput and p99 against the calls in flight, where HTTP/1.1 needs one
//! connection per call in flight and HTTP/2 carries them as streams of one connection. The
//! `--streams` cells (one connection, M streams) appear only here; beside them, every
//! protocol's closed-loop cells at concurrency M (M connections, one call each).

use super::protocol_label;
use crate::charts::{self, Axis, Frame, Line, Stroke, Unit};
use crate::p99;
use crate::{
    Block, Chart, Finding, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;

/// Every cell of the run (merged over repeats).
#[derive(Debug)]
pub(crate) struct Multiplexed<'a> {
    pub cells: &'a [Cell],
    /// The network whose cells are read (see [`Multiplexed::on`]).
    pub network: &'a str,
}

/// How a protocol's calls in flight are carried.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Carry {
    /// M connections, one call each.
    Connections,
    /// One connection, M streams.
    Streams,
}

impl<'a> Multiplexed<'a> {
    /// Loopback first, then every emulated network with a `--streams` cell (a lossy one).
    fn networks(&self) -> Vec<&'a str> {
        let mut out = vec![wirebench_results::network::LOOPBACK];
        for c in self.cells.iter().filter(|c| c.streams > 1) {
            if !out.contains(&c.network.as_str()) {
                out.push(&c.network);
            }
        }
        out
    }

    /// The same cells, read on `network`.
    fn on(&self, network: &'a str) -> Multiplexed<'a> {
        Multiplexed { cells: self.cells, network }
    }

    /// A `--streams` cell of this network.
    fn multiplexed(&self, c: &Cell) -> bool {
        c.streams > 1 && c.network == self.network
    }

    /// The calls in flight with a `--streams` cell, with 1 first.
    fn levels(&self) -> Vec<u32> {
        let mut out: Vec<u32> = vec![1];
        out.extend(self.cells.iter().filter(|c| self.multiplexed(c)).map(|c| c.streams));
        out.sort_unstable();
        out.dedup();
        out
    }

    fn ops(&self) -> Vec<Operation> {
        Operation::ALL
            .into_iter()
            .filter(|op| self.cells.iter().any(|c| c.operation == *op && self.multiplexed(c)))
            .collect()
    }

    /// The warm plaintext loopback closed-loop cell with `in_flight` calls carried `how`.
    fn cell(
        &self,
        (payload, op, protocol): (&str, Operation, &str),
        in_flight: u32,
        how: Carry,
    ) -> Option<&Cell> {
        let (concurrency, streams) = match how {
            Carry::Connections => (in_flight, 1),
            Carry::Streams if in_flight == 1 => (1, 1),
            Carry::Streams => (1, in_flight),
        };
        self.cells.iter().find(|c| {
            self.warm(c, (payload, op), "closed")
                && c.protocol == protocol
                && c.concurrency == concurrency
                && c.streams == streams
        })
    }

    /// A warm plaintext cell of this network, of `mode`, at the run's N, that recorded calls.
    fn warm(&self, c: &Cell, (payload, op): (&str, Operation), mode: &str) -> bool {
        c.payload == payload
            && c.operation == op
            && c.mode == mode
            && c.network == self.network
            && !c.fresh_connections
            && c.tls == "plain"
            && !c.sized
            && c.ops > 0
    }

    /// The series the section draws: every protocol over connections, and the multiplexing
    /// ones over streams too.
    fn series(&self, view: &View<'_>) -> Vec<(String, Carry)> {
        let mut out = Vec::new();
        for p in view.protocols() {
            out.push((p.clone(), Carry::Connections));
            if self.cells.iter().any(|c| c.protocol == p && self.multiplexed(c)) {
                out.push((p, Carry::Streams));
            }
        }
        out
    }
}

fn label(view: &View<'_>, p: &str, how: Carry) -> String {
    match how {
        Carry::Connections => format!("{}, M connections", protocol_label(view, p)),
        Carry::Streams => format!("{}, 1 connection × M streams", protocol_label(view, p)),
    }
}

pub(crate) fn stream_blocks(view: &View<'_>, m: &Multiplexed<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        for network in m.networks() {
            let m = &m.on(network);
            for op in m.ops() {
                let at = (payload.as_str(), op);
                let heading = if network == wirebench_results::network::LOOPBACK {
                    format!("{op} ({payload})")
                } else {
                    format!("{op} ({payload}) on {network}")
                };
                blocks.push(Block {
                    tags: Tags::op(op, &payload).on(network),
                    heading,
                    intro: None,
                    // Two lines a protocol (over connections, over streams).
                    charts: view
                        .chart_groups(&view.protocols(), MAX_SERIES / 2)
                        .iter()
                        .flat_map(|g| [chart(view, m, at, false, g), chart(view, m, at, true, g)])
                        .collect::<Result<_, _>>()?,
                    tables: [Some(table(view, m, at)), open_table(view, m, at)]
                        .into_iter()
                        .flatten()
                        .collect(),
                });
            }
        }
    }
    Ok(blocks)
}

fn chart(
    view: &View<'_>,
    m: &Multiplexed<'_>,
    (payload, op): (&str, Operation),
    tail: bool,
    (family, protocols): &(Option<String>, Vec<String>),
) -> Result<Chart, ReportError> {
    let levels = m.levels();
    let x = Axis::Categories(levels.iter().map(|l| format!("{l} in flight")).collect());
    let read = |c: &Cell| if tail { p99(c) } else { Some(c.throughput_ops_s) };
    let lines: Vec<Line> = m
        .series(view)
        .into_iter()
        .filter(|(p, _)| protocols.contains(p))
        .map(|(p, how)| Line {
            label: label(view, &p, how),
            color: view.color(&p),
            stroke: if how == Carry::Streams { Stroke::Solid } else { Stroke::Dashed },
            points: levels
                .iter()
                .enumerate()
                .filter_map(|(i, l)| Some((i as f64, read(m.cell((payload, op, &p), *l, how)?)?)))
                .collect(),
            markers: true,
            in_legend: true,
            intervals: Vec::new(),
        })
        .filter(|l| l.points.len() > 1)
        .collect();
    if lines.is_empty() {
        return Ok(Chart::missing(format!("{op}: no level with calls in flight beside 1."), false));
    }
    let values = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (y, y_desc, what) = if tail {
        (Axis::log_covering(values, Unit::Nanos), "latency p99", "p99 latency")
    } else {
        (Axis::linear_from_zero(values, Unit::Number), "operations per second", "throughput")
    };
    let frame = Frame {
        title: of_group(format!("{op}: {what} vs calls in flight ({payload}, {})", m.network), family),
        x_desc: "calls in flight".into(),
        y_desc: y_desc.into(),
        width: charts::NARROW,
        plot_height: 280,
    };
    let svg = charts::lines(&frame, &x, &y, &lines, &[])?;
    let most: Vec<(String, f64)> =
        lines.iter().filter_map(|l| Some((l.label.clone(), l.points.last()?.1))).collect();
    let top = levels.last().copied().unwrap_or(1);
    let (low, high, show): (String, &str, fn(f64) -> String) = if tail {
        (format!("lowest p99 at {top} in flight"), "highest", fmt::nanos)
    } else {
        (format!("lowest throughput at {top} in flight"), "highest", fmt::rate)
    };
    Ok(Chart::drawn(
        svg,
        format!(
            "Closed loop on {}, over every round. Dashed: M connections, one call in flight on each \
             (concurrency M). Solid: one connection carrying M calls at once (--streams M): HTTP/2 streams, \
             or WebSocket requests matched by correlation id.",
            m.network
        ),
        false,
    )
    .saying(extremes(&most, (&low, high), show))
    .of(op))
}

fn table(view: &View<'_>, m: &Multiplexed<'_>, (payload, op): (&str, Operation)) -> Table {
    let levels = m.levels();
    let mut head = vec!["protocol".to_owned()];
    head.extend(levels.iter().map(|l| format!("{l} in flight: ops/s · p99")));
    let mut t = Table::with_head(head);
    for (p, how) in m.series(view) {
        let mut row = vec![td(label(view, &p, how))];
        let mut any = false;
        for l in &levels {
            row.push(match m.cell((payload, op, &p), *l, how) {
                Some(c) => {
                    any = true;
                    td(format!(
                        "{} · {}",
                        fmt::rate(c.throughput_ops_s),
                        p99(c).map_or("–".into(), fmt::nanos)
                    ))
                }
                None => td_class("–", "na"),
            });
        }
        if any {
            t.rows.push(row);
        }
    }
    t
}

/// The open loop at the same rate, over M connections and over one connection's M streams
/// (each stream sends on its schedule without waiting for the others' answers); `None`
/// when no open-loop `--streams` cell ran.
fn open_table(view: &View<'_>, m: &Multiplexed<'_>, (payload, op): (&str, Operation)) -> Option<Table> {
    let open = |c: &&Cell| m.warm(c, (payload, op), "open");
    let multiplexed: Vec<&Cell> = m.cells.iter().filter(open).filter(|c| c.streams > 1).collect();
    if multiplexed.is_empty() {
        return None;
    }
    let mut t = Table::with_head(
        ["protocol", "carried as", "rate asked", "ops/s", "p50", "p99", "missed sends"]
            .map(String::from)
            .to_vec(),
    );
    for p in view.protocols() {
        let mut rows: Vec<&Cell> = m.cells.iter().filter(open).filter(|c| c.protocol == p).collect();
        rows.retain(|c| {
            multiplexed.iter().any(|s| s.rate == c.rate && c.concurrency * c.streams == s.streams)
        });
        for c in rows {
            let how = if c.streams > 1 { Carry::Streams } else { Carry::Connections };
            let nanos = |v: Option<f64>| v.map_or("–".into(), fmt::nanos);
            t.rows.push(vec![
                td(protocol_label(view, &p)),
                td(match how {
                    Carry::Streams => format!("1 connection × {} streams", c.streams),
                    Carry::Connections => format!("{} connections", c.concurrency),
                }),
                td(c.rate.map_or("–".into(), fmt::rate)),
                td(fmt::rate(c.throughput_ops_s)),
                td(nanos(crate::p50(c))),
                td(nanos(p99(c))),
                td(c.missed.to_string()),
            ]);
        }
    }
    Some(t)
}

/// "At 16 calls in flight, get-user: rest-h2 on 1 connection × 16 streams 61,000/s, p99 …;
/// on 16 connections …" from the data, at the highest level run.
pub(crate) fn findings(view: &View<'_>, m: &Multiplexed<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(payload) = view.payloads().into_iter().next() else { return out };
    for network in m.networks() {
        out.extend(findings_on(view, &m.on(network), &payload));
    }
    out
}

fn findings_on(view: &View<'_>, m: &Multiplexed<'_>, payload: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(&top) = m.levels().last().filter(|l| **l > 1) else { return out };
    for op in m.ops() {
        let mut best: Option<(f64, String)> = None;
        let parts: Vec<String> = m
            .series(view)
            .into_iter()
            .filter_map(|(p, how)| {
                let c = m.cell((payload, op, &p), top, how)?;
                if how == Carry::Streams && best.as_ref().is_none_or(|(t, _)| c.throughput_ops_s > *t) {
                    best = Some((c.throughput_ops_s, p.clone()));
                }
                let on = match how {
                    Carry::Connections => format!("{top} connections"),
                    Carry::Streams => format!("1 connection × {top} streams"),
                };
                Some(format!(
                    "{p} on {on} {}, p99 {}",
                    fmt::rate(c.throughput_ops_s),
                    p99(c).map_or("–".into(), fmt::nanos)
                ))
            })
            .collect();
        if parts.len() > 1 {
            let title = match &best {
                Some((t, p)) => format!(
                    "Multiplexing {top} {op} calls on one connection, {p} serves the most: {} on {}.",
                    fmt::rate(*t),
                    m.network
                ),
                None => format!("Multiplexing {op} ({payload}) on {}.", m.network),
            };
            out.push(Finding {
                title,
                text: format!("At {top} calls in flight on {}: {}.", m.network, parts.join("; ")),
            });
        }
    }
    out
}
