//! Claims checked: folklore about protocols ("protobuf is 5× smaller", "GraphQL saves a
//! round trip"), each with a rule a machine can check against a run.
//!
//! The claims live in `bench/claims.toml` (compiled in) and, optionally, a user's file with
//! the same shape (`wirebench report --claims FILE`); a user claim with the id of a built-in
//! one replaces it. Each `[[claim]]`:
//!
//! ```toml
//! [[claim]]
//! id = "protobuf-5x-smaller-payload"   # unique
//! claim = "Protobuf is about 5x smaller than JSON for a user"
//! source = "common lore"               # optional: where the claim comes from
//! kind = "ratio"                       # ratio: numerator ÷ denominator; value: one subject
//! metric = "received_payload_bytes_per_op"
//! operation = "get-user"               # for run metrics (not codec_* ones)
//! numerator = "rest"                   # protocols (run metrics) or formats (codec_* metrics)
//! denominator = "grpc"
//! # subject = "graphql"                # kind = "value": the protocol or format measured
//! # payload = "small"                  # optional: only this payload (default: every payload run)
//! # concurrency = 1                    # optional: this closed-loop level (default: the lowest)
//! # dataset = "user"                   # optional, codec_* metrics: only this dataset
//! claimed = 5.0
//! direction = "about"                  # about (default) | at_least | at_most
//! tolerance = 0.25                     # default 0.25; see `Direction`
//! note = "what exactly is compared"    # optional, printed under the claim
//! ```
//!
//! With several payloads (or codec cases), a ratio is the geometric mean of the per-payload
//! ratios and a value the arithmetic mean; the range is printed beside it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::View;
use super::fmt;
use super::serialization::CodecFigure;
use crate::catalog::Operation;
use crate::results::Cell;

/// The claims compiled into the binary.
pub const BUILTIN: &str = include_str!("../../claims.toml");

/// A claims file could not be read or names something that does not exist.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    #[error("{origin}: {source}")]
    Syntax { origin: String, source: toml::de::Error },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// What the measured figure is compared with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Holds within ×(1 + tolerance) either way; roughly within ×(1 + tolerance)².
    /// (With a claimed 0: holds within ± tolerance, roughly within ± 2 tolerance.)
    #[default]
    About,
    /// Holds at or above the claimed figure; roughly down to claimed ÷ (1 + tolerance).
    AtLeast,
    /// Holds at or below the claimed figure; roughly up to claimed × (1 + tolerance).
    AtMost,
}

/// How the figure is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// numerator's metric ÷ denominator's metric.
    Ratio,
    /// subject's metric.
    Value,
}

/// One `[[claim]]` of a claims file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSpec {
    pub id: String,
    pub claim: String,
    #[serde(default)]
    pub source: Option<String>,
    pub kind: Kind,
    pub metric: String,
    #[serde(default)]
    pub operation: Option<Operation>,
    #[serde(default)]
    pub numerator: Option<String>,
    #[serde(default)]
    pub denominator: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub payload: Option<String>,
    #[serde(default)]
    pub concurrency: Option<u32>,
    #[serde(default)]
    pub dataset: Option<String>,
    pub claimed: f64,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    #[serde(default)]
    pub note: Option<String>,
    /// Where the claim was read from (set by the loader).
    #[serde(skip)]
    pub origin: String,
}

fn default_tolerance() -> f64 {
    0.25
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsFile {
    /// The protocol variant every latency is compared with (the raw-TCP floor). Data, not
    /// code: the report names no protocol itself.
    #[serde(default)]
    floor: Option<String>,
    #[serde(default)]
    claim: Vec<ClaimSpec>,
}

/// A claims file: the floor protocol and the claims.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub floor: Option<String>,
    pub claims: Vec<ClaimSpec>,
}

/// What a metric's numbers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Bytes,
    Count,
    Nanos,
    Micros,
    Rate,
}

