//! Adding runs of a cell together: histograms bucket by bucket, per-operation figures
//! weighted by operations. `wirebench merge` adds a cell's shards (the same moment, shares of
//! its load); [`rounds`] adds a cell's rounds (the same load, other moments) into the one
//! cell the report and the summary show.

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde_json::Value;

use super::{Cell, Checks, Latency};

/// The sum of `histograms` (the ones present); `None` when there is none.
pub fn add_histograms(latencies: impl Iterator<Item = Option<Latency>>) -> anyhow::Result<Option<Latency>> {
    let mut sum: Option<Histogram<u64>> = None;
    for latency in latencies.flatten() {
        let h = latency.histogram().context("a histogram in the results does not decode")?;
        match sum.as_mut() {
            Some(s) => s.add(&h).context("adding histograms")?,
            None => sum = Some(h),
        }
    }
    Ok(sum.as_ref().and_then(Latency::of))
}

/// Means of `values`, each weighted: every number in a tree of objects, a key missing from
/// one tree counting as 0 there.
fn weighted(values: &[(&Value, f64)]) -> Value {
    if values.iter().any(|(v, _)| v.is_object()) {
        let keys: std::collections::BTreeSet<&String> =
            values.iter().filter_map(|(v, _)| v.as_object()).flat_map(|o| o.keys()).collect();
        let object = keys
            .into_iter()
            .map(|k| {
                let children: Vec<(&Value, f64)> =
                    values.iter().map(|(v, w)| (v.get(k.as_str()).unwrap_or(&Value::Null), *w)).collect();
                (k.clone(), weighted(&children))
            })
            .collect();
        return Value::Object(object);
    }
    if values.iter().all(|(v, _)| v.is_null()) {
        return Value::Null;
    }
    let total: f64 = values.iter().map(|(_, w)| w).sum();
    let sum: f64 = values.iter().map(|(v, w)| v.as_f64().unwrap_or(0.0) * w).sum();
    serde_json::json!(if total > 0.0 { sum / total } else { 0.0 })
}

/// The bytes of `group`: per-operation figures weighted by operations, per-connection ones
/// by connections, connection counts summed.
pub fn add_bytes(group: &[&Cell]) -> anyhow::Result<crate::Bytes> {
    let values: Vec<Value> =
        group.iter().map(|c| serde_json::to_value(&c.bytes)).collect::<Result<_, _>>()?;
    let mut out = serde_json::Map::new();
    for key in values[0].as_object().context("bytes are an object")?.keys() {
        let of = |i: usize| values[i].get(key.as_str()).unwrap_or(&Value::Null);
        let merged = if key.starts_with("connections") {
            serde_json::json!(values.iter().filter_map(|v| v[key.as_str()].as_u64()).sum::<u64>())
        } else {
            let by_connections = key.ends_with("_per_connection");
            let parts: Vec<(&Value, f64)> = (0..group.len())
                .map(|i| {
                    let c = group[i];
                    (of(i), if by_connections { c.bytes.connections as f64 } else { c.ops as f64 })
                })
                .collect();
            weighted(&parts)
        };
        out.insert(key.clone(), merged);
    }
    Ok(serde_json::from_value(Value::Object(out))?)
}

/// Into `cell`: the errors of `group` summed by kind (the first sample of each kept), and
/// every flag any of them carries, once.
pub fn add_errors(cell: &mut Cell, group: &[&Cell]) {
    cell.errors.clear();
    for c in group {
        for (kind, n) in &c.errors {
            *cell.errors.entry(kind.clone()).or_default() += n;
        }
        for (kind, sample) in &c.error_samples {
            cell.error_samples.entry(kind.clone()).or_insert_with(|| sample.clone());
        }
        for flag in &c.flags {
            if !cell.flags.contains(flag) {
                cell.flags.push(flag.clone());
            }
        }
    }
}

