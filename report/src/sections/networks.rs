//! Latency across networks: each operation run on emulated links, p50 and p99 per protocol
//! on each profile; the round trips the time shows; and, with cold cells, what opening a
//! connection costs. Cells on a network other than loopback, and cold cells, appear only
//! here (every other section reads warm loopback cells).

use super::protocol_label;
use crate::charts::{self, BarSeries, Frame, Scale, Unit};
use crate::{
    Block, Chart, Finding, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use crate::{p50, p99};
use wirebench_results::Cell;
use wirebench_results::network::Network;
use wirebench_results::vocab::Operation;

/// Every cell of the run (merged over repeats), on every network, warm and cold.
#[derive(Debug)]
pub(crate) struct Across<'a> {
    pub cells: &'a [Cell],
}

impl Across<'_> {
    /// The networks of the run in its order (profiles recorded in the options; a cell's
    /// network without one is listed by name with no round trip known).
    fn networks(&self, view: &View<'_>) -> Vec<Network> {
        let mut out: Vec<Network> = view.r.options.networks.clone();
        for c in self.cells {
            if !out.iter().any(|n| n.name == c.network) {
                out.push(Network {
                    name: c.network.clone(),
                    source: "not recorded".into(),
                    up: wirebench_results::network::Way::default(),
                    down: wirebench_results::network::Way::default(),
                    loss: 0.0,
                });
            }
        }
        out
    }

    /// The closed-loop cell at the lowest concurrency of (payload, op, protocol, network).
    fn cell(&self, payload: &str, op: Operation, protocol: &str, network: &str, cold: bool) -> Option<&Cell> {
        wirebench_results::lowest_closed(self.cells, |c| {
            c.payload == payload
                && c.operation == op
                && c.protocol == protocol
                && c.network == network
                && c.fresh_connections == cold
                && c.tls == "plain"
                && c.streams == 1
                && !c.sized
        })
    }

    /// Operations with a cell on an emulated network.
    fn ops(&self) -> Vec<Operation> {
        Operation::ALL
            .into_iter()
            .filter(|op| {
                self.cells.iter().any(|c| {
                    c.operation == *op && c.network != wirebench_results::network::LOOPBACK && !c.sized
                })
            })
            .collect()
    }

    fn has_cold(&self) -> bool {
        self.cells.iter().any(|c| c.fresh_connections && c.tls == "plain")
    }
}

pub(crate) fn network_blocks(view: &View<'_>, across: &Across<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    let networks = across.networks(view);
    for payload in view.payloads() {
        for op in across.ops() {
            let mut block = Block {
                tags: Tags::op(op, &payload),
                heading: format!("{op} ({payload})"),
                intro: None,
                charts: view
                    .chart_groups(&view.protocols(), MAX_SERIES)
                    .iter()
                    .map(|g| chart(view, across, &networks, (&payload, op), g))
                    .collect::<Result<_, _>>()?,
                tables: vec![table(view, across, &networks, (&payload, op), false)],
            };
            if across.has_cold() {
                block.tables.push(table(view, across, &networks, (&payload, op), true));
            }
            blocks.push(block);
        }
    }
    if blocks.is_empty() && across.has_cold() {
        for payload in view.payloads() {
            for op in view.ops() {
                blocks.push(Block {
                    tags: Tags::op(op, &payload),
                    heading: format!("{op} ({payload}), connection set-up"),
                    intro: None,
                    charts: Vec::new(),
                    tables: vec![table(view, across, &networks, (&payload, op), true)],
                });
            }
        }
    }
    Ok(blocks)
}

fn chart(
    view: &View<'_>,
    across: &Across<'_>,
    networks: &[Network],
    (payload, op): (&str, Operation),
    (family, protocols): &(Option<String>, Vec<String>),
) -> Result<Chart, ReportError> {
    let far: Vec<&Network> = networks.iter().filter(|n| !n.is_loopback()).collect();
    let groups: Vec<String> = far
        .iter()
        .map(|n| format!("{} ({} ms RTT)", n.name, fmt::sig3(n.rtt().as_secs_f64() * 1e3)))
        .collect();
    let series: Vec<BarSeries> = protocols
        .iter()
        .map(|p| {
            let cells: Vec<Option<&Cell>> =
                far.iter().map(|n| across.cell(payload, op, p, &n.name, false)).collect();
            BarSeries {
                label: p.clone(),
                color: view.color(p),
                values: cells
                    .iter()
                    .map(|c| {
                        let c = (*c)?;
                        let (a, b) = (p50(c)?, p99(c)?);
                        Some(vec![a, (b - a).max(0.0)])
                    })
                    .collect(),
                intervals: Vec::new(),
            }
        })
        .collect();
    let frame = Frame {
        title: of_group(format!("Latency across networks: {op} ({payload})"), family),
        x_desc: "network profile".into(),
        y_desc: "latency (p50, paler up to p99)".into(),
        width: charts::WIDE,
        plot_height: 300,
    };
    let svg = charts::grouped_bars(&frame, &groups, &series, &[], Scale::Linear(Unit::Nanos))?;
    let first: Vec<(String, f64)> = series
        .iter()
        .filter(|s| !view.is_floor(&s.label))
        .filter_map(|s| Some((s.label.clone(), s.values.first()?.as_ref()?.first().copied()?)))
        .collect();
    let what = far.first().map(|n| format!("lowest p50 on {}", n.name)).unwrap_or_default();
    let takeaway = extremes(&first, (&what, "highest"), fmt::nanos);
    Ok(Chart::drawn(
        svg,
        "Closed loop, one connection kept open (warm), each call after the last answer. The solid bar is the \
         median latency over every call of the cell, the pale part on top reaches p99. Loopback figures are in \
         the table.",
        true,
    )
    .saying(takeaway)
    .of(op))
}

