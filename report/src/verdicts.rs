//! The verdict table, the report's first answer: per operation, which protocol is best on
//! latency (loopback and the run's emulated network), bytes, round trips and CPU, by how much
//! against the baseline (REST, named in `claims.toml`) and the runner-up, each ratio with
//! its 95 % interval; or "no clear winner" when the best's interval overlaps another's.
//!
//! The contenders are the run's main variants (each family's idiomatic form, see
//! [`wirebench_results::vocab::Role`]); the floor is a reference and never ranked. A figure whose
//! interval straddles another's is never ranked above it. Bytes and round trips are counted,
//! not sampled: they tie when within 1 % (bytes) or equal (round trips).

use serde::Serialize;

use super::fmt;
use wirebench_results::repeats::{Figure, Measure, Rounds};
use wirebench_results::stats::{self, Basis, Estimate};
use wirebench_results::vocab::Operation;
use wirebench_results::vocab::Role;
use wirebench_results::{Cell, Results};

/// One column: what is compared, and how it reads.
#[derive(Debug, Clone, Copy)]
struct Column {
    title: &'static str,
    /// The network its cells ran on: loopback, or the run's first emulated one.
    far: bool,
    measure: Measure,
    /// Counted, not sampled: ties within this share of the best (no interval).
    exact: Option<f64>,
    show: fn(f64) -> String,
}

fn columns() -> [Column; 5] {
    [
        Column {
            title: "latency, loopback",
            far: false,
            measure: Figure::P50.measure(),
            exact: None,
            show: fmt::micros,
        },
        Column {
            title: "latency, network",
            far: true,
            measure: Figure::P50.measure(),
            exact: None,
            show: fmt::micros,
        },
        Column {
            title: "bytes per operation",
            far: false,
            measure: Figure::Bytes.measure(),
            exact: Some(0.01),
            show: fmt::bytes,
        },
        Column {
            title: "round trips",
            far: false,
            measure: Measure::PerOp(|c| Some(c.round_trips_per_op)),
            exact: Some(0.0),
            show: fmt::count,
        },
        Column {
            title: "CPU per operation",
            far: false,
            measure: Measure::PerOp(|c| {
                Some(c.resources.client_cpu_us_per_op? + c.resources.server_cpu_us_per_op?)
            }),
            exact: None,
            show: fmt::micros,
        },
    ]
}

/// The table the page shows.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Verdicts {
    /// Column titles, the network's name in the second.
    pub columns: Vec<String>,
    pub rows: Vec<VerdictRow>,
    /// The run's conditions in one line: payload, load, network.
    pub conditions: String,
    /// The baseline every winner is measured against.
    pub baseline: Option<String>,
}

/// One operation.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictRow {
    pub operation: String,
    pub cells: Vec<VerdictCell>,
}

/// One verdict.
#[derive(Debug, Clone, Serialize)]
pub struct VerdictCell {
    /// "grpc 22.1 µs", "no clear winner", "not measured".
    pub main: String,
    /// "rest 1.31× [1.22–1.41] · runner-up ws 1.05× [1.01–1.09]".
    pub detail: String,
    /// win, tie or na.
    pub class: &'static str,
    /// A problem with a figure in this cell (a flagged or noisy cell), beside it.
    pub warn: Option<String>,
}

impl VerdictCell {
    fn na(why: impl Into<String>) -> VerdictCell {
        VerdictCell { main: "not measured".into(), detail: why.into(), class: "na", warn: None }
    }
}

/// A contender's cell in one column: its rounds and its figure.
struct Entry<'r, 'a> {
    protocol: &'r str,
    rounds: &'r Rounds<'a>,
    figure: Estimate,
}

