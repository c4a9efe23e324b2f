//! The metrics a claim can name, and how each is read from a cell or a codec figure.

use crate::fmt;
use crate::serialization::CodecFigure;
use wirebench_results::Cell;

/// What a metric's numbers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    Bytes,
    Count,
    Nanos,
    Micros,
    Rate,
}

impl Unit {
    pub(super) fn show(self, v: f64) -> String {
        match self {
            Unit::Bytes => fmt::bytes(v),
            Unit::Count => fmt::count(v),
            Unit::Nanos => fmt::nanos(v),
            Unit::Micros => fmt::micros(v),
            Unit::Rate => fmt::rate(v),
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Getter {
    Cell(fn(&Cell) -> Option<f64>),
    /// A codec figure and criterion's 95 % interval of it (sizes are exact: a point).
    Codec(fn(&CodecFigure) -> Option<f64>, fn(&CodecFigure) -> Option<(f64, f64)>),
}

/// A metric a claim can name.
#[derive(Clone, Copy)]
pub(super) struct Metric {
    pub(super) name: &'static str,
    pub(super) unit: Unit,
    pub(super) get: Getter,
}

pub(super) const METRICS: &[Metric] = &[
    Metric {
        name: "sent_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.sent_per_op.total_bytes)),
    },
    Metric {
        name: "received_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.received_per_op.total_bytes)),
    },
    Metric {
        name: "total_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes)),
    },
    Metric {
        name: "sent_framing_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.sent_per_op.framing_bytes)),
    },
    Metric {
        name: "received_framing_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.received_per_op.framing_bytes)),
    },
    Metric {
        name: "framing_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| {
            Some(c.bytes.sent_per_op.framing_bytes + c.bytes.received_per_op.framing_bytes)
        }),
    },
    Metric {
        name: "sent_envelope_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.sent_per_op.envelope_bytes)),
    },
    Metric {
        name: "received_envelope_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.received_per_op.envelope_bytes)),
    },
    Metric {
        name: "envelope_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| {
            Some(c.bytes.sent_per_op.envelope_bytes + c.bytes.received_per_op.envelope_bytes)
        }),
    },
    Metric {
        name: "sent_data_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.sent_per_op.data_bytes)),
    },
    Metric {
        name: "received_data_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.received_per_op.data_bytes)),
    },
    Metric {
        name: "data_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.sent_per_op.data_bytes + c.bytes.received_per_op.data_bytes)),
    },
    Metric {
        name: "setup_bytes_per_connection",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| {
            Some(c.bytes.setup_sent_per_connection + c.bytes.setup_received_per_connection)
        }),
    },
    Metric {
        name: "tcp_ip_header_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.tcp_ip_headers_per_op_estimate)),
    },
    Metric {
        name: "round_trips_per_op",
        unit: Unit::Count,
        get: Getter::Cell(|c| Some(c.round_trips_per_op)),
    },
    Metric { name: "turns_per_op", unit: Unit::Count, get: Getter::Cell(|c| Some(c.turns_per_op)) },
    Metric {
        name: "p50_ns",
        unit: Unit::Nanos,
        get: Getter::Cell(|c| c.latency.as_ref().map(|l| l.p50_ns as f64)),
    },
    Metric {
        name: "p99_ns",
        unit: Unit::Nanos,
        get: Getter::Cell(|c| c.latency.as_ref().map(|l| l.p99_ns as f64)),
    },
    Metric {
        name: "p999_ns",
        unit: Unit::Nanos,
        get: Getter::Cell(|c| c.latency.as_ref().map(|l| l.p999_ns as f64)),
    },
    Metric { name: "throughput_ops_s", unit: Unit::Rate, get: Getter::Cell(|c| Some(c.throughput_ops_s)) },
    Metric {
        name: "server_cpu_us_per_op",
        unit: Unit::Micros,
        get: Getter::Cell(|c| c.resources.server_cpu_us_per_op),
    },
    Metric {
        name: "client_cpu_us_per_op",
        unit: Unit::Micros,
        get: Getter::Cell(|c| c.resources.client_cpu_us_per_op),
    },
    Metric {
        name: "codec_encode_ns",
        unit: Unit::Nanos,
        get: Getter::Codec(|f| f.encode_ns, |f| f.encode_ci_ns),
    },
    Metric {
        name: "codec_decode_ns",
        unit: Unit::Nanos,
        get: Getter::Codec(|f| f.decode_ns, |f| f.decode_ci_ns),
    },
    Metric {
        name: "codec_encode_decode_ns",
        unit: Unit::Nanos,
        get: Getter::Codec(CodecFigure::round_trip_ns, CodecFigure::round_trip_ci_ns),
    },
    Metric {
        name: "codec_raw_bytes",
        unit: Unit::Bytes,
        get: Getter::Codec(|f| f.raw_bytes, |f| f.raw_bytes.map(|v| (v, v))),
    },
    Metric {
        name: "codec_gzip_bytes",
        unit: Unit::Bytes,
        get: Getter::Codec(|f| f.gzip_bytes, |f| f.gzip_bytes.map(|v| (v, v))),
    },
    Metric {
        name: "codec_zstd_bytes",
        unit: Unit::Bytes,
        get: Getter::Codec(|f| f.zstd_bytes, |f| f.zstd_bytes.map(|v| (v, v))),
    },
];

/// How a cell metric is taken over a cell's rounds (see [`wirebench_results::repeats::Measure`]).
pub(super) fn measure(name: &str, get: fn(&Cell) -> Option<f64>) -> wirebench_results::repeats::Measure {
    use wirebench_results::repeats::Measure;
    match name {
        "p50_ns" => Measure::Quantile(0.5),
        "p99_ns" => Measure::Quantile(0.99),
        "p999_ns" => Measure::Quantile(0.999),
        "throughput_ops_s" => Measure::Throughput,
        _ => Measure::PerOp(get),
    }
}

/// What [`measure`]'s figure is multiplied by to be in the metric's unit (latency over rounds
/// is in µs; the metrics name ns).
pub(super) fn scale(name: &str) -> f64 {
    if matches!(name, "p50_ns" | "p99_ns" | "p999_ns") { 1e3 } else { 1.0 }
}

pub(super) fn metric(name: &str) -> Option<Metric> {
    METRICS.iter().copied().find(|m| m.name == name)
}

/// The names a claim's `metric` can take.
pub fn metric_names() -> Vec<&'static str> {
    METRICS.iter().map(|m| m.name).collect()
}
