//! Faults a store injects into its own calls, as a real backend fails: refused before any
//! effect (*unavailable*), refused by a rate limiter with a retry hint (*overload*), held
//! before it runs (*slow*), and everything refused for a while (*outage*). Each protocol turns
//! the refusals into its own terms through its one mapping of [`DomainError`]s.
//!
//! A plan is seeded: the `n`-th store call after the plan is set draws from
//! `splitmix64(seed + n)`, so the same calls in the same order meet the same faults. Faults
//! the network causes (an answer lost after the effect, a reset in the middle of a request)
//! are the client link's, not the store's. The harness's own store calls ([`crate::store::unpaced`])
//! never meet a fault.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// What a store injects, from when it is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Seed of the draws.
    pub seed: u64,
    /// Share of store calls refused before any effect (0 to 1).
    #[serde(default)]
    pub unavailable: f64,
    /// The retry hint an unavailable or outage answer carries, in milliseconds (0: none; an
    /// outage's is at most the time it has left).
    #[serde(default)]
    pub retry_after_ms: u64,
    /// Share of store calls held for [`FaultPlan::hold_ms`] before they run.
    #[serde(default)]
    pub slow: f64,
    #[serde(default)]
    pub hold_ms: u64,
    /// Store calls admitted per second by a token bucket holding a tenth of a second's worth;
    /// beyond it, overloaded, with the time until the next token as the hint.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Every call refused as unavailable from `start_ms` after the plan is set, for
    /// `length_ms`.
    #[serde(default)]
    pub outage: Option<Outage>,
}

/// A window in which every call is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub start_ms: u64,
    pub length_ms: u64,
}

/// How many calls met each fault since the plan was set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// Calls the plan saw (faulted or not).
    pub calls: u64,
    pub unavailable: u64,
    pub overloaded: u64,
    pub held: u64,
    /// Calls refused inside the outage window.
    pub outage: u64,
}

/// A plan at work.
#[derive(Debug)]
pub(crate) struct Injector {
    plan: FaultPlan,
    set_at: Instant,
    drawn: AtomicU64,
    /// Tokens and when they were last counted.
    bucket: Mutex<(f64, Instant)>,
    unavailable: AtomicU64,
    overloaded: AtomicU64,
    held: AtomicU64,
    outage: AtomicU64,
}

/// What a call meets.
pub(crate) enum Fate {
    Run,
    Hold(Duration),
    Refuse(DomainError),
}

/// A uniform draw in [0, 1) from `splitmix64(x)`.
fn uniform(x: u64) -> f64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Injector {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        let burst = plan.rate_limit.map_or(0.0, |r| (r / 10.0).max(1.0));
        let now = Instant::now();
        Injector {
            plan,
            set_at: now,
            drawn: AtomicU64::new(0),
            bucket: Mutex::new((burst, now)),
            unavailable: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            held: AtomicU64::new(0),
            outage: AtomicU64::new(0),
        }
    }

    /// Decides one call's fate.
    pub(crate) fn fate(&self) -> Fate {
        let n = self.drawn.fetch_add(1, Ordering::Relaxed);
        let p = &self.plan;
        let hint = p.retry_after_ms;
        if let Some(o) = p.outage {
            let at = self.set_at.elapsed();
            let (start, end) =
                (Duration::from_millis(o.start_ms), Duration::from_millis(o.start_ms + o.length_ms));
            if at >= start && at < end {
                self.outage.fetch_add(1, Ordering::Relaxed);
                // The hint, when the plan gives one, is never past the outage's end.
                let left = (end - at).as_millis().max(1) as u64;
                return Fate::Refuse(DomainError::Unavailable { retry_after_ms: hint.min(left) });
            }
        }
        // Two draws per call, from one stream: refusal, then hold.
        if uniform(p.seed.wrapping_add(2 * n)) < p.unavailable {
            self.unavailable.fetch_add(1, Ordering::Relaxed);
            return Fate::Refuse(DomainError::Unavailable { retry_after_ms: hint });
        }
        if let Some(wait) = self.overloaded_for() {
            self.overloaded.fetch_add(1, Ordering::Relaxed);
            return Fate::Refuse(DomainError::Overloaded { retry_after_ms: wait.as_millis().max(1) as u64 });
        }
        if uniform(p.seed.wrapping_add(2 * n + 1)) < p.slow {
            self.held.fetch_add(1, Ordering::Relaxed);
            return Fate::Hold(Duration::from_millis(p.hold_ms));
        }
        Fate::Run
    }

    /// Takes a token from the bucket; without one, how long until the next.
    fn overloaded_for(&self) -> Option<Duration> {
        let rate = self.plan.rate_limit?;
        let burst = (rate / 10.0).max(1.0);
        let mut b = self.bucket.lock().expect("fault bucket poisoned");
        let now = Instant::now();
        b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(burst);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - b.0) / rate))
        }
    }

    pub(crate) fn counts(&self) -> FaultCounts {
        FaultCounts {
            calls: self.drawn.load(Ordering::Relaxed),
            unavailable: self.unavailable.load(Ordering::Relaxed),
            overloaded: self.overloaded.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
            outage: self.outage.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_of_calls_is_refused_and_the_same_seed_refuses_the_same_calls() {
        let plan = FaultPlan { seed: 7, unavailable: 0.2, ..FaultPlan::default() };
        let draw = |plan: &FaultPlan| -> Vec<bool> {
            let i = Injector::new(plan.clone());
            (0..5000).map(|_| matches!(i.fate(), Fate::Refuse(_))).collect()
        };
        let (a, b) = (draw(&plan), draw(&plan));
        assert_eq!(a, b);
        let share = a.iter().filter(|r| **r).count() as f64 / 5000.0;
        assert!((share - 0.2).abs() < 0.02, "{share}");
        let other = draw(&FaultPlan { seed: 8, ..plan });
        assert_ne!(a, other);
    }

    #[test]
    fn a_rate_limit_refuses_beyond_its_burst_with_a_hint() {
        let plan = FaultPlan { rate_limit: Some(100.0), ..FaultPlan::default() };
        let i = Injector::new(plan);
        let fates: Vec<Fate> = (0..30).map(|_| i.fate()).collect();
        let admitted = fates.iter().filter(|f| matches!(f, Fate::Run)).count();
        // A tenth of a second's worth: 10 (and perhaps one more token accrued meanwhile).
        assert!((10..=11).contains(&admitted), "{admitted}");
        let Some(Fate::Refuse(DomainError::Overloaded { retry_after_ms })) = fates.last() else {
            panic!("the 30th call should be refused")
        };
        assert!((1..=10).contains(retry_after_ms), "{retry_after_ms}");
        assert_eq!(i.counts().overloaded, 30 - admitted as u64);
    }
}