/// The verdicts of a run (`baseline`: the protocol each winner is set against).
pub fn verdicts(r: &Results, baseline: Option<&str>, floor: Option<&str>) -> Verdicts {
    let network = r.options.networks.iter().find(|n| !n.is_loopback()).map(|n| n.name.clone());
    let contenders = contenders(r, floor);
    let payload = r.options.payloads.first().cloned().unwrap_or_default();
    let lowest = r.cells.iter().filter(|c| c.mode == "closed").map(|c| c.concurrency).min().unwrap_or(1);
    let mut titles: Vec<String> = columns().iter().map(|c| c.title.to_owned()).collect();
    titles[1] = match &network {
        Some(n) => format!("latency, {n}"),
        None => "latency, network".into(),
    };
    // The cells a verdict reads: the operation's warm, plain, closed-loop cells on `network`
    // at `concurrency`, outside every other dimension's sweep.
    let keep = |c: &Cell, op: Operation, network: &str, concurrency: u32| {
        super::usual(c, network)
            && c.operation == op
            && c.payload == payload
            && c.mode == "closed"
            && c.concurrency == concurrency
            && c.ops > 0
    };
    // Each contender's rounds, decoded once and read by every column on that network.
    let rounds_of = |op: Operation, network: &str, concurrency: u32| -> Vec<(&str, Rounds<'_>)> {
        contenders
            .iter()
            .filter_map(|p| {
                let cells: Vec<&Cell> = r
                    .cells
                    .iter()
                    .filter(|c| c.protocol == *p && keep(c, op, network, concurrency))
                    .collect();
                (!cells.is_empty()).then(|| (p.as_str(), Rounds::new(cells)))
            })
            .collect()
    };
    let rows = Operation::ALL
        .into_iter()
        .filter(|op| r.cells.iter().any(|c| c.operation == *op))
        .map(|op| {
            let near = rounds_of(op, wirebench_results::network::LOOPBACK, lowest);
            let far = network.as_deref().map(|n| rounds_of(op, n, 1));
            let cells = columns()
                .iter()
                .map(|col| {
                    let pool = if col.far { far.as_ref() } else { Some(&near) };
                    let Some(pool) = pool else {
                        return VerdictCell::na("no emulated network in this run (add --network wan)");
                    };
                    let entries: Vec<Entry<'_, '_>> = pool
                        .iter()
                        .filter_map(|(protocol, rounds)| {
                            Some(Entry { protocol, rounds, figure: rounds.estimate_of(col.measure)? })
                        })
                        .collect();
                    judge(col, entries, baseline)
                })
                .collect();
            VerdictRow { operation: op.name().to_owned(), cells }
        })
        .collect();
    let conditions = format!(
        "payload {payload}, N = {}; closed loop, one connection at c={lowest} (loopback){}; {}",
        r.options.n,
        network.as_deref().map(|n| format!(" and c=1 ({n})")).unwrap_or_default(),
        "bytes and round trips per operation both ways; CPU is client and server together"
    );
    Verdicts { columns: titles, rows, conditions, baseline: baseline.map(str::to_owned) }
}

/// The run's main variants, in run order (every variant but the floor, for a results file
/// without roles).
fn contenders(r: &Results, floor: Option<&str>) -> Vec<String> {
    let with_roles = r.protocols.iter().any(|p| p.role.is_some());
    r.protocols
        .iter()
        .filter(|p| if with_roles { p.role == Some(Role::Main) } else { Some(p.name.as_str()) != floor })
        .map(|p| p.name.clone())
        .collect()
}

