//! Payload sizes: the size sweep's cells (N orders per answer, at the lowest concurrency),
//! latency and bytes against N per protocol, and the crossovers the data shows: where a
//! compressing variant starts to pay, where the JSON/protobuf size ratio settles, and where
//! each protocol's per-request cost stops dominating its per-record cost. Sized cells appear
//! only here.

use super::protocol_label;
use crate::charts::{self, Axis, Frame, Line, Stroke, Unit};
use crate::p50;
use crate::{
    Block, Chart, Finding, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;

/// Every cell of the run (merged over repeats).
#[derive(Debug)]
pub(crate) struct Sweep<'a> {
    pub cells: &'a [Cell],
}

/// Where the sweep ran one operation: payload, operation, network.
type At<'a> = (&'a str, Operation, &'a str);

impl Sweep<'_> {
    fn sized(&self) -> impl Iterator<Item = &Cell> {
        self.cells.iter().filter(|c| c.sized && c.ops > 0)
    }

    fn ops(&self) -> Vec<Operation> {
        Operation::ALL.into_iter().filter(|op| self.sized().any(|c| c.operation == *op)).collect()
    }

    /// The networks the sweep ran on, loopback first.
    fn networks(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.sized() {
            if !out.contains(&c.network) {
                out.push(c.network.clone());
            }
        }
        out.sort_by_key(|n| n != wirebench_results::network::LOOPBACK);
        out
    }

    fn sizes(&self, (payload, op, network): At<'_>) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .sized()
            .filter(|c| c.payload == payload && c.operation == op && c.network == network)
            .map(|c| c.n)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    fn cell(&self, (payload, op, network): At<'_>, protocol: &str, n: u32) -> Option<&Cell> {
        self.sized().find(|c| {
            c.payload == payload
                && c.operation == op
                && c.network == network
                && c.protocol == protocol
                && c.n == n
        })
    }
}

fn received(c: &Cell) -> f64 {
    c.bytes.received_per_op.total_bytes
}

pub(crate) fn size_blocks(view: &View<'_>, sweep: &Sweep<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        for op in sweep.ops() {
            for network in sweep.networks() {
                let at = (payload.as_str(), op, network.as_str());
                if sweep.sizes(at).len() < 2 {
                    continue;
                }
                blocks.push(Block {
                    tags: Tags::op(op, &payload).on(&network),
                    heading: format!("{op} ({payload}) on {network}"),
                    intro: None,
                    charts: view
                        .chart_groups(&view.protocols(), MAX_SERIES)
                        .iter()
                        .flat_map(|g| [chart(view, sweep, at, false, g), chart(view, sweep, at, true, g)])
                        .collect::<Result<_, _>>()?,
                    tables: vec![table(view, sweep, at)],
                });
            }
        }
    }
    Ok(blocks)
}

fn chart(
    view: &View<'_>,
    sweep: &Sweep<'_>,
    at: At<'_>,
    bytes: bool,
    (family, protocols): &(Option<String>, Vec<String>),
) -> Result<Chart, ReportError> {
    let sizes = sweep.sizes(at);
    let x = Axis::Categories(sizes.iter().map(|n| format!("{n}")).collect());
    let read = |c: &Cell| if bytes { Some(received(c)) } else { p50(c) };
    let drawn: Vec<(&String, Line)> = protocols
        .iter()
        .map(|p| {
            (
                p,
                Line {
                    label: protocol_label(view, p),
                    color: view.color(p),
                    stroke: if view.is_floor(p) { Stroke::Dashed } else { Stroke::Solid },
                    points: sizes
                        .iter()
                        .enumerate()
                        .filter_map(|(i, n)| Some((i as f64, read(sweep.cell(at, p, *n)?)?)))
                        .collect(),
                    markers: true,
                    in_legend: true,
                    intervals: Vec::new(),
                },
            )
        })
        .filter(|(_, l)| l.points.len() > 1)
        .collect();
    // The takeaway ranks the protocols, not the floor under them.
    let largest: Vec<(String, f64)> = drawn
        .iter()
        .filter(|(p, _)| !view.is_floor(p))
        .filter_map(|(_, l)| Some((l.label.clone(), l.points.last()?.1)))
        .collect();
    let lines: Vec<Line> = drawn.into_iter().map(|(_, l)| l).collect();
    let (payload, op, network) = at;
    if lines.is_empty() {
        return Ok(Chart::missing(format!("{op}: fewer than two sizes measured."), false));
    }
    let values = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (y, y_desc, what) = if bytes {
        (Axis::log_covering(values, Unit::Number), "bytes received per operation", "bytes")
    } else {
        (Axis::log_covering(values, Unit::Nanos), "latency p50", "latency")
    };
    let frame = Frame {
        title: of_group(format!("{op}: {what} vs orders per answer ({payload}, {network})"), family),
        x_desc: "orders per answer (N)".into(),
        y_desc: y_desc.into(),
        width: charts::NARROW,
        plot_height: 280,
    };
    let svg = charts::lines(&frame, &x, &y, &lines, &[])?;
    let n = sizes.last().copied().unwrap_or(0);
    let (low, show): (String, fn(f64) -> String) = if bytes {
        (format!("fewest bytes at N = {n}"), fmt::bytes)
    } else {
        (format!("lowest p50 at N = {n}"), fmt::nanos)
    };
    Ok(Chart::drawn(
        svg,
        "Closed loop at the lowest concurrency, one connection kept open; over every round. Both axes are \
         logarithmic.",
        false,
    )
    .saying(extremes(&largest, (&low, "most"), show))
    .of(op))
}

