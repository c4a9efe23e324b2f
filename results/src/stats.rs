//! Figures with their uncertainty: a figure over a cell's rounds with its 95 % interval, the
//! ratio of two cells' figures, and the change between two runs.
//!
//! **The figure** is taken over every call of every round (a cell runs in several short
//! rounds, each at a new random moment of the run): latency percentiles of the rounds'
//! histograms added together, throughput as all calls over all recorded time, per-operation
//! figures weighted by each round's calls. A slow or fast moment of the machine then moves
//! one round's share of the figure, not the figure.
//!
//! **The interval** is a bootstrap over rounds: [`RESAMPLES`] times, the rounds are drawn
//! with replacement (a round drawn twice counts twice) and the figure is taken again; the
//! interval holds the middle 95 % of those figures, widened for the few rounds a run has
//! (Hesterberg's expanded percentile interval: the plain one covers about 90 % with ten
//! rounds and less with fewer; the expansion takes the percentiles at the level where the
//! normal quantile equals √(n/(n−1)) times Student's t quantile with n−1 degrees of freedom).
//! It holds the round-to-round drift of the machine, which is what a rerun meets. With one round there is nothing to
//! resample: a latency percentile then gets the interval of its rank among the round's calls
//! (binomial; sampling error only, [`Basis::Calls`]), other figures none. The generator has a
//! fixed seed, so the same rounds always give the same interval.

use rand::Rng as _;
use rand::SeedableRng as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 2000;
/// A figure is noisy when its 95 % interval reaches further than this share of it on either
/// side: its rounds disagree by more than the machine's own drift (a few percent on a
/// shared VM), usually because the cell has two states (it switches between two latencies)
/// or a round met a hiccup. It cannot be quoted, or rank protocols, closer than that.
pub const NOISY_HALF_WIDTH: f64 = 0.10;

/// Where an interval comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Resampled rounds: the machine's drift between moments is in it.
    #[default]
    Rounds,
    /// One round's calls alone (sampling error only).
    Calls,
    /// No interval: one round, and a figure that is not a percentile.
    None,
}

/// A figure with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Estimate {
    /// The figure (see the module docs).
    pub value: f64,
    /// 95 % interval.
    pub low: f64,
    pub high: f64,
    /// Rounds it comes from.
    pub runs: usize,
    /// Where the interval comes from.
    #[serde(default)]
    pub basis: Basis,
    /// (largest − smallest) ÷ the figure, of the figure in each round alone: how far apart
    /// the rounds landed.
    pub spread: f64,
}

impl Estimate {
    /// A figure without an interval.
    pub fn exact(value: f64, runs: usize) -> Estimate {
        Estimate { value, low: value, high: value, runs, basis: Basis::None, spread: 0.0 }
    }

    /// How far the interval reaches from the figure, as a share of it (the larger side).
    pub fn half_width(&self) -> f64 {
        if self.value == 0.0 {
            return 0.0;
        }
        ((self.value - self.low).max(self.high - self.value) / self.value.abs()).max(0.0)
    }

    /// True when the interval reaches further than [`NOISY_HALF_WIDTH`] from the figure.
    pub fn noisy(&self) -> bool {
        self.basis != Basis::None && self.half_width() > NOISY_HALF_WIDTH
    }

    /// True when the two intervals do not overlap: one figure is surely above the other.
    pub fn apart(&self, other: &Estimate) -> bool {
        self.high < other.low || other.high < self.low
    }
}

/// The median of `xs` (the mean of the middle two for an even count); NaN when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn rng() -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(0x5EED_B007)
}

/// Draws `n` items with replacement into `weights`: how many times each was drawn.
fn draw(rng: &mut rand_chacha::ChaCha8Rng, weights: &mut [f64]) {
    let n = weights.len();
    weights.fill(0.0);
    for _ in 0..n {
        weights[rng.random_range(0..n)] += 1.0;
    }
}

