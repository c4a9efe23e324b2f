//! `faults.json`: what `wirebench faults` measured. Per protocol, operation, fault and retry
//! policy: how many logical operations succeeded, the attempts they took, the orders the
//! store holds for them, the latency of the whole operation beside one attempt's; and per
//! protocol and policy, goodput over time through an outage near capacity.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the `faults.json` layout.
pub const FAULTS_VERSION: u32 = 1;

/// A whole `wirebench faults` run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultsRun {
    pub version: u32,
    pub started_at: String,
    pub finished_at: String,
    pub command: String,
    pub git_revision: String,
    /// Seed of every draw (the store's faults, the link's, the backoff's jitter).
    pub seed: u64,
    /// The gateway the clients went through (`direct`: none), e.g. `nginx@2000/s`.
    #[serde(default = "crate::direct")]
    pub via: String,
    /// The policies measured: name and what it does (inputs, from the policy file).
    pub policies: Vec<(String, String)>,
    pub cells: Vec<FaultCell>,
    pub recovery: Vec<Recovery>,
    /// Retries of many clients that failed at once, with and without jitter.
    #[serde(default)]
    pub spread: Vec<Spread>,
}

/// One protocol, operation, fault and policy: `logical` operations, closed loop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultCell {
    pub protocol: String,
    pub operation: String,
    /// The fault as given (`unavailable=5%`); an input.
    pub fault: String,
    /// Its kind (`unavailable`, `lost`, `reset`, `slow`, `overload`, `none`) and share of
    /// calls (0 for a rate limit); inputs.
    pub fault_kind: String,
    pub fault_share: f64,
    pub policy: String,
    /// Whether writes carried idempotency keys.
    pub keys: bool,
    pub concurrency: usize,
    /// What the cell's logical operations came to, as the client counted them.
    #[serde(flatten)]
    pub counts: Counts,
    /// Orders the store created during the cell (writes only), read from the store.
    pub effects: Option<u64>,
    /// What the server's fault plan injected (its own count).
    pub injected: BTreeMap<String, u64>,
    /// Whole operations that succeeded, across all their attempts; and single attempts.
    pub logical_us: Percentiles,
    pub attempt_us: Percentiles,
    /// Why operations failed, by kind.
    pub errors: BTreeMap<String, u64>,
    /// The breaker's changes of state: ms from the cell's start, and the state.
    pub breaker: Vec<(u64, String)>,
}

impl FaultCell {
    /// Attempts per logical operation.
    pub fn amplification(&self) -> f64 {
        if self.counts.logical == 0 { 0.0 } else { self.counts.attempts as f64 / self.counts.logical as f64 }
    }

    pub fn success_rate(&self) -> f64 {
        if self.counts.logical == 0 { 0.0 } else { self.counts.succeeded as f64 / self.counts.logical as f64 }
    }

    /// Orders beyond one per logical write that took effect: the store's count less the
    /// successes (every success is one effect), less the writes whose last answer was lost
    /// (they took effect and failed). None for reads.
    pub fn duplicates(&self) -> Option<i64> {
        let effects = self.effects? as i64;
        let unretried_lost = self.counts.lost_injected.saturating_sub(self.counts.lost_retried) as i64;
        Some(effects - self.counts.succeeded as i64 - unretried_lost)
    }
}

/// What logical operations came to, as the retrying client counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub logical: u64,
    pub succeeded: u64,
    pub attempts: u64,
    /// Operations the breaker failed without an attempt (their first or a retry).
    pub failed_fast: u64,
    pub lost_injected: u64,
    /// Lost answers that were retried (each is a second effect of a write without a key).
    pub lost_retried: u64,
    pub resets_injected: u64,
    pub refusals: u64,
    pub timeouts: u64,
    /// Retries the budget or the throttle refused.
    pub denied: u64,
    /// Bytes both ways of attempts that failed.
    pub wasted_bytes: u64,
}

/// p50, p99 and p99.9 in µs (None without a sample).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
}

/// An open loop near capacity through an outage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recovery {
    pub protocol: String,
    pub operation: String,
    pub policy: String,
    /// Closed-loop throughput without faults just before (measured), and the rate offered (an
    /// input: a share of it).
    pub capacity_ops_s: f64,
    pub rate_ops_s: f64,
    pub outage_start_ms: u64,
    pub outage_ms: u64,
    pub bin_ms: u64,
    pub offered: Vec<u64>,
    pub goodput: Vec<u64>,
    pub attempts: Vec<u64>,
    pub dropped: u64,
    /// From the outage's end until goodput held 90 % of the offered rate for 0.5 s; None
    /// when it did not within the run.
    pub recovery_ms: Option<u64>,
    pub logical: u64,
    pub succeeded: u64,
    pub attempts_total: u64,
    pub failed_fast: u64,
    pub breaker: Vec<(u64, String)>,
}

/// Many clients that failed at the same moment (an outage's start), retrying by one policy:
/// when their attempts reach the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spread {
    pub protocol: String,
    pub operation: String,
    pub policy: String,
    /// "full", "equal" or "none".
    pub jitter: String,
    /// Operations in flight at once (closed loop).
    pub clients: usize,
    pub outage_ms: u64,
    pub bin_ms: u64,
    /// Attempts started in each bin from the outage's start to its end.
    pub attempts: Vec<u64>,
    /// The busiest bin over the mean bin: 1 when retries arrive evenly.
    pub peak_to_mean: f64,
}
