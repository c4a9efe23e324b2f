//! `wirebench compare A B`: what changed between two results files.
//!
//! Cells are matched by (protocol, operation, payload, mode, concurrency, rate), every repeat
//! of a cell together. Bytes and round trips per operation are almost deterministic for a
//! given build and payload: they move only with variable-length fields such as request ids
//! and counters, so a change under 1 % is noise and anything larger is real. Latency and
//! throughput move from run to run: when both files hold two or more repeats of a cell, the
//! change of its median comes with a 95 % bootstrap interval, and it is significant only when
//! the interval excludes zero. With a single run on either side there is no interval, and a
//! change is called *noise* unless it exceeds a threshold: by default 5 % for throughput and
//! p50 and 20 % for p99 (tails are noisier), adjustable with `--noise`.
//!
//! `--fail-on-regression 5%` makes the command fail when a significant regression is larger
//! than 5 %, naming the cells, so CI can gate on it.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;

use crate::repeats;
use crate::results::Results;
use crate::stats;

/// Options of `wirebench compare`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompareArgs {
    /// The earlier results.json (the baseline).
    pub a: PathBuf,
    /// The later results.json.
    pub b: PathBuf,
    /// Noise threshold for throughput and p50, in percent (p99 gets four times this).
    #[arg(long, default_value_t = 5.0)]
    pub noise: f64,
    /// Where to write the HTML page (default: compare.html beside B).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Fail (exit non-zero) when a significant regression exceeds this, e.g. `5%`.
    #[arg(long, value_parser = percent)]
    pub fail_on_regression: Option<f64>,
}

fn percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|e| format!("{s:?} is not a percentage: {e}"))?;
    if v.is_finite() && v >= 0.0 { Ok(v) } else { Err(format!("{s:?} is not a percentage")) }
}

/// One metric of one matched cell.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub metric: &'static str,
    pub a: f64,
    pub b: f64,
    /// (b − a) / a in percent; 0 when a is 0.
    pub percent: f64,
    /// The change's 95 % bootstrap interval in percent, when both sides have repeats.
    pub interval: Option<(f64, f64)>,
    pub verdict: Verdict,
}

/// How a metric moved from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A significant improvement (or, without repeats, one beyond the noise threshold).
    Better,
    /// A significant regression (or, without repeats, one beyond the noise threshold).
    Worse,
    /// No significant change: the interval includes zero (or, without repeats, the move is
    /// under the noise threshold).
    Noise,
    Same,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Noise => "noise",
            Verdict::Same => "same",
        }
    }
}