fn table(view: &View<'_>, sweep: &Sweep<'_>, at: At<'_>) -> Table {
    let sizes = sweep.sizes(at);
    let mut head = vec!["protocol".to_owned()];
    head.extend(sizes.iter().map(|n| format!("N = {n}: p50 · received")));
    let mut t = Table::with_head(head);
    for p in view.protocols() {
        let mut row = vec![td(protocol_label(view, &p))];
        let mut any = false;
        for n in &sizes {
            row.push(match sweep.cell(at, &p, *n) {
                Some(c) => {
                    any = true;
                    td(format!("{} · {}", p50(c).map_or("–".into(), fmt::nanos), fmt::bytes(received(c))))
                }
                None => td_class("–", "na"),
            });
        }
        if any {
            t.rows.push(row);
        }
    }
    t
}

/// The crossovers, computed from the sweep (see the module docs).
pub(crate) fn findings(view: &View<'_>, sweep: &Sweep<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(payload) = view.payloads().into_iter().next() else { return out };
    for op in sweep.ops() {
        for network in sweep.networks() {
            let at = (payload.as_str(), op, network.as_str());
            if sweep.sizes(at).len() < 2 {
                continue;
            }
            out.extend(compression(view, sweep, at));
            if network == wirebench_results::network::LOOPBACK {
                out.extend(encoding_ratio(view, sweep, at));
                out.extend(fixed_costs(view, sweep, at));
            }
        }
    }
    out
}

/// For each compressing variant: the smallest N from which it is faster than the variant it
/// compresses (at every larger N too), or that it is not within the sizes run.
fn compression(view: &View<'_>, sweep: &Sweep<'_>, at: At<'_>) -> Option<Finding> {
    let (_, op, network) = at;
    let sizes = sweep.sizes(at);
    let mut parts = Vec::new();
    for info in &view.r.protocols {
        let Some((codec, of)) = &info.compression else { continue };
        let pairs: Vec<(u32, &Cell, &Cell)> = sizes
            .iter()
            .filter_map(|n| Some((*n, sweep.cell(at, &info.name, *n)?, sweep.cell(at, of, *n)?)))
            .collect();
        let Some(&(top, zc, pc)) = pairs.last() else { continue };
        let faster =
            |(_, z, p): &(u32, &Cell, &Cell)| matches!((p50(z), p50(p)), (Some(a), Some(b)) if a < b);
        let from = pairs
            .iter()
            .rposition(|pair| !faster(pair))
            .map_or(Some(0), |i| (i + 1 < pairs.len()).then_some(i + 1));
        let saved = 1.0 - received(zc) / received(pc).max(1.0);
        let (zl, pl) = (p50(zc).unwrap_or(0.0), p50(pc).unwrap_or(0.0));
        let verdict = match from {
            Some(i) => format!("{codec} ({}) pays from N = {} on", info.name, pairs[i].0),
            None => format!("{codec} ({}) does not pay within N = {}–{top} on", info.name, sizes[0]),
        };
        let bytes = if saved >= 0.0 {
            format!("{:.0} % fewer", saved * 100.0)
        } else {
            format!("{:.0} % more", -saved * 100.0)
        };
        parts.push(format!(
            "{verdict} {network}: at N = {top} it receives {bytes} bytes than {of} and its p50 is {} against {}",
            fmt::nanos(zl),
            fmt::nanos(pl)
        ));
    }
    let pays = parts.iter().filter(|p| p.contains(" pays from ")).count();
    (!parts.is_empty()).then(|| Finding {
        title: format!(
            "On {network}, {pays} of {} compressing variants pay on {op} (faster than their uncompressed twin) within the sizes run.",
            parts.len()
        ),
        text: format!("{}.", parts.join("; ")),
    })
}