/// Per protocol and network: p50 [interval] · p99 · request waves, and the round trips the
/// time shows ((p50 − loopback p50) ÷ the profile's round trip). `cold`: what a new
/// connection adds (cold − warm p50, in round trips, and bytes).
fn table(
    view: &View<'_>,
    across: &Across<'_>,
    networks: &[Network],
    (payload, op): (&str, Operation),
    cold: bool,
) -> Table {
    let mut head =
        vec![if cold { "connection set-up (cold − warm)".to_owned() } else { "protocol".to_owned() }];
    head.extend(networks.iter().map(|n| format!("{}: {}", n.name, n.describe())));
    let mut t = Table::with_head(head);
    for p in view.protocols() {
        let mut row = vec![td(protocol_label(view, &p))];
        for n in networks {
            let warm = across.cell(payload, op, &p, &n.name, false);
            let text = if cold {
                let fresh = across.cell(payload, op, &p, &n.name, true);
                setup(n, warm, fresh)
            } else {
                let home = across.cell(payload, op, &p, wirebench_results::network::LOOPBACK, false);
                warm.and_then(|c| latency(view, n, c, home))
            };
            row.push(text.map_or_else(|| td_class("–", "na"), td));
        }
        t.rows.push(row);
    }
    t
}

fn latency(view: &View<'_>, n: &Network, c: &Cell, home: Option<&Cell>) -> Option<String> {
    let (a, b) = (p50(c)?, p99(c)?);
    let mut s = format!(
        "p50 {} · p99 {} · {} RT",
        view.figure(c, "p50_us", a / 1e3, fmt::micros),
        fmt::nanos(b),
        fmt::count(c.round_trips_per_op)
    );
    let rtt = n.rtt().as_secs_f64() * 1e9;
    if rtt > 0.0
        && let Some(h) = home.and_then(p50)
    {
        s += &format!(" · {:.2} RT by time", (a - h) / rtt);
    }
    Some(s)
}

fn setup(n: &Network, warm: Option<&Cell>, cold: Option<&Cell>) -> Option<String> {
    let (w, c) = (warm?, cold?);
    let extra = p50(c)? - p50(w)?;
    let bytes = (c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes)
        - (w.bytes.sent_per_op.total_bytes + w.bytes.received_per_op.total_bytes);
    let rtt = n.rtt().as_secs_f64() * 1e9;
    let mut s = format!("+{}", fmt::nanos(extra));
    if rtt > 0.0 {
        s += &format!(" ({:.2} RT)", extra / rtt);
    }
    s += &format!(" · +{} · {} RT waves cold", fmt::bytes(bytes), fmt::count(c.round_trips_per_op));
    Some(s)
}

/// "on wan (40 ms round trip), user-orders: rest (2 round trips) 80.5 ms, graphql (1) 40.4
/// ms, …": per emulated network and operation, every protocol's p50 from fastest.
/// Per emulated network, one finding: the operation where the protocols lie furthest apart
/// (the slowest over the fastest), with every operation's figures folded behind it.
pub(crate) fn findings(view: &View<'_>, across: &Across<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(payload) = view.payloads().into_iter().next() else { return out };
    for n in across.networks(view).iter().filter(|n| !n.is_loopback()) {
        let mut widest: Option<(f64, String)> = None;
        let mut lines = Vec::new();
        for op in across.ops() {
            let mut rows: Vec<(f64, String, f64)> = view
                .protocols()
                .iter()
                .filter(|p| !view.is_floor(p))
                .filter_map(|p| {
                    let c = across.cell(&payload, op, p, &n.name, false)?;
                    Some((p50(c)?, p.clone(), c.round_trips_per_op))
                })
                .collect();
            if rows.len() < 2 {
                continue;
            }
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (fast, slow) = (&rows[0], &rows[rows.len() - 1]);
            let spread = slow.0 / fast.0;
            let sentence = format!(
                "On {}, {op} over {} takes {} ({} round trips), {} {}'s {}.",
                n.name,
                slow.1,
                fmt::nanos(slow.0),
                fmt::count(slow.2),
                fmt::ratio(spread),
                fast.1,
                fmt::nanos(fast.0)
            );
            if widest.as_ref().is_none_or(|(w, _)| spread > *w) {
                widest = Some((spread, sentence));
            }
            let list: Vec<String> = rows
                .iter()
                .map(|(v, p, rt)| format!("{p} {} ({} RT)", fmt::nanos(*v), fmt::count(*rt)))
                .collect();
            lines.push(format!("{op}: {}", list.join(", ")));
        }
        if let Some((_, title)) = widest {
            out.push(Finding {
                title,
                text: format!(
                    "p50 per operation on {} ({} ms round trip, payload {payload}), fastest first — {}.",
                    n.name,
                    fmt::sig3(n.rtt().as_secs_f64() * 1e3),
                    lines.join("; ")
                ),
            });
        }
    }
    out
}