/// A matched cell and its changes.
#[derive(Debug, Clone, Serialize)]
pub struct CellDiff {
    pub key: String,
    pub changes: Vec<Change>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub a_revision: String,
    pub b_revision: String,
    pub noise_percent: f64,
    pub cells: Vec<CellDiff>,
    /// Cells present in only one of the files.
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

/// Bytes per operation move under this (request-id and counter digits); above it is real.
pub const BYTES_NOISE_PERCENT: f64 = 1.0;

/// Classifies a change. `higher_is_better` for throughput; `threshold` in percent, `None`
/// for deterministic metrics (any change is real).
fn verdict(a: f64, b: f64, higher_is_better: bool, threshold: Option<f64>) -> (f64, Verdict) {
    let percent = if a == 0.0 { 0.0 } else { (b - a) / a * 100.0 };
    if a == b {
        return (percent, Verdict::Same);
    }
    if let Some(t) = threshold
        && percent.abs() < t
    {
        return (percent, Verdict::Noise);
    }
    let improved = if higher_is_better { b > a } else { b < a };
    (percent, if improved { Verdict::Better } else { Verdict::Worse })
}

/// Classifies a change of a median over repeats by its interval: significant only when the
/// interval excludes zero.
fn significance(change: &crate::stats::Estimate, higher_is_better: bool) -> Verdict {
    if change.median == 0.0 && change.low == 0.0 && change.high == 0.0 {
        Verdict::Same
    } else if change.low > 0.0 {
        if higher_is_better { Verdict::Better } else { Verdict::Worse }
    } else if change.high < 0.0 {
        if higher_is_better { Verdict::Worse } else { Verdict::Better }
    } else {
        Verdict::Noise
    }
}

/// Compares two results.
pub fn compare(a: &Results, b: &Results, noise: f64, names: (&str, &str)) -> Comparison {
    let groups_a = repeats::groups(&a.cells);
    let groups_b = repeats::groups(&b.cells);
    let mut cells = Vec::new();
    let mut only_in_b = Vec::new();
    for (k, gb) in &groups_b {
        let Some((_, ga)) = groups_a.iter().find(|(ka, _)| ka == k) else {
            only_in_b.push(k.clone());
            continue;
        };
        let mut changes = Vec::new();
        // Run-to-run figures: by interval with repeats on both sides, by threshold without.
        let timed: [(&'static str, repeats::Read, bool, f64); 3] = [
            ("throughput ops/s", |c| Some(c.throughput_ops_s), true, noise),
            ("p50 µs", |c| c.latency.as_ref().map(|l| l.p50_ns as f64 / 1e3), false, noise),
            ("p99 µs", |c| c.latency.as_ref().map(|l| l.p99_ns as f64 / 1e3), false, noise * 4.0),
        ];
        for (metric, read, higher_is_better, threshold) in timed {
            let (va, vb) = (repeats::values(ga, read), repeats::values(gb, read));
            if va.is_empty() || vb.is_empty() {
                continue;
            }
            let (ma, mb) = (stats::median(&va), stats::median(&vb));
            let change = (va.len() >= 2 && vb.len() >= 2).then(|| stats::change(&va, &vb)).flatten();
            let (percent, verdict, interval) = match change {
                Some(ch) => (
                    ch.median * 100.0,
                    significance(&ch, higher_is_better),
                    Some((ch.low * 100.0, ch.high * 100.0)),
                ),
                None => {
                    let (p, v) = verdict(ma, mb, higher_is_better, Some(threshold));
                    (p, v, None)
                }
            };
            changes.push(Change { metric, a: ma, b: mb, percent, interval, verdict });
        }
        let exact: [(&'static str, repeats::Read, Option<f64>); 3] = [
            ("sent B/op", |c| Some(c.bytes.sent_per_op.total_bytes), Some(BYTES_NOISE_PERCENT)),
            ("received B/op", |c| Some(c.bytes.received_per_op.total_bytes), Some(BYTES_NOISE_PERCENT)),
            ("round trips/op", |c| Some(c.round_trips_per_op), None),
        ];
        for (metric, read, threshold) in exact {
            let (ma, mb) =
                (stats::median(&repeats::values(ga, read)), stats::median(&repeats::values(gb, read)));
            let (percent, verdict) = verdict(ma, mb, false, threshold);
            changes.push(Change { metric, a: ma, b: mb, percent, interval: None, verdict });
        }
        cells.push(CellDiff { key: k.clone(), changes });
    }
    let only_in_a =
        groups_a.iter().map(|(k, _)| k.clone()).filter(|k| !groups_b.iter().any(|(kb, _)| kb == k)).collect();
    Comparison {
        a: names.0.to_owned(),
        b: names.1.to_owned(),
        a_revision: a.environment.git_revision.clone(),
        b_revision: b.environment.git_revision.clone(),
        noise_percent: noise,
        cells,
        only_in_a,
        only_in_b,
    }
}

/// The regressions larger than `limit` percent: "cell: metric +x %".
pub fn regressions(c: &Comparison, limit: f64) -> Vec<String> {
    c.cells
        .iter()
        .flat_map(|cell| {
            cell.changes
                .iter()
                .filter(move |ch| ch.verdict == Verdict::Worse && ch.percent.abs() > limit)
                .map(move |ch| format!("{}: {} {:+.1} %", cell.key, ch.metric, ch.percent))
        })
        .collect()
}

const TEMPLATE: &str = include_str!("../templates/compare.html");

/// Renders the comparison as a self-contained HTML page.
pub fn render_html(c: &Comparison) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("compare.html", TEMPLATE)?;
    Ok(env.get_template("compare.html")?.render(minijinja::context! { c => c })?)
}

/// Runs `wirebench compare`: prints the table, writes the page, returns its path.
pub fn run(args: &CompareArgs) -> anyhow::Result<PathBuf> {
    let (a, b) = (Results::read(&args.a)?, Results::read(&args.b)?);
    let c = compare(&a, &b, args.noise, (&args.a.display().to_string(), &args.b.display().to_string()));
    println!(
        "{:<44} {:<16} {:>12} {:>12} {:>8} {:>18}  verdict",
        "cell", "metric", "A", "B", "change", "95 % interval"
    );
    for cell in &c.cells {
        for ch in cell.changes.iter().filter(|ch| ch.verdict != Verdict::Same) {
            let interval = ch.interval.map_or_else(String::new, |(lo, hi)| format!("{lo:+.1}..{hi:+.1} %"));
            println!(
                "{:<44} {:<16} {:>12.1} {:>12.1} {:>7.1}% {:>18}  {}",
                cell.key,
                ch.metric,
                ch.a,
                ch.b,
                ch.percent,
                interval,
                ch.verdict.as_str()
            );
        }
    }
    for k in &c.only_in_a {
        println!("only in A: {k}");
    }
    for k in &c.only_in_b {
        println!("only in B: {k}");
    }
    let path = args.html.clone().unwrap_or_else(|| args.b.with_file_name("compare.html"));
    std::fs::write(&path, render_html(&c)?).with_context(|| format!("writing {}", path.display()))?;
    println!("compare: {}", path.display());
    if let Some(limit) = args.fail_on_regression {
        let worse = regressions(&c, limit);
        if !worse.is_empty() {
            anyhow::bail!(
                "{} significant regression(s) beyond {limit} %:\n  {}",
                worse.len(),
                worse.join("\n  ")
            );
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_separate_noise_from_real_changes() {
        assert_eq!(verdict(100.0, 103.0, true, Some(5.0)).1, Verdict::Noise);
        assert_eq!(verdict(100.0, 110.0, true, Some(5.0)).1, Verdict::Better);
        assert_eq!(verdict(100.0, 90.0, true, Some(5.0)).1, Verdict::Worse);
        assert_eq!(verdict(100.0, 90.0, false, Some(5.0)).1, Verdict::Better);
        // Round trips are exact: any change is real.
        assert_eq!(verdict(2.0, 1.0, false, None).1, Verdict::Better);
        assert_eq!(verdict(1.0, 1.01, false, None).1, Verdict::Worse);
        assert_eq!(verdict(7.0, 7.0, false, None).1, Verdict::Same);
    }
}
