//! `wirebench merge A B … --out DIR`: the shards of one sharded run (`run --shard I/N`)
//! added up into the results of one run at the total load, without loss.
//!
//! - Histograms (latency, uncorrected latency, message latency, send lag, connection wait,
//!   decode time) are added bucket by bucket; every percentile comes from the sum, none is
//!   averaged. Operations, errors, missed sends and checks are summed; connections and rates
//!   too (each shard ran its share).
//! - Per-operation figures (bytes, round trips, client CPU) are means weighted by each
//!   shard's operations; per-connection figures by its connections. Server CPU per
//!   operation: every shard read the same server's CPU clock over the same window, so the
//!   server's time is divided by all the shards' operations (`1 / Σ 1/cpu_i`).
//! - Throughput is the sum of the shards' throughputs (each over its own window; the
//!   windows share a schedule, and merge reports how far their starts lay apart).
//! - Runs that do not belong together are refused: another revision or version, other
//!   options, another fixture seed, another start time or shard count, a shard twice or
//!   missing, or a run that did not complete.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::shard::ShardRun;
use anyhow::{Context as _, bail, ensure};
use wirebench_results::pool::{add_bytes, add_checks, add_errors, add_latencies};
use wirebench_results::{Cell, Results, RunStatus};

/// Options of `wirebench merge`.
#[derive(Debug, Clone, clap::Args)]
pub struct MergeArgs {
    /// The shards' results.json files (or their run folders).
    #[arg(required = true, num_args = 1..)]
    pub results: Vec<PathBuf>,
    /// Folder for the merged results.json, its report and exports.
    #[arg(long)]
    pub out: PathBuf,
    /// How the terminal summary is printed.
    #[arg(long, value_enum, default_value = "table")]
    pub format: wirebench_report::summary::Format,
}

/// Runs `wirebench merge`; returns the merged results' path.
pub fn run(args: &MergeArgs) -> anyhow::Result<PathBuf> {
    let runs: Vec<(String, Results)> = args
        .results
        .iter()
        .map(|p| {
            let path = if p.is_dir() { p.join("results.json") } else { p.clone() };
            Results::read(&path).map(|r| (path.display().to_string(), r))
        })
        .collect::<anyhow::Result<_>>()?;
    let merged = merge(&runs)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&merged)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    wirebench_results::export::write_beside(&merged, &path)?;
    wirebench_report::summary::write_as(&mut std::io::stdout().lock(), &merged, args.format)?;
    for s in &merged.shards {
        let send_lag =
            s.max_send_lag_p99_ns.map_or("–".to_owned(), |l| wirebench_report::fmt::nanos(l as f64));
        eprintln!(
            "shard {}/{} on {}: clock offset from the server {}; send lag p99 at most {send_lag}; \
             {} cell(s) started late (at most {})",
            s.index,
            s.count,
            s.host,
            s.clock_offset_shown(),
            s.cells_late,
            wirebench_report::fmt::nanos(s.max_start_lag_ns as f64)
        );
    }
    let report = wirebench_report::write(&path, &wirebench_report::ReportOptions::default())?;
    eprintln!("results: {}\nreport: {}", path.display(), report.display());
    Ok(path)
}

/// The one run the shards add up to; an error says why they do not belong together.
pub fn merge(runs: &[(String, Results)]) -> anyhow::Result<Results> {
    let [(_, first), ..] = runs else { bail!("nothing to merge") };
    let shards = compatible(runs)?;
    let mut groups: BTreeMap<String, Vec<&Cell>> = BTreeMap::new();
    for (_, r) in runs {
        for c in &r.cells {
            groups.entry(key(c)).or_default().push(c);
        }
    }
    let mut cells: Vec<Cell> =
        groups.into_values().map(|group| add(&group)).collect::<anyhow::Result<_>>()?;
    cells.sort_by(|a, b| a.started_unix_s.unwrap_or(0.0).total_cmp(&b.started_unix_s.unwrap_or(0.0)));
    let mut merged = first.clone();
    merged.command = format!(
        "wirebench merge {}",
        runs.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(" ")
    );
    merged.started_at = runs.iter().map(|(_, r)| r.started_at.clone()).min().unwrap_or_default();
    merged.finished_at = runs.iter().map(|(_, r)| r.finished_at.clone()).max().unwrap_or_default();
    merged.summaries = wirebench_results::repeats::summarize(&cells);
    merged.cells = cells;
    merged.shards = shards;
    Ok(merged)
}

