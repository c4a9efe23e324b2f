//! The page of a `wirebench faults` run (`faults.html`) and its terminal summary: the claims
//! engineers make about retries judged from the run's figures, retry amplification against
//! the fault rate, duplicates with and without idempotency keys, and goodput over time
//! through an outage. Every sentence is computed from `faults.json`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use plotters::style::RGBColor;

use crate::charts::{Axis, Frame, Line, Stroke, Unit, lines};
use wirebench_results::faults::{FaultCell, FaultsRun, Recovery, Spread};

/// Series colours, in policy order: the report's palette.
const COLORS: [RGBColor; 10] = crate::PALETTE;

/// A claim and what this run says of it.
#[derive(Debug, Clone)]
pub struct Judged {
    pub claim: &'static str,
    /// "holds", "does not hold", "inconclusive" or "not measured".
    pub verdict: &'static str,
    pub evidence: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The median of the finite values in `v`; None when there are none.
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    (!v.is_empty()).then(|| wirebench_results::stats::median(&v))
}

/// "Retries without idempotency keys create duplicate orders."
fn duplicates_claim(run: &FaultsRun) -> Judged {
    let claim = "Retries without idempotency keys create duplicate orders; with keys they do not";
    let lost: Vec<&FaultCell> = run
        .cells
        .iter()
        .filter(|c| c.effects.is_some() && c.counts.lost_retried + c.counts.lost_injected > 0)
        .collect();
    let sum = |keys: bool| -> (i64, u64) {
        lost.iter()
            .filter(|c| c.keys == keys && c.counts.lost_retried > 0)
            .fold((0, 0), |(d, r), c| (d + c.duplicates().unwrap_or(0), r + c.counts.lost_retried))
    };
    let ((with_dup, with_retried), (without_dup, without_retried)) = (sum(true), sum(false));
    if with_retried == 0 || without_retried == 0 {
        let evidence = "no write cell retried a lost answer both with and without keys (add lost=5% and a policy of each kind)".into();
        return Judged { claim, verdict: "not measured", evidence };
    }
    let verdict = if with_dup == 0 && without_dup > 0 { "holds" } else { "does not hold" };
    let evidence = format!(
        "with keys, {with_retried} retried lost answers left {with_dup} duplicate orders; without, {without_retried} left {without_dup}"
    );
    Judged { claim, verdict, evidence }
}

/// "A 20 % retry budget caps amplification near 1.2×."
fn budget_claim(run: &FaultsRun) -> Judged {
    let claim = "A 20 % retry budget caps retry amplification near 1.2×";
    let top =
        run.cells.iter().filter(|c| c.fault_kind == "unavailable").map(|c| c.fault_share).fold(0.0, f64::max);
    let at = |policy: &str| {
        median(
            run.cells
                .iter()
                .filter(|c| c.policy == policy && c.fault_kind == "unavailable" && c.fault_share == top)
                .map(FaultCell::amplification)
                .collect(),
        )
    };
    let (Some(budget), Some(naive)) = (at("budget"), at("naive")) else {
        let evidence = "needs the budget and naive policies on an unavailable fault".into();
        return Judged { claim, verdict: "not measured", evidence };
    };
    // Near 1.2×: within a tenth of it (the budget also grants a floor of retries per second).
    let verdict = if budget <= 1.3 && budget < naive {
        "holds"
    } else if budget >= naive * 0.98 {
        "inconclusive"
    } else {
        "does not hold"
    };
    let evidence = format!(
        "at {:.0} % unavailable, {budget:.2} attempts per operation with the budget, {naive:.2} with naive retries (medians over protocols and operations; judged to hold at 1.3× or less)",
        top * 100.0
    );
    Judged { claim, verdict, evidence }
}

