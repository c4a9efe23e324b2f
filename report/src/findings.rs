//! Headline findings: sentences with numbers, computed from the cells. Nothing here names a
//! protocol; each finding ranks whatever protocols the run measured, and skips itself when
//! its data is missing.

use super::{Finding, View, fmt};
use crate::p50;
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;
use wirebench_results::vocab::VerdictKind;

/// Every finding the data supports, most telling first.
pub fn all(view: &View<'_>) -> Vec<Finding> {
    let Some(payload) = view.payloads().into_iter().find(|p| view.r.cells.iter().any(|c| c.payload == *p))
    else {
        return vec![Finding {
            title: "Nothing was measured".into(),
            text: "The results file has no cells: see the warnings and the equivalence section.".into(),
        }];
    };
    let mut out = Vec::new();
    out.extend(fewest_bytes(view, &payload, Operation::UserOrders));
    out.extend(round_trips(view, &payload, Operation::UserOrders));
    out.extend(smallest_answer(view, &payload, Operation::GetUser));
    out.extend(above_floor(view, &payload, Operation::GetUser));
    out.extend(super::sections::matrix::findings(view));
    out.extend(setup_costs(view, &payload));
    out.extend(server_cpu(view, &payload, Operation::GetUser));
    out.extend(serialization(view));
    out.extend(equivalence(view));
    out
}

/// The closed-loop cells of (payload, op), one per protocol, in run order.
fn cells<'a>(view: &View<'a>, payload: &str, op: Operation) -> Vec<&'a Cell> {
    view.protocols().iter().filter_map(|p| view.closed(payload, op, p, None)).collect()
}

/// [`cells`] of the variants that do not compress bodies and are not the floor: byte
/// comparisons between protocols leave compression to its own section (a compressing
/// variant's bytes depend on how repetitive the traffic is).
fn uncompressed<'a>(view: &View<'a>, payload: &str, op: Operation) -> Vec<&'a Cell> {
    let compresses = |name: &str| view.r.protocols.iter().any(|p| p.name == name && p.compression.is_some());
    cells(view, payload, op)
        .into_iter()
        .filter(|c| !view.is_floor(&c.protocol) && !compresses(&c.protocol))
        .collect()
}

fn total(c: &Cell) -> f64 {
    c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes
}

fn rt_count(n: f64) -> String {
    let n = fmt::count(n);
    if n == "1" { "1 round trip".into() } else { format!("{n} round trips") }
}

fn rt(c: &Cell) -> String {
    let n = fmt::count(c.round_trips_per_op);
    if n == "1" { "1 round trip".into() } else { format!("{n} round trips") }
}

fn fewest_bytes(view: &View<'_>, payload: &str, op: Operation) -> Option<Finding> {
    let mut cs = uncompressed(view, payload, op);
    cs.sort_by(|a, b| total(a).total_cmp(&total(b)));
    let best = cs.first()?;
    let others: Vec<String> =
        cs.iter().skip(1).map(|c| format!("{} {} ({})", c.protocol, fmt::bytes(total(c)), rt(c))).collect();
    let floor = view
        .floor
        .as_deref()
        .and_then(|f| view.closed(payload, op, f, None))
        .map(|f| format!(" The raw-TCP floor needs {}.", fmt::bytes(total(f))))
        .unwrap_or_default();
    let worst = cs.last().filter(|w| w.protocol != best.protocol);
    let spread = worst
        .map(|w| {
            format!(
                " The largest, {}, moves {} as much.",
                w.protocol,
                fmt::ratio(total(w) / total(best).max(1.0))
            )
        })
        .unwrap_or_default();
    let worst_ratio = worst.map(|w| total(w) / total(best).max(1.0));
    Some(Finding {
        title: match (worst, worst_ratio) {
            (Some(w), Some(r)) => format!(
                "{op}: {} moves the fewest bytes, {} per call; {} moves {} as many.",
                best.protocol,
                fmt::bytes(total(best)),
                w.protocol,
                fmt::ratio(r)
            ),
            _ => format!("{op}: {} moves {} per call.", best.protocol, fmt::bytes(total(best))),
        },
        text: format!(
            "For {op} (payload {payload}, N = {}; variants that compress bodies are in the compression \
             section), {} sends {} and receives {} per operation = {} in {}. Then: {}.{spread}{floor}",
            best.n,
            best.protocol,
            fmt::bytes(best.bytes.sent_per_op.total_bytes),
            fmt::bytes(best.bytes.received_per_op.total_bytes),
            fmt::bytes(total(best)),
            rt(best),
            if others.is_empty() { "no other protocol".into() } else { others.join(", ") },
        ),
    })
}

