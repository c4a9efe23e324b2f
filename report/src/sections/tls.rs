//! TLS: what it costs each protocol, from the TLS cells (loopback, the lowest concurrency)
//! beside the plaintext cells of the same operation: a new connection's set-up (handshake
//! bytes and round trips, full and resumed) and, on a warm connection, what each operation
//! pays (record bytes, latency, CPU on each side). TLS cells appear only here.

use super::protocol_label;
use crate::charts::{self, BarSeries, Frame, Scale, Unit};
use crate::p50;
use crate::{
    Block, Chart, Finding, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;

/// Every cell of the run (merged over repeats).
#[derive(Debug)]
pub(crate) struct Secured<'a> {
    pub cells: &'a [Cell],
}

/// The cells of one protocol and operation that the section compares.
struct Four<'a> {
    plain: Option<&'a Cell>,
    warm: Option<&'a Cell>,
    cold: Option<&'a Cell>,
    resumed: Option<&'a Cell>,
}

impl Secured<'_> {
    /// Operations with a TLS cell.
    fn ops(&self) -> Vec<Operation> {
        Operation::ALL
            .into_iter()
            .filter(|op| self.cells.iter().any(|c| c.operation == *op && c.tls != "plain"))
            .collect()
    }

    /// The loopback closed-loop cell at the lowest concurrency of (payload, op, protocol),
    /// with `tls`, warm or cold.
    fn cell(&self, (payload, op, protocol): (&str, Operation, &str), tls: &str, cold: bool) -> Option<&Cell> {
        wirebench_results::lowest_closed(self.cells, |c| {
            c.payload == payload
                && c.operation == op
                && c.protocol == protocol
                && c.network == wirebench_results::network::LOOPBACK
                && c.fresh_connections == cold
                && c.tls == tls
                && c.streams == 1
                && !c.sized
        })
    }

    fn four(&self, at: (&str, Operation, &str)) -> Four<'_> {
        Four {
            plain: self.cell(at, "plain", false),
            warm: self.cell(at, "tls", false),
            cold: self.cell(at, "tls", true),
            resumed: self.cell(at, "tls-resumed", true),
        }
    }
}

fn total(c: &Cell) -> f64 {
    c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes
}

fn tls_records(c: &Cell) -> f64 {
    let of = |l: &wirebench_results::Layers| l.framing_by_kind.get("tls_records").copied().unwrap_or(0.0);
    of(&c.bytes.sent_per_op) + of(&c.bytes.received_per_op)
}

/// "1.52 kB ↑ 0.4 kB ↓ 1.1 kB · 1 RT" of a cold cell's connections.
fn handshake(c: &Cell) -> String {
    let b = &c.bytes;
    let (up, down) = (b.setup_tls_sent_per_connection, b.setup_tls_received_per_connection);
    let mut s = format!(
        "{} (↑ {} ↓ {}) · {} RT",
        fmt::bytes(up + down),
        fmt::bytes(up),
        fmt::bytes(down),
        fmt::count(b.setup_round_trips_per_connection)
    );
    if c.tls == "tls-resumed" {
        s += &format!(" · {} of {} resumed", b.connections_resumed, b.connections);
    }
    s
}

/// `after − before` of an optional figure, as "+x".
fn added(before: Option<f64>, after: Option<f64>, show: fn(f64) -> String) -> Option<String> {
    let d = after? - before?;
    Some(if d >= 0.0 { format!("+{}", show(d)) } else { format!("−{}", show(-d)) })
}

pub(crate) fn tls_blocks(view: &View<'_>, secured: &Secured<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        for op in secured.ops() {
            blocks.push(Block {
                tags: Tags::op(op, &payload),
                heading: format!("{op} ({payload})"),
                intro: None,
                charts: view
                    .chart_groups(&view.protocols(), MAX_SERIES)
                    .iter()
                    .map(|g| chart(view, secured, (&payload, op), g))
                    .collect::<Result<_, _>>()?,
                tables: vec![
                    setup_table(view, secured, (&payload, op)),
                    warm_table(view, secured, (&payload, op)),
                ],
            });
        }
    }
    Ok(blocks)
}

