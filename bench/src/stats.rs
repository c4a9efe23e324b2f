//! Figures across repeats: the median with a 95 % bootstrap interval, the run-to-run spread,
//! and the change between two sets of runs with its interval.
//!
//! The bootstrap resamples the runs with replacement [`RESAMPLES`] times and takes the 2.5th
//! and 97.5th percentiles of the resampled medians. Its generator has a fixed seed, so the
//! same runs always give the same interval. With one run there is no interval: it is that
//! run's figure at both ends, and [`Estimate::runs`] says so.

use rand::Rng as _;
use rand::SeedableRng as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 2000;
/// A figure whose runs spread wider than this share of its median is noisy.
pub const NOISY_SPREAD: f64 = 0.05;

/// A figure over repeated runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Estimate {
    pub median: f64,
    /// 95 % bootstrap interval of the median.
    pub low: f64,
    pub high: f64,
    /// Runs the figure comes from.
    pub runs: usize,
    /// (largest − smallest) ÷ median across the runs: how far apart repeats landed.
    pub spread: f64,
}

impl Estimate {
    /// True when the runs spread wider than [`NOISY_SPREAD`].
    pub fn noisy(&self) -> bool {
        self.spread > NOISY_SPREAD
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

fn resample(rng: &mut rand_chacha::ChaCha8Rng, xs: &[f64], into: &mut Vec<f64>) -> f64 {
    into.clear();
    into.extend((0..xs.len()).map(|_| xs[rng.random_range(0..xs.len())]));
    median(into)
}

/// The 2.5th and 97.5th percentiles of `v` (sorted here).
fn interval(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.025), at(0.975))
}

/// The median of `xs` with its 95 % bootstrap interval; None without finite values.
pub fn estimate(xs: &[f64]) -> Option<Estimate> {
    let xs: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if xs.is_empty() {
        return None;
    }
    let m = median(&xs);
    let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let spread = if m == 0.0 { 0.0 } else { (hi - lo) / m.abs() };
    let mut rng = rng();
    let mut scratch = Vec::with_capacity(xs.len());
    let medians = (0..RESAMPLES).map(|_| resample(&mut rng, &xs, &mut scratch)).collect();
    let (low, high) = interval(medians);
    Some(Estimate { median: m, low, high, runs: xs.len(), spread })
}

/// The relative change from `a` to `b` (median of b ÷ median of a − 1) with a 95 % bootstrap
/// interval, `a` and `b` resampled independently; None without finite values or when a's
/// median is 0. `spread` is b's.
pub fn change(a: &[f64], b: &[f64]) -> Option<Estimate> {
    let a: Vec<f64> = a.iter().copied().filter(|x| x.is_finite()).collect();
    let b: Vec<f64> = b.iter().copied().filter(|x| x.is_finite()).collect();
    if a.is_empty() || b.is_empty() || median(&a) == 0.0 {
        return None;
    }
    let mut rng = rng();
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    let ratios = (0..RESAMPLES)
        .filter_map(|_| {
            let ma = resample(&mut rng, &a, &mut sa);
            let mb = resample(&mut rng, &b, &mut sb);
            (ma != 0.0).then(|| mb / ma - 1.0)
        })
        .collect();
    let (low, high) = interval(ratios);
    let spread = estimate(&b).map_or(0.0, |e| e.spread);
    Some(Estimate { median: median(&b) / median(&a) - 1.0, low, high, runs: a.len().min(b.len()), spread })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_intervals() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let e = estimate(&[10.0, 11.0, 9.0, 10.5, 9.5]).unwrap();
        assert_eq!(e.median, 10.0);
        assert!(e.low <= 10.0 && e.high >= 10.0 && e.low >= 9.0 && e.high <= 11.0, "{e:?}");
        assert!((e.spread - 0.2).abs() < 1e-12);
        assert!(e.noisy());
        // One run: no interval beyond the figure itself.
        let one = estimate(&[7.0]).unwrap();
        assert_eq!((one.low, one.high, one.runs), (7.0, 7.0, 1));
        assert!(estimate(&[]).is_none());
    }

    #[test]
    fn a_real_change_excludes_zero_and_none_includes_it() {
        let a = [100.0, 101.0, 99.0, 100.5, 99.5];
        let worse: Vec<f64> = a.iter().map(|x| x * 1.2).collect();
        let c = change(&a, &worse).unwrap();
        assert!((c.median - 0.2).abs() < 1e-9);
        assert!(c.low > 0.1, "{c:?}");
        let same = change(&a, &a).unwrap();
        assert_eq!(same.median, 0.0);
        assert!(same.low < 0.0 && same.high > 0.0, "{same:?}");
    }
}
