//! Encoding apart from transport: for each operation, a matrix of encoding (JSON, protobuf)
//! × transport (HTTP/1.1, HTTP/2, WebSocket, raw TCP) with bytes, p50 and CPU per operation
//! of every variant in each cell, from the warm loopback closed-loop cells at the lowest
//! concurrency; and findings that split a bundled difference ("gRPC against REST") into the
//! part the encoding makes and the part the transport makes, computed from the same cells.

use crate::{Block, Finding, Table, Tags, View, fmt, td, td_class};
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;
use wirebench_results::vocab::Transport;

/// What one variant's cell says: bytes (both ways), p50 and CPU (client and server), per
/// operation.
#[derive(Debug, Clone, Copy)]
struct Figures {
    bytes: f64,
    p50_ns: Option<f64>,
    cpu_us: Option<f64>,
}

fn figures(c: &Cell) -> Figures {
    let r = &c.resources;
    Figures {
        bytes: c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes,
        p50_ns: crate::p50(c),
        cpu_us: r.client_cpu_us_per_op.zip(r.server_cpu_us_per_op).map(|(a, b)| a + b),
    }
}

/// The variant's warm closed-loop cell of `op` on `payload` at the lowest concurrency.
fn cell<'a>(view: &'a View<'_>, payload: &str, op: Operation, protocol: &str) -> Option<&'a Cell> {
    wirebench_results::lowest_closed(&view.r.cells, |c| {
        c.payload == payload && c.operation == op && c.protocol == protocol
    })
}

/// The variants in the matrix: each carries records, compresses nothing, and says its
/// transport.
fn members(view: &View<'_>) -> Vec<(String, String, Transport)> {
    view.r
        .protocols
        .iter()
        .filter(|p| p.compression.is_none() && !view.is_floor(&p.name))
        .filter_map(|p| Some((p.name.clone(), p.encoding.clone(), p.transport?)))
        .collect()
}

pub(crate) fn matrix_blocks(view: &View<'_>) -> Vec<Block> {
    let members = members(view);
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        for op in Operation::ALL {
            let mut head = vec!["encoding".to_owned()];
            head.extend(Transport::ALL.iter().map(|t| t.label().to_owned()));
            let mut t = Table::with_head(head);
            t.class = "text";
            for encoding in ["json", "protobuf"] {
                let mut row = vec![td(encoding)];
                for transport in Transport::ALL {
                    let here: Vec<String> = members
                        .iter()
                        .filter(|(_, e, t)| e == encoding && *t == transport)
                        .filter_map(|(name, _, _)| {
                            let f = figures(cell(view, &payload, op, name)?);
                            Some(format!(
                                "{name}: {} · {} · {} CPU",
                                fmt::bytes(f.bytes),
                                f.p50_ns.map_or("–".into(), fmt::nanos),
                                f.cpu_us.map_or("–".into(), fmt::micros)
                            ))
                        })
                        .collect();
                    row.push(if here.is_empty() { td_class("–", "na") } else { td(here.join("; ")) });
                }
                t.rows.push(row);
            }
            if t.rows.iter().any(|r| r.iter().skip(1).any(|c| c.class != "na")) {
                blocks.push(Block {
                    tags: Tags::op(op, &payload),
                    heading: format!("{op} ({payload})"),
                    intro: None,
                    charts: Vec::new(),
                    tables: vec![t],
                });
            }
        }
    }
    blocks
}

/// A bundled difference and the two ways to walk it one dimension at a time: `from` →
/// `to`, through `via_encoding` (the encoding changed first, transport kept) or through
/// `via_transport` (the transport changed first, encoding kept).
struct Split {
    from: String,
    to: String,
    via_encoding: String,
    via_transport: String,
}

/// One figure of [`Figures`].
type Measure = fn(&Figures) -> Option<f64>;

