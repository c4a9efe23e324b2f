//! The samples behind a claim's figure: one per payload (run metrics) or codec case.

use super::metrics::Unit;
use super::{ClaimSpec, Kind};
use crate::View;
use crate::serialization::CodecFigure;
use wirebench_results::Cell;

/// One measured pair or value (per payload or codec case).
pub(super) struct Sample {
    pub(super) figure: f64,
    pub(super) text: String,
    /// The figure's 95 % interval, where its source gives one (criterion's, for codecs).
    pub(super) interval: Option<(f64, f64)>,
}

pub(super) fn geometric_mean(v: &[f64]) -> f64 {
    if v.iter().any(|x| *x <= 0.0) {
        return v.iter().sum::<f64>() / v.len() as f64;
    }
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

pub(super) fn cell_samples(
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
        let cells: Vec<_> = names.iter().map(|n| view.closed(payload, op, n, c.concurrency)).collect();
        if let Some(flagged) = cells.iter().flatten().find(|cell| !cell.flags.is_empty()) {
            missing.push(format!(
                "{} {op} (payload {payload}) is flagged: {}",
                flagged.protocol,
                flagged.flags.join("; ")
            ));
            continue;
        }
        let vals: Vec<Option<f64>> = cells.iter().map(|cell| cell.and_then(get)).collect();
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
                    interval: None,
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
                interval: None,
                figure: vals[0],
                text: format!("{} {} (payload {payload})", names[0], unit.show(vals[0])),
            }),
        }
    }
    if samples.is_empty() {
        return Err(if missing.is_empty() {
            "no payload to compare".into()
        } else {
            format!("no usable closed-loop measurement: {}", missing.join(", "))
        });
    }
    Ok(samples)
}

pub(super) fn codec_samples(
    view: &View<'_>,
    c: &ClaimSpec,
    unit: Unit,
    get: fn(&CodecFigure) -> Option<f64>,
    ci: fn(&CodecFigure) -> Option<(f64, f64)>,
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
                    // The ratio's ends from the ends of its parts' intervals: wider than the
                    // ratio's own interval, so a verdict errs towards "inconclusive".
                    let interval = match (ci(n), ci(d)) {
                        (Some((xl, xh)), Some((yl, yh))) if yl > 0.0 => Some((xl / yh, xh / yl)),
                        _ => None,
                    };
                    samples.push(Sample {
                        interval,
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
                samples.push(Sample {
                    figure: v,
                    text: format!("{s} {} ({})", unit.show(v), f.case()),
                    interval: ci(f),
                });
            }
            if samples.is_empty() {
                return Err(format!("no figures for format {s} (formats benched: {})", formats.join(", ")));
            }
        }
    }
    Ok(samples)
}
