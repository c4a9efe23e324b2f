//! `wirebench compare A B`: what changed between two results files.
//!
//! Cells are matched by (protocol, operation, payload, mode, concurrency, rate). Bytes and
//! round trips per operation are almost deterministic for a given build and payload: they
//! move only with variable-length fields such as request ids and counters, so a change under
//! 1 % is noise and anything larger is real. Latency and throughput move from run to run on
//! a shared machine, so a change is called *noise* unless it exceeds a threshold: by default
//! 5 % for throughput and p50 and 20 % for p99 (tails are noisier), adjustable with `--noise`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::results::{Cell, Results};

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
}

/// One metric of one matched cell.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub metric: &'static str,
    pub a: f64,
    pub b: f64,
    /// (b − a) / a in percent; 0 when a is 0.
    pub percent: f64,
    pub verdict: Verdict,
}

/// How a metric moved from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    /// Moved, but less than the metric's noise threshold.
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

fn key(c: &Cell) -> String {
    let load =
        c.rate.map_or_else(|| format!("c{}", c.concurrency), |r| format!("{r:.0}/s c{}", c.concurrency));
    format!("{} {} {} {load}", c.protocol, c.operation.name(), c.payload)
}

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

/// Compares two results.
pub fn compare(a: &Results, b: &Results, noise: f64, names: (&str, &str)) -> Comparison {
    let mut cells = Vec::new();
    let mut only_in_b = Vec::new();
    for cb in &b.cells {
        let k = key(cb);
        let Some(ca) = a.cells.iter().find(|c| key(c) == k) else {
            only_in_b.push(k);
            continue;
        };
        let mut changes = Vec::new();
        let mut push = |metric, x: f64, y: f64, higher_is_better, threshold| {
            let (percent, verdict) = verdict(x, y, higher_is_better, threshold);
            changes.push(Change { metric, a: x, b: y, percent, verdict });
        };
        push("throughput ops/s", ca.throughput_ops_s, cb.throughput_ops_s, true, Some(noise));
        if let (Some(la), Some(lb)) = (&ca.latency, &cb.latency) {
            push("p50 µs", la.p50_ns as f64 / 1e3, lb.p50_ns as f64 / 1e3, false, Some(noise));
            push("p99 µs", la.p99_ns as f64 / 1e3, lb.p99_ns as f64 / 1e3, false, Some(noise * 4.0));
        }
        let bytes = Some(BYTES_NOISE_PERCENT);
        push("sent B/op", ca.bytes.sent_per_op.total_bytes, cb.bytes.sent_per_op.total_bytes, false, bytes);
        push(
            "received B/op",
            ca.bytes.received_per_op.total_bytes,
            cb.bytes.received_per_op.total_bytes,
            false,
            bytes,
        );
        push("round trips/op", ca.round_trips_per_op, cb.round_trips_per_op, false, None);
        cells.push(CellDiff { key: k, changes });
    }
    let only_in_a = a.cells.iter().map(key).filter(|k| !b.cells.iter().any(|c| key(c) == *k)).collect();
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

fn load(path: &Path) -> anyhow::Result<Results> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let results: Results =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(
        results.version == crate::results::RESULTS_VERSION,
        "{} is results version {}, this wirebench reads version {}",
        path.display(),
        results.version,
        crate::results::RESULTS_VERSION
    );
    Ok(results)
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
    let (a, b) = (load(&args.a)?, load(&args.b)?);
    let c = compare(&a, &b, args.noise, (&args.a.display().to_string(), &args.b.display().to_string()));
    println!("{:<44} {:<16} {:>12} {:>12} {:>8}  verdict", "cell", "metric", "A", "B", "change");
    for cell in &c.cells {
        for ch in cell.changes.iter().filter(|ch| ch.verdict != Verdict::Same) {
            println!(
                "{:<44} {:<16} {:>12.1} {:>12.1} {:>7.1}%  {}",
                cell.key,
                ch.metric,
                ch.a,
                ch.b,
                ch.percent,
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