/// The bundled comparisons the run can take apart, from what each variant declares (family,
/// role, encoding, transport): every JSON variant against every protobuf one that differs
/// in transport too, where the target is its family's main variant or in the same family,
/// and both one-step walks exist — the encoding changed inside `from`'s family on its
/// transport, the transport changed inside `to`'s family in its encoding. Each (family,
/// encoding, transport) is represented by its first variant in the registry (its plain
/// form, not a query-strategy variant on the same wire).
fn splits(view: &View<'_>) -> Vec<Split> {
    let mut reps: Vec<&wirebench_results::ProtocolInfo> = Vec::new();
    for p in view.r.protocols.iter().filter(|p| p.compression.is_none() && !view.is_floor(&p.name)) {
        let same = |q: &&wirebench_results::ProtocolInfo| {
            q.family == p.family && q.encoding == p.encoding && q.transport == p.transport
        };
        if p.transport.is_some() && !reps.iter().any(same) {
            reps.push(p);
        }
    }
    let find = |family: &str, encoding: &str, transport| {
        reps.iter()
            .find(|q| q.family == family && q.encoding == encoding && q.transport == transport)
            .map(|q| q.name.clone())
    };
    let mut out = Vec::new();
    for from in reps.iter().filter(|p| p.encoding == "json") {
        for to in reps.iter().filter(|p| p.encoding == "protobuf" && p.transport != from.transport) {
            let main = to.role == Some(wirebench_results::vocab::Role::Main);
            if !main && to.family != from.family {
                continue;
            }
            let via_encoding = find(&from.family, &to.encoding, from.transport);
            let via_transport = find(&to.family, &from.encoding, to.transport);
            if let (Some(via_encoding), Some(via_transport)) = (via_encoding, via_transport) {
                let (from, to) = (from.name.clone(), to.name.clone());
                out.push(Split { from, to, via_encoding, via_transport });
            }
        }
    }
    out
}

/// `a ÷ b` as "2.0×"; `None` when either is missing or zero.
fn times(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (a > 0.0 && b > 0.0).then(|| a / b)
}

fn x(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), fmt::ratio)
}

/// "bytes 2.0× = 1.9× from the encoding (rest → rest-proto) × 1.05× from the transport
/// (rest-proto → grpc)", for bytes, p50 and CPU per operation (each ratio `from ÷ to`: above
/// 1, `to` needs less), and the same walked the other way round (the two orders differ when
/// the parts interact).
pub(crate) fn findings(view: &View<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(payload) = view.payloads().into_iter().next() else { return out };
    for s in splits(view) {
        for op in [Operation::GetUser, Operation::ListOrders] {
            let f = |name: &str| cell(view, &payload, op, name).map(figures);
            let (Some(a), Some(b), Some(e), t) =
                (f(&s.from), f(&s.to), f(&s.via_encoding), f(&s.via_transport))
            else {
                continue;
            };
            let measures: [(&str, Measure); 3] =
                [("bytes", |f| Some(f.bytes)), ("p50", |f| f.p50_ns), ("CPU", |f| f.cpu_us)];
            let parts: Vec<String> = measures
                .iter()
                .map(|(what, get)| {
                    // One step of the walk: its ratio, what changed, and between which variants.
                    let step = |x0: &Figures, x1: &Figures, dimension: &str, v0: &str, v1: &str| {
                        format!("{} from the {dimension} ({v0} → {v1})", x(times(get(x0), get(x1))))
                    };
                    let other_way = t.map_or(String::new(), |t| {
                        format!(
                            "; the other way round, {} × {}",
                            step(&a, &t, "transport", &s.from, &s.via_transport),
                            step(&t, &b, "encoding", &s.via_transport, &s.to)
                        )
                    });
                    format!(
                        "{what} {} = {} × {}{other_way}",
                        x(times(get(&a), get(&b))),
                        step(&a, &e, "encoding", &s.from, &s.via_encoding),
                        step(&e, &b, "transport", &s.via_encoding, &s.to)
                    )
                })
                .collect();
            let (whole, encoding) =
                (times(a.bytes.into(), b.bytes.into()), times(a.bytes.into(), e.bytes.into()));
            out.push(Finding {
                title: format!(
                    "On {op}, {} moves {} the bytes of {}; the encoding alone accounts for {}.",
                    s.from,
                    x(whole),
                    s.to,
                    x(encoding)
                ),
                text: format!("{} ÷ {}, per operation: {}.", s.from, s.to, parts.join(". ")),
            });
        }
    }
    out
}