/// "A circuit breaker shortens recovery."
fn breaker_claim(run: &FaultsRun) -> Judged {
    let claim = "A circuit breaker shortens recovery after an outage";
    let of = |policy: &str, protocol: &str| {
        run.recovery.iter().find(|r| r.policy == policy && r.protocol == protocol).map(|r| r.recovery_ms)
    };
    let protocols: BTreeSet<&str> = run.recovery.iter().map(|r| r.protocol.as_str()).collect();
    let mut pairs = Vec::new();
    for p in protocols {
        if let (Some(b), Some(n)) = (of("breaker", p), of("naive", p)) {
            pairs.push((p, b, n));
        }
    }
    if pairs.is_empty() {
        let evidence = "needs recovery cells with the breaker and naive policies".into();
        return Judged { claim, verdict: "not measured", evidence };
    }
    let bin = run.recovery.first().map_or(100, |r| r.bin_ms);
    let ms = |v: Option<u64>| v.map_or("did not recover".to_owned(), |m| format!("{m} ms"));
    let shorter = pairs.iter().filter(|(_, b, n)| n.is_none_or(|n| b.is_some_and(|b| b + bin < n))).count();
    let longer = pairs.iter().filter(|(_, b, n)| b.is_none_or(|b| n.is_some_and(|n| n + bin < b))).count();
    let verdict = if shorter == pairs.len() {
        "holds"
    } else if longer > 0 && shorter == 0 {
        "does not hold"
    } else {
        "inconclusive"
    };
    let evidence = pairs
        .iter()
        .map(|(p, b, n)| format!("{p}: {} with the breaker, {} naive", ms(*b), ms(*n)))
        .collect::<Vec<_>>()
        .join("; ")
        + &format!(" (one bin is {bin} ms; a difference under it is none)");
    Judged { claim, verdict, evidence }
}

/// "Jitter spreads retries out."
fn jitter_claim(run: &FaultsRun) -> Judged {
    let claim = "Jitter spreads retries out";
    let protocols: BTreeSet<&str> = run.spread.iter().map(|s| s.protocol.as_str()).collect();
    let mut pairs = Vec::new();
    for p in protocols {
        let of = |none: bool| run.spread.iter().find(|s| s.protocol == p && (s.jitter == "none") == none);
        if let (Some(j), Some(n)) = (of(false), of(true)) {
            pairs.push((p, j.peak_to_mean, n.peak_to_mean, j.bin_ms, j.clients));
        }
    }
    let Some(&(_, _, _, bin, clients)) = pairs.first() else {
        let evidence = "needs the spread cells (`--jitter-policy`)".into();
        return Judged { claim, verdict: "not measured", evidence };
    };
    // Spread out: the busiest bin at most half as far above the mean as without jitter.
    let spread = pairs.iter().filter(|(_, j, n, ..)| *j <= 0.5 * n).count();
    let verdict = if spread == pairs.len() {
        "holds"
    } else if spread == 0 {
        "does not hold"
    } else {
        "inconclusive"
    };
    let each = pairs
        .iter()
        .map(|(p, j, n, ..)| format!("{p} {j:.1}× with jitter, {n:.1}× without"))
        .collect::<Vec<_>>()
        .join("; ");
    let evidence = format!(
        "{clients} clients failing at once: the busiest {bin} ms bin of retries over the mean bin, {each} (judged to hold at half or less)"
    );
    Judged { claim, verdict, evidence }
}

/// Attempts per bin through the outage for one protocol, with and without jitter.
fn spread_chart(spreads: &[&Spread]) -> anyhow::Result<String> {
    let series: Vec<Line> = spreads
        .iter()
        .enumerate()
        .map(|(i, s)| Line {
            label: format!("{} (jitter {})", s.policy, s.jitter),
            color: COLORS[i % COLORS.len()],
            stroke: Stroke::Solid,
            points: s
                .attempts
                .iter()
                .enumerate()
                .map(|(b, n)| ((b as u64 * s.bin_ms) as f64, *n as f64))
                .collect(),
            markers: false,
            in_legend: true,
            intervals: Vec::new(),
        })
        .collect();
    let all = || series.iter().flat_map(|l| l.points.iter().copied());
    let x = Axis::linear_from_zero(all().map(|p| p.0), Unit::Number);
    let y = Axis::linear_from_zero(all().map(|p| p.1), Unit::Number);
    let first = spreads[0];
    let frame = Frame {
        title: format!("{}: when {} clients' retries arrive during an outage", first.protocol, first.clients),
        x_desc: "ms from the outage's start".into(),
        y_desc: format!("attempts per {} ms", first.bin_ms),
        width: 760,
        plot_height: 200,
    };
    Ok(lines(&frame, &x, &y, &series, &[])?)
}

/// The claims, judged.
pub fn claims(run: &FaultsRun) -> Vec<Judged> {
    vec![duplicates_claim(run), budget_claim(run), breaker_claim(run), jitter_claim(run)]
}

fn policies(run: &FaultsRun) -> Vec<String> {
    let mut seen = Vec::new();
    for c in &run.cells {
        if !seen.contains(&c.policy) {
            seen.push(c.policy.clone());
        }
    }
    seen
}