impl Unit {
    fn show(self, v: f64) -> String {
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
enum Getter {
    Cell(fn(&Cell) -> Option<f64>),
    Codec(fn(&CodecFigure) -> Option<f64>),
}

/// A metric a claim can name.
#[derive(Clone, Copy)]
struct Metric {
    name: &'static str,
    unit: Unit,
    get: Getter,
}

const METRICS: &[Metric] = &[
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
        name: "sent_payload_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.sent_per_op.payload_bytes)),
    },
    Metric {
        name: "received_payload_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.received_per_op.payload_bytes)),
    },
    Metric {
        name: "payload_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| {
            Some(c.bytes.sent_per_op.payload_bytes + c.bytes.received_per_op.payload_bytes)
        }),
    },
    Metric {
        name: "sent_overhead_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.sent_per_op.overhead_bytes)),
    },
    Metric {
        name: "received_overhead_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| Some(c.bytes.received_per_op.overhead_bytes)),
    },
    Metric {
        name: "overhead_bytes_per_op",
        unit: Unit::Bytes,
        get: Getter::Cell(|c| {
            Some(c.bytes.sent_per_op.overhead_bytes + c.bytes.received_per_op.overhead_bytes)
        }),
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
    Metric { name: "codec_encode_ns", unit: Unit::Nanos, get: Getter::Codec(|f| f.encode_ns) },
    Metric { name: "codec_decode_ns", unit: Unit::Nanos, get: Getter::Codec(|f| f.decode_ns) },
    Metric {
        name: "codec_encode_decode_ns",
        unit: Unit::Nanos,
        get: Getter::Codec(CodecFigure::round_trip_ns),
    },
    Metric { name: "codec_raw_bytes", unit: Unit::Bytes, get: Getter::Codec(|f| f.raw_bytes) },
    Metric { name: "codec_gzip_bytes", unit: Unit::Bytes, get: Getter::Codec(|f| f.gzip_bytes) },
    Metric { name: "codec_zstd_bytes", unit: Unit::Bytes, get: Getter::Codec(|f| f.zstd_bytes) },
];

fn metric(name: &str) -> Option<Metric> {
    METRICS.iter().copied().find(|m| m.name == name)
}

/// The names a claim's `metric` can take.
pub fn metric_names() -> Vec<&'static str> {
    METRICS.iter().map(|m| m.name).collect()
}

/// Parses and checks a claims file's text.
pub fn parse(text: &str, origin: &str) -> Result<Claims, ClaimsError> {
    let invalid = |message: String| ClaimsError::Invalid { origin: origin.into(), message };
    let file: ClaimsFile =
        toml::from_str(text).map_err(|source| ClaimsError::Syntax { origin: origin.into(), source })?;
    if file.floor.as_deref() == Some("") {
        return Err(invalid("`floor` must name a protocol variant".into()));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut out = file.claim;
    for c in &mut out {
        c.origin = origin.into();
        if !ids.insert(c.id.clone()) {
            return Err(invalid(format!("claim id {:?} used twice", c.id)));
        }
        let bad = |m: String| invalid(format!("claim {:?}: {m}", c.id));
        let Some(m) = metric(&c.metric) else {
            return Err(bad(format!("unknown metric {:?} (known: {})", c.metric, metric_names().join(", "))));
        };
        if matches!(m.get, Getter::Cell(_)) && c.operation.is_none() {
            return Err(bad(format!("metric {} needs an `operation`", c.metric)));
        }
        match c.kind {
            Kind::Ratio if c.numerator.is_none() || c.denominator.is_none() => {
                return Err(bad("kind = \"ratio\" needs `numerator` and `denominator`".into()));
            }
            Kind::Value if c.subject.is_none() => {
                return Err(bad("kind = \"value\" needs `subject`".into()));
            }
            _ => {}
        }
        if c.tolerance.is_nan() || c.tolerance < 0.0 || !c.claimed.is_finite() {
            return Err(bad("`claimed` must be a number and `tolerance` ≥ 0".into()));
        }
    }
    Ok(Claims { floor: file.floor, claims: out })
}

/// The built-in claims, then a user's file (its claims replace built-in ones with the same
/// id; its `floor`, when set, replaces the built-in one).
pub fn load(extra: Option<&Path>) -> Result<Claims, ClaimsError> {
    let mut all = parse(BUILTIN, "bench/claims.toml (built in)")?;
    if let Some(path) = extra {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ClaimsError::Io { path: path.display().to_string(), source })?;
        let user = parse(&text, &path.display().to_string())?;
        if user.floor.is_some() {
            all.floor = user.floor;
        }
        for c in user.claims {
            match all.claims.iter_mut().find(|b| b.id == c.id) {
                Some(b) => *b = c,
                None => all.claims.push(c),
            }
        }
    }
    Ok(all)
}

