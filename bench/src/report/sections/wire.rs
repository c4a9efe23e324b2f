//! Wire anatomy: bytes per operation by direction and layer.

use plotters::style::RGBColor;

use super::{protocol_label, unmeasured};
use crate::catalog::Operation;
use crate::report::charts::{self, HBar, LegendEntry, Mark};
use crate::report::{Block, Chart, ReportError, Table, View, fmt, td, td_class};
use crate::results::Cell;

const SENT: RGBColor = RGBColor(78, 121, 167);
const RECEIVED: RGBColor = RGBColor(242, 142, 43);

pub(in crate::report) fn wire_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    let legend = [
        LegendEntry::new("payload sent", Mark::Box(SENT)),
        LegendEntry::new("overhead sent", Mark::Box(charts::pale(SENT, 0.4))),
        LegendEntry::new("payload received", Mark::Box(RECEIVED)),
        LegendEntry::new("overhead received", Mark::Box(charts::pale(RECEIVED, 0.4))),
    ];
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let mut block = Block {
            heading: format!("Payload {payload}"),
            intro: None,
            charts: Vec::new(),
            tables: Vec::new(),
        };
        for op in view.ops() {
            let cells: Vec<&Cell> =
                view.protocols().iter().filter_map(|p| view.closed(&payload, op, p, None)).collect();
            if cells.is_empty() {
                block.charts.push(Chart::missing(format!("{op}: no closed-loop cell was measured."), false));
                continue;
            }
            let mut rows = Vec::new();
            for c in &cells {
                let (s, r) = (&c.bytes.sent_per_op, &c.bytes.received_per_op);
                rows.push(HBar {
                    label: format!("{} sent", c.protocol),
                    segments: vec![(s.payload_bytes, SENT), (s.overhead_bytes, charts::pale(SENT, 0.4))],
                    note: fmt::bytes(s.total_bytes),
                });
                rows.push(HBar {
                    label: format!("{} received", c.protocol),
                    segments: vec![
                        (r.payload_bytes, RECEIVED),
                        (r.overhead_bytes, charts::pale(RECEIVED, 0.4)),
                    ],
                    note: fmt::bytes(r.total_bytes),
                });
            }
            let svg = charts::hbars(
                &format!("{op}: bytes per operation by layer ({payload})"),
                "bytes per operation (B)",
                &rows,
                &legend,
                charts::NARROW,
            )?;
            let conc = cells.iter().map(|c| c.concurrency).min().unwrap_or(0);
            block.charts.push(Chart::drawn(
                svg,
                format!(
                    "{op}: mean bytes per operation, closed loop at c={conc}. Connection set-up is not included \
                     (see the table)."
                ),
                false,
            ));
        }
        block.tables = view.ops().iter().map(|op| wire_table(view, &payload, *op)).collect();
        blocks.push(block);
    }
    Ok(blocks)
}

fn wire_table(view: &View<'_>, payload: &str, op: Operation) -> Table {
    let mut t = Table::new(&[
        &format!("{op}"),
        "sent: payload + overhead",
        "received: payload + overhead",
        "per operation",
        "round trips",
        "set-up per connection: sent / received",
        "TCP/IP headers per op (estimate)",
    ]);
    let cells: Vec<&Cell> =
        view.protocols().iter().filter_map(|p| view.closed(payload, op, p, None)).collect();
    let total = |c: &Cell| c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes;
    let best =
        cells.iter().filter(|c| !view.is_floor(&c.protocol)).map(|c| total(c)).fold(f64::INFINITY, f64::min);
    let split = |l: &crate::results::Layers| {
        format!(
            "{} + {} = {}",
            fmt::int(l.payload_bytes),
            fmt::int(l.overhead_bytes),
            fmt::bytes(l.total_bytes)
        )
    };
    for c in cells {
        let class = if total(c) <= best && !view.is_floor(&c.protocol) { "best" } else { "" };
        t.rows.push(vec![
            td(protocol_label(view, &c.protocol)),
            td(split(&c.bytes.sent_per_op)),
            td(split(&c.bytes.received_per_op)),
            td_class(fmt::bytes(total(c)), class),
            td(fmt::count(c.round_trips_per_op)),
            td(format!(
                "{} / {}",
                fmt::bytes(c.bytes.setup_sent_per_connection),
                fmt::bytes(c.bytes.setup_received_per_connection)
            )),
            td(fmt::bytes(c.bytes.tcp_ip_headers_per_op_estimate)),
        ]);
    }
    t
}