/// Attempts per operation against the share of calls refused, one line per policy (the
/// median over protocols) for `op`.
fn amplification_chart(run: &FaultsRun, op: &str) -> anyhow::Result<Option<String>> {
    let series: Vec<Line> = policies(run)
        .iter()
        .enumerate()
        .filter_map(|(i, policy)| {
            let shares: BTreeSet<u64> = run
                .cells
                .iter()
                .filter(|c| c.fault_kind == "unavailable" && c.operation == op)
                .map(|c| (c.fault_share * 1e6) as u64)
                .collect();
            let points: Vec<(f64, f64)> = shares
                .into_iter()
                .filter_map(|s| {
                    let amps = run
                        .cells
                        .iter()
                        .filter(|c| c.policy == *policy && c.operation == op && c.fault_kind == "unavailable")
                        .filter(|c| (c.fault_share * 1e6) as u64 == s)
                        .map(FaultCell::amplification)
                        .collect();
                    Some((s as f64 / 1e4, median(amps)?))
                })
                .collect();
            (!points.is_empty()).then(|| Line {
                label: policy.clone(),
                color: COLORS[i % COLORS.len()],
                stroke: Stroke::Solid,
                points,
                markers: true,
                in_legend: true,
                intervals: Vec::new(),
            })
        })
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let all = || series.iter().flat_map(|l| l.points.iter().copied());
    let x = Axis::linear_from_zero(all().map(|p| p.0), Unit::Number);
    let y = Axis::linear_from_zero(all().map(|p| p.1), Unit::Number);
    let frame = Frame {
        title: format!("{op}: attempts per operation as calls are refused"),
        x_desc: "calls refused (unavailable), %".into(),
        y_desc: "attempts per logical operation".into(),
        width: 760,
        plot_height: 300,
    };
    Ok(Some(lines(&frame, &x, &y, &series, &[])?))
}

/// Goodput per bin through the outage, one line per policy, and the offered rate.
fn recovery_chart(recs: &[&Recovery]) -> anyhow::Result<String> {
    let first = recs[0];
    let to_line = |label: String, color, stroke, v: &[u64]| Line {
        label,
        color,
        stroke,
        points: v
            .iter()
            .enumerate()
            .map(|(i, n)| (i as f64 * first.bin_ms as f64 / 1000.0, *n as f64 * 1000.0 / first.bin_ms as f64))
            .collect(),
        markers: false,
        in_legend: true,
        intervals: Vec::new(),
    };
    let mut series = vec![to_line("offered".into(), COLORS[9], Stroke::Dashed, &first.offered)];
    for (i, r) in recs.iter().enumerate() {
        series.push(to_line(format!("{} goodput", r.policy), COLORS[i % 9], Stroke::Solid, &r.goodput));
    }
    let all = || series.iter().flat_map(|l| l.points.iter().copied());
    let x = Axis::linear_from_zero(all().map(|p| p.0), Unit::Number);
    let y = Axis::linear_from_zero(all().map(|p| p.1), Unit::Number);
    let frame = Frame {
        title: format!(
            "{} {}: goodput through an outage from {:.1} s to {:.1} s",
            first.protocol,
            first.operation,
            first.outage_start_ms as f64 / 1000.0,
            (first.outage_start_ms + first.outage_ms) as f64 / 1000.0
        ),
        x_desc: "time, s".into(),
        y_desc: "successful operations per second".into(),
        width: 760,
        plot_height: 260,
    };
    Ok(lines(&frame, &x, &y, &series, &[])?)
}

fn us(v: Option<f64>) -> String {
    v.map_or("–".into(), crate::fmt::micros)
}

fn cells_table(run: &FaultsRun, out: &mut String) {
    out.push_str("<table><tr><th>protocol</th><th>operation</th><th>fault</th><th>policy</th><th>success</th><th>attempts/op</th><th>duplicates</th><th>p50 / p99 / p99.9 of the operation</th><th>p99 of one attempt</th><th>bytes on failed attempts</th><th>failed fast</th></tr>");
    for c in &run.cells {
        let dup =
            c.duplicates().map_or("–".into(), |d| format!("{d} ({} retried lost)", c.counts.lost_retried));
        let _ = write!(
            out,
            "<tr data-protocol=\"{p}\"><td>{p}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{:.1} %</td><td>{:.2}</td><td>{dup}</td><td>{} / {} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.operation),
            esc(&c.fault),
            esc(&c.policy),
            if c.keys { " (keys)" } else { "" },
            c.success_rate() * 100.0,
            c.amplification(),
            us(c.logical_us.p50),
            us(c.logical_us.p99),
            us(c.logical_us.p999),
            us(c.attempt_us.p99),
            crate::fmt::bytes(c.counts.wasted_bytes as f64),
            c.counts.failed_fast,
            p = esc(&c.protocol),
        );
    }
    out.push_str("</table>");
}

