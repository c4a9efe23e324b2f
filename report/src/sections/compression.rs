//! The compression matrix: every compressing variant against the variant it otherwise
//! equals, per operation, on each network it ran on: bytes each way, CPU on each side and
//! latency, from the warm closed-loop cells at the lowest concurrency (loopback from the main
//! sweep; emulated networks from the size sweep at the run's N when it ran there). The
//! findings say when compression wins and when it loses.

use crate::{Block, Finding, Table, Tags, View, fmt, td, td_class};
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;

/// Every cell of the run (merged over repeats).
#[derive(Debug)]
pub(crate) struct Compressed<'a> {
    pub cells: &'a [Cell],
}

/// (variant, codec, the variant it compresses).
type Pair<'a> = (&'a str, &'a str, &'a str);

impl Compressed<'_> {
    /// The warm plaintext closed-loop cell at the lowest concurrency of (payload, op,
    /// protocol) on `network` at the run's N (`n`): the main sweep's, or the size sweep's.
    fn cell(&self, (payload, op, network): (&str, Operation, &str), protocol: &str, n: u32) -> Option<&Cell> {
        wirebench_results::lowest_closed(self.cells, |c| {
            c.payload == payload
                && c.operation == op
                && c.protocol == protocol
                && c.network == network
                && !c.fresh_connections
                && c.tls == "plain"
                && c.streams == 1
                && c.n == n
        })
    }

    fn networks(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![wirebench_results::network::LOOPBACK.to_owned()];
        for c in self.cells {
            if !out.contains(&c.network) {
                out.push(c.network.clone());
            }
        }
        out
    }
}

fn pairs<'a>(view: &'a View<'_>) -> Vec<Pair<'a>> {
    view.r
        .protocols
        .iter()
        .filter_map(|p| {
            p.compression.as_ref().map(|(codec, of)| (p.name.as_str(), codec.as_str(), of.as_str()))
        })
        .collect()
}

/// One comparison: the compressed cell against its twin.
struct Delta {
    saved: [f64; 2],
    cpu: [Option<f64>; 2],
    p50: Option<(f64, f64)>,
}

fn delta(z: &Cell, p: &Cell) -> Delta {
    let share = |a: f64, b: f64| if b > 0.0 { 1.0 - a / b } else { 0.0 };
    let (zb, pb) = (&z.bytes, &p.bytes);
    let minus = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    Delta {
        saved: [
            share(zb.sent_per_op.total_bytes, pb.sent_per_op.total_bytes),
            share(zb.received_per_op.total_bytes, pb.received_per_op.total_bytes),
        ],
        cpu: [
            minus(z.resources.client_cpu_us_per_op, p.resources.client_cpu_us_per_op),
            minus(z.resources.server_cpu_us_per_op, p.resources.server_cpu_us_per_op),
        ],
        p50: z.latency.as_ref().zip(p.latency.as_ref()).map(|(a, b)| (a.p50_ns as f64, b.p50_ns as f64)),
    }
}

fn signed_micros(us: f64) -> String {
    if us >= 0.0 { format!("+{}", fmt::micros(us)) } else { format!("−{}", fmt::micros(-us)) }
}

pub(crate) fn compression_blocks(view: &View<'_>, m: &Compressed<'_>) -> Vec<Block> {
    let pairs = pairs(view);
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        for network in m.networks() {
            let head = [
                "variant (against)",
                "operation",
                "bytes saved: sent · received",
                "CPU added: client · server",
                "p50: compressed · plain",
            ];
            let mut t = Table::with_head(head.iter().map(|s| (*s).to_owned()).collect());
            for &(name, codec, of) in &pairs {
                for op in Operation::ALL {
                    let at = (payload.as_str(), op, network.as_str());
                    let (Some(z), Some(p)) =
                        (m.cell(at, name, view.r.options.n), m.cell(at, of, view.r.options.n))
                    else {
                        continue;
                    };
                    let d = delta(z, p);
                    let cpu = d.cpu.map(|c| c.map_or("–".to_owned(), signed_micros));
                    t.rows.push(vec![
                        td(format!("{name}: {codec} ({of})")),
                        td(op.name()),
                        td(format!("{:.0} % · {:.0} %", d.saved[0] * 100.0, d.saved[1] * 100.0)),
                        td(format!("{} · {}", cpu[0], cpu[1])),
                        d.p50.map_or_else(
                            || td_class("–", "na"),
                            |(a, b)| td(format!("{} · {}", fmt::nanos(a), fmt::nanos(b))),
                        ),
                    ]);
                }
            }
            if !t.rows.is_empty() {
                blocks.push(Block {
                    tags: Tags::payload(&payload).on(&network),
                    heading: format!("{payload} on {network}"),
                    intro: None,
                    charts: Vec::new(),
                    tables: vec![t],
                });
            }
        }
        blocks.extend(hpack_block(view, m, &payload));
    }
    blocks
}

/// HPACK, per operation: a header block's bytes on the wire (every field's representation,
/// `:path` included) against the same fields written out as HTTP/1.1 writes them.
struct Hpack {
    wire: [f64; 2],
    written_out: [f64; 2],
}

fn hpack(c: &Cell) -> Option<Hpack> {
    let out = c.bytes.hpack_written_out_per_op.as_ref()?;
    let wire = c.bytes.headers_per_op.values().fold([0.0, 0.0], |[s, r], h| [s + h.sent, r + h.received]);
    Some(Hpack { wire, written_out: [out.sent, out.received] })
}

