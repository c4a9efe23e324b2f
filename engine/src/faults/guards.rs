//! What a client shares across its calls to hold retries back: a retry budget (Envoy,
//! Linkerd), gRPC A6's throttle, and a circuit breaker. Each is driven by the times it is
//! given, so tests step them without waiting.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::policy::{BreakerSpec, BudgetSpec, ThrottleSpec};

/// Retries allowed as a share of requests over a sliding window.
#[derive(Debug)]
pub struct Budget {
    spec: BudgetSpec,
    /// (when, is a retry) of every attempt in the window.
    attempts: VecDeque<(Instant, bool)>,
}

impl Budget {
    pub fn new(spec: BudgetSpec) -> Self {
        Budget { spec, attempts: VecDeque::new() }
    }

    fn trim(&mut self, now: Instant) {
        let window = Duration::from_secs(self.spec.window_s);
        while self.attempts.front().is_some_and(|(t, _)| now.duration_since(*t) > window) {
            self.attempts.pop_front();
        }
    }

    /// Counts a first attempt.
    pub fn request(&mut self, now: Instant) {
        self.trim(now);
        self.attempts.push_back((now, false));
    }

    /// Whether one more retry fits, and counts it when it does.
    pub fn retry(&mut self, now: Instant) -> bool {
        self.trim(now);
        let retries = self.attempts.iter().filter(|(_, r)| *r).count() as f64;
        let requests = self.attempts.iter().filter(|(_, r)| !*r).count() as f64;
        let allowed = self.spec.ratio * requests + self.spec.min_per_s * self.spec.window_s as f64;
        let fits = retries + 1.0 <= allowed;
        if fits {
            self.attempts.push_back((now, true));
        }
        fits
    }
}

/// gRPC A6's token bucket.
#[derive(Debug)]
pub struct Throttle {
    spec: ThrottleSpec,
    tokens: f64,
}

impl Throttle {
    pub fn new(spec: ThrottleSpec) -> Self {
        Throttle { spec, tokens: spec.max_tokens }
    }

