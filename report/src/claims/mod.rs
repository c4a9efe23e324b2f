//! Claims checked: folklore about protocols ("protobuf is 5× smaller", "GraphQL saves a
//! round trip"), each with a rule a machine can check against a run.
//!
//! The claims live in `report/claims.toml` (compiled in) and, optionally, a user's file with
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

use self::metrics::{Getter, metric};
use self::samples::{cell_samples, codec_samples, geometric_mean};
use super::View;
use super::fmt;
use wirebench_results::Cell;
use wirebench_results::vocab::Operation;

mod metrics;
mod samples;

pub use self::metrics::metric_names;

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
    /// Judge on the cells of this network profile (default: loopback), e.g. a claim about
    /// round trips on `wan`.
    #[serde(default)]
    pub network: Option<String>,
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
    /// Where the page shows it: with the claims (default), or as a judgement engineers quote
    /// about when to choose a protocol (`best-for`, `avoid-when`), judged the same way.
    #[serde(default)]
    pub group: Group,
    /// Where the claim was read from (set by the loader).
    #[serde(skip)]
    pub origin: String,
}

/// Where a claim's row goes on the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// Folklore checked.
    #[default]
    Claim,
    /// "X is the choice for …": supported or contradicted by this run.
    BestFor,
    /// "Avoid X when …".
    AvoidWhen,
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
    /// The protocol variant each verdict's winner is measured against ("by how much against
    /// REST"). Data, for the same reason.
    #[serde(default)]
    baseline: Option<String>,
    #[serde(default)]
    claim: Vec<ClaimSpec>,
}

/// A claims file: the floor and baseline protocols and the claims.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub floor: Option<String>,
    pub baseline: Option<String>,
    pub claims: Vec<ClaimSpec>,
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
    Ok(Claims { floor: file.floor, baseline: file.baseline, claims: out })
}

/// The built-in claims, then a user's file (its claims replace built-in ones with the same
/// id; its `floor`, when set, replaces the built-in one).
pub fn load(extra: Option<&Path>) -> Result<Claims, ClaimsError> {
    let mut all = parse(BUILTIN, "report/claims.toml (built in)")?;
    if let Some(path) = extra {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ClaimsError::Io { path: path.display().to_string(), source })?;
        let user = parse(&text, &path.display().to_string())?;
        if user.floor.is_some() {
            all.floor = user.floor;
        }
        if user.baseline.is_some() {
            all.baseline = user.baseline;
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
    pub verdict: ClaimVerdict,
    /// How far the figure moved across repeats, (largest − smallest) ÷ median.
    pub spread: Option<f64>,
    /// CSS class of the verdict.
    pub class: &'static str,
    pub group: Group,
}

/// What a run says of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClaimVerdict {
    #[serde(rename = "holds")]
    Holds,
    /// Off by more than the claim's tolerance, but within its square.
    #[serde(rename = "roughly")]
    Roughly,
    #[serde(rename = "does not hold")]
    DoesNotHold,
    /// The figure's interval over the repeats straddles the edge of a band.
    #[serde(rename = "inconclusive")]
    Inconclusive,
    /// The run lacks what the claim needs; the row says what.
    #[serde(rename = "not measured")]
    NotMeasured,
}

impl ClaimVerdict {
    /// The words the page prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimVerdict::Holds => "holds",
            ClaimVerdict::Roughly => "roughly",
            ClaimVerdict::DoesNotHold => "does not hold",
            ClaimVerdict::Inconclusive => "inconclusive",
            ClaimVerdict::NotMeasured => "not measured",
        }
    }

    /// The CSS class the page colours it with.
    pub fn class(self) -> &'static str {
        match self {
            ClaimVerdict::Holds => "holds",
            ClaimVerdict::Roughly => "roughly",
            ClaimVerdict::DoesNotHold => "fails",
            ClaimVerdict::Inconclusive => "inconclusive",
            ClaimVerdict::NotMeasured => "missing",
        }
    }
}

/// Checks every claim against the run and the codec figures.
/// Judges every claim: on `home` (warm loopback cells), or on the view of the network a
/// claim names (`elsewhere`: network name and its view).
pub fn evaluate(home: &View<'_>, claims: &[ClaimSpec], elsewhere: &[(&str, &View<'_>)]) -> Vec<ClaimRow> {
    claims
        .iter()
        .map(|c| match c.network.as_deref().filter(|n| *n != wirebench_results::network::LOOPBACK) {
            None => evaluate_one(home, c),
            Some(name) => match elsewhere.iter().find(|(n, _)| *n == name) {
                Some((_, view)) => evaluate_one(view, c),
                None => {
                    let mut row = evaluate_one(home, &ClaimSpec { metric: String::new(), ..c.clone() });
                    row.detail =
                        format!("no cell ran on network {name} (the quick and full profiles run it)");
                    row
                }
            },
        })
        .collect()
}