/// Student's t quantile at 0.975 with `df` degrees of freedom (table to 30, then the
/// Cornish–Fisher expansion, within 0.1 %).
fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let (z, d) = (1.959_964_f64, df as f64);
            z + (z.powi(3) + z) / (4.0 * d) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// The standard normal's upper tail beyond `z` (Abramowitz and Stegun 7.1.26, within 1.5e-7).
fn normal_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if x >= 0.0 { erfc / 2.0 } else { 1.0 - erfc / 2.0 }
}

/// The tail share each side of Hesterberg's expanded 95 % percentile interval for `n` items:
/// 2.5 % for many, less for few (0.3 % for five, 0.9 % for ten).
pub fn expanded_tail(n: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let n = n as f64;
    normal_tail((n / (n - 1.0)).sqrt() * t975(n as usize - 1))
}

/// The percentiles at `tail` and `1 − tail` of `v` (sorted here); None when empty.
fn interval(mut v: Vec<f64>, tail: f64) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Some((at(tail), at(1.0 - tail)))
}

/// The 95 % interval of `figure` over groups of `sizes` items each, every group resampled
/// with replacement ([`RESAMPLES`] times); `figure` takes each item's weight, group by group.
/// The interval is expanded for the smallest group's size (see the module docs). None when
/// the figure cannot be taken (no finite value).
pub fn bootstrap(sizes: &[usize], figure: impl Fn(&[Vec<f64>]) -> Option<f64>) -> Option<(f64, f64)> {
    let mut rng = rng();
    let mut weights: Vec<Vec<f64>> = sizes.iter().map(|n| vec![1.0; *n]).collect();
    let values: Vec<f64> = (0..RESAMPLES)
        .filter_map(|_| {
            for w in &mut weights {
                draw(&mut rng, w);
            }
            figure(&weights).filter(|v| v.is_finite())
        })
        .collect();
    interval(values, expanded_tail(sizes.iter().copied().min().unwrap_or(0)))
}

/// The median of `xs` with its 95 % bootstrap interval (each value one round); None without
/// finite values.
pub fn estimate(xs: &[f64]) -> Option<Estimate> {
    let xs: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if xs.is_empty() {
        return None;
    }
    let m = median(&xs);
    if xs.len() == 1 {
        return Some(Estimate::exact(m, 1));
    }
    let weighted_median = |w: &[Vec<f64>]| {
        let picked: Vec<f64> =
            xs.iter().zip(&w[0]).flat_map(|(x, n)| std::iter::repeat_n(*x, *n as usize)).collect();
        Some(median(&picked))
    };
    let (low, high) = bootstrap(&[xs.len()], weighted_median)?;
    Some(Estimate { value: m, low, high, runs: xs.len(), basis: Basis::Rounds, spread: spread(&xs, m) })
}

/// (largest − smallest) ÷ `of`, 0 when `of` is 0.
pub fn spread(xs: &[f64], of: f64) -> f64 {
    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    if of == 0.0 || xs.is_empty() { 0.0 } else { (hi - lo) / of.abs() }
}

/// The 95 % interval of the `q` quantile of `count` calls, as ranks (0-based, inclusive):
/// the binomial interval of how many calls fall below the true quantile (normal
/// approximation, clamped to the calls).
pub fn quantile_ranks(count: u64, q: f64) -> (u64, u64) {
    let n = count as f64;
    let half = 1.96 * (n * q * (1.0 - q)).sqrt();
    let lo = (n * q - half).floor().max(0.0);
    let hi = (n * q + half).ceil().min((n - 1.0).max(0.0));
    (lo as u64, hi as u64)
}