/// The shards of `runs`, in order, or why they cannot be merged.
fn compatible(runs: &[(String, Results)]) -> anyhow::Result<Vec<ShardRun>> {
    let (first_name, first) = &runs[0];
    let options = |r: &Results| {
        let mut v = serde_json::to_value(&r.options).expect("options serialize");
        v.as_object_mut().map(|o| o.remove("target"));
        v
    };
    let mut shards = Vec::new();
    for (name, r) in runs {
        ensure!(
            r.status == RunStatus::Complete,
            "cannot merge: {name} did not complete ({})",
            r.message.clone().unwrap_or_default()
        );
        let [shard] = r.shards.as_slice() else {
            bail!("cannot merge: {name} is not one shard of a sharded run (run it with --shard I/N)")
        };
        let differs = |what: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
            anyhow::anyhow!("cannot merge: {what} differs: {a} in {first_name}, {b} in {name}")
        };
        let env = (&first.environment, &r.environment);
        if env.0.git_revision != env.1.git_revision {
            return Err(differs("the revision", &env.0.git_revision, &env.1.git_revision));
        }
        if env.0.wirebench_version != env.1.wirebench_version {
            return Err(differs("the wirebench version", &env.0.wirebench_version, &env.1.wirebench_version));
        }
        if first.options.seed != r.options.seed {
            return Err(differs("the fixture seed", &first.options.seed, &r.options.seed));
        }
        let (a, b) = (options(first), options(r));
        if a != b {
            let diff: Vec<String> = a
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                .map(|(k, v)| {
                    format!("{k} ({v} against {})", b.get(k.as_str()).unwrap_or(&serde_json::Value::Null))
                })
                .collect();
            bail!("cannot merge: {first_name} and {name} ran with other options: {}", diff.join(", "));
        }
        let s0 = &first.shards[0];
        if (shard.count, shard.start_unix_s) != (s0.count, s0.start_unix_s) {
            let (a, b) = (
                format!("{} shards from {}", s0.count, s0.start_unix_s),
                format!("{} shards from {}", shard.count, shard.start_unix_s),
            );
            return Err(differs("the shard count or start time", &a, &b));
        }
        ensure!(
            !shards.iter().any(|s: &ShardRun| s.index == shard.index),
            "cannot merge: shard {}/{} is given twice ({name})",
            shard.index,
            shard.count
        );
        shards.push(shard.clone());
    }
    let count = shards[0].count;
    let missing: Vec<String> = (1..=count)
        .filter(|i| !shards.iter().any(|s| s.index == *i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    ensure!(missing.is_empty(), "cannot merge: shard(s) {} missing", missing.join(", "));
    shards.sort_by_key(|s| s.index);
    Ok(shards)
}

/// What identifies a cell across shards: everything but the shard's share of the load.
fn key(c: &Cell) -> String {
    let total = c.total_load.map_or((c.concurrency, c.rate), |t| (t.concurrency, t.rate));
    format!(
        "{:?}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        total,
        c.protocol,
        c.operation.name(),
        c.payload,
        c.network,
        c.fresh_connections,
        c.tls,
        c.streams,
        c.sized,
        c.via,
        c.n,
        c.repeat,
        c.mode
    )
}

/// One cell from the shards' runs of it.
fn add(group: &[&Cell]) -> anyhow::Result<Cell> {
    let mut cell = group[0].clone();
    let ops: u64 = group.iter().map(|c| c.ops).sum();
    let by_ops = |get: fn(&Cell) -> f64| {
        let total = ops.max(1) as f64;
        group.iter().map(|c| get(c) * c.ops as f64).sum::<f64>() / total
    };
    cell.concurrency = group.iter().map(|c| c.concurrency).sum();
    cell.rate = group.iter().map(|c| c.rate).sum::<Option<f64>>();
    if let Some(total) = cell.total_load.take()
        && total.concurrency != cell.concurrency
    {
        cell.flags.push(format!(
            "the shards ran {} of its {} connections (a shard's run of it is missing)",
            cell.concurrency, total.concurrency
        ));
    }
    cell.ops = ops;
    add_errors(&mut cell, group);
    cell.elapsed_s = group.iter().map(|c| c.elapsed_s).fold(0.0, f64::max);
    cell.throughput_ops_s = group.iter().map(|c| c.throughput_ops_s).sum();
    cell.missed = group.iter().map(|c| c.missed).sum();
    add_latencies(&mut cell, group)?;
    cell.checks = add_checks(group);
    cell.bytes = add_bytes(group)?;
    cell.round_trips_per_op = by_ops(|c| c.round_trips_per_op);
    cell.requests_per_op = by_ops(|c| c.requests_per_op);
    cell.turns_per_op = by_ops(|c| c.turns_per_op);
    let r = &mut cell.resources;
    r.client_cpu_us_per_op = group
        .iter()
        .map(|c| c.resources.client_cpu_us_per_op.map(|cpu| cpu * c.ops as f64))
        .sum::<Option<f64>>()
        .map(|total| total / ops.max(1) as f64);
    // Each shard divided the same server time by its own operations.
    r.server_cpu_us_per_op = group
        .iter()
        .map(|c| c.resources.server_cpu_us_per_op.filter(|cpu| *cpu > 0.0).map(|cpu| 1.0 / cpu))
        .sum::<Option<f64>>()
        .map(|inverse| 1.0 / inverse);
    r.server_peak_rss_bytes = group.iter().filter_map(|c| c.resources.server_peak_rss_bytes).max();
    r.client_peak_rss_bytes = group.iter().filter_map(|c| c.resources.client_peak_rss_bytes).max();
    cell.started_unix_s = group.iter().filter_map(|c| c.started_unix_s).reduce(f64::min);
    cell.start_lag_ns = group.iter().filter_map(|c| c.start_lag_ns).max();
    let starts: Vec<f64> = group.iter().filter_map(|c| c.started_unix_s).collect();
    if let (Some(lo), Some(hi)) =
        (starts.iter().copied().reduce(f64::min), starts.iter().copied().reduce(f64::max))
        && hi - lo > crate::shard::LATE.as_secs_f64()
    {
        cell.flags.push(format!("the shards' recorded windows began {:.1} ms apart", (hi - lo) * 1e3));
    }
    Ok(cell)
}
