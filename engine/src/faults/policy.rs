//! Retry policies, from `engine/policies.toml` (compiled in) and a user's file of the same
//! shape: what a client does when a call fails.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The policies wirebench ships (`engine/policies.toml`).
pub const BUILT_IN: &str = include_str!("../../policies.toml");

/// How a client retries (see `engine/policies.toml` for each field's meaning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Its name (the table's).
    #[serde(skip_deserializing)]
    pub name: String,
    pub about: String,
    pub attempts: u32,
    pub backoff_ms: u64,
    pub multiplier: f64,
    pub cap_ms: u64,
    pub jitter: Jitter,
    pub attempt_timeout_ms: u64,
    pub deadline_ms: u64,
    pub honour_hints: bool,
    pub keys: bool,
    pub retry_writes: bool,
    pub budget: Option<BudgetSpec>,
    pub throttle: Option<ThrottleSpec>,
    pub breaker: Option<BreakerSpec>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            name: String::new(),
            about: String::new(),
            attempts: 1,
            backoff_ms: 0,
            multiplier: 2.0,
            cap_ms: 1000,
            jitter: Jitter::None,
            attempt_timeout_ms: 1000,
            deadline_ms: 5000,
            honour_hints: false,
            keys: false,
            retry_writes: false,
            budget: None,
            throttle: None,
            breaker: None,
        }
    }
}

/// How a backoff's wait is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    None,
    Full,
    Equal,
}

/// Envoy's and Linkerd's retry budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    pub ratio: f64,
    pub min_per_s: f64,
    pub window_s: u64,
}

/// gRPC A6's retry throttling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    pub max_tokens: f64,
    pub token_ratio: f64,
}

/// A count-based circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    pub window: u32,
    pub failure_rate: f64,
    pub open_ms: u64,
    pub probes: u32,
}

impl Policy {
    /// The wait before retry number `retry` (1 for the first), before jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ms = self.backoff_ms as f64 * self.multiplier.powi(retry.saturating_sub(1) as i32);
        Duration::from_millis(ms.min(self.cap_ms as f64) as u64)
    }

    /// `wait` jittered by `u`, a uniform draw in [0, 1).
    pub fn jittered(&self, wait: Duration, u: f64) -> Duration {
        match self.jitter {
            Jitter::None => wait,
            Jitter::Full => wait.mul_f64(u),
            Jitter::Equal => wait.mul_f64(0.5 + u / 2.0),
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.attempts >= 1, "attempts must be at least 1");
        anyhow::ensure!(self.multiplier >= 1.0, "multiplier must be at least 1");
        anyhow::ensure!(self.attempt_timeout_ms > 0 && self.deadline_ms > 0, "timeouts must be positive");
        if let Some(b) = self.breaker {
            anyhow::ensure!(b.window > 0 && b.probes > 0, "a breaker needs a window and probes");
            anyhow::ensure!((0.0..=1.0).contains(&b.failure_rate), "failure_rate is a share, 0 to 1");
        }
        if let Some(b) = self.budget {
            anyhow::ensure!(b.window_s > 0 && b.ratio >= 0.0, "a budget needs a window and a ratio");
        }
        Ok(())
    }
}

/// Reads policies from TOML text: one table per policy, named by its key.
pub fn parse(text: &str, origin: &str) -> anyhow::Result<BTreeMap<String, Policy>> {
    let tables: BTreeMap<String, Policy> =
        toml::from_str(text).with_context(|| format!("reading {origin}"))?;
    tables
        .into_iter()
        .map(|(name, mut p)| {
            p.check().with_context(|| format!("{origin}: policy {name}"))?;
            p.name = name.clone();
            Ok((name, p))
        })
        .collect()
}

/// The built-in policies, and a user's file's beside them (a name in both is the user's).
pub fn load(extra: Option<&std::path::Path>) -> anyhow::Result<BTreeMap<String, Policy>> {
    let mut all = parse(BUILT_IN, "engine/policies.toml")?;
    if let Some(path) = extra {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        all.extend(parse(&text, &path.display().to_string())?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_policies_parse_and_back_off_as_they_say() {
        let all = load(None).unwrap();
        for name in ["none", "naive", "backoff", "backoff-nokeys", "budget", "throttle", "breaker"] {
            assert!(all.contains_key(name), "{name}");
        }
        let b = &all["backoff"];
        assert_eq!(b.backoff(1), Duration::from_millis(25));
        assert_eq!(b.backoff(3), Duration::from_millis(100));
        assert_eq!(b.backoff(10), Duration::from_millis(1000), "capped");
        assert_eq!(b.jittered(Duration::from_millis(100), 0.25), Duration::from_millis(25));
        assert_eq!(all["none"].attempts, 1);
        assert!(parse("[x]\nattempts = 0", "t").is_err());
        assert!(parse("[x]\nretries = 3", "t").is_err(), "unknown fields are refused");
    }
}
