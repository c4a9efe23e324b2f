//! CPU per operation on both sides.

use plotters::style::RGBColor;

use super::{protocol_label, unmeasured};
use crate::charts::{self, BarSeries, Frame, LegendEntry, Mark, Scale, Unit};
use crate::{
    Block, Chart, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;

/// One optional figure of a cell.
type CellFigure = fn(&Cell) -> Option<f64>;

pub(crate) fn cpu_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let ops = view.ops();
        let mut block = Block {
            tags: Tags::payload(&payload),
            heading: format!("Payload {payload}"),
            intro: Some(peak_memory(view, &payload)),
            charts: view
                .chart_groups(&view.protocols(), MAX_SERIES)
                .iter()
                .map(|(family, ps)| chart(view, &payload, &ops, (family, ps)))
                .collect::<Result<_, _>>()?,
            tables: Vec::new(),
        };
        let sides: [(&str, Option<&str>, CellFigure); 3] = [
            ("server CPU per op", Some("server_cpu_us_per_op"), |c| c.resources.server_cpu_us_per_op),
            ("client (harness) CPU per op", Some("client_cpu_us_per_op"), |c| {
                c.resources.client_cpu_us_per_op
            }),
            ("client decode per op (bytes to domain types; not in latency)", None, |c| {
                c.client_decode.as_ref().map(|d| d.mean_ns / 1e3)
            }),
        ];
        for (side, figure, get) in sides {
            block.tables.push(table(view, &payload, &ops, side, figure, get));
        }
        block.tables.push(memory_table(view, &payload));
        blocks.push(block);
    }
    Ok(blocks)
}

/// Server CPU per operation with the client's stacked on top, per operation and protocol.
fn chart(
    view: &View<'_>,
    payload: &str,
    ops: &[Operation],
    (family, protocols): (&Option<String>, &[String]),
) -> Result<Chart, ReportError> {
    let grey = RGBColor(110, 110, 110);
    let series: Vec<BarSeries> = protocols
        .iter()
        .map(|p| BarSeries {
            label: p.clone(),
            color: view.color(p),
            values: ops
                .iter()
                .map(|op| {
                    let r = &view.closed(payload, *op, p, None)?.resources;
                    if r.server_cpu_us_per_op.is_none() && r.client_cpu_us_per_op.is_none() {
                        return None;
                    }
                    Some(vec![
                        r.server_cpu_us_per_op.unwrap_or(0.0) * 1e3,
                        r.client_cpu_us_per_op.unwrap_or(0.0) * 1e3,
                    ])
                })
                .collect(),
            intervals: ops
                .iter()
                .map(|op| {
                    let c = view.closed(payload, *op, p, None)?;
                    view.interval(c, "server_cpu_us_per_op").map(|(lo, hi)| (lo * 1e3, hi * 1e3))
                })
                .collect(),
        })
        .collect();
    if series.iter().all(|s| s.values.iter().all(Option::is_none)) {
        return Ok(Chart::missing("No CPU time was recorded.", true));
    }
    let frame = Frame {
        title: of_group(format!("CPU time per operation, server and client ({payload})"), family),
        x_desc: "operation".into(),
        y_desc: "CPU time per operation".into(),
        width: charts::WIDE,
        plot_height: 320,
    };
    let extra = [
        LegendEntry::key("server (solid)", Mark::Box(grey)),
        LegendEntry::key("client (pale, stacked)", Mark::Box(charts::pale(grey, 0.45))),
    ];
    let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
    let conc = view.levels(payload).first().copied().unwrap_or(0);
    // The takeaway: the server's CPU per get-user (or the first operation) from least to most.
    let first = ops.first().copied();
    let server: Vec<(String, f64)> = protocols
        .iter()
        .filter_map(|p| {
            let c = view.closed(payload, first?, p, None)?;
            Some((p.clone(), c.resources.server_cpu_us_per_op?))
        })
        .collect();
    let what = first.map(|op| format!("least server CPU per {op}")).unwrap_or_default();
    let takeaway = extremes(&server, (&what, "most"), fmt::micros);
    Ok(Chart::drawn(
        charts::grouped_bars(&frame, &groups, &series, &extra, Scale::Linear(Unit::Nanos))?,
        format!(
            "Closed loop at c={conc}: server CPU (all its threads) at the bottom, the harness process \
             stacked on top, each over the recorded window divided by the recorded operations; the median \
             across repeats, the whisker the 95 % interval of the server's part."
        ),
        true,
    )
    .saying(takeaway))
}

fn table(
    view: &View<'_>,
    payload: &str,
    ops: &[Operation],
    side: &str,
    figure: Option<&str>,
    get: CellFigure,
) -> Table {
    let us = |c: &Cell, v: Option<f64>| match (v, figure) {
        (None, _) => td_class("not measured", "na"),
        (Some(v), Some(f)) => td(view.figure(c, f, v, fmt::micros)),
        (Some(v), None) => td(fmt::micros(v)),
    };
    let mut head = vec![side.to_owned()];
    head.extend(ops.iter().map(|o| o.name().to_owned()));
    let mut t = Table::with_head(head);
    for p in view.protocols() {
        let mut row = vec![td(protocol_label(view, &p))];
        for op in ops {
            row.push(match view.closed(payload, *op, &p, None) {
                Some(c) => us(c, get(c)),
                None => td_class("–", "na"),
            });
        }
        t.rows.push(row);
    }
    t
}

fn peak_memory(view: &View<'_>, payload: &str) -> String {
    let rss = view.r.cells.iter().filter(|c| c.payload == payload).fold((None, None), |(s, cl), c| {
        (s.max(c.resources.server_peak_rss_bytes), cl.max(c.resources.client_peak_rss_bytes))
    });
    let mib = |v: Option<u64>| {
        v.map_or_else(|| "not measured".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
    };
    format!("Peak resident memory: server {}, client {}.", mib(rss.0), mib(rss.1))
}

/// Resident memory per protocol over its cells: at each cell's start (after the store's reset)
/// and at its peak (the peak is cleared at each cell's start where the kernel allows it).
fn memory_table(view: &View<'_>, payload: &str) -> Table {
    let mut t = Table::new(&[
        "resident memory",
        "cells",
        "server at start (min–max)",
        "server peak",
        "harness at start (min–max)",
        "harness peak",
    ]);
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1048576.0);
    let range = |v: &[u64]| match (v.iter().min(), v.iter().max()) {
        (Some(lo), Some(hi)) => td(format!("{}–{}", mib(*lo), mib(*hi))),
        _ => td_class("not measured", "na"),
    };
    let top = |v: &[u64]| v.iter().max().map_or_else(|| td_class("not measured", "na"), |b| td(mib(*b)));
    for p in view.protocols() {
        let cells: Vec<&Cell> =
            view.runs.iter().filter(|c| c.payload == payload && c.protocol == p).collect();
        let read = |f: fn(&Cell) -> Option<u64>| cells.iter().filter_map(|c| f(c)).collect::<Vec<u64>>();
        t.rows.push(vec![
            td(protocol_label(view, &p)),
            td(cells.len().to_string()),
            range(&read(|c| c.resources.server_rss_start_bytes)),
            top(&read(|c| c.resources.server_peak_rss_bytes)),
            range(&read(|c| c.resources.client_rss_start_bytes)),
            top(&read(|c| c.resources.client_peak_rss_bytes)),
        ]);
    }
    t
}
