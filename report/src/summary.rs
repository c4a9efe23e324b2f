//! What `wirebench run` prints at its end. For people, by default, a screen: per operation,
//! the main protocols' p50 on loopback and on the emulated network, and their bytes and
//! round trips per operation (`--format full` prints every cell as a table); for programs,
//! every cell as JSON or CSV. Numbers are formatted as the report formats them.

use std::io::{self, Write};

use crate::fmt;
use wirebench_results::vocab::VerdictKind;
use wirebench_results::{Cell, Results};

/// How the summary is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A screen for people: per operation, the main protocols' figures.
    #[default]
    Table,
    /// Every cell, one line each, for people.
    Full,
    /// One JSON array of rows.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

/// One line of the summary, in units a program can read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub protocol: String,
    pub operation: String,
    pub payload: String,
    /// "c16", "1000/s", "c1 wan cold", … as the table shows it.
    pub load: String,
    pub throughput_ops_s: f64,
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub sent_bytes_per_op: f64,
    pub received_bytes_per_op: f64,
    pub round_trips_per_op: f64,
    /// Errors of every repeat.
    pub errors: u64,
}

/// Writes the summary of `r` to `out` in `format`.
pub fn write_as(out: &mut impl Write, r: &Results, format: Format) -> io::Result<()> {
    match format {
        Format::Table => short(out, &crate::direct_only(r)),
        Format::Full => write(out, r),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &rows(r)).map_err(io::Error::other)?;
            writeln!(out)
        }
        Format::Csv => {
            writeln!(
                out,
                "protocol,operation,payload,load,throughput_ops_s,p50_ns,p99_ns,sent_bytes_per_op,\
                 received_bytes_per_op,round_trips_per_op,errors"
            )?;
            let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
            for row in rows(r) {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{}",
                    row.protocol,
                    row.operation,
                    row.payload,
                    row.load,
                    row.throughput_ops_s,
                    opt(row.p50_ns),
                    opt(row.p99_ns),
                    row.sent_bytes_per_op,
                    row.received_bytes_per_op,
                    row.round_trips_per_op,
                    row.errors
                )?;
            }
            Ok(())
        }
    }
}

/// The short summary: three small tables (p50 on loopback, p50 on the run's emulated network,
/// bytes and round trips per operation), a column per main protocol and the floor, a row per
/// operation; at most 50 lines for any run of one payload.
fn short(out: &mut impl Write, r: &Results) -> io::Result<()> {
    let cells = wirebench_results::repeats::merge(&r.cells);
    let with_roles = r.protocols.iter().any(|p| p.role.is_some());
    let shown: Vec<&str> = r
        .protocols
        .iter()
        .filter(|p| !with_roles || p.role != Some(wirebench_results::vocab::Role::Variant))
        .map(|p| p.name.as_str())
        .filter(|p| cells.iter().any(|c| c.protocol == *p))
        .take(8)
        .collect();
    let payload = r.options.payloads.first().cloned().unwrap_or_default();
    let far = r.options.networks.iter().find(|n| !n.is_loopback()).map(|n| n.name.clone());
    let lowest = cells.iter().filter(|c| c.mode == "closed").map(|c| c.concurrency).min().unwrap_or(1);
    let ops: Vec<wirebench_results::vocab::Operation> = wirebench_results::vocab::Operation::ALL
        .into_iter()
        .filter(|op| cells.iter().any(|c| c.operation == *op))
        .collect();
    let find = |p: &str, op, network: &str, concurrency| {
        cells.iter().find(|c| {
            crate::usual(c, network)
                && c.protocol == p
                && c.operation == op
                && c.payload == payload
                && c.mode == "closed"
                && c.concurrency == concurrency
        })
    };
    let table = |out: &mut dyn Write,
                 title: String,
                 network: &str,
                 concurrency: u32,
                 show: &dyn Fn(&Cell) -> String| {
        let cell = |p: &str, op| find(p, op, network, concurrency).map_or_else(|| "–".to_owned(), show);
        grid(out, &title, (&shown, &ops), &cell)
    };
    let p50 = |c: &Cell| c.latency.as_ref().map_or_else(|| "–".to_owned(), |l| fmt::nanos(l.p50_ns as f64));
    table(out, format!("p50, loopback c={lowest}"), wirebench_results::network::LOOPBACK, lowest, &p50)?;
    if let Some(far) = &far {
        table(out, format!("p50, {far} c=1"), far, 1, &p50)?;
    }
    let bytes = |c: &Cell| {
        format!(
            "{} ·{}",
            fmt::bytes(c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes),
            fmt::count(c.round_trips_per_op)
        )
    };
    table(out, "bytes · round trips".into(), wirebench_results::network::LOOPBACK, lowest, &bytes)?;
    let noisy = r.summaries.iter().filter(|s| s.noisy.iter().any(|n| n == "p50_us")).count();
    writeln!(
        out,
        "{} cells in {} rounds, {noisy} with a noisy p50; the verdicts, intervals and everything else are in the report \
         (--format full prints every cell)",
        r.summaries.len(),
        r.options.repeat
    )?;
    failures(r, out)
}

