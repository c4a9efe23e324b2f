//! `wirebench compare A B`: what changed between two results files.
//!
//! Cells are matched by their key (protocol, operation, payload, load point, network, TLS,
//! streams, size), every round of a cell together. Round trips per operation are exact.
//! Bytes per operation are almost deterministic for a given build and payload: they move with
//! variable-length fields such as request ids and counters, and, under load, with the
//! flow-control and acknowledgement frames timing decides, so a change under 1 % is noise and
//! a larger one is significant when its interval over the rounds excludes zero. Latency and throughput move from run to run. Each is taken over every call
//! of a cell's rounds (see [`wirebench_results::stats`]); when both files hold two rounds or more, its
//! change comes with a 95 % bootstrap interval (both sides' rounds resampled), and it is
//! significant only when the interval excludes zero *and* the change is at least the noise
//! threshold, as criterion judges a change: by default 5 % for throughput and p50, 20 % for
//! p99 (tails are noisier), adjustable with `--noise`. The threshold is what two runs of the
//! same binary on a shared 2-core VM differ by (its speed drifts by a few percent from
//! minute to minute, every cell together). So each timed metric's run-wide move on each
//! network (the median of its cells' changes, with its interval) is judged first, as one line
//! of its own, and each cell is judged by how far it moved *beyond* the move of its network
//! (the machine's speed moves loopback cells; an emulated link's latency is its delays, which
//! the machine's speed barely touches): a machine that ran 3 % slower the
//! second time reads as one line, not as a hundred regressions, and a change that slows every
//! cell by 20 % is still a significant regression of the whole run. A cell is called only when
//! its change is significant both as measured and beyond its network's move: the move is a
//! median, and a machine's speed does not move every cell alike (two quick runs of one revision
//! on the 2-core VM: graphql's cells 8–12 % faster the second time, rest get-user at c=1 not
//! at all, the median −2.9 %), so a verdict that exists only after removing it is not one. With a single round on
//! either side there is no interval, and the threshold alone decides.
//!
//! `--fail-on-regression 5%` makes the command fail when a significant regression is larger
//! than 5 %, naming the cells, so CI can gate on it.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;

use wirebench_results::repeats::{self, Figure, Measure, Rounds};
use wirebench_results::stats;
use wirebench_results::{Cell, Results};

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
    /// Print every row that moved (noise included), not only the significant ones.
    #[arg(long)]
    pub all: bool,
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
    /// Timed metrics: the change beyond the run-wide move of the metric (see [`Shift`]), in
    /// percent, which the verdict judges.
    pub beyond_shift: Option<f64>,
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
    /// The cell's network: its timed changes are judged beyond that network's move.
    pub network: String,
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
    /// How far each timed metric moved across the whole run (the median of every cell's
    /// change): the machine's speed, or a change that touches every cell. Each cell is judged
    /// against it.
    pub shifts: Vec<Shift>,
    pub cells: Vec<CellDiff>,
    /// Cells present in only one of the files.
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

