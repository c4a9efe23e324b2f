//! The short table `wirebench run` prints at its end: one line per cell, numbers formatted
//! as the report formats them.

use std::io::{self, Write};

use crate::equivalence::VerdictKind;
use crate::report::fmt;
use crate::results::Results;

/// Writes the summary table of `r` to `out`.
pub fn write(out: &mut impl Write, r: &Results) -> io::Result<()> {
    writeln!(
        out,
        "{:<21} {:<14} {:<7} {:>7} {:>12} {:>9} {:>9} {:>9} {:>9} {:>4} {:>6}",
        "protocol",
        "operation",
        "payload",
        "load",
        "throughput",
        "p50",
        "p99",
        "sent",
        "received",
        "RTs",
        "errors"
    )?;
    for c in &r.cells {
        let load = match c.rate {
            Some(rate) => format!("{rate:.0}/s"),
            None => format!("c{}", c.concurrency),
        };
        let (p50, p99) = c.latency.as_ref().map_or_else(
            || ("-".into(), "-".into()),
            |l| (fmt::nanos(l.p50_ns as f64), fmt::nanos(l.p99_ns as f64)),
        );
        writeln!(
            out,
            "{:<21} {:<14} {:<7} {:>7} {:>12} {:>9} {:>9} {:>9} {:>9} {:>4} {:>6}",
            c.protocol,
            c.operation.name(),
            c.payload,
            load,
            format!("{}/s", fmt::int(c.throughput_ops_s)),
            p50,
            p99,
            fmt::bytes(c.bytes.sent_per_op.total_bytes),
            fmt::bytes(c.bytes.received_per_op.total_bytes),
            fmt::count(c.round_trips_per_op),
            c.errors.values().sum::<u64>()
        )?;
    }
    let fails = r.equivalence.iter().filter(|e| e.verdict == VerdictKind::Fails).count();
    if fails > 0 {
        writeln!(
            out,
            "{fails} equivalence failure(s): those cells were not timed (details in results.json)"
        )?;
    }
    Ok(())
}