/// Into `cell`: every latency histogram of `group` added together.
pub fn add_latencies(cell: &mut Cell, group: &[&Cell]) -> anyhow::Result<()> {
    cell.latency = add_histograms(group.iter().map(|c| c.latency.clone()))?;
    cell.latency_uncorrected = add_histograms(group.iter().map(|c| c.latency_uncorrected.clone()))?;
    cell.message_latency = add_histograms(group.iter().map(|c| c.message_latency.clone()))?;
    cell.send_lag = add_histograms(group.iter().map(|c| c.send_lag.clone()))?;
    cell.connection_wait = add_histograms(group.iter().map(|c| c.connection_wait.clone()))?;
    cell.client_decode = add_histograms(group.iter().map(|c| c.client_decode.clone()))?;
    Ok(())
}

/// The checks of `group`, summed (the first mismatch kept).
pub fn add_checks(group: &[&Cell]) -> Checks {
    Checks {
        writes_checked: group.iter().map(|c| c.checks.writes_checked).sum(),
        writes_read_back: group.iter().map(|c| c.checks.writes_read_back).sum(),
        writes_forgotten: group.iter().map(|c| c.checks.writes_forgotten).sum(),
        reads_compared: group.iter().map(|c| c.checks.reads_compared).sum(),
        mismatches: group.iter().map(|c| c.checks.mismatches).sum(),
        mismatch: group.iter().find_map(|c| c.checks.mismatch.clone()),
        unchecked: group.iter().find_map(|c| c.checks.unchecked.clone()),
    }
}

/// One cell from its rounds (the same cell at several moments of a run): every call of every
/// round counts once. Histograms are added, operations, errors, missed sends and checks
/// summed, throughput is all calls over all recorded time, per-operation figures (bytes,
/// round trips, CPU) are weighted by each round's calls; peak memory is the largest; a flag of
/// any round is kept.
pub fn rounds(group: &[&Cell]) -> anyhow::Result<Cell> {
    let mut cell = Cell::clone(group.first().context("no rounds to add")?);
    if group.len() == 1 {
        return Ok(cell);
    }
    let ops: u64 = group.iter().map(|c| c.ops).sum();
    let by_ops = |get: &dyn Fn(&Cell) -> Option<f64>| {
        let parts: Vec<(f64, f64)> = group.iter().filter_map(|c| get(c).map(|v| (v, c.ops as f64))).collect();
        let weight: f64 = parts.iter().map(|(_, w)| w).sum();
        (!parts.is_empty() && weight > 0.0).then(|| parts.iter().map(|(v, w)| v * w).sum::<f64>() / weight)
    };
    cell.ops = ops;
    add_errors(&mut cell, group);
    cell.elapsed_s = group.iter().map(|c| c.elapsed_s).sum();
    cell.throughput_ops_s = if cell.elapsed_s > 0.0 { ops as f64 / cell.elapsed_s } else { 0.0 };
    cell.missed = group.iter().map(|c| c.missed).sum();
    add_latencies(&mut cell, group)?;
    cell.checks = add_checks(group);
    cell.bytes = add_bytes(group)?;
    cell.round_trips_per_op = by_ops(&|c| Some(c.round_trips_per_op)).unwrap_or_default();
    cell.requests_per_op = by_ops(&|c| Some(c.requests_per_op)).unwrap_or_default();
    cell.turns_per_op = by_ops(&|c| Some(c.turns_per_op)).unwrap_or_default();
    let r = &mut cell.resources;
    r.client_cpu_us_per_op = by_ops(&|c| c.resources.client_cpu_us_per_op);
    r.server_cpu_us_per_op = by_ops(&|c| c.resources.server_cpu_us_per_op);
    r.server_peak_rss_bytes = group.iter().filter_map(|c| c.resources.server_peak_rss_bytes).max();
    r.client_peak_rss_bytes = group.iter().filter_map(|c| c.resources.client_peak_rss_bytes).max();
    cell.started_unix_s = group.iter().filter_map(|c| c.started_unix_s).reduce(f64::min);
    Ok(cell)
}