    pub fn failure(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    pub fn success(&mut self) {
        self.tokens = (self.tokens + self.spec.token_ratio).min(self.spec.max_tokens);
    }

    /// Retries are throttled while at most half the tokens remain.
    pub fn allows(&self) -> bool {
        self.tokens > self.spec.max_tokens / 2.0
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    /// As faults.json and the page name it (its serde name).
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// A count-based circuit breaker, with every change of state it went through.
#[derive(Debug)]
pub struct Breaker {
    spec: BreakerSpec,
    state: State,
    /// The last `window` outcomes while closed (true: failed).
    outcomes: VecDeque<bool>,
    opened_at: Instant,
    /// Probes let through while half-open, and how many have succeeded.
    probes: (u32, u32),
    /// When it changed state, from `epoch`, and to what.
    pub changes: Vec<(Duration, State)>,
    epoch: Instant,
}

impl Breaker {
    pub fn new(spec: BreakerSpec, epoch: Instant) -> Self {
        Breaker {
            spec,
            state: State::Closed,
            outcomes: VecDeque::new(),
            opened_at: epoch,
            probes: (0, 0),
            changes: Vec::new(),
            epoch,
        }
    }

    fn set(&mut self, state: State, now: Instant) {
        self.state = state;
        self.changes.push((now.duration_since(self.epoch), state));
    }

    /// Whether a call may go out now (false: it fails fast).
    pub fn admit(&mut self, now: Instant) -> bool {
        if self.state == State::Open
            && now.duration_since(self.opened_at) >= Duration::from_millis(self.spec.open_ms)
        {
            self.probes = (0, 0);
            self.set(State::HalfOpen, now);
        }
        match self.state {
            State::Closed => true,
            State::Open => false,
            State::HalfOpen if self.probes.0 < self.spec.probes => {
                self.probes.0 += 1;
                true
            }
            State::HalfOpen => false,
        }
    }

    /// What an admitted call came to.
    pub fn record(&mut self, failed: bool, now: Instant) {
        match self.state {
            State::Closed => {
                self.outcomes.push_back(failed);
                if self.outcomes.len() > self.spec.window as usize {
                    self.outcomes.pop_front();
                }
                let failures = self.outcomes.iter().filter(|f| **f).count() as f64;
                if self.outcomes.len() == self.spec.window as usize
                    && failures / self.spec.window as f64 >= self.spec.failure_rate
                {
                    self.open(now);
                }
            }
            State::HalfOpen if failed => self.open(now),
            State::HalfOpen => {
                self.probes.1 += 1;
                if self.probes.1 >= self.spec.probes {
                    self.outcomes.clear();
                    self.set(State::Closed, now);
                }
            }
            // An answer to a call let through before it opened.
            State::Open => {}
        }
    }

    fn open(&mut self, now: Instant) {
        self.opened_at = now;
        self.set(State::Open, now);
    }

    pub fn state(&self) -> State {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_caps_retries_at_its_share_of_requests() {
        let t0 = Instant::now();
        let mut b = Budget::new(BudgetSpec { ratio: 0.2, min_per_s: 0.0, window_s: 10 });
        let mut granted = 0;
        for i in 0..100 {
            let now = t0 + Duration::from_millis(i);
            b.request(now);
            // Every request fails and asks for a retry.
            granted += u32::from(b.retry(now));
        }
        assert_eq!(granted, 20);
        // Once the window has passed, the old requests no longer pay for retries.
        assert!(!b.retry(t0 + Duration::from_secs(11)));
    }

    #[test]
    fn the_throttle_stops_retries_below_half_its_tokens_and_recovers_on_successes() {
        let mut t = Throttle::new(ThrottleSpec { max_tokens: 10.0, token_ratio: 0.5 });
        for _ in 0..5 {
            assert!(t.allows());
            t.failure();
        }
        assert!(!t.allows(), "5 of 10 tokens left is not more than half");
        t.success();
        assert!(t.allows());
    }

    #[test]
    fn the_breaker_opens_half_opens_and_closes_on_its_schedule() {
        let t0 = Instant::now();
        let spec = BreakerSpec { window: 4, failure_rate: 0.5, open_ms: 100, probes: 2 };
        let mut b = Breaker::new(spec, t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for (ms, failed) in [(0, false), (1, true), (2, false)] {
            assert!(b.admit(at(ms)));
            b.record(failed, at(ms));
        }
        assert_eq!(b.state(), State::Closed, "3 calls are not yet a window");
        assert!(b.admit(at(3)));
        b.record(true, at(3));
        assert_eq!(b.state(), State::Open, "2 of 4 failed");
        assert!(!b.admit(at(50)), "open: fails fast");
        assert!(!b.admit(at(102)), "still open 99 ms after it opened");
        assert!(b.admit(at(103)), "after open_ms: the first probe");
        assert_eq!(b.state(), State::HalfOpen);
        assert!(b.admit(at(104)), "the second probe");
        assert!(!b.admit(at(105)), "no third probe");
        b.record(false, at(106));
        b.record(true, at(107));
        assert_eq!(b.state(), State::Open, "a failed probe opens it again");
        assert!(!b.admit(at(206)));
        assert!(b.admit(at(207)));
        assert!(b.admit(at(208)));
        b.record(false, at(209));
        b.record(false, at(210));
        assert_eq!(b.state(), State::Closed);
        let states: Vec<State> = b.changes.iter().map(|c| c.1).collect();
        use State::*;
        assert_eq!(states, [Open, HalfOpen, Open, HalfOpen, Closed]);
        assert_eq!(b.changes[1].0, Duration::from_millis(103));
        for state in [Closed, Open, HalfOpen] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.name(), "the name is the serde name");
        }
    }
}