/// The median move of one timed metric over the matched cells of one network.
#[derive(Debug, Clone, Serialize)]
pub struct Shift {
    pub metric: &'static str,
    pub network: String,
    pub percent: f64,
    /// 95 % bootstrap interval over the cells.
    pub interval: (f64, f64),
    pub cells: usize,
    /// Significant when its interval excludes zero and it is at least the noise threshold:
    /// then the run as a whole is better or worse.
    pub verdict: Verdict,
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

/// Classifies a change with its interval (in percent): significant only when the interval
/// excludes zero and the change is at least `threshold` percent (criterion's noise
/// threshold: a machine's speed moves a few percent between runs, see the module docs).
fn significance(percent: f64, (low, high): (f64, f64), higher_is_better: bool, threshold: f64) -> Verdict {
    if percent == 0.0 && low == 0.0 && high == 0.0 {
        Verdict::Same
    } else if (low <= 0.0 && high >= 0.0) || percent.abs() < threshold {
        Verdict::Noise
    } else if (percent > 0.0) == higher_is_better {
        Verdict::Better
    } else {
        Verdict::Worse
    }
}

/// A's figure, B's, the change in percent, and its interval when there is one.
type Moved = (f64, f64, f64, Option<(f64, f64)>);

/// The change of one figure from A's rounds of a cell to B's, in percent, with its 95 %
/// interval (both sides' rounds resampled) when both have two rounds or more.
pub(crate) fn change(a: &Rounds<'_>, b: &Rounds<'_>, m: Measure) -> Option<Moved> {
    let (na, nb) = (a.cells.len(), b.cells.len());
    let fa = a.measure(m, &vec![1.0; na])?;
    let fb = b.measure(m, &vec![1.0; nb])?;
    let ratio = |w: &[Vec<f64>]| Some(b.measure(m, &w[1])? / a.measure(m, &w[0])? * 100.0 - 100.0);
    let interval = (na >= 2 && nb >= 2).then(|| stats::bootstrap(&[na, nb], ratio)).flatten();
    Some((fa, fb, if fa == 0.0 { 0.0 } else { fb / fa * 100.0 - 100.0 }, interval))
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
        let (ra, rb) = (Rounds::new(ga.clone()), Rounds::new(gb.clone()));
        let mut changes = Vec::new();
        // Run-to-run figures: by interval and threshold with rounds on both sides, by threshold
        // alone without.
        for (metric, figure, _) in TIMED {
            let Some((ma, mb, percent, interval)) = change(&ra, &rb, figure.measure()) else { continue };
            // Judged below, once the run-wide move of each metric is known.
            let verdict = Verdict::Same;
            changes.push(Change { metric, a: ma, b: mb, percent, interval, beyond_shift: None, verdict });
        }
        let bytes: [(&'static str, Measure); 2] = [
            ("sent B/op", Measure::PerOp(|c| Some(c.bytes.sent_per_op.total_bytes))),
            ("received B/op", Measure::PerOp(|c| Some(c.bytes.received_per_op.total_bytes))),
        ];
        for (metric, m) in bytes {
            let Some((ma, mb, percent, interval)) = change(&ra, &rb, m) else { continue };
            let verdict = match interval {
                Some(i) => significance(percent, i, false, BYTES_NOISE_PERCENT),
                None => verdict(ma, mb, false, Some(BYTES_NOISE_PERCENT)).1,
            };
            let verdict = if ma == mb { Verdict::Same } else { verdict };
            changes.push(Change { metric, a: ma, b: mb, percent, interval, beyond_shift: None, verdict });
        }
        let med = |g: &[&Cell]| stats::median(&g.iter().map(|c| c.round_trips_per_op).collect::<Vec<_>>());
        let (ma, mb) = (med(ga), med(gb));
        let (percent, v) = verdict(ma, mb, false, None);
        let metric = "round trips/op";
        changes.push(Change {
            metric,
            a: ma,
            b: mb,
            percent,
            interval: None,
            beyond_shift: None,
            verdict: v,
        });
        cells.push(CellDiff { key: k.clone(), network: ga[0].network.clone(), changes });
    }
    let only_in_a =
        groups_a.iter().map(|(k, _)| k.clone()).filter(|k| !groups_b.iter().any(|(kb, _)| kb == k)).collect();
    let shifts = judge_timed(&mut cells, noise);
    Comparison {
        a: names.0.to_owned(),
        b: names.1.to_owned(),
        a_revision: a.environment.git_revision.clone(),
        b_revision: b.environment.git_revision.clone(),
        noise_percent: noise,
        shifts,
        cells,
        only_in_a,
        only_in_b,
    }
}

/// The timed metrics: name, figure, and the noise threshold's multiple (p99 is noisier).
const TIMED: [(&str, Figure, f64); 3] = [
    ("throughput ops/s", Figure::Throughput, 1.0),
    ("p50 µs", Figure::P50, 1.0),
    ("p99 µs", Figure::P99, 4.0),
];

/// Judges every cell's timed changes beyond the run-wide move of each metric on the cell's
/// network; returns the moves, themselves judged.
fn judge_timed(cells: &mut [CellDiff], noise: f64) -> Vec<Shift> {
    let mut networks: Vec<String> = cells.iter().map(|c| c.network.clone()).collect();
    networks.sort();
    networks.dedup();
    let shifts: Vec<Shift> = networks
        .iter()
        .flat_map(|net| TIMED.iter().map(move |t| (net, t)))
        .filter_map(|(net, (metric, f, times))| {
            shift(cells, net, metric, f.higher_is_better(), noise * times)
        })
        .collect();
    for cell in cells {
        for ch in &mut cell.changes {
            let Some(&(_, f, times)) = TIMED.iter().find(|(m, ..)| *m == ch.metric) else {
                continue;
            };
            let (better_up, threshold) = (f.higher_is_better(), noise * times);
            let s = shifts
                .iter()
                .find(|s| s.metric == ch.metric && s.network == cell.network)
                .map_or(0.0, |s| s.percent);
            let beyond = |p: f64| ((1.0 + p / 100.0) / (1.0 + s / 100.0) - 1.0) * 100.0;
            ch.beyond_shift = Some(beyond(ch.percent));
            let (raw, net) = match ch.interval {
                Some((lo, hi)) => (
                    significance(ch.percent, (lo, hi), better_up, threshold),
                    significance(beyond(ch.percent), (beyond(lo), beyond(hi)), better_up, threshold),
                ),
                None => (
                    verdict(ch.a, ch.b, better_up, Some(threshold)).1,
                    verdict(ch.a * (1.0 + s / 100.0), ch.b, better_up, Some(threshold)).1,
                ),
            };
            // Called only when it holds with and without the run-wide move removed: that move
            // is a median, and a machine's speed does not move every cell alike (its CPU-heavy
            // cells move most, a cell that waits on the kernel hardly at all).
            ch.verdict = if raw == net { raw } else { Verdict::Noise };
        }
    }
    shifts
}

/// The run-wide move of `metric` on `network`: the median of its matched cells' changes, with
/// a bootstrap interval over the cells, judged like a cell's; None with fewer than three cells.
fn shift(
    cells: &[CellDiff],
    network: &str,
    metric: &'static str,
    higher_is_better: bool,
    threshold: f64,
) -> Option<Shift> {
    let moves: Vec<f64> = cells
        .iter()
        .filter(|c| c.network == network)
        .filter_map(|c| c.changes.iter().find(|ch| ch.metric == metric))
        .map(|ch| ch.percent)
        .collect();
    if moves.len() < 3 {
        return None;
    }
    let e = stats::estimate(&moves)?;
    let verdict = significance(e.value, (e.low, e.high), higher_is_better, threshold);
    let network = network.to_owned();
    Some(Shift { metric, network, percent: e.value, interval: (e.low, e.high), cells: moves.len(), verdict })
}

/// The regressions larger than `limit` percent: "cell: metric +x %".
pub fn regressions(c: &Comparison, limit: f64) -> Vec<String> {
    let run = c.shifts.iter().filter(|s| s.verdict == Verdict::Worse && s.percent.abs() > limit).map(|s| {
        format!(
            "the whole run on {} ({} cells' median): {} {:+.1} %",
            s.network, s.cells, s.metric, s.percent
        )
    });
    let cells = c.cells.iter().flat_map(|cell| {
        cell.changes
            .iter()
            .filter(move |ch| {
                ch.verdict == Verdict::Worse && ch.beyond_shift.unwrap_or(ch.percent).abs() > limit
            })
            .map(move |ch| match ch.beyond_shift {
                Some(b) if b != ch.percent => {
                    format!(
                        "{}: {} {:+.1} % ({b:+.1} % beyond the run's move)",
                        cell.key, ch.metric, ch.percent
                    )
                }
                _ => format!("{}: {} {:+.1} %", cell.key, ch.metric, ch.percent),
            })
    });
    run.chain(cells).collect()
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
    let significant = |ch: &Change| matches!(ch.verdict, Verdict::Better | Verdict::Worse);
    let count =
        |v: Verdict| c.cells.iter().filter(|cell| cell.changes.iter().any(|ch| ch.verdict == v)).count();
    println!(
        "{} cells matched (A revision {}, B revision {}); cells with a significant regression: {}, improvement: {}",
        c.cells.len(),
        c.a_revision,
        c.b_revision,
        count(Verdict::Worse),
        count(Verdict::Better)
    );
    for s in &c.shifts {
        println!(
            "{} on {} moved {:+.1} % [{:+.1} to {:+.1}], {} (the median of {} cells' changes: the machine's speed, or a change that touches every cell; each cell is called when it moved both as measured and beyond its network's move)",
            s.metric,
            s.network,
            s.percent,
            s.interval.0,
            s.interval.1,
            s.verdict.as_str(),
            s.cells
        );
    }
    println!(
        "{:<44} {:<16} {:>12} {:>12} {:>8} {:>18}  verdict",
        "cell", "metric", "A", "B", "change", "95 % interval"
    );
    for cell in &c.cells {
        for ch in cell
            .changes
            .iter()
            .filter(|ch| if args.all { ch.verdict != Verdict::Same } else { significant(ch) })
        {
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

    /// A cell of `protocol` on `network` whose three rounds each answer in `us` µs.
    fn rounds(protocol: &str, network: &str, us: u64) -> Vec<Cell> {
        (0..3)
            .map(|i| {
                let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
                h.record_n(us * 1000 + i, 100).unwrap();
                let mut c: Cell =
                    serde_json::from_value(wirebench_results::tests_support::cell_json()).unwrap();
                c.protocol = protocol.to_owned();
                c.network = network.to_owned();
                c.repeat = i as u32;
                c.latency = wirebench_results::Latency::of(&h);
                c.ops = 100;
                c.elapsed_s = 100.0 * us as f64 / 1e6;
                c.throughput_ops_s = 1e6 / us as f64;
                c
            })
            .collect()
    }

    fn results(cells: Vec<Cell>) -> Results {
        let json = wirebench_results::tests_support::results_json(serde_json::to_value(cells).unwrap());
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn each_cell_is_judged_beyond_its_own_networks_move() {
        // The machine ran 20 % faster the second time: twelve loopback cells moved with it, one
        // stood still, one got 30 % slower; the wan cells, whose latency is the link's delays,
        // did not move at all.
        let protocols = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"];
        let build = |loopback: [u64; 14]| {
            let near = protocols.iter().zip(loopback).flat_map(|(p, us)| rounds(p, "loopback", us));
            let far = protocols.iter().flat_map(|p| rounds(p, "wan", 40_000));
            results(near.chain(far).collect())
        };
        let (a, b) = (build([100; 14]), build([80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 100, 130]));
        let c = compare(&a, &b, 5.0, ("a", "b"));
        let p50 = |net: &str| c.shifts.iter().find(|s| s.metric == "p50 µs" && s.network == net).unwrap();
        assert!((p50("loopback").percent + 20.0).abs() < 0.5, "{:?}", p50("loopback"));
        assert_eq!(p50("loopback").verdict, Verdict::Better, "{:?}", p50("loopback"));
        assert!(p50("wan").percent.abs() < 0.5);
        let verdicts = |net: &str| -> Vec<(String, Verdict)> {
            c.cells
                .iter()
                .filter(|cell| cell.network == net)
                .flat_map(|cell| cell.changes.iter().filter(|ch| ch.metric == "p50 µs"))
                .map(|ch| (format!("{:.0}", ch.percent), ch.verdict))
                .collect()
        };
        // The cell that got slower is the one regression, in the figures as measured and beyond
        // the machine's move; the one that stood still is a regression only beyond that move,
        // which may not apply to it (a cell that waits on the kernel hardly speeds up with the
        // CPU), so it is not called.
        let near = verdicts("loopback");
        assert_eq!(
            near.iter().filter(|(_, v)| *v == Verdict::Worse).collect::<Vec<_>>(),
            [&("30".to_owned(), Verdict::Worse)],
            "{near:?}"
        );
        assert_eq!(near.iter().filter(|(_, v)| *v == Verdict::Better).count(), 0, "{near:?}");
        // The wan cells stood still: the loopback move is not held against them.
        let far = verdicts("wan");
        assert!(far.iter().all(|(_, v)| matches!(v, Verdict::Noise | Verdict::Same)), "{far:?}");
    }
}
