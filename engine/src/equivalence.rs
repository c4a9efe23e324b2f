//! Before anything is timed: does every protocol tell the same truth?
//!
//! Each (protocol, operation) runs once over a real connection; its decoded outcome is
//! compared with a reference store's answer (reads) or with its own request (writes), and
//! the request waves its socket shows with the round trips the client believes it made. A
//! protocol that disagrees is reported as a failure and is not timed.

use std::time::Duration;

use crate::catalog::{OpParams, Operation, Outcome, check_write, expected};
use crate::clients::{ClientError, Protocol};
use crate::control::Control;
use wirebench_domain::Store;
use wirebench_wire::Dial;

/// What a read is compared with: a store with the same fixtures, or the server's own store
/// asked through its control channel (exact even after writes changed it).
#[derive(Debug, Clone, Copy)]
pub enum Reference<'a> {
    Local(&'a Store),
    Server(&'a Control),
}

impl Reference<'_> {
    /// The reference's answer to a read (none for a write).
    pub async fn expected(&self, op: Operation, p: &OpParams) -> Result<Option<Outcome>, String> {
        match self {
            Reference::Local(store) => expected(store, op, p).await.map_err(|e| e.to_string()),
            Reference::Server(control) => control.expect(op, p).map_err(|e| format!("{e:#}")),
        }
    }
}

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// The verdict for one (protocol, operation), with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same data as the reference.
    Agrees,
    /// The protocol variant does not run this operation, for this reason.
    Unsupported(&'static str),
    /// Different data, or an error.
    Fails(String),
}

pub use wirebench_results::vocab::VerdictKind;

impl Verdict {
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Agrees => VerdictKind::Agrees,
            Verdict::Unsupported(_) => VerdictKind::Unsupported,
            Verdict::Fails(_) => VerdictKind::Fails,
        }
    }

    /// The reason (unsupported) or the difference (fails).
    pub fn detail(&self) -> Option<String> {
        match self {
            Verdict::Agrees => None,
            Verdict::Unsupported(why) => Some((*why).to_owned()),
            Verdict::Fails(why) => Some(why.clone()),
        }
    }
}

/// Runs `op` once through `protocol`, connected as `dial` says, and compares. `reference` must hold the same data as
/// the server for the records the reads touch (the same fixtures, or the server's own store).
pub async fn verify(
    protocol: &'static dyn Protocol,
    dial: &Dial,
    op: Operation,
    params: &OpParams,
    reference: Reference<'_>,
) -> Verdict {
    if let Some(reason) = protocol.unsupported(op) {
        return Verdict::Unsupported(reason);
    }
    match tokio::time::timeout(CHECK_TIMEOUT, run(protocol, dial, op, params, reference)).await {
        Ok(Ok(())) => Verdict::Agrees,
        Ok(Err(why)) => Verdict::Fails(why),
        Err(_) => Verdict::Fails(ClientError::Timeout.to_string()),
    }
}

/// [`verify`] on a current-thread runtime of its own thread, the way the load engine runs
/// clients: a client's connection tasks run only while it waits, so requests it sends at
/// once (HTTP/2 multiplexing) leave at once, as they do when timed. Blocks the calling thread.
pub fn verify_isolated(
    protocol: &'static dyn Protocol,
    dial: &Dial,
    op: Operation,
    params: &OpParams,
    reference: Reference<'_>,
) -> Verdict {
    let checked = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                Ok::<_, std::io::Error>(rt.block_on(verify(protocol, dial, op, params, reference)))
            })
            .join()
    });
    match checked {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(e)) => Verdict::Fails(format!("no runtime for the check: {e}")),
        Err(_) => Verdict::Fails("the check panicked".into()),
    }
}

async fn run(
    protocol: &'static dyn Protocol,
    dial: &Dial,
    op: Operation,
    params: &OpParams,
    reference: Reference<'_>,
) -> Result<(), String> {
    let mut conn = protocol.connect(dial.clone(), op).await.map_err(|e| e.to_string())?;
    let before = conn.counters().snapshot();
    let call = conn.call(op, params).await.map_err(|e| e.to_string())?;
    let wire = conn.counters().snapshot().since(&before);
    if let Some(e) = conn.counters().dissect_error() {
        return Err(format!("the dissector could not parse the stream: {e}"));
    }
    // Without dissection (only to measure its cost) the socket shows no waves to compare.
    if dial.dissect && wire.waves != u64::from(call.declared_round_trips) {
        return Err(format!(
            "the client declared {} round trip(s), the socket shows {} request wave(s)",
            call.declared_round_trips, wire.waves
        ));
    }
    if op == Operation::StreamOrders && call.message_times.len() != params.n as usize {
        return Err(format!("{} messages timed for a stream of {}", call.message_times.len(), params.n));
    }
    if let Outcome::StandIn(got) = &call.outcome {
        // Bytes standing in for another protocol's messages: the sizes asked for came back.
        let want = params.stand_in_replies(protocol.name(), op);
        return if *got == want && !want.is_empty() {
            Ok(())
        } else {
            Err(format!("received messages of {got:?} bytes, asked for {want:?}"))
        };
    }
    match reference.expected(op, params).await.map_err(|e| format!("reference: {e}"))? {
        Some(want) if want == call.outcome => Ok(()),
        Some(want) => Err(difference(&want, &call.outcome)),
        None => check_write(params, &call.outcome),
    }
}

/// A short description of how two outcomes differ.
pub fn difference(want: &Outcome, got: &Outcome) -> String {
    match (want, got) {
        (Outcome::Orders(w), Outcome::Orders(g)) if w.len() != g.len() => {
            format!("{} orders, expected {}", g.len(), w.len())
        }
        (Outcome::Orders(w), Outcome::Orders(g)) => {
            let i = w.iter().zip(g).position(|(a, b)| a != b).unwrap_or(0);
            format!("order #{i} differs: got {:?}, expected {:?}", g[i], w[i])
        }
        _ => format!("got {got:?}, expected {want:?}"),
    }
}