fn setup_table(view: &View<'_>, secured: &Secured<'_>, (payload, op): (&str, Operation)) -> Table {
    let head = ["protocol", "full handshake", "resumed handshake", "cold p50: full", "cold p50: resumed"];
    let mut t = Table::with_head(head.iter().map(|s| (*s).to_owned()).collect());
    for p in view.protocols() {
        let four = secured.four((payload, op, &p));
        if four.cold.is_none() && four.resumed.is_none() {
            continue;
        }
        let cell = |text: Option<String>| text.map_or_else(|| td_class("–", "na"), td);
        t.rows.push(vec![
            td(protocol_label(view, &p)),
            cell(four.cold.map(handshake)),
            cell(four.resumed.map(handshake)),
            cell(four.cold.and_then(p50).map(fmt::nanos)),
            cell(four.resumed.and_then(p50).map(fmt::nanos)),
        ]);
    }
    t
}

fn warm_table(view: &View<'_>, secured: &Secured<'_>, (payload, op): (&str, Operation)) -> Table {
    let head = [
        "protocol (warm, TLS − plaintext)",
        "bytes / op",
        "of which TLS records",
        "p50",
        "client CPU / op",
        "server CPU / op",
    ];
    let mut t = Table::with_head(head.iter().map(|s| (*s).to_owned()).collect());
    for p in view.protocols() {
        let four = secured.four((payload, op, &p));
        let (Some(plain), Some(warm)) = (four.plain, four.warm) else { continue };
        let cell = |text: Option<String>| text.map_or_else(|| td_class("–", "na"), td);
        let cpu = |c: &Cell, server: bool| {
            if server { c.resources.server_cpu_us_per_op } else { c.resources.client_cpu_us_per_op }
        };
        let micros = |us: f64| fmt::micros(us);
        t.rows.push(vec![
            td(protocol_label(view, &p)),
            cell(added(Some(total(plain)), Some(total(warm)), fmt::bytes)),
            td(fmt::bytes(tls_records(warm))),
            cell(added(p50(plain), p50(warm), fmt::nanos)),
            cell(added(cpu(plain, false), cpu(warm, false), micros)),
            cell(added(cpu(plain, true), cpu(warm, true), micros)),
        ]);
    }
    t
}

