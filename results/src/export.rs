//! Files a run leaves beside `results.json` for other tools:
//!
//! - `latency.hlog`: HdrHistogram's interval log (the format of its Java `HistogramLogWriter`,
//!   read by `HistogramLogProcessor` and hdrhistogram's `IntervalLogIterator`): one interval
//!   per cell run, its recorded window, tagged with the cell's key;
//! - `metrics.txt`: OpenMetrics text, one series per cell run: latency as a histogram,
//!   operations and errors as counters, bytes, round trips, CPU and throughput as gauges,
//!   labelled by protocol, operation, payload, load and the rest of the cell's key. It goes
//!   into Prometheus through node_exporter's textfile collector or a Pushgateway;
//!   `deploy/grafana/wirebench.json` charts it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::{Cell, Results};

/// The interval log's name beside `results.json`.
pub const INTERVAL_LOG: &str = "latency.hlog";
/// The OpenMetrics file's name beside `results.json`.
pub const METRICS: &str = "metrics.txt";

/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` is added).
const BUCKETS_S: [f64; 19] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Writes the interval log and the OpenMetrics file beside `results` (a `results.json` path).
pub fn write_beside(r: &Results, results: &Path) -> anyhow::Result<()> {
    let dir = results.parent().unwrap_or(Path::new("."));
    let log = dir.join(INTERVAL_LOG);
    std::fs::write(&log, interval_log(r)?).with_context(|| format!("writing {}", log.display()))?;
    let metrics = dir.join(METRICS);
    std::fs::write(&metrics, openmetrics(r)).with_context(|| format!("writing {}", metrics.display()))?;
    Ok(())
}

/// The key of a cell run, name by name: the interval log's tag and the OpenMetrics labels.
fn key(c: &Cell) -> [(&'static str, String); 11] {
    let load = match c.rate {
        Some(rate) => format!("{rate}/s"),
        None => format!("c{}", c.concurrency),
    };
    [
        ("protocol", c.protocol.clone()),
        ("operation", c.operation.name().to_owned()),
        ("payload", c.payload.clone()),
        ("load", load),
        ("network", c.network.clone()),
        ("tls", c.tls.clone()),
        ("connections", if c.fresh_connections { "cold" } else { "warm" }.to_owned()),
        ("streams", c.streams.to_string()),
        ("via", c.via.clone()),
        ("n", c.n.to_string()),
        ("run", c.repeat.to_string()),
    ]
}

/// The interval log's tag of a cell run: its key's values joined by `;` (a tag may hold no
/// comma or space).
fn tag(c: &Cell) -> String {
    key(c).map(|(_, v)| v.replace([',', ' '], "_")).join(";")
}

/// The interval log of every cell run's latency, in nanoseconds, each interval starting at
/// its recorded window (relative to the first) and lasting its recorded time.
pub fn interval_log(r: &Results) -> anyhow::Result<Vec<u8>> {
    let base = r.cells.iter().filter_map(|c| c.started_unix_s).fold(f64::INFINITY, f64::min);
    let base = if base.is_finite() { base } else { 0.0 };
    let base_time = UNIX_EPOCH + Duration::from_secs_f64(base);
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .add_comment(&format!(
            "wirebench {} latency in nanoseconds, one interval per cell run",
            r.environment.wirebench_version
        ))
        .add_comment("tag: protocol;operation;payload;load;network;tls;connections;streams;via;n;run")
        .with_start_time(base_time)
        .with_base_time(base_time)
        .with_max_value_divisor(1e9);
    let mut log = builder.begin_log_with(&mut out, &mut serializer).context("starting the interval log")?;
    for c in &r.cells {
        let Some(h) = c.latency.as_ref().and_then(crate::Latency::histogram) else { continue };
        let start = Duration::from_secs_f64((c.started_unix_s.unwrap_or(base) - base).max(0.0));
        let tag = tag(c);
        log.write_histogram(&h, start, Duration::from_secs_f64(c.elapsed_s), Tag::new(&tag))
            .map_err(|e| anyhow::anyhow!("writing an interval: {e}"))?;
    }
    drop(log);
    Ok(out)
}

/// A label value, escaped as OpenMetrics requires.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

fn labels(c: &Cell) -> String {
    key(c).iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect::<Vec<_>>().join(",")
}

/// A number as OpenMetrics writes it.
fn num(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { "NaN".to_owned() }
}

/// The latency histograms of `cells`, in OpenMetrics.
fn histograms(out: &mut String, cells: &[(&Cell, String)]) {
    out.push_str("# TYPE wirebench_latency_seconds histogram\n# UNIT wirebench_latency_seconds seconds\n");
    out.push_str("# HELP wirebench_latency_seconds Operation latency, to the last byte of the answer.\n");
    for (c, l) in cells {
        let Some(h) = c.latency.as_ref().and_then(crate::Latency::histogram) else { continue };
        for bound in BUCKETS_S {
            let ns = (bound * 1e9) as u64;
            let count = if ns < h.min() { 0 } else { h.count_between(0, ns) };
            let _ = writeln!(out, "wirebench_latency_seconds_bucket{{{l},le=\"{}\"}} {count}", num(bound));
        }
        let _ = writeln!(out, "wirebench_latency_seconds_bucket{{{l},le=\"+Inf\"}} {}", h.len());
        let _ = writeln!(out, "wirebench_latency_seconds_count{{{l}}} {}", h.len());
        let _ =
            writeln!(out, "wirebench_latency_seconds_sum{{{l}}} {}", num(h.mean() * h.len() as f64 / 1e9));
    }
}

/// The OpenMetrics text of a run (ends with `# EOF`).
pub fn openmetrics(r: &Results) -> String {
    let mut out = String::new();
    let cells: Vec<(&Cell, String)> = r.cells.iter().map(|c| (c, labels(c))).collect();

    histograms(&mut out, &cells);

    let counter = |out: &mut String, name: &str, help: &str, get: &dyn Fn(&Cell) -> u64| {
        let _ = writeln!(out, "# TYPE {name} counter\n# HELP {name} {help}");
        for (c, l) in &cells {
            let _ = writeln!(out, "{name}_total{{{l}}} {}", get(c));
        }
    };
    counter(&mut out, "wirebench_operations", "Recorded successful operations.", &|c| c.ops);
    counter(&mut out, "wirebench_errors", "Failed operations, every kind.", &|c| c.errors.values().sum());

    let gauge =
        |out: &mut String, name: &str, unit: Option<&str>, help: &str, get: &dyn Fn(&Cell) -> Option<f64>| {
            let _ = writeln!(out, "# TYPE {name} gauge");
            if let Some(unit) = unit {
                let _ = writeln!(out, "# UNIT {name} {unit}");
            }
            let _ = writeln!(out, "# HELP {name} {help}");
            for (c, l) in &cells {
                if let Some(v) = get(c) {
                    let _ = writeln!(out, "{name}{{{l}}} {}", num(v));
                }
            }
        };
    gauge(&mut out, "wirebench_throughput_ops_per_second", None, "Recorded operations per second.", &|c| {
        Some(c.throughput_ops_s)
    });
    gauge(
        &mut out,
        "wirebench_sent_bytes",
        Some("bytes"),
        "Bytes sent per operation, on the socket.",
        &|c| Some(c.bytes.sent_per_op.total_bytes),
    );
    gauge(
        &mut out,
        "wirebench_received_bytes",
        Some("bytes"),
        "Bytes received per operation, on the socket.",
        &|c| Some(c.bytes.received_per_op.total_bytes),
    );
    gauge(
        &mut out,
        "wirebench_round_trips",
        None,
        "Request waves per operation, counted on the socket.",
        &|c| Some(c.round_trips_per_op),
    );
    gauge(
        &mut out,
        "wirebench_server_cpu_seconds",
        Some("seconds"),
        "Server CPU time per operation.",
        &|c| c.resources.server_cpu_us_per_op.map(|us| us / 1e6),
    );
    gauge(
        &mut out,
        "wirebench_client_cpu_seconds",
        Some("seconds"),
        "Harness CPU time per operation.",
        &|c| c.resources.client_cpu_us_per_op.map(|us| us / 1e6),
    );
    out.push_str("# EOF\n");
    out
}