/// JSON over protobuf in the records' own bytes (the data layer received per operation, so
/// no transport's framing counts; the smallest variant of each encoding that does not
/// compress), at each size, and where consecutive ratios settle (within 5 % of the next).
fn encoding_ratio(view: &View<'_>, sweep: &Sweep<'_>, at: At<'_>) -> Option<Finding> {
    let (_, op, _) = at;
    let smallest = |encoding: &str, n: u32| {
        view.r
            .protocols
            .iter()
            .filter(|p| p.encoding == encoding && p.compression.is_none())
            .filter_map(|p| sweep.cell(at, &p.name, n).map(|c| c.bytes.received_per_op.data_bytes))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
    };
    let ratios: Vec<(u32, f64)> = sweep
        .sizes(at)
        .into_iter()
        .filter_map(|n| Some((n, smallest("json", n)? / smallest("protobuf", n)?.max(1.0))))
        .collect();
    if ratios.len() < 2 {
        return None;
    }
    let list: Vec<String> = ratios.iter().map(|(n, r)| format!("N = {n}: {r:.2}×")).collect();
    let settles = (0..ratios.len() - 1)
        .find(|&i| ratios[i..].windows(2).all(|w| (w[1].1 - w[0].1).abs() <= 0.05 * w[0].1));
    let end = match settles {
        Some(i) => format!("it settles from N = {} on, near {:.2}×", ratios[i].0, ratios[ratios.len() - 1].1),
        None => "it has not settled within the sizes run".to_owned(),
    };
    let last = ratios[ratios.len() - 1];
    Some(Finding {
        title: format!(
            "On {op}, JSON's records take {} protobuf's bytes at N = {}{}.",
            fmt::ratio(last.1),
            last.0,
            settles.map(|i| format!(", settled from N = {}", ratios[i].0)).unwrap_or_default()
        ),
        text: format!(
            "The records' bytes received per operation (the data layer), the smallest JSON variant over the smallest protobuf one: {}; {end}.",
            list.join(", ")
        ),
    })
}

/// Per protocol, p50 fitted as a + b·N over the sizes (least squares): the per-request cost
/// a, the per-order cost b, and N* = a / b, the size below which the per-request cost
/// dominates.
fn fixed_costs(view: &View<'_>, sweep: &Sweep<'_>, at: At<'_>) -> Option<Finding> {
    let (payload, op, _) = at;
    let sizes = sweep.sizes(at);
    let mut fits: Vec<(f64, String)> = view
        .protocols()
        .iter()
        .filter(|p| !view.is_floor(p))
        .filter_map(|p| {
            let points: Vec<(f64, f64)> =
                sizes.iter().filter_map(|n| Some((f64::from(*n), p50(sweep.cell(at, p, *n)?)?))).collect();
            let (a, b) = line_fit(&points)?;
            let crossover = if a > 0.0 && b > 0.0 {
                format!("N* ≈ {}", fmt::count((a / b).round()))
            } else {
                "no N*".into()
            };
            Some((a, format!("{p} {} + {} per order ({crossover})", fmt::nanos(a), fmt::nanos(b))))
        })
        .collect();
    if fits.len() < 2 {
        return None;
    }
    fits.sort_by(|x, y| y.0.total_cmp(&x.0));
    let (top, name) = (fits[0].0, fits[0].1.split(' ').next().unwrap_or_default().to_owned());
    let parts: Vec<String> = fits.into_iter().map(|(_, s)| s).collect();
    Some(Finding {
        title: format!(
            "On {op} ({payload}), {name} has the highest per-request cost, {} before its first order.",
            fmt::nanos(top)
        ),
        text: format!(
            "p50 fitted as a + b·N over the sizes run, highest per-request cost first; below N* orders per answer \
             the per-request cost dominates: {}.",
            parts.join("; ")
        ),
    })
}

/// Least-squares line through `points`: (intercept, slope); none for fewer than two sizes.
fn line_fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

#[cfg(test)]
mod tests {
    use super::line_fit;

    #[test]
    fn a_line_fit_recovers_intercept_and_slope() {
        let (a, b) = line_fit(&[(1.0, 12.0), (10.0, 30.0), (100.0, 210.0)]).unwrap();
        assert!((a - 10.0).abs() < 1e-9 && (b - 2.0).abs() < 1e-9, "{a} {b}");
        assert!(line_fit(&[(5.0, 1.0)]).is_none());
        assert!(line_fit(&[(5.0, 1.0), (5.0, 2.0)]).is_none());
    }
}
