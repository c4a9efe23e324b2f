//! Latency: percentile spectra, the floor's overhead and the open loop.

use plotters::style::RGBColor;

use super::{protocol_label, unmeasured};
use crate::charts::{self, Axis, BarSeries, Frame, LegendEntry, Line, Mark, Scale, Stroke, Unit};
use crate::{
    Block, Chart, MAX_SERIES, ReportError, Table, Tags, View, extremes, fmt, of_group, td, td_class,
};
use wirebench_results::vocab::Operation;
use wirebench_results::{Cell, Latency};

fn spectrum(l: &Latency) -> Vec<(f64, f64)> {
    let Some(h) = l.histogram() else { return Vec::new() };
    if h.is_empty() {
        return Vec::new();
    }
    let max_x = (h.len() as f64).log10().clamp(0.5, 5.0);
    let steps = 120;
    let mut pts: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = max_x * f64::from(i) / f64::from(steps);
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64)
        })
        .collect();
    pts.push((max_x, h.max() as f64));
    pts
}

pub(crate) fn latency_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let mut block = Block {
            tags: Tags::payload(&payload),
            heading: format!("Payload {payload}"),
            intro: None,
            charts: Vec::new(),
            tables: Vec::new(),
        };
        for op in view.ops() {
            let cells: Vec<&Cell> = view
                .protocols()
                .iter()
                .filter_map(|p| view.closed(&payload, op, p, None))
                .filter(|c| c.latency.is_some())
                .collect();
            for (family, group) in view.chart_groups(&view.protocols(), MAX_SERIES) {
                let shown: Vec<&Cell> =
                    cells.iter().copied().filter(|c| group.contains(&c.protocol)).collect();
                block.charts.push(spectrum_chart(view, (&payload, &family), op, &shown)?.of(op));
            }
            block.tables.push(latency_table(view, &payload, op, &cells).of(op));
        }
        let above: Vec<String> = view.protocols().into_iter().filter(|p| !view.is_floor(p)).collect();
        for group in view.chart_groups(&above, MAX_SERIES) {
            block.charts.push(floor_overhead_chart(view, &payload, &group)?);
        }
        for op in view.ops() {
            let open: Vec<&Cell> = view
                .r
                .cells
                .iter()
                .filter(|c| {
                    c.mode == "open" && c.payload == payload && c.operation == op && c.latency.is_some()
                })
                .collect();
            if open.is_empty() {
                continue;
            }
            // Two lines a protocol (corrected, uncorrected).
            for (family, group) in view.chart_groups(&view.protocols(), MAX_SERIES / 2) {
                let shown: Vec<&Cell> =
                    open.iter().copied().filter(|c| group.contains(&c.protocol)).collect();
                if !shown.is_empty() {
                    block.charts.push(open_loop_chart(view, (&payload, &family), op, &shown)?.of(op));
                }
            }
            block.tables.push(open_loop_table(view, op, &open).of(op));
        }
        blocks.push(block);
    }
    Ok(blocks)
}

fn spectrum_chart(
    view: &View<'_>,
    (payload, family): (&str, &Option<String>),
    op: Operation,
    cells: &[&Cell],
) -> Result<Chart, ReportError> {
    if cells.is_empty() {
        return Ok(Chart::missing(format!("{op}: no latency was recorded."), false));
    }
    let lines: Vec<Line> = cells
        .iter()
        .map(|c| Line {
            label: protocol_label(view, &c.protocol),
            color: view.color(&c.protocol),
            stroke: if view.is_floor(&c.protocol) { Stroke::Dashed } else { Stroke::Solid },
            points: c.latency.as_ref().map(spectrum).unwrap_or_default(),
            markers: false,
            in_legend: true,
            intervals: percentile_intervals(view, c),
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    let max_nines = lines.iter().flat_map(|l| l.points.last().map(|p| p.0)).fold(1.0, f64::max).ceil() as u32;
    let y = Axis::log_covering(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)), Unit::Nanos);
    let frame = Frame {
        title: of_group(format!("{op}: latency by percentile ({payload})"), family),
        x_desc: "percentile (log scale of nines)".into(),
        y_desc: "latency (log scale)".into(),
        width: charts::NARROW,
        plot_height: 300,
    };
    let svg = charts::lines(&frame, &Axis::Nines { max: max_nines.clamp(1, 5) }, &y, &lines, &[])?;
    let conc = cells.iter().map(|c| c.concurrency).min().unwrap_or(0);
    let floor = if view.floor.is_some() { " The dashed line is the raw-TCP floor." } else { "" };
    let p50s: Vec<(String, f64)> = cells
        .iter()
        .filter(|c| !view.is_floor(&c.protocol))
        .filter_map(|c| Some((c.protocol.clone(), c.latency.as_ref()?.p50_ns as f64)))
        .collect();
    let takeaway = extremes(&p50s, ("lowest p50", "highest"), fmt::nanos);
    Ok(Chart::drawn(
        svg,
        format!(
            "{op}: the whole recorded distribution, closed loop at c={conc}, from each protocol's stored \
             HdrHistogram. A line ends where its sample count runs out of nines.{floor} Whiskers at p50 and \
             p99: 95 % intervals over the rounds."
        ),
        false,
    )
    .saying(takeaway))
}