/// Renders the page.
pub fn render(run: &FaultsRun) -> anyhow::Result<String> {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>wirebench faults</title><style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1d232a}table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{padding:.2rem .5rem;border-bottom:1px solid #e3e6ea;text-align:right}th:nth-child(-n+4),td:nth-child(-n+4){text-align:left}.holds{color:#0a7d32;font-weight:600}.does-not-hold{color:#b3261e;font-weight:600}.inconclusive,.not-measured{color:#7a828c;font-weight:600}</style></head><body><h1>When calls fail</h1>",
    );
    let _ = write!(
        out,
        "<p>Seed {} (<code>wirebench faults --seed {}</code> repeats every draw) · revision {} · through {} · {} cells, {} recovery runs. Fault shares, policies and rates are inputs; everything else is measured.</p><h2>Claims checked</h2><ul>",
        run.seed,
        run.seed,
        esc(&run.via),
        esc(&run.git_revision),
        run.cells.len(),
        run.recovery.len()
    );
    for j in claims(run) {
        let class = j.verdict.replace(' ', "-");
        let _ = write!(
            out,
            "<li><b>{}</b>: <span class=\"{class}\">{}</span>. {}.</li>",
            j.claim,
            j.verdict,
            esc(&j.evidence)
        );
    }
    out.push_str("</ul><h2>Retry amplification</h2>");
    let ops: BTreeSet<&str> = run.cells.iter().map(|c| c.operation.as_str()).collect();
    for op in ops {
        if let Some(svg) = amplification_chart(run, op)? {
            out.push_str(&svg);
        }
    }
    out.push_str("<h2>Recovery after an outage near capacity</h2>");
    let protocols: BTreeSet<&str> = run.recovery.iter().map(|r| r.protocol.as_str()).collect();
    for p in protocols {
        let recs: Vec<&Recovery> = run.recovery.iter().filter(|r| r.protocol == p).collect();
        out.push_str(&recovery_chart(&recs)?);
        out.push_str("<p>");
        for r in &recs {
            let back = r.recovery_ms.map_or("did not recover within the run".to_owned(), |m| {
                format!("recovered {m} ms after the outage")
            });
            let breaker = if r.breaker.is_empty() {
                String::new()
            } else {
                let states: Vec<String> =
                    r.breaker.iter().map(|(ms, s)| format!("{s} at {:.2} s", *ms as f64 / 1000.0)).collect();
                format!(", the breaker {} ({} calls failed fast)", states.join(", "), r.failed_fast)
            };
            let _ = write!(
                out,
                "{}: offered {:.0} ops/s ({:.0} % of the {:.0} measured), {back}{breaker}, {} attempts for {} operations, {} arrivals dropped with 256 operations already in flight (the generator or the server behind). ",
                esc(&r.policy),
                r.rate_ops_s,
                r.rate_ops_s / r.capacity_ops_s.max(1.0) * 100.0,
                r.capacity_ops_s,
                r.attempts_total,
                r.logical,
                r.dropped
            );
        }
        out.push_str("</p>");
    }
    out.push_str("<h2>Retries of clients that failed at once</h2>");
    let protocols: BTreeSet<&str> = run.spread.iter().map(|s| s.protocol.as_str()).collect();
    for p in protocols {
        let spreads: Vec<&Spread> = run.spread.iter().filter(|s| s.protocol == p).collect();
        out.push_str(&spread_chart(&spreads)?);
    }
    out.push_str("<h2>Every cell</h2>");
    cells_table(run, &mut out);
    out.push_str("<h2>Policies</h2><ul>");
    for (name, about) in &run.policies {
        let _ = write!(out, "<li><b>{}</b>: {}</li>", esc(name), esc(about));
    }
    out.push_str("</ul></body></html>\n");
    Ok(out)
}