fn evaluate_one(view: &View<'_>, c: &ClaimSpec) -> ClaimRow {
    let mut row = blank_row(c);
    let Some(m) = metric(&c.metric) else { return row };
    let samples = match m.get {
        Getter::Cell(get) => cell_samples(view, c, m.unit, get),
        Getter::Codec(get, ci) => codec_samples(view, c, m.unit, get, ci),
    };
    let samples = match samples {
        Ok(s) => s,
        Err(why) => {
            row.detail = why;
            return row;
        }
    };
    judge(view, c, m, samples, row)
}

/// A claim's row before anything is measured.
fn blank_row(c: &ClaimSpec) -> ClaimRow {
    ClaimRow {
        id: c.id.clone(),
        claim: c.claim.clone(),
        source: c.source.clone(),
        note: c.note.clone(),
        origin: c.origin.clone(),
        rule: rule_text(c),
        measured: "–".into(),
        detail: String::new(),
        verdict: ClaimVerdict::NotMeasured,
        spread: None,
        class: ClaimVerdict::NotMeasured.class(),
        group: c.group,
    }
}

fn judge(
    view: &View<'_>,
    c: &ClaimSpec,
    m: metrics::Metric,
    samples: Vec<samples::Sample>,
    mut row: ClaimRow,
) -> ClaimRow {
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
    row.detail = detail(c, &samples, &show);
    if let Getter::Codec(..) = m.get
        && let Some((low, high)) = codec_interval(c, &samples)
    {
        if low < high {
            row.measured =
                format!("{} (criterion's 95 % interval {}–{})", show(measured), show(low), show(high));
        }
        row.verdict = judged(c, low, high);
        row.class = row.verdict.class();
        return row;
    }
    // Over rounds: the figure over every call of every round, and its interval.
    row.verdict = match cell_interval(view, c, m) {
        Some((low, high, runs)) => {
            row.measured =
                format!("{} (95 % interval {}–{}, {runs} rounds)", show(measured), show(low), show(high));
            row.spread = Some((high - low) / measured.abs().max(f64::MIN_POSITIVE));
            judged(c, low, high)
        }
        None => verdict(c, measured),
    };
    row.class = row.verdict.class();
    row
}

/// Where the figure comes from: the first few samples, and their range when several.
fn detail(c: &ClaimSpec, samples: &[samples::Sample], show: &dyn Fn(f64) -> String) -> String {
    const SHOWN: usize = 4;
    let mut texts: Vec<String> = samples.iter().take(SHOWN).map(|s| s.text.clone()).collect();
    if samples.len() > SHOWN {
        texts.push(format!("and {} more", samples.len() - SHOWN));
    }
    if samples.len() < 2 {
        return texts.join("; ");
    }
    let lo = samples.iter().map(|s| s.figure).fold(f64::INFINITY, f64::min);
    let hi = samples.iter().map(|s| s.figure).fold(f64::NEG_INFINITY, f64::max);
    let mean = if c.kind == Kind::Ratio { "geometric mean" } else { "mean" };
    format!("{mean} of {} (range {}–{}): {}", samples.len(), show(lo), show(hi), texts.join("; "))
}

/// A codec claim's interval: criterion's intervals of its cases, combined as the figure is
/// (None when a case has none).
fn codec_interval(c: &ClaimSpec, samples: &[samples::Sample]) -> Option<(f64, f64)> {
    let ends: Option<Vec<(f64, f64)>> = samples.iter().map(|s| s.interval).collect();
    let (lows, highs): (Vec<f64>, Vec<f64>) = ends?.into_iter().unzip();
    let combine = |v: &[f64]| match c.kind {
        Kind::Ratio => geometric_mean(v),
        Kind::Value => v.iter().sum::<f64>() / v.len() as f64,
    };
    Some((combine(&lows), combine(&highs)))
}

