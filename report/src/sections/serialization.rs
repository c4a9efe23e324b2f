//! Serialization time and size, from the codec benches.

use crate::charts::{self, BarSeries, Frame, Scale, Unit};
use crate::serialization::{CodecData, CodecFigure};
use crate::{Block, Chart, PALETTE, ReportError, Table, Tags, View, extremes, fmt, td, td_class};

/// The codec cases ("dataset/payload"), smallest first: datasets by their smallest encoding,
/// then payloads by size (payload names carry no order of their own).
pub(crate) fn codec_cases(data: &CodecData) -> Vec<String> {
    let size = |f: &CodecFigure| f.raw_bytes.unwrap_or(f64::MAX);
    let min_of = |pred: &dyn Fn(&CodecFigure) -> bool| {
        data.figures.iter().filter(|f| pred(f)).map(size).fold(f64::MAX, f64::min)
    };
    let mut cases: Vec<(f64, f64, String)> = Vec::new();
    for f in &data.figures {
        if cases.iter().any(|c| c.2 == f.case()) {
            continue;
        }
        let dataset_min = min_of(&|g| g.dataset == f.dataset);
        let case_min = min_of(&|g| g.case() == f.case());
        cases.push((dataset_min, case_min, f.case()));
    }
    cases.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    cases.into_iter().map(|c| c.2).collect()
}

/// Each series' geometric mean over the cases it has (its typical figure).
fn typical(series: &[BarSeries]) -> Vec<(String, f64)> {
    series
        .iter()
        .filter_map(|s| {
            let v: Vec<f64> =
                s.values.iter().flatten().filter_map(|v| v.first().copied()).filter(|v| *v > 0.0).collect();
            (!v.is_empty())
                .then(|| (s.label.clone(), (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()))
        })
        .collect()
}

pub(crate) fn serialization_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let data = view.codecs;
    let mut block = Block {
        tags: Tags::default(),
        heading: String::new(),
        intro: None,
        charts: Vec::new(),
        tables: Vec::new(),
    };
    if data.figures.is_empty() {
        let why = format!(
            "Not measured: no codec benchmark results were found in {}. Produce them with: cargo bench -p \
             wirebench --bench codecs — then re-render with: wirebench report RESULTS --criterion {}",
            data.dir.display(),
            data.dir.display()
        );
        block.charts.push(Chart::missing(why, true));
        return Ok(vec![block]);
    }
    let cases = codec_cases(data);
    let time_series = series(data, &cases, CodecFigure::round_trip_ns, CodecFigure::round_trip_ci_ns);
    block.charts.push(if time_series.iter().any(|s| s.values.iter().any(Option::is_some)) {
        let frame = Frame {
            title: "Serialization time per message (encode + decode), by format".into(),
            x_desc: "dataset / payload".into(),
            y_desc: "encode + decode time (log scale)".into(),
            width: charts::WIDE,
            plot_height: 320,
        };
        Chart::drawn(
            charts::grouped_bars(&frame, &cases, &time_series, &[], Scale::Log(Unit::Nanos))?,
            "criterion's mean time to encode one message plus the mean time to decode it; the split is in the \
             table. Whiskers: the two means' 95 % confidence intervals added. A missing bar: that case was \
             not timed.",
            true,
        )
        .saying(extremes(&typical(&time_series), ("lowest typical time (geometric mean over the cases)", "highest"), fmt::nanos))
    } else {
        Chart::missing("Encode/decode times: no criterion estimates were found.", true)
    });
    let size_series = series(data, &cases, |f| f.raw_bytes, |_| None);
    block.charts.push(if size_series.iter().any(|s| s.values.iter().any(Option::is_some)) {
        let frame = Frame {
            title: "Encoded size per message, by format".into(),
            x_desc: "dataset / payload".into(),
            y_desc: "bytes per message, uncompressed (B, log scale)".into(),
            width: charts::WIDE,
            plot_height: 320,
        };
        Chart::drawn(
            charts::grouped_bars(&frame, &cases, &size_series, &[], Scale::Log(Unit::Number))?,
            "Encoded bytes as each format writes them; gzip and zstd sizes are in the table.",
            true,
        )
        .saying(extremes(
            &typical(&size_series),
            ("smallest typical message (geometric mean over the cases)", "largest"),
            fmt::bytes,
        ))
    } else {
        Chart::missing("Encoded sizes: wirebench-codec-sizes.json was not found.", true)
    });
    block.tables.push(table(data, &cases));
    let provenance = match &data.run {
        Some(run) => format!(" Measured at revision {}, {}.", run.git_revision, run.measured_at),
        None => " When and from which revision: not recorded.".to_owned(),
    };
    let stale = data
        .staleness(&view.r.environment.git_revision, &view.r.started_at)
        .map_or_else(String::new, |why| format!(" Stale: {why}."));
    block.intro = Some(format!(
        "From the codec benches in {}; times are criterion's means with their 95 % confidence \
         intervals in brackets.{provenance}{stale}",
        data.dir.display()
    ));
    Ok(vec![block])
}

/// A bar series per format, a value per case.
fn series(
    data: &CodecData,
    cases: &[String],
    get: fn(&CodecFigure) -> Option<f64>,
    ci: fn(&CodecFigure) -> Option<(f64, f64)>,
) -> Vec<BarSeries> {
    let mut formats: Vec<String> = Vec::new();
    for f in &data.figures {
        if !formats.contains(&f.format) {
            formats.push(f.format.clone());
        }
    }
    let find =
        |format: &str, case: &str| data.figures.iter().find(|f| f.format == format && f.case() == case);
    formats
        .iter()
        .enumerate()
        .map(|(i, format)| BarSeries {
            label: format.clone(),
            color: PALETTE[i % PALETTE.len()],
            values: cases.iter().map(|case| find(format, case).and_then(get).map(|v| vec![v])).collect(),
            intervals: cases.iter().map(|case| find(format, case).and_then(ci)).collect(),
        })
        .collect()
}

fn table(data: &CodecData, cases: &[String]) -> Table {
    let mut t = Table::new(&[
        "format",
        "dataset / payload",
        "encode",
        "decode",
        "encode + decode",
        "× fastest",
        "raw",
        "gzip",
        "zstd",
        "× smallest (raw)",
    ]);
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or_else(|| td_class("–", "na"), |v| td(f(v)));
    let timed = |v: Option<f64>, ci: Option<(f64, f64)>| match v {
        Some(v) => td(fmt::with_interval(v, ci, fmt::nanos)),
        None => opt(v, fmt::nanos),
    };
    for case in cases {
        let in_case: Vec<_> = data.figures.iter().filter(|f| f.case() == *case).collect();
        let fastest = in_case.iter().filter_map(|f| f.round_trip_ns()).fold(f64::INFINITY, f64::min);
        let smallest = in_case.iter().filter_map(|f| f.raw_bytes).fold(f64::INFINITY, f64::min);
        for f in in_case {
            t.rows.push(vec![
                td(f.format.clone()),
                td(case.clone()),
                timed(f.encode_ns, f.encode_ci_ns),
                timed(f.decode_ns, f.decode_ci_ns),
                timed(f.round_trip_ns(), f.round_trip_ci_ns()),
                opt(f.round_trip_ns().map(|v| v / fastest), fmt::ratio),
                opt(f.raw_bytes, fmt::bytes),
                opt(f.gzip_bytes, fmt::bytes),
                opt(f.zstd_bytes, fmt::bytes),
                opt(f.raw_bytes.map(|v| v / smallest), fmt::ratio),
            ]);
        }
    }
    t
}