/// The verdict of one column from its contenders' entries.
fn judge(col: &Column, mut entries: Vec<Entry<'_, '_>>, baseline: Option<&str>) -> VerdictCell {
    if entries.len() < 2 {
        return VerdictCell::na(match entries.len() {
            0 => "no main variant ran it",
            _ => "only one main variant ran it",
        });
    }
    entries.sort_by(|a, b| a.figure.value.total_cmp(&b.figure.value));
    let best = &entries[0];
    let tied: Vec<&Entry<'_, '_>> = entries
        .iter()
        .skip(1)
        .filter(|e| match col.exact {
            Some(share) => e.figure.value <= best.figure.value * (1.0 + share) + 1e-9,
            None => !e.figure.apart(&best.figure),
        })
        .collect();
    let together: Vec<&Entry<'_, '_>> = std::iter::once(best).chain(tied.iter().copied()).collect();
    let warn = if tied.is_empty() { warning(&[best, &entries[1]]) } else { warning(&together) };
    if !tied.is_empty() {
        if col.exact.is_some() {
            // Counts: the tie is the answer ("grpc, graphql, ws: 1"), the others beside it.
            let names: Vec<&str> = together.iter().map(|e| e.protocol).collect();
            let main = if together.len() == entries.len() {
                format!("all {}", (col.show)(best.figure.value))
            } else {
                format!("{}: {}", names.join(", "), (col.show)(best.figure.value))
            };
            let rest: Vec<String> = entries
                .iter()
                .filter(|e| !names.contains(&e.protocol))
                .map(|e| match col.exact {
                    Some(share) if share > 0.0 => {
                        format!("{} ({})", shown(col, e), fmt::ratio(e.figure.value / best.figure.value))
                    }
                    _ => shown(col, e),
                })
                .collect();
            let detail = if rest.is_empty() { "a tie".to_owned() } else { rest.join(" · ") };
            return VerdictCell { main, detail, class: "tie", warn };
        }
        let mut names: Vec<String> = together.iter().map(|e| shown(col, e)).collect();
        let more = names.len().saturating_sub(3);
        names.truncate(3);
        if more > 0 {
            names.push(format!("{more} more"));
        }
        let detail = format!("{}: intervals overlap", names.join(" ≈ "));
        return VerdictCell { main: "no clear winner".into(), detail, class: "tie", warn };
    }
    let mut parts = Vec::new();
    if let Some(base) = baseline.and_then(|b| entries.iter().find(|e| e.protocol == b))
        && base.protocol != best.protocol
    {
        parts.push(format!("{} {}", base.protocol, ratio_text(col, best, base)));
    }
    let runner = &entries[1];
    if Some(runner.protocol) != baseline || parts.is_empty() {
        parts.push(format!("runner-up {} {}", runner.protocol, ratio_text(col, best, runner)));
    }
    VerdictCell { main: shown(col, best), detail: parts.join(" · "), class: "win", warn }
}

fn shown(col: &Column, e: &Entry<'_, '_>) -> String {
    format!("{} {}", e.protocol, (col.show)(e.figure.value))
}

/// "1.31× [1.22–1.41]": `other`'s figure over `best`'s, with its interval (none for counts).
fn ratio_text(col: &Column, best: &Entry<'_, '_>, other: &Entry<'_, '_>) -> String {
    let point = other.figure.value / best.figure.value;
    if col.exact.is_some() {
        return fmt::ratio(point);
    }
    fmt::with_interval(point, ratio_interval(col.measure, best, other), fmt::ratio)
}

/// The 95 % interval of `other ÷ best`: both cells' rounds resampled when both have two or
/// more; else the two figures' own intervals combined (on a log scale, in quadrature).
fn ratio_interval(m: Measure, best: &Entry<'_, '_>, other: &Entry<'_, '_>) -> Option<(f64, f64)> {
    let (nb, no) = (best.rounds.cells.len(), other.rounds.cells.len());
    if nb >= 2 && no >= 2 {
        return stats::bootstrap(&[nb, no], |w| {
            Some(other.rounds.measure(m, &w[1])? / best.rounds.measure(m, &w[0])?)
        });
    }
    let spread = |e: &Estimate| {
        if e.basis == Basis::None || e.low <= 0.0 || e.value <= 0.0 {
            return (0.0, 0.0);
        }
        ((e.value / e.low).ln(), (e.high / e.value).ln())
    };
    let (bl, bh) = spread(&best.figure);
    let (ol, oh) = spread(&other.figure);
    let r = (other.figure.value / best.figure.value).ln();
    Some(((r - ol.hypot(bh)).exp(), (r + oh.hypot(bl)).exp()))
}

/// What a reader must know about the figures a verdict rests on: a flagged cell (errors,
/// missed sends), or a noisy one.
fn warning(entries: &[&Entry<'_, '_>]) -> Option<String> {
    let mut out = Vec::new();
    for e in entries {
        if let Some(flag) = e.rounds.cells.iter().flat_map(|c| c.flags.iter()).next() {
            out.push(format!("{}: {flag}", e.protocol));
        } else if e.figure.noisy() {
            out.push(format!("{} ±{:.0} %", e.protocol, e.figure.half_width() * 100.0));
        }
    }
    (!out.is_empty()).then(|| out.join("; "))
}