/// The 95 % interval of a cell claim's figure, the rounds of every cell it reads resampled
/// (see [`wirebench_results::stats`]), and the fewest rounds among them; None for a codec claim, or when
/// a cell has a single round.
fn cell_interval(view: &View<'_>, c: &ClaimSpec, m: metrics::Metric) -> Option<(f64, f64, usize)> {
    let Getter::Cell(get) = m.get else { return None };
    let measure = metrics::measure(m.name, get);
    let scale = metrics::scale(m.name);
    let op = c.operation?;
    let payloads: Vec<String> = match &c.payload {
        Some(p) => vec![p.clone()],
        None => view.payloads(),
    };
    let names: Vec<&str> = match c.kind {
        Kind::Ratio => vec![c.numerator.as_deref()?, c.denominator.as_deref()?],
        Kind::Value => vec![c.subject.as_deref()?],
    };
    // Per payload, each named protocol's rounds (payloads where one is missing are left out,
    // as the figure leaves them out).
    let groups: Vec<Vec<wirebench_results::repeats::Rounds<'_>>> = payloads
        .iter()
        .filter_map(|payload| {
            names
                .iter()
                .map(|n| {
                    let cell = view.closed(payload, op, n, c.concurrency)?;
                    let key = wirebench_results::repeats::key(cell);
                    let runs: Vec<&Cell> =
                        view.runs.iter().filter(|r| wirebench_results::repeats::key(r) == key).collect();
                    (!runs.is_empty()).then(|| wirebench_results::repeats::Rounds::new(runs))
                })
                .collect::<Option<Vec<_>>>()
        })
        .collect();
    let sizes: Vec<usize> = groups.iter().flatten().map(|r| r.cells.len()).collect();
    let fewest = sizes.iter().copied().min()?;
    if fewest < 2 {
        return None;
    }
    let figure = |w: &[Vec<f64>]| {
        let mut at = 0;
        let mut figures = Vec::new();
        for group in &groups {
            let values: Option<Vec<f64>> = group
                .iter()
                .map(|r| {
                    at += 1;
                    r.measure(measure, &w[at - 1]).map(|v| v * scale)
                })
                .collect();
            let values = values?;
            figures.push(match c.kind {
                Kind::Ratio => values[0] / values[1],
                Kind::Value => values[0],
            });
        }
        (!figures.is_empty()).then(|| match c.kind {
            Kind::Ratio => geometric_mean(&figures),
            Kind::Value => figures.iter().sum::<f64>() / figures.len() as f64,
        })
    };
    let (low, high) = wirebench_results::stats::bootstrap(&sizes, figure)?;
    Some((low, high, fewest))
}

/// The verdict of an interval: a band's verdict only when the whole interval lies in that
/// band (on one side of the claim, for "about"); anything else is inconclusive.
fn judged(c: &ClaimSpec, low: f64, high: f64) -> ClaimVerdict {
    let (a, b) = (verdict(c, low), verdict(c, high));
    let one_side =
        c.direction != Direction::About || (low - c.claimed).signum() == (high - c.claimed).signum();
    if a == b && (a == ClaimVerdict::Holds || one_side) { a } else { ClaimVerdict::Inconclusive }
}

/// holds / roughly / does not hold, by the claim's direction and tolerance.
fn verdict(c: &ClaimSpec, measured: f64) -> ClaimVerdict {
    const HOLDS: ClaimVerdict = ClaimVerdict::Holds;
    const ROUGHLY: ClaimVerdict = ClaimVerdict::Roughly;
    const FAILS: ClaimVerdict = ClaimVerdict::DoesNotHold;
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
    if let Some(n) = &c.network {
        scope.push(format!("on {n}"));
    }
    if let Some(n) = c.concurrency {
        scope.push(format!("c={n}"));
    }
    let scope = if scope.is_empty() { String::new() } else { format!(" [{}]", scope.join(", ")) };
    format!("{}{scope}: {what} {bound}", c.metric)
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
        assert_eq!(verdict(&about, 5.9), ClaimVerdict::Holds);
        assert_eq!(verdict(&about, 4.1), ClaimVerdict::Holds);
        assert_eq!(verdict(&about, 7.5), ClaimVerdict::Roughly);
        assert_eq!(verdict(&about, 2.5), ClaimVerdict::DoesNotHold);
        let at_least = spec(Direction::AtLeast, 2.0, 0.25);
        assert_eq!(verdict(&at_least, 2.3), ClaimVerdict::Holds);
        assert_eq!(verdict(&at_least, 1.7), ClaimVerdict::Roughly);
        assert_eq!(verdict(&at_least, 1.1), ClaimVerdict::DoesNotHold);
        let exact = spec(Direction::About, 2.0, 0.0);
        assert_eq!(verdict(&exact, 2.0), ClaimVerdict::Holds);
        assert_eq!(verdict(&exact, 1.0), ClaimVerdict::DoesNotHold);
    }
}