impl Hpack {
    fn saved(&self, d: usize) -> f64 {
        if self.written_out[d] > 0.0 { 100.0 * (1.0 - self.wire[d] / self.written_out[d]) } else { 0.0 }
    }
}

/// HPACK's effect apart from body compression: every HTTP/2 variant's warm cells on loopback.
fn hpack_block(view: &View<'_>, m: &Compressed<'_>, payload: &str) -> Option<Block> {
    let head =
        ["variant", "operation", "header block: sent · received", "written out: sent · received", "saved"];
    let mut t = Table::with_head(head.iter().map(|s| (*s).to_owned()).collect());
    for p in view.protocols() {
        for op in Operation::ALL {
            let at = (payload, op, wirebench_results::network::LOOPBACK);
            let Some(h) = m.cell(at, &p, view.r.options.n).and_then(hpack) else { continue };
            t.rows.push(vec![
                td(p.clone()),
                td(op.name()),
                td(format!("{} · {}", fmt::bytes(h.wire[0]), fmt::bytes(h.wire[1]))),
                td(format!("{} · {}", fmt::bytes(h.written_out[0]), fmt::bytes(h.written_out[1]))),
                td(format!("{:.0} % · {:.0} %", h.saved(0), h.saved(1))),
            ]);
        }
    }
    (!t.rows.is_empty()).then(|| Block {
        tags: Tags::payload(payload),
        heading: format!("HPACK, apart ({payload})"),
        intro: Some(
            "HTTP/2 compresses every header block with HPACK (static and per-connection dynamic tables, \
             Huffman strings), whether or not bodies are compressed. Per operation of a warm connection: \
             the header blocks' bytes on the wire against the same fields written out as HTTP/1.1 lines \
             (name: value, pseudo-headers included)."
                .into(),
        ),
        charts: Vec::new(),
        tables: vec![t],
    })
}

/// "HPACK: rest-h2 get-user sends 21 B of header block for 98 B of fields (79 % saved) …",
/// for each HTTP/2 variant on get-user (or its first operation) on loopback.
pub(crate) fn hpack_findings(view: &View<'_>, m: &Compressed<'_>) -> Vec<Finding> {
    let Some(payload) = view.payloads().into_iter().next() else { return Vec::new() };
    let mut most: Option<(f64, String)> = None;
    let parts: Vec<String> = view
        .protocols()
        .into_iter()
        .filter_map(|p| {
            let (op, h) = Operation::ALL.into_iter().find_map(|op| {
                let c = m.cell((&payload, op, wirebench_results::network::LOOPBACK), &p, view.r.options.n)?;
                Some((op, hpack(c)?))
            })?;
            if most.as_ref().is_none_or(|(s, _)| h.saved(0) > *s) {
                most = Some((h.saved(0), format!("{p}'s {op}")));
            }
            Some(format!(
                "{p} {op}: {} of header block for {} of fields sent ({:.0} % saved), {} for {} received ({:.0} %)",
                fmt::bytes(h.wire[0]),
                fmt::bytes(h.written_out[0]),
                h.saved(0),
                fmt::bytes(h.wire[1]),
                fmt::bytes(h.written_out[1]),
                h.saved(1)
            ))
        })
        .collect();
    if parts.is_empty() {
        return Vec::new();
    }
    let (saved, whose) = most.unwrap_or_default();
    vec![Finding {
        title: format!(
            "HPACK, HTTP/2's header compression, saves up to {saved:.0} % of the request header bytes ({whose})."
        ),
        text: format!("{}.", parts.join("; ")),
    }]
}

/// Per compressing variant and network: the operations where it was faster than its twin
/// (wins) and slower (loses), with the bytes it saved and the CPU it cost.
pub(crate) fn findings(view: &View<'_>, m: &Compressed<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(payload) = view.payloads().into_iter().next() else { return out };
    for (name, codec, of) in pairs(view) {
        for network in m.networks() {
            let (mut wins, mut loses) = (Vec::new(), Vec::new());
            for op in Operation::ALL {
                let at = (payload.as_str(), op, network.as_str());
                let n = view.r.options.n;
                let (Some(z), Some(p)) = (m.cell(at, name, n), m.cell(at, of, n)) else { continue };
                let d = delta(z, p);
                let Some((a, b)) = d.p50 else { continue };
                let cpu: f64 = d.cpu.iter().flatten().sum();
                let saved = d.saved[1] * 100.0;
                let bytes = if saved >= 0.0 {
                    format!("{saved:.0} % fewer")
                } else {
                    format!("{:.0} % more", -saved)
                };
                let text = format!(
                    "{op} ({bytes} bytes received, {} CPU, p50 {} against {})",
                    signed_micros(cpu),
                    fmt::nanos(a),
                    fmt::nanos(b)
                );
                if a < b { wins.push(text) } else { loses.push(text) }
            }
            if wins.is_empty() && loses.is_empty() {
                continue;
            }
            let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join("; ") };
            out.push(Finding {
                title: format!(
                    "On {network}, {codec} ({name}) is faster than {of} on {} of {} operations.",
                    wins.len(),
                    wins.len() + loses.len()
                ),
                text: format!("Faster on: {}. Slower on: {}.", list(&wins), list(&loses)),
            });
        }
    }
    out
}