/// A claim with its verdict, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimRow {
    pub id: String,
    pub claim: String,
    pub source: Option<String>,
    pub note: Option<String>,
    pub origin: String,
    /// The rule in words: metric, what is divided by what, the claimed figure.
    pub rule: String,
    /// The measured figure ("2.57×"), or "–".
    pub measured: String,
    /// What went into it ("rest 725 B ÷ grpc 282 B, payload tiny"), or why nothing was measured.
    pub detail: String,
    /// holds, roughly, does not hold, not measured.
    pub verdict: &'static str,
    /// CSS class of the verdict.
    pub class: &'static str,
}

/// One measured pair or value (per payload or codec case).
struct Sample {
    figure: f64,
    text: String,
}

/// Checks every claim against the run and the codec figures.
pub fn evaluate(view: &View<'_>, claims: &[ClaimSpec]) -> Vec<ClaimRow> {
    claims.iter().map(|c| evaluate_one(view, c)).collect()
}

fn evaluate_one(view: &View<'_>, c: &ClaimSpec) -> ClaimRow {
    let m = metric(&c.metric).expect("checked when loaded");
    let samples = match m.get {
        Getter::Cell(get) => cell_samples(view, c, m.unit, get),
        Getter::Codec(get) => codec_samples(view, c, m.unit, get),
    };
    let mut row = ClaimRow {
        id: c.id.clone(),
        claim: c.claim.clone(),
        source: c.source.clone(),
        note: c.note.clone(),
        origin: c.origin.clone(),
        rule: rule_text(c),
        measured: "–".into(),
        detail: String::new(),
        verdict: "not measured",
        class: "missing",
    };
    let samples = match samples {
        Ok(s) => s,
        Err(why) => {
            row.detail = why;
            return row;
        }
    };
    let figures: Vec<f64> = samples.iter().map(|s| s.figure).collect();
    let measured = match c.kind {
        Kind::Ratio => geometric_mean(&figures),
        Kind::Value => figures.iter().sum::<f64>() / figures.len() as f64,
    };
    let show = |v: f64| match c.kind {
        Kind::Ratio => fmt::ratio(v),
        Kind::Value => m.unit.show(v),
    };
    row.measured = show(measured);
    const SHOWN: usize = 4;
    let mut texts: Vec<String> = samples.iter().take(SHOWN).map(|s| s.text.clone()).collect();
    if samples.len() > SHOWN {
        texts.push(format!("and {} more", samples.len() - SHOWN));
    }
    row.detail = if samples.len() > 1 {
        let lo = figures.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = figures.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = if c.kind == Kind::Ratio { "geometric mean" } else { "mean" };
        format!("{mean} of {} (range {}–{}): {}", samples.len(), show(lo), show(hi), texts.join("; "))
    } else {
        texts.join("; ")
    };
    (row.verdict, row.class) = verdict(c, measured);
    row
}

/// holds / roughly / does not hold, by the claim's direction and tolerance.
fn verdict(c: &ClaimSpec, measured: f64) -> (&'static str, &'static str) {
    const HOLDS: (&str, &str) = ("holds", "holds");
    const ROUGHLY: (&str, &str) = ("roughly", "roughly");
    const FAILS: (&str, &str) = ("does not hold", "fails");
    let (claimed, tol) = (c.claimed, c.tolerance);
    match c.direction {
        Direction::About if claimed <= 0.0 || measured <= 0.0 => {
            let off = (measured - claimed).abs();
            if off <= tol + 1e-9 {
                HOLDS
            } else if off <= 2.0 * tol + 1e-9 {
                ROUGHLY
            } else {
                FAILS
            }
        }
        Direction::About => {
            let factor = (measured / claimed).max(claimed / measured);
            if factor <= 1.0 + tol + 1e-9 {
                HOLDS
            } else if factor <= (1.0 + tol).powi(2) + 1e-9 {
                ROUGHLY
            } else {
                FAILS
            }
        }
        Direction::AtLeast => {
            if measured >= claimed - 1e-9 {
                HOLDS
            } else if measured >= claimed / (1.0 + tol) - 1e-9 {
                ROUGHLY
            } else {
                FAILS
            }
        }
        Direction::AtMost => {
            if measured <= claimed + 1e-9 {
                HOLDS
            } else if measured <= claimed * (1.0 + tol) + 1e-9 {
                ROUGHLY
            } else {
                FAILS
            }
        }
    }
}

