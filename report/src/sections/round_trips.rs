//! Round trips and network turns per operation.

use super::{protocol_label, unmeasured};
use crate::charts::{self, BarSeries, Frame, Scale, Unit};
use crate::{
    Block, Chart, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;

pub(crate) fn round_trip_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
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
            intro: None,
            charts: Vec::new(),
            tables: Vec::new(),
        };
        if ops.is_empty() {
            block.charts.push(Chart::missing("No cell was measured.", true));
        }
        for group in view.chart_groups(&view.protocols(), MAX_SERIES).iter().filter(|_| !ops.is_empty()) {
            block.charts.push(per_op_bars(
                view,
                (&payload, group),
                &ops,
                (
                    of_group(format!("Request waves (round trips) per operation ({payload})"), &group.0),
                    "request waves per operation",
                ),
                |c| c.round_trips_per_op,
                "Request waves counted on the socket: requests that left before any answer to them arrived \
                 form one wave. A missing bar: the variant does not run that operation.",
            )?);
            block.charts.push(per_op_bars(
                view,
                (&payload, group),
                &ops,
                (
                    of_group(format!("Network turns per operation ({payload})"), &group.0),
                    "direction changes on the socket per operation",
                ),
                |c| c.turns_per_op,
                "Direction changes seen on the client socket: a request and its answer are 2 turns.",
            )?);
        }
        block.tables.push(table(view, &payload, &ops));
        block.tables.push(store_calls(view, &payload, &ops));
        blocks.push(block);
    }
    Ok(blocks)
}

/// A figure per operation, a bar per protocol; `titles` is (chart title, y axis).
fn per_op_bars(
    view: &View<'_>,
    (payload, (_, protocols)): (&str, &(Option<String>, Vec<String>)),
    ops: &[Operation],
    titles: (String, &str),
    get: fn(&Cell) -> f64,
    caption: &str,
) -> Result<Chart, ReportError> {
    let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
    let series: Vec<BarSeries> = protocols
        .iter()
        .map(|p| BarSeries {
            label: p.clone(),
            color: view.color(p),
            values: ops.iter().map(|op| view.closed(payload, *op, p, None).map(|c| vec![get(c)])).collect(),
            // Counted on the socket, and the same in every repeat: no interval to draw.
            intervals: Vec::new(),
        })
        .collect();
    let frame = Frame {
        title: titles.0,
        x_desc: "operation".into(),
        y_desc: titles.1.into(),
        width: charts::WIDE,
        plot_height: 300,
    };
    let svg = charts::grouped_bars(&frame, &groups, &series, &[], Scale::Linear(Unit::Number))?;
    // The takeaway: every operation's count added up, per protocol.
    let totals: Vec<(String, f64)> = series
        .iter()
        .filter(|s| !view.is_floor(&s.label))
        .map(|s| (s.label.clone(), s.values.iter().flatten().filter_map(|v| v.first()).sum()))
        .collect();
    let what = format!("fewest in all {} operations", ops.len());
    Ok(Chart::drawn(svg, caption, true).saying(extremes(&totals, (&what, "most"), fmt::count)))
}

fn table(view: &View<'_>, payload: &str, ops: &[Operation]) -> Table {
    let mut head = vec!["protocol".to_owned()];
    head.extend(ops.iter().map(|o| o.name().to_owned()));
    let mut t = Table::with_head(head);
    for p in view.protocols() {
        let mut row = vec![td(protocol_label(view, &p))];
        for op in ops {
            row.push(match view.closed(payload, *op, &p, None) {
                Some(c) => td(format!(
                    "{} RT · {} turns",
                    fmt::count(c.round_trips_per_op),
                    fmt::count(c.turns_per_op)
                )),
                None => td_class("–", "na"),
            });
        }
        t.rows.push(row);
    }
    t
}

/// Store calls the server made for one operation, as counted during the equivalence check
/// (one isolated call): N+1 requests or N+1 resolver calls show here.
fn store_calls(view: &View<'_>, payload: &str, ops: &[Operation]) -> Table {
    let mut head = vec!["store calls per operation".to_owned()];
    head.extend(ops.iter().map(|o| o.name().to_owned()));
    let mut t = Table::with_head(head);
    for p in view.protocols() {
        let mut row = vec![td(protocol_label(view, &p))];
        for op in ops {
            let counted = view
                .r
                .equivalence
                .iter()
                .find(|e| e.payload == payload && e.protocol == p && e.operation == *op)
                .and_then(|e| e.store_calls);
            row.push(counted.map_or_else(|| td_class("–", "na"), |n| td(n.to_string())));
        }
        t.rows.push(row);
    }
    t
}
