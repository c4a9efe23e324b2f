//! Wire anatomy: bytes per operation by direction and layer (framing, envelope, data), the
//! framing by kind, and the header anatomy of the HTTP-based variants.

use std::collections::BTreeMap;

use plotters::style::RGBColor;

use super::{protocol_label, unmeasured};
use crate::charts::{self, HBar, LegendEntry, Mark};
use crate::{
    Block, Chart, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use wirebench_results::vocab::Operation;
use wirebench_results::{Cell, Layers};

const SENT: RGBColor = RGBColor(78, 121, 167);
const RECEIVED: RGBColor = RGBColor(242, 142, 43);

/// Data full colour, envelope paler, framing palest.
fn shades(c: RGBColor) -> [RGBColor; 3] {
    [c, charts::pale(c, 0.55), charts::pale(c, 0.25)]
}

pub(crate) fn wire_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let mut block = Block {
            tags: Tags::payload(&payload),
            heading: format!("Payload {payload}"),
            intro: None,
            charts: Vec::new(),
            tables: Vec::new(),
        };
        for op in view.ops() {
            // Two bars a protocol (sent, received).
            for group in view.chart_groups(&view.protocols(), MAX_SERIES / 2) {
                block.charts.push(anatomy_chart(view, &payload, op, &group)?.of(op));
            }
        }
        for op in view.ops() {
            block.tables.push(layer_table(view, &payload, op).of(op));
        }
        block.tables.push(framing_table(view, &payload));
        blocks.push(block);
    }
    Ok(blocks)
}

/// Stacked bytes per operation, a bar per protocol and direction.
fn anatomy_chart(
    view: &View<'_>,
    payload: &str,
    op: Operation,
    (family, protocols): &(Option<String>, Vec<String>),
) -> Result<Chart, ReportError> {
    let cells: Vec<&Cell> = protocols.iter().filter_map(|p| view.closed(payload, op, p, None)).collect();
    if cells.is_empty() {
        return Ok(Chart::missing(format!("{op}: no closed-loop cell was measured."), false));
    }
    let bar = |c: &Cell, dir: &str, l: &Layers, colour: RGBColor| {
        let [data, envelope, framing] = shades(colour);
        HBar {
            label: format!("{} {dir}", c.protocol),
            segments: vec![(l.data_bytes, data), (l.envelope_bytes, envelope), (l.framing_bytes, framing)],
            note: fmt::bytes(l.total_bytes),
        }
    };
    let rows: Vec<HBar> = cells
        .iter()
        .flat_map(|c| {
            [
                bar(c, "sent", &c.bytes.sent_per_op, SENT),
                bar(c, "received", &c.bytes.received_per_op, RECEIVED),
            ]
        })
        .collect();
    // The legend names the layers some bar shows (no operation here sends data, for one).
    let shown =
        |shade: RGBColor| rows.iter().flat_map(|r| &r.segments).any(|(len, c)| *len > 0.0 && *c == shade);
    let mut legend = Vec::new();
    for (dir, colour) in [("sent", SENT), ("received", RECEIVED)] {
        for (layer, shade) in ["data", "envelope", "framing"].iter().zip(shades(colour)) {
            if shown(shade) {
                legend.push(LegendEntry::new(format!("{layer} {dir}"), Mark::Box(shade)));
            }
        }
    }
    let title = of_group(format!("{op}: bytes per operation by layer ({payload})"), family);
    let totals: Vec<(String, f64)> = cells
        .iter()
        .filter(|c| !view.is_floor(&c.protocol))
        .map(|c| (c.protocol.clone(), c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes))
        .collect();
    let takeaway = extremes(&totals, ("fewest bytes per operation", "most"), fmt::bytes);
    let svg = charts::hbars(&title, "bytes per operation (B)", &rows, &legend, charts::NARROW)?;
    let conc = cells.iter().map(|c| c.concurrency).min().unwrap_or(0);
    Ok(Chart::drawn(
        svg,
        format!(
            "{op}: mean bytes per operation as the dissector attributed them, closed loop at c={conc}: data (the \
             records), envelope (the protocol's wrapper), framing (what the transport adds). Connection set-up \
             is not included (see the table)."
        ),
        false,
    )
    .saying(takeaway))
}