fn rule_text(c: &ClaimSpec) -> String {
    let what = match c.kind {
        Kind::Ratio => {
            format!("{} ÷ {}", c.numerator.as_deref().unwrap_or("?"), c.denominator.as_deref().unwrap_or("?"))
        }
        Kind::Value => c.subject.clone().unwrap_or_default(),
    };
    let claimed = match c.kind {
        Kind::Ratio => fmt::ratio(c.claimed),
        Kind::Value => fmt::count(c.claimed),
    };
    let pct = |f: f64| format!("{:.0} %", f * 100.0);
    let bound = match c.direction {
        Direction::About if c.claimed <= 0.0 => {
            format!("= {claimed} (holds within ±{}, roughly within ±{})", c.tolerance, 2.0 * c.tolerance)
        }
        Direction::About => format!(
            "≈ {claimed} (holds within ±{}, roughly within ±{})",
            pct(c.tolerance),
            pct((1.0 + c.tolerance).powi(2) - 1.0)
        ),
        Direction::AtLeast => {
            format!("≥ {claimed} (roughly ≥ {})", fmt::ratio(c.claimed / (1.0 + c.tolerance)))
        }
        Direction::AtMost => {
            format!("≤ {claimed} (roughly ≤ {})", fmt::ratio(c.claimed * (1.0 + c.tolerance)))
        }
    };
    let mut scope = Vec::new();
    if let Some(op) = c.operation {
        scope.push(op.name().to_owned());
    }
    if let Some(d) = &c.dataset {
        scope.push(format!("dataset {d}"));
    }
    if let Some(p) = &c.payload {
        scope.push(format!("payload {p}"));
    }
    if let Some(n) = c.concurrency {
        scope.push(format!("c={n}"));
    }
    let scope = if scope.is_empty() { String::new() } else { format!(" [{}]", scope.join(", ")) };
    format!("{}{scope}: {what} {bound}", c.metric)
}

