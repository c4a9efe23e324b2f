//! Throughput against concurrency.

use super::{protocol_label, unmeasured};
use crate::charts::{self, Axis, BarSeries, Frame, Line, Scale, Stroke, Unit};
use crate::{
    Block, Chart, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use wirebench_results::vocab::Operation;

pub(crate) fn throughput_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
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
    let mut block = Block {
        tags: Tags::payload(payload),
        heading: format!("Payload {payload}"),
        intro: None,
        charts: Vec::new(),
        tables: Vec::new(),
    };
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
        for group in view.chart_groups(&view.protocols(), MAX_SERIES) {
            block.charts.push(single_level_chart(view, (payload, &group), &ops, levels[0])?);
        }
    } else {
        for op in &ops {
            for group in view.chart_groups(&view.protocols(), MAX_SERIES) {
                block.charts.push(curve_chart(view, (payload, &group), *op, &levels)?.of(*op));
            }
        }
    }
    block.tables.push(table(view, payload, &ops, &levels));
    Ok(block)
}

/// Throughput per operation at the one level run.
fn single_level_chart(
    view: &View<'_>,
    (payload, (family, protocols)): (&str, &(Option<String>, Vec<String>)),
    ops: &[Operation],
    level: u32,
) -> Result<Chart, ReportError> {
    let series: Vec<BarSeries> = protocols
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
        title: of_group(format!("Closed-loop throughput at c={level} ({payload})"), family),
        x_desc: "operation".into(),
        y_desc: "operations per second".into(),
        width: charts::WIDE,
        plot_height: 300,
    };
    let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
    let svg = charts::grouped_bars(&frame, &groups, &series, &[], Scale::Linear(Unit::Number))?;
    let first: Vec<(String, f64)> = series
        .iter()
        .filter(|s| !view.is_floor(&s.label))
        .filter_map(|s| Some((s.label.clone(), s.values.first()?.as_ref()?.first().copied()?)))
        .collect();
    let what = ops.first().map(|op| format!("lowest throughput on {op}")).unwrap_or_default();
    Ok(Chart::drawn(
        svg,
        "Recorded operations divided by the recorded time, all workers together, over every round; \
         whiskers its 95 % interval.",
        true,
    )
    .saying(extremes(&first, (&what, "highest"), fmt::rate)))
}

/// Throughput against concurrency for one operation, a line per protocol.
fn curve_chart(
    view: &View<'_>,
    (payload, (family, protocols)): (&str, &(Option<String>, Vec<String>)),
    op: Operation,
    levels: &[u32],
) -> Result<Chart, ReportError> {
    let x = Axis::Categories(levels.iter().map(|l| format!("c={l}")).collect());
    let lines: Vec<Line> = protocols
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
        title: of_group(format!("{op}: throughput vs concurrency ({payload})"), family),
        x_desc: "closed-loop workers (concurrency)".into(),
        y_desc: "operations per second".into(),
        width: charts::NARROW,
        plot_height: 280,
    };
    let svg = charts::lines(&frame, &x, &y, &lines, &[])?;
    let top = levels.last().copied().unwrap_or(1);
    let at_top: Vec<(String, f64)> = protocols
        .iter()
        .filter(|p| !view.is_floor(p))
        .filter_map(|p| Some((p.clone(), view.closed(payload, op, p, Some(top))?.throughput_ops_s)))
        .collect();
    let what = format!("lowest throughput at c={top}");
    Ok(Chart::drawn(
        svg,
        format!(
            "{op}: recorded operations per second at each closed-loop concurrency, over every round; \
             whiskers: 95 % intervals."
        ),
        false,
    )
    .saying(extremes(&at_top, (&what, "highest"), fmt::rate)))
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