/// The value at `q` of a weighted distribution: `points` sorted by value, each `(value,
/// group, count)`, a point counting `count × weights[group]` times.
pub fn weighted_quantile(points: &[(f64, u32, u64)], weights: &[f64], q: f64) -> Option<f64> {
    let total: f64 = points.iter().map(|(_, g, n)| *n as f64 * weights[*g as usize]).sum();
    if total <= 0.0 {
        return None;
    }
    // The value below which a share q of the weight lies (HdrHistogram's convention: the
    // smallest value whose cumulative count reaches q × total, at least one call).
    let target = (q * total).max(1.0).min(total);
    let mut seen = 0.0;
    for (v, g, n) in points {
        seen += *n as f64 * weights[*g as usize];
        if seen >= target - 1e-9 {
            return Some(*v);
        }
    }
    points.last().map(|p| p.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_intervals() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let e = estimate(&[10.0, 11.0, 9.0, 10.5, 9.5]).unwrap();
        assert_eq!(e.value, 10.0);
        assert!(e.low <= 10.0 && e.high >= 10.0 && e.low >= 9.0 && e.high <= 11.0, "{e:?}");
        assert!((e.spread - 0.2).abs() < 1e-12);
        assert!(!e.noisy(), "within 10 %: {e:?}");
        assert!(estimate(&[10.0, 14.0, 7.0, 12.0, 8.0]).unwrap().noisy());
        // One value: no interval, never noisy.
        let one = estimate(&[7.0]).unwrap();
        assert_eq!((one.low, one.high, one.runs, one.basis), (7.0, 7.0, 1, Basis::None));
        assert!(!one.noisy());
        assert!(estimate(&[]).is_none());
    }

    #[test]
    fn a_bootstrap_interval_narrows_with_more_rounds_of_the_same_spread() {
        let few = [9.0, 11.0, 10.0, 10.5];
        let many: Vec<f64> = few.iter().cycle().take(32).copied().collect();
        let mean = |xs: &'static [f64]| {
            move |w: &[Vec<f64>]| {
                let total: f64 = w[0].iter().sum();
                Some(xs.iter().zip(&w[0]).map(|(x, n)| x * n).sum::<f64>() / total)
            }
        };
        let many: &'static [f64] = Box::leak(many.into_boxed_slice());
        let (a_lo, a_hi) = bootstrap(&[4], mean(&[9.0, 11.0, 10.0, 10.5])).unwrap();
        let (b_lo, b_hi) = bootstrap(&[32], mean(many)).unwrap();
        assert!(b_hi - b_lo < (a_hi - a_lo) / 2.0, "{a_lo}..{a_hi} vs {b_lo}..{b_hi}");
        assert!(b_lo < 10.125 && 10.125 < b_hi);
    }

    #[test]
    fn weighted_quantiles_count_each_point_as_often_as_its_group_is_drawn() {
        // Group 0: ten calls at 1; group 1: ten calls at 3.
        let points = [(1.0, 0, 10), (3.0, 1, 10)];
        assert_eq!(weighted_quantile(&points, &[1.0, 1.0], 0.5), Some(1.0));
        assert_eq!(weighted_quantile(&points, &[1.0, 1.0], 0.51), Some(3.0));
        assert_eq!(weighted_quantile(&points, &[0.0, 2.0], 0.1), Some(3.0));
        assert_eq!(weighted_quantile(&points, &[2.0, 1.0], 0.6), Some(1.0));
        assert_eq!(weighted_quantile(&points, &[0.0, 0.0], 0.5), None);
    }

    #[test]
    fn the_expanded_interval_reaches_further_into_the_tails_with_fewer_rounds() {
        assert!((t975(4) - 2.776).abs() < 1e-9 && (t975(100) - 1.984).abs() < 2e-3);
        assert!((normal_tail(1.959_964) - 0.025).abs() < 1e-6);
        let (five, ten, many) = (expanded_tail(5), expanded_tail(10), expanded_tail(1000));
        assert!(five < ten && ten < many, "{five} {ten} {many}");
        assert!((ten - 0.0086).abs() < 5e-4, "{ten}");
        assert!((many - 0.025).abs() < 5e-4, "{many}");
    }

    #[test]
    fn quantile_ranks_widen_with_fewer_calls() {
        assert_eq!(quantile_ranks(6, 0.5), (0, 5));
        let (lo, hi) = quantile_ranks(10_000, 0.5);
        assert!(lo > 4_890 && hi < 5_110, "{lo}..{hi}");
    }
}
