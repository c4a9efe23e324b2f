//! The equivalence gate: before anything is timed, every protocol runs every operation once
//! and must return what the reference store holds. A (protocol, operation) that disagrees
//! is recorded and never timed.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use wirebench_domain::Store;

use wirebench_engine::catalog::{OpParams, Operation};
use wirebench_engine::control::Control;
use wirebench_engine::equivalence::{Reference, Verdict, verify_isolated};
use wirebench_results::EquivalenceResult;
use wirebench_wire::Dial;

use super::plan::Plan;

/// What the gate decided for one payload.
#[derive(Debug, Default)]
pub struct Gate {
    /// One verdict per (protocol, operation), in plan order.
    pub results: Vec<EquivalenceResult>,
    /// The pairs that disagree with the reference: not timed.
    pub failed: Vec<(&'static str, Operation)>,
    /// The same through a gateway: (gateway, protocol, operation).
    pub failed_via: Vec<(String, &'static str, Operation)>,
}

impl Gate {
    /// True when `protocol` may be timed on `op`.
    pub fn passed(&self, protocol: &str, op: Operation) -> bool {
        !self.failed.iter().any(|(p, o)| *p == protocol && *o == op)
    }

    /// True when `protocol` may be timed on `op` through `via`.
    pub fn passed_via(&self, via: &str, protocol: &str, op: Operation) -> bool {
        self.passed(protocol, op)
            && !self.failed_via.iter().any(|(v, p, o)| *v == via && *p == protocol && *o == op)
    }

    /// Checks every routed (protocol, operation) of the plan's gateway cells through each
    /// gateway, as the direct ones are checked.
    pub fn check_via(
        &mut self,
        plan: &Plan,
        gateways: &[crate::gateway::Gateway],
        params: &OpParams,
        against: Against<'_>,
        (payload, stamp): (&str, &str),
        progress: &super::progress::Progress,
    ) {
        let reference = against.control.map_or(Reference::Local(against.local), Reference::Server);
        for g in gateways {
            for &protocol in &plan.protocols {
                let Ok(addr) = g.dial_for(protocol) else { continue };
                let dial = Dial::to(addr).dissected(plan.dissect);
                for &op in plan.via_ops.iter().filter(|op| protocol.unsupported(**op).is_none()) {
                    let mut p = params.clone();
                    let key = format!("{stamp}-eq-{}-{}-{op}", g.via().name(), protocol.name());
                    p.idempotency_key = op.writes().then_some(key);
                    let verdict =
                        tokio::task::block_in_place(|| verify_isolated(protocol, &dial, op, &p, reference));
                    if matches!(verdict, Verdict::Fails(_)) {
                        self.failed_via.push((g.via().name(), protocol.name(), op));
                        let (via, name) = (g.via().name(), protocol.name());
                        progress
                            .note(format!("not timed: {name} {op} via {via} disagrees with the reference"));
                    }
                    self.results.push(result(
                        (protocol.name(), payload, op),
                        &verdict,
                        None,
                        &g.via().name(),
                    ));
                }
            }
        }
    }
}

/// What the gate checks against: the server's own store through its control channel when
/// there is one (its answers are exact even after earlier writes, and it counts the store
/// calls each check makes), else a store loaded with the same fixtures.
#[derive(Debug, Clone, Copy)]
pub struct Against<'a> {
    pub local: &'a Store,
    pub control: Option<&'a Control>,
}

/// Checks every (protocol, operation). Writes use keys made unique by `stamp`, so they never
/// replay an earlier run's.
pub fn check(
    plan: &Plan,
    addrs: &BTreeMap<String, SocketAddr>,
    params: &OpParams,
    against: Against<'_>,
    (payload, stamp): (&str, &str),
) -> anyhow::Result<Gate> {
    let reference = against.control.map_or(Reference::Local(against.local), Reference::Server);
    // Store calls so far, less those the gate's own questions to the server made.
    let calls = || against.control.map(|c| c.calls().map(|n| n - c.caused())).transpose();
    let mut gate = Gate::default();
    for &protocol in &plan.protocols {
        let addr = *addrs
            .get(protocol.server())
            .with_context(|| format!("no address for server {}", protocol.server()))?;
        let dial = Dial::to(addr).dissected(plan.dissect);
        for &op in &plan.operations {
            let mut p = params.clone();
            p.idempotency_key = op.writes().then(|| format!("{stamp}-eq-{}-{op}", protocol.name()));
            let before = calls()?;
            let verdict = tokio::task::block_in_place(|| verify_isolated(protocol, &dial, op, &p, reference));
            let store_calls = match (before, calls()?) {
                (Some(a), Some(b)) if verdict == Verdict::Agrees => Some(b - a),
                _ => None,
            };
            if matches!(verdict, Verdict::Fails(_)) {
                gate.failed.push((protocol.name(), op));
            }
            gate.results.push(result((protocol.name(), payload, op), &verdict, store_calls, "direct"));
        }
    }
    Ok(gate)
}

/// The record of one check of `protocol` on `op` (through `via`).
fn result(
    (protocol, payload, op): (&str, &str, Operation),
    verdict: &Verdict,
    store_calls: Option<u64>,
    via: &str,
) -> EquivalenceResult {
    EquivalenceResult {
        protocol: protocol.to_owned(),
        payload: payload.to_owned(),
        operation: op,
        verdict: verdict.kind(),
        detail: verdict.detail(),
        store_calls,
        via: via.to_owned(),
    }
}
