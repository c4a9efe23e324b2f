//! The equivalence gate: before anything is timed, every protocol runs every operation once
//! and must return what the reference store holds. A (protocol, operation) that disagrees
//! is recorded and never timed.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use wirebench_domain::Store;

use crate::catalog::{OpParams, Operation};
use crate::clients::Protocol;
use crate::equivalence::{Verdict, verify_isolated};
use crate::results::EquivalenceResult;

/// What the gate decided for one payload.
#[derive(Debug, Default)]
pub struct Gate {
    /// One verdict per (protocol, operation), in plan order.
    pub results: Vec<EquivalenceResult>,
    /// The pairs that disagree with the reference: not timed.
    pub failed: Vec<(&'static str, Operation)>,
}

impl Gate {
    /// True when `protocol` may be timed on `op`.
    pub fn passed(&self, protocol: &str, op: Operation) -> bool {
        !self.failed.iter().any(|(p, o)| *p == protocol && *o == op)
    }
}

/// Checks every (protocol, operation) against `reference`. Writes use keys made unique by
/// `stamp`, so they never replay an earlier run's.
pub fn check(
    protocols: &[&'static dyn Protocol],
    operations: &[Operation],
    addrs: &BTreeMap<String, SocketAddr>,
    params: &OpParams,
    reference: &Store,
    payload: &str,
    stamp: &str,
) -> anyhow::Result<Gate> {
    let mut gate = Gate::default();
    for &protocol in protocols {
        let addr = *addrs
            .get(protocol.server())
            .with_context(|| format!("no address for server {}", protocol.server()))?;
        for &op in operations {
            let mut p = params.clone();
            p.idempotency_key = op.writes().then(|| format!("{stamp}-eq-{}-{op}", protocol.name()));
            let verdict = tokio::task::block_in_place(|| verify_isolated(protocol, addr, op, &p, reference));
            if matches!(verdict, Verdict::Fails(_)) {
                gate.failed.push((protocol.name(), op));
            }
            gate.results.push(EquivalenceResult {
                protocol: protocol.name().into(),
                payload: payload.to_owned(),
                operation: op,
                verdict: verdict.kind(),
                detail: verdict.detail(),
            });
        }
    }
    Ok(gate)
}