fn geometric_mean(v: &[f64]) -> f64 {
    if v.iter().any(|x| *x <= 0.0) {
        return v.iter().sum::<f64>() / v.len() as f64;
    }
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

fn cell_samples(
    view: &View<'_>,
    c: &ClaimSpec,
    unit: Unit,
    get: fn(&Cell) -> Option<f64>,
) -> Result<Vec<Sample>, String> {
    let op = c.operation.expect("checked when loaded");
    let payloads: Vec<String> = match &c.payload {
        Some(p) => vec![p.clone()],
        None => view.payloads(),
    };
    let names: Vec<&str> = match c.kind {
        Kind::Ratio => vec![c.numerator.as_deref().unwrap_or(""), c.denominator.as_deref().unwrap_or("")],
        Kind::Value => vec![c.subject.as_deref().unwrap_or("")],
    };
    for n in &names {
        if !view.r.options.protocols.iter().any(|p| p == n) {
            return Err(format!("protocol {n} was not in this run"));
        }
    }
    let mut samples = Vec::new();
    let mut missing = Vec::new();
    for payload in &payloads {
        let vals: Vec<Option<f64>> =
            names.iter().map(|n| view.closed(payload, op, n, c.concurrency).and_then(get)).collect();
        if let Some(i) = vals.iter().position(Option::is_none) {
            missing.push(format!("{} {op} (payload {payload})", names[i]));
            continue;
        }
        let vals: Vec<f64> = vals.into_iter().flatten().collect();
        match c.kind {
            Kind::Ratio => {
                if vals[1] <= 0.0 {
                    missing.push(format!("{} {op} measured 0 (payload {payload})", names[1]));
                    continue;
                }
                samples.push(Sample {
                    figure: vals[0] / vals[1],
                    text: format!(
                        "{} {} ÷ {} {} (payload {payload})",
                        names[0],
                        unit.show(vals[0]),
                        names[1],
                        unit.show(vals[1])
                    ),
                });
            }
            Kind::Value => samples.push(Sample {
                figure: vals[0],
                text: format!("{} {} (payload {payload})", names[0], unit.show(vals[0])),
            }),
        }
    }
    if samples.is_empty() {
        return Err(if missing.is_empty() {
            "no payload to compare".into()
        } else {
            format!("no closed-loop measurement of {}", missing.join(", "))
        });
    }
    Ok(samples)
}

fn codec_samples(
    view: &View<'_>,
    c: &ClaimSpec,
    unit: Unit,
    get: fn(&CodecFigure) -> Option<f64>,
) -> Result<Vec<Sample>, String> {
    let figures = &view.codecs.figures;
    if figures.is_empty() {
        return Err(format!(
            "no codec bench results in {} (run `cargo bench -p wirebench --bench codecs`)",
            view.codecs.dir.display()
        ));
    }
    let keep = |f: &&CodecFigure| {
        c.dataset.as_ref().is_none_or(|d| *d == f.dataset)
            && c.payload.as_ref().is_none_or(|p| *p == f.payload)
    };
    let of = |format: &str| -> Vec<&CodecFigure> {
        figures.iter().filter(|f| f.format == format).filter(keep).filter(|f| get(f).is_some()).collect()
    };
    let formats: Vec<String> = {
        let mut v: Vec<String> = figures.iter().map(|f| f.format.clone()).collect();
        v.dedup();
        v
    };
    let mut samples = Vec::new();
    match c.kind {
        Kind::Ratio => {
            let (a, b) = (c.numerator.as_deref().unwrap_or(""), c.denominator.as_deref().unwrap_or(""));
            let (num, den) = (of(a), of(b));
            for n in &num {
                let Some(d) = den.iter().find(|d| d.dataset == n.dataset && d.payload == n.payload) else {
                    continue;
                };
                let (x, y) = (get(n).unwrap_or(0.0), get(d).unwrap_or(0.0));
                if y > 0.0 {
                    samples.push(Sample {
                        figure: x / y,
                        text: format!("{a} {} ÷ {b} {} ({})", unit.show(x), unit.show(y), n.case()),
                    });
                }
            }
            if samples.is_empty() {
                return Err(format!(
                    "no case with figures for both {a} and {b} (formats benched: {})",
                    formats.join(", ")
                ));
            }
        }
        Kind::Value => {
            let s = c.subject.as_deref().unwrap_or("");
            for f in of(s) {
                let v = get(f).unwrap_or(0.0);
                samples.push(Sample { figure: v, text: format!("{s} {} ({})", unit.show(v), f.case()) });
            }
            if samples.is_empty() {
                return Err(format!("no figures for format {s} (formats benched: {})", formats.join(", ")));
            }
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_claims_are_valid() {
        let claims = parse(BUILTIN, "builtin").unwrap();
        assert!(claims.claims.len() >= 5);
        assert!(claims.floor.is_some());
    }

    #[test]
    fn bad_claims_are_explained() {
        let e =
            parse("[[claim]]\nid='a'\nclaim='x'\nkind='ratio'\nmetric='nope'\nclaimed=1\n", "f").unwrap_err();
        assert!(e.to_string().contains("unknown metric"), "{e}");
        let e = parse(
            "[[claim]]\nid='a'\nclaim='x'\nkind='ratio'\nmetric='p50_ns'\noperation='get-user'\nclaimed=1\n",
            "f",
        )
        .unwrap_err();
        assert!(e.to_string().contains("numerator"), "{e}");
    }

    fn spec(direction: Direction, claimed: f64, tolerance: f64) -> ClaimSpec {
        let mut c = parse(BUILTIN, "b").unwrap().claims.remove(0);
        (c.direction, c.claimed, c.tolerance) = (direction, claimed, tolerance);
        c
    }

    #[test]
    fn verdicts() {
        let about = spec(Direction::About, 5.0, 0.25);
        assert_eq!(verdict(&about, 5.9).0, "holds");
        assert_eq!(verdict(&about, 4.1).0, "holds");
        assert_eq!(verdict(&about, 7.5).0, "roughly");
        assert_eq!(verdict(&about, 2.5).0, "does not hold");
        let at_least = spec(Direction::AtLeast, 2.0, 0.25);
        assert_eq!(verdict(&at_least, 2.3).0, "holds");
        assert_eq!(verdict(&at_least, 1.7).0, "roughly");
        assert_eq!(verdict(&at_least, 1.1).0, "does not hold");
        let exact = spec(Direction::About, 2.0, 0.0);
        assert_eq!(verdict(&exact, 2.0).0, "holds");
        assert_eq!(verdict(&exact, 1.0).0, "does not hold");
    }
}