fn layer_table(view: &View<'_>, payload: &str, op: Operation) -> Table {
    let mut t = Table::new(&[
        &format!("{op}"),
        "sent: framing + envelope + data",
        "received: framing + envelope + data",
        "per operation",
        "request waves",
        "set-up per connection: sent / received",
        "TCP/IP headers per op (estimate)",
    ]);
    let cells: Vec<&Cell> =
        view.protocols().iter().filter_map(|p| view.closed(payload, op, p, None)).collect();
    let total = |c: &Cell| c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes;
    let best =
        cells.iter().filter(|c| !view.is_floor(&c.protocol)).map(|c| total(c)).fold(f64::INFINITY, f64::min);
    let split = |l: &Layers| {
        let pending = if l.pending_bytes > 0.0 {
            format!(" ({} pending)", fmt::int(l.pending_bytes))
        } else {
            String::new()
        };
        format!(
            "{} + {} + {} = {}{pending}",
            fmt::int(l.framing_bytes),
            fmt::int(l.envelope_bytes),
            fmt::int(l.data_bytes),
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

/// Framing bytes per operation by kind, both directions, for get-user (or the first
/// operation run): what each transport's framing is made of.
fn framing_table(view: &View<'_>, payload: &str) -> Table {
    let ops = view.ops();
    let op = ops.iter().copied().find(|o| *o == Operation::GetUser).or(ops.first().copied());
    let cells: Vec<&Cell> = match op {
        Some(op) => view.protocols().iter().filter_map(|p| view.closed(payload, op, p, None)).collect(),
        None => Vec::new(),
    };
    let mut kinds: Vec<String> = Vec::new();
    for c in &cells {
        for k in
            c.bytes.sent_per_op.framing_by_kind.keys().chain(c.bytes.received_per_op.framing_by_kind.keys())
        {
            if !kinds.contains(k) {
                kinds.push(k.clone());
            }
        }
    }
    let mut head = vec![format!("framing of {} (sent / received per op)", op.map_or("–", Operation::name))];
    head.extend(kinds.iter().cloned());
    let mut t = Table::with_head(head);
    for c in cells {
        let mut row = vec![td(protocol_label(view, &c.protocol))];
        for k in &kinds {
            let (s, r) = (
                c.bytes.sent_per_op.framing_by_kind.get(k).copied().unwrap_or(0.0),
                c.bytes.received_per_op.framing_by_kind.get(k).copied().unwrap_or(0.0),
            );
            row.push(if s + r > 0.0 {
                td(format!("{} / {}", fmt::int(s), fmt::int(r)))
            } else {
                td_class("–", "na")
            });
        }
        t.rows.push(row);
    }
    t
}

/// Header bytes per operation by name, for every variant that sends headers.
pub(crate) fn header_blocks(view: &View<'_>) -> Vec<Block> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        let mut tables = Vec::new();
        for op in view.ops() {
            let cells: Vec<&Cell> = view
                .protocols()
                .iter()
                .filter_map(|p| view.closed(&payload, op, p, None))
                .filter(|c| !c.bytes.headers_per_op.is_empty())
                .collect();
            if !cells.is_empty() {
                tables.push(header_table(view, op, &cells).of(op));
            }
        }
        if !tables.is_empty() {
            blocks.push(Block {
                tags: Tags::payload(&payload),
                heading: format!("Payload {payload}"),
                intro: None,
                charts: Vec::new(),
                tables,
            });
        }
    }
    blocks
}

fn header_table(view: &View<'_>, op: Operation, cells: &[&Cell]) -> Table {
    // Names by how many bytes they cost across the variants, most first.
    let mut weight: BTreeMap<&str, f64> = BTreeMap::new();
    for c in cells {
        for (name, h) in &c.bytes.headers_per_op {
            *weight.entry(name).or_default() += h.sent + h.received;
        }
    }
    let mut names: Vec<&str> = weight.keys().copied().collect();
    names.sort_by(|a, b| weight[b].total_cmp(&weight[a]).then(a.cmp(b)));
    let mut head = vec![format!("{op}: header (sent / received B per op)")];
    head.extend(cells.iter().map(|c| protocol_label(view, &c.protocol)));
    let mut t = Table::with_head(head);
    for name in names {
        let mut row = vec![td(name)];
        for c in cells {
            row.push(match c.bytes.headers_per_op.get(name) {
                Some(h) => td(format!("{} / {}", fmt::int(h.sent), fmt::int(h.received))),
                None => td_class("–", "na"),
            });
        }
        t.rows.push(row);
    }
    t
}
