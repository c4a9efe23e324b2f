//! Calls that fail, and clients that retry: one logical operation as a client with a retry
//! [`Policy`] runs it against faults, attempt after attempt, and what it cost.
//!
//! The store's faults (refused, overloaded, held, an outage) are set on the server
//! ([`wirebench_domain::faults`]); the link's (an answer lost after the server acted, a reset
//! in the middle of a request) are injected here, into the attempt's connection
//! ([`wirebench_wire::LinkFault`]), drawn from the cell's seed. A connection's first call is
//! never struck by the link (an HTTP/2 connection's opening frames would pass for an answer);
//! a draw that lands on one strikes the connection's next call instead, so the share holds.
//!
//! Which failures a policy retries follows the protocols' rules: a refusal (HTTP 503 and 429,
//! gRPC UNAVAILABLE, RESOURCE_EXHAUSTED with pushback, the others' `unavailable` and
//! `overloaded` codes, a key still in flight) did nothing and is always safe to retry; a lost
//! answer, a reset or a timeout may have done something, so only reads and writes with an
//! idempotency key are retried, unless the policy says `retry_writes`; any other error
//! answer is final.

pub mod guards;
pub mod open;
pub mod policy;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::catalog::{OpParams, Operation};
use crate::clients::{ClientError, Connection, Drive};
use guards::{Breaker, Budget, Throttle};
pub use policy::Policy;
use wirebench_results::faults::Counts;
use wirebench_wire::{Dial, LinkFault};

/// The link's faults: shares of attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkFaults {
    /// Answers lost after the server acted.
    pub lose: f64,
    /// Connections reset in the middle of a request.
    pub reset: f64,
}

/// What a cell's logical operations run against and with.
#[derive(Clone)]
pub struct Setting {
    pub protocol: &'static dyn Drive,
    pub dial: Dial,
    pub op: Operation,
    pub params: OpParams,
    pub policy: Policy,
    pub link: LinkFaults,
    /// Makes the idempotency keys of this cell's writes unique.
    pub stamp: String,
    pub seed: u64,
    /// Keep when every attempt started ([`Tally::starts`]).
    pub trace: bool,
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setting")
            .field("protocol", &self.protocol.variant())
            .field("op", &self.op)
            .field("policy", &self.policy.name)
            .field("link", &self.link)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// What a client shares across its calls: budget, throttle and breaker, as the policy has
/// them.
#[derive(Debug)]
pub struct Shared {
    pub budget: Option<Budget>,
    pub throttle: Option<Throttle>,
    pub breaker: Option<Breaker>,
}

impl Shared {
    pub fn new(policy: &Policy, epoch: Instant) -> Self {
        Shared {
            budget: policy.budget.map(Budget::new),
            throttle: policy.throttle.map(Throttle::new),
            breaker: policy.breaker.map(|b| Breaker::new(b, epoch)),
        }
    }
}

/// A worker's connection, opened when needed, replaced after a failure that leaves it
/// unusable.
#[derive(Default)]
pub struct Slot {
    conn: Option<Box<dyn Connection>>,
    /// Calls made on this connection.
    calls: u64,
    /// A link fault drawn for a connection's first call, waiting for its next.
    owed: Option<LinkFault>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("open", &self.conn.is_some())
            .field("calls", &self.calls)
            .field("owed", &self.owed)
            .finish()
    }
}