/// The p50 and p99 intervals across repeats, placed on the nines axis (0.30 and 2), in ns.
fn percentile_intervals(view: &View<'_>, c: &Cell) -> Vec<(f64, f64, f64)> {
    [("p50_us", 2f64.log10()), ("p99_us", 2.0)]
        .into_iter()
        .filter_map(|(figure, x)| view.interval(c, figure).map(|(lo, hi)| (x, lo * 1e3, hi * 1e3)))
        .collect()
}

fn latency_table(view: &View<'_>, payload: &str, op: Operation, cells: &[&Cell]) -> Table {
    let streams = cells.iter().any(|c| c.message_latency.is_some());
    let mut head = vec![
        format!("{op}"),
        "c".into(),
        "samples".into(),
        "p50".into(),
        "p90".into(),
        "p99".into(),
        "p99.9".into(),
        "max".into(),
        "p50 above the floor".into(),
        "p50 ÷ floor".into(),
        "throughput".into(),
    ];
    if streams {
        head.push("per message p50 / p99".into());
    }
    let floor = view.floor.as_deref().and_then(|f| view.closed(payload, op, f, None));
    let mut t = Table::with_head(head);
    let best = cells
        .iter()
        .filter(|c| !view.is_floor(&c.protocol))
        .filter_map(|c| c.latency.as_ref().map(|l| l.p50_ns))
        .min();
    for c in cells {
        let Some(l) = &c.latency else { continue };
        let fl = floor.filter(|f| f.concurrency == c.concurrency).and_then(|f| f.latency.as_ref());
        let mut row = vec![
            td(protocol_label(view, &c.protocol)),
            td(c.concurrency.to_string()),
            td(fmt::int(l.count as f64)),
            td_class(
                view.figure(c, "p50_us", l.p50_ns as f64 / 1e3, fmt::micros),
                if Some(l.p50_ns) == best { "best" } else { "" },
            ),
            td(fmt::nanos(l.p90_ns as f64)),
            td(view.figure(c, "p99_us", l.p99_ns as f64 / 1e3, fmt::micros)),
            td(fmt::nanos(l.p999_ns as f64)),
            td(fmt::nanos(l.max_ns as f64)),
            match fl {
                Some(f) if !view.is_floor(&c.protocol) => {
                    td(fmt::signed_nanos(l.p50_ns as f64 - f.p50_ns as f64))
                }
                _ => td_class("–", "na"),
            },
            match fl {
                Some(f) if !view.is_floor(&c.protocol) && f.p50_ns > 0 => {
                    td(fmt::ratio(l.p50_ns as f64 / f.p50_ns as f64))
                }
                _ => td_class("–", "na"),
            },
            td(view.figure(c, "throughput_ops_s", c.throughput_ops_s, fmt::rate)),
        ];
        if streams {
            row.push(match &c.message_latency {
                Some(m) => td(format!("{} / {}", fmt::nanos(m.p50_ns as f64), fmt::nanos(m.p99_ns as f64))),
                None => td_class("–", "na"),
            });
        }
        t.rows.push(row);
    }
    t
}

fn floor_overhead_chart(
    view: &View<'_>,
    payload: &str,
    (family, protocols): &(Option<String>, Vec<String>),
) -> Result<Chart, ReportError> {
    let Some(floor) = view.floor.as_deref() else {
        return Ok(Chart::missing(
            "Latency above the floor: the floor protocol was not part of this run (add it to --protocols).",
            true,
        ));
    };
    let ops = view.ops();
    let series: Vec<BarSeries> = protocols
        .iter()
        .map(|p| BarSeries {
            label: p.clone(),
            color: view.color(p),
            values: ops
                .iter()
                .map(|op| {
                    let c = view.closed(payload, *op, p, None)?;
                    let f = view.closed(payload, *op, floor, Some(c.concurrency))?;
                    Some(vec![c.latency.as_ref()?.p50_ns as f64 - f.latency.as_ref()?.p50_ns as f64])
                })
                .collect(),
            // A difference of two medians has no interval of its own here; the table beside
            // gives each side's.
            intervals: Vec::new(),
        })
        .collect();
    if series.iter().all(|s| s.values.iter().all(Option::is_none)) {
        return Ok(Chart::missing("Latency above the floor: no operation was measured over both.", true));
    }
    let frame = Frame {
        title: of_group(format!("Median latency above the raw-TCP floor ({payload})"), family),
        x_desc: "operation".into(),
        y_desc: "p50 minus the floor's p50".into(),
        width: charts::WIDE,
        plot_height: 300,
    };
    let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
    let svg = charts::grouped_bars(&frame, &groups, &series, &[], Scale::Linear(Unit::Nanos))?;
    // The takeaway: who adds least and most over the floor on the first operation.
    let first: Vec<(String, f64)> = series
        .iter()
        .filter_map(|s| Some((s.label.clone(), s.values.first()?.as_ref()?.first().copied()?)))
        .collect();
    let what = ops.first().map(|op| format!("least above the floor on {op}")).unwrap_or_default();
    let takeaway = extremes(&first, (&what, "most"), fmt::nanos);
    Ok(Chart::drawn(
        svg,
        format!(
            "What each protocol adds to the machine's own request/response cost: its p50 minus the p50 of \
             {floor} for the same operation and concurrency."
        ),
        true,
    )
    .saying(takeaway))
}

