//! Throughput against concurrency.

use super::{protocol_label, unmeasured};
use crate::catalog::Operation;
use crate::report::charts::{self, Axis, BarSeries, Frame, Line, Scale, Stroke, Unit};
use crate::report::{Block, Chart, ReportError, Table, View, fmt, td, td_class};

pub(in crate::report) fn throughput_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        blocks.push(match unmeasured(view, &payload) {
            Some(b) => b,
            None => payload_block(view, &payload)?,
        });
    }
    Ok(blocks)
}

fn payload_block(view: &View<'_>, payload: &str) -> Result<Block, ReportError> {
    let levels = view.levels(payload);
    let ops = view.ops();
    let mut block =
        Block { heading: format!("Payload {payload}"), intro: None, charts: Vec::new(), tables: Vec::new() };
    if levels.is_empty() {
        block.charts.push(Chart::missing("No closed-loop cell was measured.", true));
        return Ok(block);
    }
    if levels.len() == 1 {
        block.intro = Some(format!(
            "Only one closed-loop concurrency level was run (c={}), so there is no curve: throughput per \
             operation at that level. Run wirebench run --profile quick (c = 1, 16) or --profile full \
             (c = 1, 4, 16, 64) for a sweep.",
            levels[0]
        ));
        block.charts.push(single_level_chart(view, payload, &ops, levels[0])?);
    } else {
        for op in &ops {
            block.charts.push(curve_chart(view, payload, *op, &levels)?);
        }
    }
    block.tables.push(table(view, payload, &ops, &levels));
    Ok(block)
}

/// Throughput per operation at the one level run.
fn single_level_chart(
    view: &View<'_>,
    payload: &str,
    ops: &[Operation],
    level: u32,
) -> Result<Chart, ReportError> {
    let series: Vec<BarSeries> = view
        .protocols()
        .iter()
        .map(|p| BarSeries {
            label: p.clone(),
            color: view.color(p),
            values: ops
                .iter()
                .map(|op| view.closed(payload, *op, p, Some(level)).map(|c| vec![c.throughput_ops_s]))
                .collect(),
            intervals: ops
                .iter()
                .map(|op| {
                    view.closed(payload, *op, p, Some(level))
                        .and_then(|c| view.interval(c, "throughput_ops_s"))
                })
                .collect(),
        })
        .collect();
    let frame = Frame {
        title: format!("Closed-loop throughput at c={level} ({payload})"),
        x_desc: "operation".into(),
        y_desc: "operations per second".into(),
        width: charts::WIDE,
        plot_height: 300,
    };
    let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
    let svg = charts::grouped_bars(&frame, &groups, &series, &[], Scale::Linear(Unit::Number))?;
    Ok(Chart::drawn(
        svg,
        "Recorded operations divided by the recorded time, all workers together: the median across \
         repeats, whiskers its 95 % interval.",
        true,
    ))
}

/// Throughput against concurrency for one operation, a line per protocol.
fn curve_chart(view: &View<'_>, payload: &str, op: Operation, levels: &[u32]) -> Result<Chart, ReportError> {
    let x = Axis::Categories(levels.iter().map(|l| format!("c={l}")).collect());
    let lines: Vec<Line> = view
        .protocols()
        .iter()
        .map(|p| Line {
            label: protocol_label(view, p),
            color: view.color(p),
            stroke: if view.is_floor(p) { Stroke::Dashed } else { Stroke::Solid },
            points: levels
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    view.closed(payload, op, p, Some(*l)).map(|c| (i as f64, c.throughput_ops_s))
                })
                .collect(),
            markers: true,
            in_legend: true,
            intervals: levels
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    let c = view.closed(payload, op, p, Some(*l))?;
                    view.interval(c, "throughput_ops_s").map(|(lo, hi)| (i as f64, lo, hi))
                })
                .collect(),
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    if lines.is_empty() {
        return Ok(Chart::missing(format!("{op}: no closed-loop cell."), false));
    }
    let y = Axis::linear_from_zero(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)), Unit::Number);
    let frame = Frame {
        title: format!("{op}: throughput vs concurrency ({payload})"),
        x_desc: "closed-loop workers (concurrency)".into(),
        y_desc: "operations per second".into(),
        width: charts::NARROW,
        plot_height: 280,
    };
    let svg = charts::lines(&frame, &x, &y, &lines, &[])?;
    Ok(Chart::drawn(
        svg,
        format!(
            "{op}: recorded operations per second at each closed-loop concurrency, the median across \
             repeats; whiskers: 95 % intervals."
        ),
        false,
    ))
}

fn table(view: &View<'_>, payload: &str, ops: &[Operation], levels: &[u32]) -> Table {
    let mut head = vec!["protocol".to_owned(), "c".to_owned()];
    head.extend(ops.iter().map(|o| o.name().to_owned()));
    let mut t = Table::with_head(head);
    for p in view.protocols() {
        for l in levels {
            let mut row = vec![td(protocol_label(view, &p)), td(l.to_string())];
            let mut any = false;
            for op in ops {
                row.push(match view.closed(payload, *op, &p, Some(*l)) {
                    Some(c) => {
                        any = true;
                        td(view.figure(c, "throughput_ops_s", c.throughput_ops_s, fmt::rate))
                    }
                    None => td_class("–", "na"),
                });
            }
            if any {
                t.rows.push(row);
            }
        }
    }
    t
}