/// What a cell's logical operations came to.
#[derive(Clone, Serialize)]
pub struct Tally {
    #[serde(flatten)]
    pub counts: Counts,
    /// Failures by kind (the last attempt's, for operations that failed).
    pub errors: BTreeMap<String, u64>,
    #[serde(skip)]
    pub logical_ns: Histogram<u64>,
    #[serde(skip)]
    pub attempt_ns: Histogram<u64>,
    /// When each attempt started, with [`Setting::trace`].
    #[serde(skip)]
    pub starts: Vec<Instant>,
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The counts, as JSON shows them (the histograms are left out).
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

impl Default for Tally {
    fn default() -> Self {
        let h = || Histogram::new_with_bounds(1_000, 600_000_000_000, 3).expect("valid bounds");
        Tally {
            counts: Counts::default(),
            errors: BTreeMap::new(),
            logical_ns: h(),
            attempt_ns: h(),
            starts: Vec::new(),
        }
    }
}

/// Whether a failure may be retried under `policy` for `op` (see the module docs).
pub fn retryable(e: &ClientError, op: Operation, policy: &Policy) -> bool {
    match e {
        ClientError::Refused { .. } => true,
        ClientError::Io(_) | ClientError::Connect(_) | ClientError::Timeout => {
            !op.writes() || policy.keys || policy.retry_writes
        }
        ClientError::Server { .. } | ClientError::Decode(_) => false,
    }
}

fn bytes(conn: &dyn Connection) -> u64 {
    conn.counters().snapshot().bytes.iter().sum()
}

/// One attempt on `slot`'s connection (opened first when it has none), with `fault` armed.
async fn attempt(
    s: &Setting,
    slot: &mut Slot,
    params: &OpParams,
    fault: Option<LinkFault>,
    timeout: Duration,
) -> (Result<(), ClientError>, u64, Option<LinkFault>) {
    let opened_at = Instant::now();
    if slot.conn.is_none() {
        match tokio::time::timeout(timeout, s.protocol.connect(s.dial.clone(), s.op)).await {
            Ok(Ok(conn)) => *slot = Slot { conn: Some(conn), calls: 0, owed: slot.owed },
            Ok(Err(e)) => return (Err(e), 0, None),
            Err(_) => return (Err(ClientError::Timeout), 0, None),
        }
    }
    let Some(conn) = slot.conn.as_mut() else { unreachable!("opened above") };
    // The link strikes only a connection that has carried a call (see the module docs).
    let fault = if slot.calls == 0 {
        slot.owed = slot.owed.or(fault);
        None
    } else {
        fault.or(slot.owed.take())
    };
    if let Some(f) = fault {
        conn.counters().inject(f);
    }
    let before = bytes(conn.as_ref());
    let left = timeout.saturating_sub(opened_at.elapsed());
    let result = match tokio::time::timeout(left, conn.call(s.op, params)).await {
        Ok(r) => r.map(drop),
        Err(_) => Err(ClientError::Timeout),
    };
    slot.calls += 1;
    let spent = bytes(conn.as_ref()) - before;
    if let Err(e) = &result
        && !e.answered_by_server()
    {
        // Lost, reset, timed out: the connection is no longer in a known state.
        slot.conn = None;
    }
    (result, spent, fault)
}

/// The link fault a draw `u` in [0, 1) arms, by the setting's shares.
fn link_fault(link: LinkFaults, u: f64) -> Option<LinkFault> {
    if u < link.lose {
        Some(LinkFault::LoseAnswer)
    } else if u < link.lose + link.reset {
        Some(LinkFault::Reset)
    } else {
        None
    }
}

/// Counts a successful attempt with the guards and the tally.
fn succeeded(shared: &RefCell<Shared>, tally: &RefCell<Tally>, start: Instant) {
    let mut sh = shared.borrow_mut();
    if let Some(b) = sh.breaker.as_mut() {
        b.record(false, Instant::now());
    }
    if let Some(th) = sh.throttle.as_mut() {
        th.success();
    }
    let mut t = tally.borrow_mut();
    t.counts.succeeded += 1;
    let _ = t.logical_ns.record(start.elapsed().as_nanos().max(1) as u64);
}

/// A failed attempt: what it was (counted in the tally), and whether the policy and the
/// guards allow retry number `tries`: `Err` with why the operation fails, or `Ok`.
fn failed(
    s: &Setting,
    e: &ClientError,
    (tries, struck, spent): (u32, Option<LinkFault>, u64),
    shared: &RefCell<Shared>,
    tally: &RefCell<Tally>,
) -> Result<bool, String> {
    let lost = matches!(struck, Some(LinkFault::LoseAnswer)) && matches!(e, ClientError::Io(_));
    {
        let mut t = tally.borrow_mut();
        t.counts.wasted_bytes += spent;
        t.counts.lost_injected += u64::from(lost);
        t.counts.resets_injected += u64::from(matches!(struck, Some(LinkFault::Reset)));
        t.counts.refusals += u64::from(matches!(e, ClientError::Refused { .. }));
        t.counts.timeouts += u64::from(matches!(e, ClientError::Timeout));
    }
    let mut sh = shared.borrow_mut();
    if let Some(b) = sh.breaker.as_mut() {
        b.record(true, Instant::now());
    }
    if let Some(th) = sh.throttle.as_mut() {
        th.failure();
    }
    if !retryable(e, s.op, &s.policy) || tries >= s.policy.attempts {
        return Err(e.kind());
    }
    if sh.throttle.as_ref().is_some_and(|th| !th.allows())
        || sh.budget.as_mut().is_some_and(|b| !b.retry(Instant::now()))
    {
        tally.borrow_mut().counts.denied += 1;
        return Err(format!("{} (retry denied)", e.kind()));
    }
    Ok(lost)
}

/// Runs logical operation number `n` with `s`'s policy on `slot`: whether it succeeded, and
/// the attempts it made.
pub async fn logical(
    s: &Setting,
    n: u64,
    slot: &mut Slot,
    rng: &mut ChaCha8Rng,
    shared: &RefCell<Shared>,
    tally: &RefCell<Tally>,
) -> (bool, u32) {
    let p = &s.policy;
    let start = Instant::now();
    let deadline = start + Duration::from_millis(p.deadline_ms);
    let mut params = s.params.clone();
    if p.keys && s.op.writes() {
        params.idempotency_key = Some(format!("{}-{n}", s.stamp));
    }
    if let Some(b) = shared.borrow_mut().budget.as_mut() {
        b.request(start);
    }
    tally.borrow_mut().counts.logical += 1;
    let mut tries = 0;
    let failure = loop {
        let now = Instant::now();
        if shared.borrow_mut().breaker.as_mut().is_some_and(|b| !b.admit(now)) {
            tally.borrow_mut().counts.failed_fast += 1;
            break "breaker open".to_owned();
        }
        tries += 1;
        if s.trace {
            tally.borrow_mut().starts.push(now);
        }
        let fault = link_fault(s.link, rng.random());
        let timeout =
            Duration::from_millis(p.attempt_timeout_ms).min(deadline.saturating_duration_since(now));
        let (result, spent, struck) = attempt(s, slot, &params, fault, timeout).await;
        {
            let mut t = tally.borrow_mut();
            t.counts.attempts += 1;
            let _ = t.attempt_ns.record(now.elapsed().as_nanos().max(1) as u64);
        }
        let e = match result {
            Ok(()) => {
                succeeded(shared, tally, start);
                return (true, tries);
            }
            Err(e) => e,
        };
        let lost = match failed(s, &e, (tries, struck, spent), shared, tally) {
            Ok(lost) => lost,
            Err(why) => break why,
        };
        let mut wait = p.jittered(p.backoff(tries), rng.random());
        if p.honour_hints
            && let ClientError::Refused { retry_after: Some(hint), .. } = &e
        {
            wait = wait.max(*hint);
        }
        if Instant::now() + wait >= deadline {
            break format!("{} (deadline)", e.kind());
        }
        tally.borrow_mut().counts.lost_retried += u64::from(lost);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    };
    *tally.borrow_mut().errors.entry(failure).or_default() += 1;
    (false, tries)
}

/// Runs `count` logical operations on `workers` connections at once (closed loop); the
/// tally, and the breaker's changes of state.
pub async fn closed(s: &Setting, count: u64, workers: usize) -> (Tally, Vec<(Duration, guards::State)>) {
    looped(s, count, None, workers).await
}

/// Runs logical operations for `length` on `workers` connections at once (closed loop).
pub async fn timed(s: &Setting, length: Duration, workers: usize) -> (Tally, Vec<(Duration, guards::State)>) {
    looped(s, u64::MAX, Some(Instant::now() + length), workers).await
}

/// A closed loop of at most `count` operations, until `until`. A worker whose operation the
/// breaker failed fast waits a millisecond before its next (it would otherwise spin).
async fn looped(
    s: &Setting,
    count: u64,
    until: Option<Instant>,
    workers: usize,
) -> (Tally, Vec<(Duration, guards::State)>) {
    let epoch = Instant::now();
    let shared = RefCell::new(Shared::new(&s.policy, epoch));
    let tally = RefCell::new(Tally::default());
    let next = std::cell::Cell::new(0u64);
    let work = (0..workers).map(|w| {
        let (shared, tally, next) = (&shared, &tally, &next);
        async move {
            let mut rng = ChaCha8Rng::seed_from_u64(s.seed.wrapping_add(w as u64));
            let mut slot = Slot::default();
            loop {
                let n = next.get();
                if n >= count || until.is_some_and(|u| Instant::now() >= u) {
                    break;
                }
                next.set(n + 1);
                let (ok, tries) = logical(s, n, &mut slot, &mut rng, shared, tally).await;
                if !ok && tries == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    });
    futures::future::join_all(work).await;
    let changes = shared.into_inner().breaker.map(|b| b.changes).unwrap_or_default();
    (tally.into_inner(), changes)
}
