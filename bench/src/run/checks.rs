//! After a timed cell: its kept answers checked against the server's own store, through the
//! control channel — the sampled reads against what the store answers now, the sampled
//! writes' records read back from the store. The channel's reads never pay the simulated
//! store latency, so checking costs a cell run a few milliseconds whatever `--store-latency-us`.

use wirebench_engine::catalog::{OpParams, Operation, Outcome, check_write};
use wirebench_engine::control::Control;
use wirebench_engine::equivalence::difference;
use wirebench_engine::load::Samples;
use wirebench_results::Checks;

/// Orders read back per control request.
const READ_BACK_CHUNK: usize = 2000;

/// Checks `samples` of a cell of `op` with `params`; `control` is the server's channel (none:
/// nothing can be compared, and the result says so).
pub fn verify(
    control: Option<&Control>,
    (protocol, op): (&str, Operation),
    params: &OpParams,
    samples: &Samples,
) -> Checks {
    let mut checks = Checks { writes_checked: samples.writes_checked, ..Checks::default() };
    let Some(control) = control else {
        checks.unchecked = Some("no control channel to the server (--target): nothing read back".into());
        return checks;
    };
    if let Err(e) = reads(control, (protocol, op), params, samples, &mut checks)
        .and_then(|()| writes(control, params, samples, &mut checks))
    {
        checks.unchecked = Some(format!("{e:#}"));
    }
    checks
}

fn mismatch(checks: &mut Checks, why: String) {
    checks.mismatches += 1;
    checks.mismatch.get_or_insert(why);
}

fn reads(
    control: &Control,
    (protocol, op): (&str, Operation),
    params: &OpParams,
    samples: &Samples,
    checks: &mut Checks,
) -> anyhow::Result<()> {
    if samples.reads.is_empty() {
        return Ok(());
    }
    let want = match samples.reads.first() {
        Some(Outcome::StandIn(_)) => Some(Outcome::StandIn(params.stand_in_replies(protocol, op))),
        _ => control.expect(op, params)?,
    };
    let Some(want) = want else { anyhow::bail!("the server has no answer to compare a read of {op} with") };
    for got in &samples.reads {
        checks.reads_compared += 1;
        if *got != want {
            mismatch(
                checks,
                format!("a sampled {op} read differs from the server's store: {}", difference(&want, got)),
            );
        }
    }
    Ok(())
}

fn writes(
    control: &Control,
    params: &OpParams,
    samples: &Samples,
    checks: &mut Checks,
) -> anyhow::Result<()> {
    for chunk in samples.created.chunks(READ_BACK_CHUNK) {
        let (stored, kept_from) = control.orders(chunk.iter().map(|o| o.id).collect())?;
        for (order, stored) in chunk.iter().zip(stored) {
            if stored.is_none() && order.id < kept_from {
                checks.writes_forgotten += 1;
                continue;
            }
            checks.writes_read_back += 1;
            if stored.as_ref() != Some(order) {
                mismatch(
                    checks,
                    format!("created order {} reads back as {stored:?}, the client got {order:?}", order.id),
                );
            }
        }
    }
    for chunk in samples.imported.chunks(READ_BACK_CHUNK) {
        let (stored, kept_from) = control.orders(chunk.to_vec())?;
        for (id, stored) in chunk.iter().zip(stored) {
            if stored.is_none() && *id < kept_from {
                checks.writes_forgotten += 1;
                continue;
            }
            checks.writes_read_back += 1;
            let Some(order) = stored else {
                mismatch(checks, format!("imported order {id} is not in the server's store"));
                continue;
            };
            if let Err(why) = check_write(params, &Outcome::Created { order, replayed: false }) {
                mismatch(checks, format!("imported order {id} as stored: {why}"));
            }
        }
    }
    Ok(())
}