/// The line that says how many protocol × operation pairs failed the equivalence gate.
fn failures(r: &Results, out: &mut impl Write) -> std::io::Result<()> {
    let fails = r.equivalence.iter().filter(|e| e.verdict == VerdictKind::Fails).count();
    if fails > 0 {
        writeln!(
            out,
            "{fails} equivalence failure(s): those cells were not timed (details in results.json)"
        )?;
    }
    Ok(())
}

/// One small table: a column per protocol, a row per operation, `cell` writing each.
fn grid(
    out: &mut dyn Write,
    title: &str,
    (protocols, ops): (&[&str], &[wirebench_results::vocab::Operation]),
    cell: &dyn Fn(&str, wirebench_results::vocab::Operation) -> String,
) -> io::Result<()> {
    write!(out, "{title:<24}")?;
    for p in protocols {
        write!(out, " {p:>14}")?;
    }
    writeln!(out)?;
    for op in ops {
        write!(out, "{:<24}", op.name())?;
        for p in protocols {
            write!(out, " {:>14}", cell(p, *op))?;
        }
        writeln!(out)?;
    }
    writeln!(out)
}

/// The summary's rows: one per cell, over its rounds, in the run's order.
pub fn rows(r: &Results) -> Vec<Row> {
    let (cells, errors) = ordered(r);
    cells
        .iter()
        .zip(errors)
        .map(|(c, errors)| Row {
            protocol: c.protocol.clone(),
            operation: c.operation.name().to_owned(),
            payload: c.payload.clone(),
            load: load(c),
            throughput_ops_s: c.throughput_ops_s,
            p50_ns: c.latency.as_ref().map(|l| l.p50_ns),
            p99_ns: c.latency.as_ref().map(|l| l.p99_ns),
            sent_bytes_per_op: c.bytes.sent_per_op.total_bytes,
            received_bytes_per_op: c.bytes.received_per_op.total_bytes,
            round_trips_per_op: c.round_trips_per_op,
            errors,
        })
        .collect()
}

/// Writes the summary table of `r` to `out`.
pub fn write(out: &mut impl Write, r: &Results) -> io::Result<()> {
    writeln!(
        out,
        "{:<21} {:<14} {:<7} {:>19} {:>12} {:>9} {:>9} {:>9} {:>9} {:>4} {:>6}",
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
    let (cells, errors) = ordered(r);
    for (c, errors) in cells.iter().zip(errors) {
        let load = load(c);
        let (p50, p99) = c.latency.as_ref().map_or_else(
            || ("-".into(), "-".into()),
            |l| (fmt::nanos(l.p50_ns as f64), fmt::nanos(l.p99_ns as f64)),
        );
        writeln!(
            out,
            "{:<21} {:<14} {:<7} {:>19} {:>12} {:>9} {:>9} {:>9} {:>9} {:>4} {:>6}",
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
            errors
        )?;
    }
    if r.options.repeat > 1 {
        writeln!(out, "every call of {} rounds per cell; intervals in the report", r.options.repeat)?;
    }
    failures(r, out)
}

/// The cells (the median of each one's repeats) in the run's order, and each one's errors
/// over all its repeats.
fn ordered(r: &Results) -> (Vec<Cell>, Vec<u64>) {
    let mut cells = wirebench_results::repeats::merge(&r.cells);
    let position = |list: &[String], s: &str| list.iter().position(|x| x == s).unwrap_or(usize::MAX);
    let ops: Vec<String> = r.options.operations.iter().map(|o| o.name().to_owned()).collect();
    let networks: Vec<String> = r.options.networks.iter().map(|n| n.name.clone()).collect();
    cells.sort_by_key(|c| {
        (
            position(&r.options.payloads, &c.payload),
            position(&networks, &c.network),
            position(&r.options.protocols, &c.protocol),
            position(&ops, c.operation.name()),
            c.rate.is_some(),
            c.concurrency,
            c.tls != "plain",
            c.fresh_connections,
            c.tls == "tls-resumed",
            c.streams,
            c.sized.then_some(c.n),
        )
    });
    // Errors of every repeat, not only the median one's.
    let errors = |c: &Cell| -> u64 {
        r.cells
            .iter()
            .filter(|x| wirebench_results::repeats::key(x) == wirebench_results::repeats::key(c))
            .map(|x| x.errors.values().sum::<u64>())
            .sum()
    };
    let errors = cells.iter().map(errors).collect();
    (cells, errors)
}

/// "c16", "1000/s", "c1 wan", "c1 wan cold", "c1 cold tls-resumed", "c1 ×16" (streams).
fn load(c: &wirebench_results::Cell) -> String {
    let mut load = match c.rate {
        Some(rate) => format!("{rate:.0}/s"),
        None => format!("c{}", c.concurrency),
    };
    if c.network != wirebench_results::network::LOOPBACK {
        load = format!("{load} {}", c.network);
    }
    if c.fresh_connections {
        load += " cold";
    }
    if c.tls != "plain" {
        load = format!("{load} {}", c.tls);
    }
    if c.streams > 1 {
        load = format!("{load} ×{}", c.streams);
    }
    if c.sized {
        load = format!("{load} n={}", c.n);
    }
    load
}