fn open_loop_chart(
    view: &View<'_>,
    (payload, family): (&str, &Option<String>),
    op: Operation,
    cells: &[&Cell],
) -> Result<Chart, ReportError> {
    let mut lines = Vec::new();
    for c in cells {
        let color = view.color(&c.protocol);
        if let Some(l) = &c.latency {
            lines.push(Line {
                label: protocol_label(view, &c.protocol),
                color,
                stroke: Stroke::Solid,
                points: spectrum(l),
                markers: false,
                in_legend: true,
                intervals: percentile_intervals(view, c),
            });
        }
        if let Some(l) = &c.latency_uncorrected {
            lines.push(Line {
                label: format!("{} uncorrected", c.protocol),
                color,
                stroke: Stroke::Dashed,
                points: spectrum(l),
                markers: false,
                in_legend: false,
                intervals: Vec::new(),
            });
        }
    }
    lines.retain(|l| !l.points.is_empty());
    let max_nines = lines.iter().flat_map(|l| l.points.last().map(|p| p.0)).fold(1.0, f64::max).ceil() as u32;
    let y = Axis::log_covering(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)), Unit::Nanos);
    let grey = RGBColor(110, 110, 110);
    let extra = [
        LegendEntry::key("solid: corrected", Mark::Line(grey)),
        LegendEntry::key("dashed: uncorrected", Mark::Dashed(grey)),
    ];
    let rate = cells.iter().find_map(|c| c.rate).unwrap_or(0.0);
    let frame = Frame {
        title: of_group(
            format!("{op}: open loop at {}, corrected vs uncorrected ({payload})", fmt::rate(rate)),
            family,
        ),
        x_desc: "percentile (log scale of nines)".into(),
        y_desc: "latency (log scale)".into(),
        width: charts::NARROW,
        plot_height: 300,
    };
    let svg = charts::lines(&frame, &Axis::Nines { max: max_nines.clamp(1, 5) }, &y, &lines, &extra)?;
    let p99s: Vec<(String, f64)> =
        cells.iter().filter_map(|c| Some((c.protocol.clone(), c.latency.as_ref()?.p99_ns as f64))).collect();
    let takeaway = extremes(&p99s, ("lowest corrected p99", "highest"), fmt::nanos);
    Ok(Chart::drawn(
        svg,
        "Open loop: requests are due at a fixed rate. Corrected latency runs from when a request was due \
         (what a user waiting for it sees); uncorrected from when it was actually sent, which hides queueing \
         (coordinated omission). Send lag is how late the generator itself sent requests: it is inside the \
         corrected figure, and a cell whose send-lag p99 exceeds a tenth of its p50 is flagged. Whiskers \
         at p50 and p99: 95 % intervals over the rounds.",
        false,
    )
    .saying(takeaway))
}

fn open_loop_table(view: &View<'_>, op: Operation, cells: &[&Cell]) -> Table {
    let mut t = Table::new(&[
        &format!("{op}, open loop"),
        "intended rate",
        "achieved",
        "corrected p50",
        "p99",
        "p99.9",
        "uncorrected p50",
        "p99",
        "p99.9",
        "send lag p50",
        "p99",
        "connection wait p99",
        "missed sends",
    ]);
    for c in cells {
        let three = |l: Option<&Latency>| match l {
            Some(l) => [l.p50_ns, l.p99_ns, l.p999_ns].map(|v| td(fmt::nanos(v as f64))),
            None => [td_class("–", "na"), td_class("–", "na"), td_class("–", "na")],
        };
        let mut row = vec![
            td(protocol_label(view, &c.protocol)),
            td(c.rate.map_or_else(|| "–".into(), fmt::rate)),
            td(view.figure(c, "throughput_ops_s", c.throughput_ops_s, fmt::rate)),
        ];
        let mut corrected = three(c.latency.as_ref());
        if let Some(l) = &c.latency {
            corrected[0] = td(view.figure(c, "p50_us", l.p50_ns as f64 / 1e3, fmt::micros));
            corrected[1] = td(view.figure(c, "p99_us", l.p99_ns as f64 / 1e3, fmt::micros));
        }
        row.extend(corrected);
        row.extend(three(c.latency_uncorrected.as_ref()));
        let lag = three(c.send_lag.as_ref());
        row.extend(lag.into_iter().take(2));
        row.push(
            c.connection_wait
                .as_ref()
                .map_or_else(|| td_class("–", "na"), |w| td(fmt::nanos(w.p99_ns as f64))),
        );
        row.push(td(c.missed.to_string()));
        t.rows.push(row);
    }
    t
}