/// Writes `faults.html` into `dir`.
pub fn write(dir: &Path, run: &FaultsRun) -> anyhow::Result<PathBuf> {
    let path = dir.join("faults.html");
    std::fs::write(&path, render(run)?).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The terminal summary: the claims, then per operation and fault each policy's success,
/// attempts per operation and duplicates, one column per protocol.
pub fn terminal(run: &FaultsRun) -> String {
    let mut out = String::new();
    for j in claims(run) {
        let _ = writeln!(out, "{}: {} ({})", j.claim, j.verdict.to_uppercase(), j.evidence);
    }
    let protocols: Vec<String> =
        run.cells.iter().map(|c| c.protocol.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let _ = write!(out, "\n{:<14} {:<17} {:<15}", "operation", "fault", "policy");
    for p in &protocols {
        let _ = write!(out, " {:>22}", format!("{p}: ok% ×att dup"));
    }
    out.push('\n');
    let mut rows: Vec<(&str, &str, &str)> = Vec::new();
    for c in &run.cells {
        let row = (c.operation.as_str(), c.fault.as_str(), c.policy.as_str());
        if !rows.contains(&row) {
            rows.push(row);
        }
    }
    for (op, fault, policy) in rows {
        let _ = write!(out, "{op:<14} {fault:<17} {policy:<15}");
        for p in &protocols {
            let cell = run
                .cells
                .iter()
                .find(|c| c.protocol == *p && c.operation == op && c.fault == fault && c.policy == policy);
            let text = cell.map_or("–".into(), |c| {
                let dup = c.duplicates().map_or(String::new(), |d| format!(" {d}"));
                format!("{:.1} {:.2}{dup}", c.success_rate() * 100.0, c.amplification())
            });
            let _ = write!(out, " {text:>22}");
        }
        out.push('\n');
    }
    for r in &run.recovery {
        let back = r.recovery_ms.map_or("no recovery".to_owned(), |m| format!("recovered in {m} ms"));
        let _ = writeln!(
            out,
            "recovery {} {} at {:.0} ops/s: {back} ({} of {} arrivals dropped)",
            r.protocol,
            r.policy,
            r.rate_ops_s,
            r.dropped,
            r.offered.iter().sum::<u64>()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(policy: &str, keys: bool, (effects, succeeded, lost_retried): (u64, u64, u64)) -> FaultCell {
        let json = serde_json::json!({
            "protocol": "p", "operation": "create-order", "fault": "lost=5%", "fault_kind": "lost",
            "fault_share": 0.05, "policy": policy, "keys": keys, "concurrency": 1, "logical": succeeded,
            "succeeded": succeeded, "attempts": succeeded + lost_retried, "failed_fast": 0,
            "lost_injected": lost_retried, "lost_retried": lost_retried, "resets_injected": 0,
            "refusals": 0, "timeouts": 0, "denied": 0, "wasted_bytes": 0, "effects": effects,
            "injected": {}, "logical_us": {"count": 0}, "attempt_us": {"count": 0}, "errors": {},
            "breaker": []
        });
        serde_json::from_value(json).unwrap()
    }

    fn run(cells: Vec<FaultCell>) -> FaultsRun {
        FaultsRun {
            version: 1,
            started_at: String::new(),
            finished_at: String::new(),
            command: String::new(),
            git_revision: String::new(),
            seed: 1,
            via: "direct".into(),
            policies: Vec::new(),
            cells,
            recovery: Vec::new(),
            spread: Vec::new(),
        }
    }

    #[test]
    fn the_duplicates_claim_is_judged_from_the_store_counts() {
        let holds = run(vec![cell("backoff", true, (100, 100, 7)), cell("naive", false, (107, 100, 7))]);
        let j = duplicates_claim(&holds);
        assert_eq!(j.verdict, "holds", "{j:?}");
        assert!(j.evidence.contains("without, 7 left 7"), "{j:?}");
        // A keyed cell that duplicated: the claim's second half fails.
        let fails = run(vec![cell("backoff", true, (102, 100, 7)), cell("naive", false, (107, 100, 7))]);
        assert_eq!(duplicates_claim(&fails).verdict, "does not hold");
        assert_eq!(duplicates_claim(&run(vec![])).verdict, "not measured");
        assert_eq!(breaker_claim(&run(vec![])).verdict, "not measured");
        assert_eq!(jitter_claim(&run(vec![])).verdict, "not measured");
        let page = render(&holds).unwrap();
        assert!(page.contains("class=\"holds\"") && page.contains("<table>"), "{page}");
    }
}