fn chart(
    view: &View<'_>,
    secured: &Secured<'_>,
    (payload, op): (&str, Operation),
    (family, protocols): &(Option<String>, Vec<String>),
) -> Result<Chart, ReportError> {
    let groups: Vec<String> =
        ["plaintext, warm", "TLS, warm", "TLS, new connection", "TLS resumed, new connection"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    let series: Vec<BarSeries> = protocols
        .iter()
        .map(|p| {
            let four = secured.four((payload, op, p));
            BarSeries {
                label: p.clone(),
                color: view.color(p),
                values: [four.plain, four.warm, four.cold, four.resumed]
                    .iter()
                    .map(|c| Some(vec![p50((*c)?)?]))
                    .collect(),
                intervals: Vec::new(),
            }
        })
        .collect();
    let frame = Frame {
        title: of_group(format!("TLS: {op} ({payload})"), family),
        x_desc: "connection".into(),
        y_desc: "latency p50".into(),
        width: charts::WIDE,
        plot_height: 300,
    };
    let svg = charts::grouped_bars(&frame, &groups, &series, &[], Scale::Linear(Unit::Nanos))?;
    // The takeaway: what a new connection with a full handshake costs each protocol.
    let cold: Vec<(String, f64)> = series
        .iter()
        .filter(|s| !view.is_floor(&s.label))
        .filter_map(|s| Some((s.label.clone(), s.values.get(2)?.as_ref()?.first().copied()?)))
        .collect();
    Ok(Chart::drawn(
        svg,
        "Closed loop on loopback at the lowest concurrency: median latency per call on a connection kept open \
         (warm), and with a new connection per call, its TCP and TLS handshakes inside the call (full, or \
         resuming a session).",
        true,
    )
    .saying(extremes(&cold, ("fastest call on a new TLS connection", "slowest"), fmt::nanos))
    .of(op))
}

/// A largest figure and whose it is.
type Extreme = Option<(f64, String)>;

/// The finding's sentence: the largest handshake (bytes, whose) and the most latency TLS adds
/// to a warm call (how much, whose).
fn title(op: Operation, payload: &str, (biggest, slowest): (&Extreme, &Extreme)) -> String {
    match (biggest, slowest) {
        (Some((bytes, who)), Some((lat, slow))) => format!(
            "TLS on {op}: a full handshake costs up to {} ({who}) once per connection, and adds at most {} to a \
             warm call ({slow}).",
            fmt::bytes(*bytes),
            fmt::signed_nanos(*lat)
        ),
        (Some((bytes, who)), None) => {
            format!(
                "TLS on {op}: a full handshake costs up to {} ({who}) once per connection.",
                fmt::bytes(*bytes)
            )
        }
        (None, Some((lat, slow))) => {
            format!("TLS on {op} adds at most {} to a warm call ({slow}).", fmt::signed_nanos(*lat))
        }
        (None, None) => format!("What TLS costs on {op} ({payload})."),
    }
}

/// "TLS on get-user: set-up rest 1 RT, 1.6 kB (resumed 1.2 kB) …; warm, per operation: rest
/// +44 B, +12 µs p50, +9 µs client CPU, +8 µs server CPU; …" from the data.
pub(crate) fn findings(view: &View<'_>, secured: &Secured<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(payload) = view.payloads().into_iter().next() else { return out };
    for op in secured.ops() {
        let mut setup = Vec::new();
        let mut warm = Vec::new();
        // For the sentence: the largest handshake, and the largest latency TLS adds warm.
        let mut biggest: Option<(f64, String)> = None;
        let mut slowest: Option<(f64, String)> = None;
        for p in view.protocols() {
            let four = secured.four((&payload, op, &p));
            if let Some(c) = four.cold {
                let b = &c.bytes;
                let mut s = format!(
                    "{p} {} RT, {}",
                    fmt::count(b.setup_round_trips_per_connection),
                    fmt::bytes(b.setup_tls_sent_per_connection + b.setup_tls_received_per_connection)
                );
                if let Some(r) = four.resumed {
                    let rb = &r.bytes;
                    s += &format!(
                        " (resumed {})",
                        fmt::bytes(rb.setup_tls_sent_per_connection + rb.setup_tls_received_per_connection)
                    );
                }
                setup.push(s);
                let bytes = b.setup_tls_sent_per_connection + b.setup_tls_received_per_connection;
                if biggest.as_ref().is_none_or(|(v, _)| bytes > *v) {
                    biggest = Some((bytes, p.clone()));
                }
            }
            if let (Some(a), Some(b)) = (four.plain, four.warm) {
                let parts = [
                    added(Some(total(a)), Some(total(b)), fmt::bytes),
                    added(p50(a), p50(b), fmt::nanos).map(|s| format!("{s} p50")),
                    added(a.resources.client_cpu_us_per_op, b.resources.client_cpu_us_per_op, fmt::micros)
                        .map(|s| format!("{s} client CPU")),
                    added(a.resources.server_cpu_us_per_op, b.resources.server_cpu_us_per_op, fmt::micros)
                        .map(|s| format!("{s} server CPU")),
                ];
                let parts: Vec<String> = parts.into_iter().flatten().collect();
                warm.push(format!("{p} {}", parts.join(", ")));
                if let (Some(x), Some(y)) = (p50(a), p50(b))
                    && slowest.as_ref().is_none_or(|(v, _)| y - x > *v)
                {
                    slowest = Some((y - x, p.clone()));
                }
            }
        }
        if setup.is_empty() && warm.is_empty() {
            continue;
        }
        let mut text = String::new();
        if !setup.is_empty() {
            text += &format!("TLS handshake per new connection: {}. ", setup.join("; "));
        }
        if !warm.is_empty() {
            text += &format!("On a warm connection TLS adds per operation: {}.", warm.join("; "));
        }
        let title = title(op, &payload, (&biggest, &slowest));
        out.push(Finding { title, text: text.trim().to_owned() });
    }
    out
}