fn round_trips(view: &View<'_>, payload: &str, op: Operation) -> Option<Finding> {
    let cs = cells(view, payload, op);
    if cs.is_empty() {
        return None;
    }
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for c in &cs {
        let key = format!("{} ({} turns)", rt(c), fmt::count(c.turns_per_op));
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c.protocol.clone()),
            None => groups.push((key, vec![c.protocol.clone()])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let max = cs.iter().map(|c| c.round_trips_per_op).fold(0.0, f64::max);
    let min = cs.iter().map(|c| c.round_trips_per_op).fold(f64::INFINITY, f64::min);
    let text: Vec<String> = groups.iter().map(|(k, v)| format!("{k}: {}", v.join(", "))).collect();
    Some(Finding {
        title: if min == max {
            format!("{op} takes every protocol {}.", rt_count(min))
        } else {
            let most: Vec<&str> =
                cs.iter().filter(|c| c.round_trips_per_op == max).map(|c| c.protocol.as_str()).collect();
            format!(
                "{op} takes {} {}, the others as few as {}.",
                most.join(" and "),
                rt_count(max),
                fmt::count(min)
            )
        },
        text: format!("For {op} (payload {payload}): {}.", text.join("; ")),
    })
}

fn smallest_answer(view: &View<'_>, payload: &str, op: Operation) -> Option<Finding> {
    let mut cs = uncompressed(view, payload, op);
    let recv = |c: &Cell| c.bytes.received_per_op.total_bytes;
    cs.sort_by(|a, b| recv(a).total_cmp(&recv(b)));
    let (small, large) = (cs.first()?, cs.last()?);
    if small.protocol == large.protocol || recv(small) <= 0.0 {
        return None;
    }
    let (ps, pl) = (small.bytes.received_per_op.data_bytes, large.bytes.received_per_op.data_bytes);
    let payload_part = if ps > 0.0 {
        format!(
            "; the data alone (the records, without envelope and framing): {} {} vs {} {} ({})",
            small.protocol,
            fmt::bytes(ps),
            large.protocol,
            fmt::bytes(pl),
            fmt::ratio(pl / ps)
        )
    } else {
        String::new()
    };
    Some(Finding {
        title: format!(
            "{op}: {} receives {} fewer bytes than {}; of it, the encoding alone accounts for {}.",
            small.protocol,
            fmt::ratio(recv(large) / recv(small)),
            large.protocol,
            if ps > 0.0 { fmt::ratio(pl / ps) } else { "nothing".into() }
        ),
        text: format!(
            "For {op} (payload {payload}), {} receives {} per operation and {} receives {}{payload_part}. \
             Framing and envelope make the difference between wire and data.",
            small.protocol,
            fmt::bytes(recv(small)),
            large.protocol,
            fmt::bytes(recv(large)),
        ),
    })
}

fn above_floor(view: &View<'_>, payload: &str, op: Operation) -> Option<Finding> {
    let cs = cells(view, payload, op);
    let floor_name = view.floor.as_deref()?;
    let mut rows: Vec<(&Cell, f64, f64)> = Vec::new();
    let mut floor_p50 = None;
    for c in &cs {
        let f = view.closed(payload, op, floor_name, Some(c.concurrency)).and_then(p50)?;
        if view.is_floor(&c.protocol) {
            floor_p50 = Some((f, c.concurrency));
            continue;
        }
        rows.push((c, p50(c)?, f));
    }
    let (f, conc) = floor_p50?;
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    let best = rows.first()?;
    let list: Vec<String> = rows
        .iter()
        .map(|(c, p, fl)| {
            format!(
                "{} {} ({}, {})",
                c.protocol,
                fmt::nanos(*p),
                fmt::signed_nanos(p - fl),
                fmt::ratio(p / fl)
            )
        })
        .collect();
    let build =
        if view.r.environment.release_build { "" } else { " Debug build: absolute figures are inflated." };
    Some(Finding {
        title: format!(
            "{op}: {} comes closest to the raw-TCP floor, {} above its {}.",
            best.0.protocol,
            fmt::nanos(best.1 - best.2),
            fmt::nanos(f)
        ),
        text: format!(
            "Median latency of {op} (payload {payload}, closed loop c={conc}): the raw-TCP floor takes {}; \
             {}.{build}",
            fmt::nanos(f),
            list.join(", ")
        ),
    })
}

fn setup_costs(view: &View<'_>, payload: &str) -> Option<Finding> {
    let mut paying = Vec::new();
    let mut costs: Vec<(String, f64)> = Vec::new();
    let mut free = Vec::new();
    for p in view.protocols() {
        let cs: Vec<&Cell> =
            view.ops().into_iter().filter_map(|op| view.closed(payload, op, &p, None)).collect();
        let setup = |c: &Cell| c.bytes.setup_sent_per_connection + c.bytes.setup_received_per_connection;
        let with: Vec<&&Cell> = cs.iter().filter(|c| setup(c) > 0.0).collect();
        if with.is_empty() {
            free.push(p);
            continue;
        }
        let max = with.iter().map(|c| setup(c)).fold(0.0, f64::max);
        let scope = if with.len() == cs.len() {
            String::new()
        } else {
            let ops: Vec<&str> = with.iter().map(|c| c.operation.name()).collect();
            format!(" (only for {})", ops.join(", "))
        };
        paying.push(format!("{p} {}{scope}", fmt::bytes(max)));
        costs.push((p.clone(), max));
    }
    if paying.is_empty() {
        return None;
    }
    let (most, most_bytes) = costs.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some(Finding {
        title: format!(
            "A new connection's set-up costs up to {} ({most}), once per connection; {} need none.",
            fmt::bytes(*most_bytes),
            if free.is_empty() { "every protocol needs some".into() } else { free.join(" and ") }
        ),
        text: format!(
            "Handshakes before the first operation (payload {payload}): {}{}. These bytes are reported apart from \
             the per-operation figures.",
            paying.join(", "),
            if free.is_empty() { String::new() } else { format!("; none for {}", free.join(", ")) }
        ),
    })
}

fn server_cpu(view: &View<'_>, payload: &str, op: Operation) -> Option<Finding> {
    let mut cs: Vec<(&Cell, f64)> = cells(view, payload, op)
        .into_iter()
        .filter_map(|c| c.resources.server_cpu_us_per_op.map(|v| (c, v)))
        .collect();
    if cs.len() < 2 {
        return None;
    }
    cs.sort_by(|a, b| a.1.total_cmp(&b.1));
    let list: Vec<String> = cs.iter().map(|(c, v)| format!("{} {}", c.protocol, fmt::micros(*v))).collect();
    let (lo, hi) = (cs[0], cs[cs.len() - 1]);
    Some(Finding {
        title: format!(
            "Per {op}, {}'s server spends {} of CPU, {}'s {} ({}).",
            lo.0.protocol,
            fmt::micros(lo.1),
            hi.0.protocol,
            fmt::micros(hi.1),
            fmt::ratio(hi.1 / lo.1)
        ),
        text: format!("Server CPU time per {op} (payload {payload}), lowest first: {}.", list.join(", ")),
    })
}

fn serialization(view: &View<'_>) -> Option<Finding> {
    let figs = &view.codecs.figures;
    let cases = super::sections::codec_cases(view.codecs);
    // The payloads of this run first: those are the messages the wire figures carried.
    let run_payloads = view.payloads();
    let ours: Vec<String> = cases
        .iter()
        .filter(|c| figs.iter().any(|f| f.case() == **c && run_payloads.contains(&f.payload)))
        .cloned()
        .collect();
    let cases = if ours.is_empty() { cases } else { ours };
    let mut parts = Vec::new();
    let mut spans: Vec<(String, String)> = Vec::new();
    for case in cases.iter().take(2) {
        let mut timed: Vec<_> = figs
            .iter()
            .filter(|f| f.case() == *case)
            .filter_map(|f| f.round_trip_ns().map(|t| (f, t)))
            .collect();
        if timed.len() < 2 {
            continue;
        }
        timed.sort_by(|a, b| a.1.total_cmp(&b.1));
        let fastest = timed[0].1;
        let list: Vec<String> = timed
            .iter()
            .enumerate()
            .map(|(i, (f, t))| {
                let size = f.raw_bytes.map(|b| format!(", {}", fmt::bytes(b))).unwrap_or_default();
                let rel = if i == 0 { String::new() } else { format!(" ({})", fmt::ratio(t / fastest)) };
                format!("{} {}{rel}{size}", f.format, fmt::nanos(*t))
            })
            .collect();
        parts.push(format!("{case}: {}", list.join("; ")));
        let last = timed
            .last()
            .map(|(f, t)| format!("{} at {} ({})", f.format, fmt::nanos(*t), fmt::ratio(t / fastest)));
        spans.push((format!("{} at {}", timed[0].0.format, fmt::nanos(fastest)), last.unwrap_or_default()));
    }
    if parts.is_empty() {
        return None;
    }
    let (fast, slow) = spans.first()?;
    Some(Finding {
        title: format!(
            "Encoding and decoding a {}: {} is fastest, {} the slowest.",
            cases.first().cloned().unwrap_or_default(),
            fast,
            slow
        ),
        text: format!("Fastest first, with the encoded size — {}.", parts.join(". ")),
    })
}

fn equivalence(view: &View<'_>) -> Option<Finding> {
    let eq = &view.r.equivalence;
    if eq.is_empty() {
        return None;
    }
    let n = |v: VerdictKind| eq.iter().filter(|e| e.verdict == v).count();
    let fails: Vec<String> = eq
        .iter()
        .filter(|e| e.verdict == VerdictKind::Fails)
        .map(|e| format!("{} {} ({})", e.protocol, e.operation, e.payload))
        .collect();
    Some(Finding {
        title: if fails.is_empty() {
            format!(
                "All {} protocol × operation pairs returned the same data as the store before anything was timed.",
                n(VerdictKind::Agrees)
            )
        } else {
            format!(
                "{} protocol × operation pair(s) returned other data than the store and were not timed.",
                fails.len()
            )
        },
        text: if fails.is_empty() {
            format!(
                "All {} checked (protocol, operation) pairs that run agreed with the reference store before timing; \
                 {} are unsupported by design (reasons in the equivalence section).",
                n(VerdictKind::Agrees),
                n(VerdictKind::Unsupported)
            )
        } else {
            format!("Not timed because they disagree with the reference store: {}.", fails.join(", "))
        },
    })
}
