//! The page's sections, one builder per section: each turns the run (a [`View`]) into
//! [`Block`]s of charts and tables, or rows of text.

use std::collections::BTreeMap;

use plotters::style::RGBColor;

use super::charts::{self, Axis, BarSeries, Frame, HBar, LegendEntry, Line, Mark, Scale, Stroke, Unit};
use super::claims::ClaimRow;
use super::serialization::{self, CodecData};
use super::{
    Block, Chart, Kv, MethodNote, PALETTE, ProtocolRow, ReportError, Table, View, fmt, kv, td, td_class,
};
use crate::catalog::Operation;
use crate::results::{Cell, Latency, Results, RunStatus};

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

pub(super) fn protocol_rows(view: &View<'_>) -> Vec<ProtocolRow> {
    view.r
        .protocols
        .iter()
        .map(|p| ProtocolRow {
            name: p.name.clone(),
            label: protocol_label(view, &p.name),
            describe: p.describe.clone(),
            server: p.server.clone(),
            color: hex(view.color(&p.name)),
            floor: view.is_floor(&p.name),
        })
        .collect()
}

pub(super) fn claims_summary(rows: &[ClaimRow]) -> String {
    let count = |v: &str| rows.iter().filter(|r| r.verdict == v).count();
    format!(
        "{} claims: {} hold, {} roughly, {} do not hold, {} not measured.",
        rows.len(),
        count("holds"),
        count("roughly"),
        count("does not hold"),
        count("not measured")
    )
}

/// What a reader must know before trusting the numbers.
pub(super) fn warnings(view: &View<'_>) -> Vec<String> {
    let r = view.r;
    let mut out = Vec::new();
    if r.status != RunStatus::Complete {
        out.push(format!(
            "The run did not complete ({}): {}. What was measured is shown.",
            match r.status {
                RunStatus::Interrupted => "interrupted",
                _ => "aborted",
            },
            r.message.clone().unwrap_or_default()
        ));
    }
    if !r.environment.release_build {
        out.push(
            "Debug build: latency, throughput and CPU figures are far from what an optimized build \
             shows (bytes and round trips are not affected). Run make bench for real figures."
                .into(),
        );
    }
    if r.environment.server_cores.is_empty() && r.options.target.is_none() {
        out.push("Server and client were not pinned to separate cores: they competed for CPU.".into());
    }
    for c in &r.cells {
        let errors: u64 = c.errors.values().sum();
        if errors > 0 {
            let kinds: Vec<String> = c.errors.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            let sample = c.error_samples.values().next().cloned().unwrap_or_default();
            out.push(format!(
                "{} {} ({}, {} c={}): {errors} error(s) besides {} recorded operations: {} — e.g. {sample}",
                c.protocol,
                c.operation,
                c.payload,
                c.mode,
                c.concurrency,
                c.ops,
                kinds.join(", ")
            ));
        }
        if let Some(rate) = c.rate
            && c.throughput_ops_s < rate * 0.9
        {
            out.push(format!(
                "{} {} open loop: achieved {} of the intended {} — the server (or client) could not keep up, \
                 so its corrected latency includes queueing.",
                c.protocol,
                c.operation,
                fmt::rate(c.throughput_ops_s),
                fmt::rate(rate)
            ));
        }
    }
    if view.floor.is_none() {
        out.push(
            "The raw-TCP floor was not part of this run: latency is shown without its reference.".into(),
        );
    }
    out
}

pub(super) fn run_rows(r: &Results) -> Vec<Kv> {
    let o = &r.options;
    let join = |v: &[u32]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    vec![
        kv("profile", o.profile.clone()),
        kv("protocols", o.protocols.join(", ")),
        kv("operations", o.operations.iter().map(|op| op.name()).collect::<Vec<_>>().join(", ")),
        kv("payloads", o.payloads.join(", ")),
        kv("closed-loop concurrency", join(&o.concurrency)),
        kv("open-loop rate", o.rate.map_or_else(|| "none".into(), fmt::rate)),
        kv("warm-up / recorded per cell", format!("{} s / {} s", o.warmup_s, o.duration_s)),
        kv("N (orders per page, stream, import, conversation)", o.n.to_string()),
        kv("fixture seed", o.seed.to_string()),
        kv("simulated store latency", format!("{} µs per store call", o.store_latency_us)),
        kv("servers", o.target.clone().unwrap_or_else(|| "spawned by the run (wirebench serve)".into())),
        kv("started / finished", format!("{} / {}", r.started_at, r.finished_at)),
    ]
}

pub(super) fn environment_rows(r: &Results) -> Vec<Kv> {
    let e = &r.environment;
    let cores = |v: &[usize]| {
        if v.is_empty() {
            "not pinned".to_owned()
        } else {
            v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        }
    };
    let mut rows = vec![
        kv("CPU", format!("{} ({} cores)", e.cpu_model, e.cores)),
        kv("kernel / OS", format!("{} / {}", e.kernel, e.os)),
        kv("rustc", e.rustc.clone()),
        kv("build", if e.release_build { "release (optimized)" } else { "debug (unoptimized)" }),
        kv("wirebench", format!("{} at revision {}", e.wirebench_version, e.git_revision)),
        kv("server cores", cores(&e.server_cores)),
        kv("client cores", cores(&e.client_cores)),
    ];
    rows.extend(e.crate_versions.iter().map(|(k, v)| kv(&format!("crate {k}"), v.clone())));
    rows
}

/// The block of a payload with no measured cell: a sentence instead of empty charts.
fn unmeasured(view: &View<'_>, payload: &str) -> Option<Block> {
    if view.r.cells.iter().any(|c| c.payload == payload && c.ops > 0) {
        return None;
    }
    Some(Block {
        heading: format!("Payload {payload}"),
        intro: None,
        charts: vec![Chart::missing(
            format!(
                "Nothing was measured for payload {payload}: no cell recorded an operation (see the warnings above)."
            ),
            true,
        )],
        tables: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------
// Wire anatomy

const SENT: RGBColor = RGBColor(78, 121, 167);
const RECEIVED: RGBColor = RGBColor(242, 142, 43);

pub(super) fn wire_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    let legend = [
        LegendEntry::new("payload sent", Mark::Box(SENT)),
        LegendEntry::new("overhead sent", Mark::Box(charts::pale(SENT, 0.4))),
        LegendEntry::new("payload received", Mark::Box(RECEIVED)),
        LegendEntry::new("overhead received", Mark::Box(charts::pale(RECEIVED, 0.4))),
    ];
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let mut block = Block {
            heading: format!("Payload {payload}"),
            intro: None,
            charts: Vec::new(),
            tables: Vec::new(),
        };
        for op in view.ops() {
            let cells: Vec<&Cell> =
                view.protocols().iter().filter_map(|p| view.closed(&payload, op, p, None)).collect();
            if cells.is_empty() {
                block.charts.push(Chart::missing(format!("{op}: no closed-loop cell was measured."), false));
                continue;
            }
            let mut rows = Vec::new();
            for c in &cells {
                let (s, r) = (&c.bytes.sent_per_op, &c.bytes.received_per_op);
                rows.push(HBar {
                    label: format!("{} sent", c.protocol),
                    segments: vec![(s.payload_bytes, SENT), (s.overhead_bytes, charts::pale(SENT, 0.4))],
                    note: fmt::bytes(s.total_bytes),
                });
                rows.push(HBar {
                    label: format!("{} received", c.protocol),
                    segments: vec![
                        (r.payload_bytes, RECEIVED),
                        (r.overhead_bytes, charts::pale(RECEIVED, 0.4)),
                    ],
                    note: fmt::bytes(r.total_bytes),
                });
            }
            let svg = charts::hbars(
                &format!("{op}: bytes per operation by layer ({payload})"),
                "bytes per operation (B)",
                &rows,
                &legend,
                charts::NARROW,
            )?;
            let conc = cells.iter().map(|c| c.concurrency).min().unwrap_or(0);
            block.charts.push(Chart::drawn(
                svg,
                format!(
                    "{op}: mean bytes per operation, closed loop at c={conc}. Connection set-up is not included \
                     (see the table)."
                ),
                false,
            ));
        }
        block.tables = view.ops().iter().map(|op| wire_table(view, &payload, *op)).collect();
        blocks.push(block);
    }
    Ok(blocks)
}

fn wire_table(view: &View<'_>, payload: &str, op: Operation) -> Table {
    let mut t = Table::new(&[
        &format!("{op}"),
        "sent: payload + overhead",
        "received: payload + overhead",
        "per operation",
        "round trips",
        "set-up per connection: sent / received",
        "TCP/IP headers per op (estimate)",
    ]);
    let cells: Vec<&Cell> =
        view.protocols().iter().filter_map(|p| view.closed(payload, op, p, None)).collect();
    let total = |c: &Cell| c.bytes.sent_per_op.total_bytes + c.bytes.received_per_op.total_bytes;
    let best =
        cells.iter().filter(|c| !view.is_floor(&c.protocol)).map(|c| total(c)).fold(f64::INFINITY, f64::min);
    let split = |l: &crate::results::Layers| {
        format!(
            "{} + {} = {}",
            fmt::int(l.payload_bytes),
            fmt::int(l.overhead_bytes),
            fmt::bytes(l.total_bytes)
        )
    };
    for c in cells {
        let class = if total(c) <= best && !view.is_floor(&c.protocol) { "best" } else { "" };
        t.rows.push(vec![
            td(protocol_label(view, &c.protocol)),
            td(split(&c.bytes.sent_per_op)),
            td(split(&c.bytes.received_per_op)),
            td_class(fmt::bytes(total(c)), class),
            td(fmt::count(c.round_trips_per_op)),
            td(format!(
                "{} / {}",
                fmt::bytes(c.bytes.setup_sent_per_connection),
                fmt::bytes(c.bytes.setup_received_per_connection)
            )),
            td(fmt::bytes(c.bytes.tcp_ip_headers_per_op_estimate)),
        ]);
    }
    t
}

/// A protocol's name, marked when it is the floor (unless its name already says so).
fn protocol_label(view: &View<'_>, p: &str) -> String {
    if view.is_floor(p) && !p.contains("floor") { format!("{p} (floor)") } else { p.to_owned() }
}

// ---------------------------------------------------------------------------------------
// Round trips and turns

pub(super) fn round_trip_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let ops = view.ops();
        let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
        let series_of = |get: fn(&Cell) -> f64| -> Vec<BarSeries> {
            view.protocols()
                .iter()
                .map(|p| BarSeries {
                    label: p.clone(),
                    color: view.color(p),
                    values: ops
                        .iter()
                        .map(|op| view.closed(&payload, *op, p, None).map(|c| vec![get(c)]))
                        .collect(),
                })
                .collect()
        };
        let mut block = Block {
            heading: format!("Payload {payload}"),
            intro: None,
            charts: Vec::new(),
            tables: Vec::new(),
        };
        if ops.is_empty() {
            block.charts.push(Chart::missing("No cell was measured.", true));
        } else {
            let frame = Frame {
                title: format!("Application round trips per operation ({payload})"),
                x_desc: "operation".into(),
                y_desc: "round trips per operation".into(),
                width: charts::WIDE,
                plot_height: 300,
            };
            let svg = charts::grouped_bars(
                &frame,
                &groups,
                &series_of(|c| c.round_trips_per_op),
                &[],
                Scale::Linear(Unit::Number),
            )?;
            block.charts.push(Chart::drawn(
                svg,
                "Requests each operation had to wait for in sequence, as the client issued them. \
                 A missing bar: the variant does not run that operation.",
                true,
            ));
            let frame = Frame {
                title: format!("Network turns per operation ({payload})"),
                x_desc: "operation".into(),
                y_desc: "direction changes on the socket per operation".into(),
                width: charts::WIDE,
                plot_height: 300,
            };
            let svg = charts::grouped_bars(
                &frame,
                &groups,
                &series_of(|c| c.turns_per_op),
                &[],
                Scale::Linear(Unit::Number),
            )?;
            block.charts.push(Chart::drawn(
                svg,
                "Direction changes seen on the client socket: a request and its answer are 2 turns.",
                true,
            ));
        }
        let mut head = vec!["protocol".to_owned()];
        head.extend(groups.iter().cloned());
        let mut t = Table::with_head(head);
        for p in view.protocols() {
            let mut row = vec![td(protocol_label(view, &p))];
            for op in &ops {
                row.push(match view.closed(&payload, *op, &p, None) {
                    Some(c) => td(format!(
                        "{} RT · {} turns",
                        fmt::count(c.round_trips_per_op),
                        fmt::count(c.turns_per_op)
                    )),
                    None => td_class("–", "na"),
                });
            }
            t.rows.push(row);
        }
        block.tables.push(t);
        blocks.push(block);
    }
    Ok(blocks)
}

// ---------------------------------------------------------------------------------------
// Latency

/// (nines, latency in ns) points of a latency histogram, HdrHistogram-plot style.
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

pub(super) fn latency_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let mut block = Block {
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
            block.charts.push(spectrum_chart(view, &payload, op, &cells)?);
            block.tables.push(latency_table(view, &payload, op, &cells));
        }
        block.charts.push(floor_overhead_chart(view, &payload)?);
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
            block.charts.push(open_loop_chart(view, &payload, op, &open)?);
            block.tables.push(open_loop_table(view, op, &open));
        }
        blocks.push(block);
    }
    Ok(blocks)
}

fn spectrum_chart(
    view: &View<'_>,
    payload: &str,
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
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    let max_nines = lines.iter().flat_map(|l| l.points.last().map(|p| p.0)).fold(1.0, f64::max).ceil() as u32;
    let y = Axis::log_covering(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)), Unit::Nanos);
    let frame = Frame {
        title: format!("{op}: latency by percentile ({payload})"),
        x_desc: "percentile (log scale of nines)".into(),
        y_desc: "latency (log scale)".into(),
        width: charts::NARROW,
        plot_height: 300,
    };
    let svg = charts::lines(&frame, &Axis::Nines { max: max_nines.clamp(1, 5) }, &y, &lines, &[])?;
    let conc = cells.iter().map(|c| c.concurrency).min().unwrap_or(0);
    let floor = if view.floor.is_some() { " The dashed line is the raw-TCP floor." } else { "" };
    Ok(Chart::drawn(
        svg,
        format!(
            "{op}: the whole recorded distribution, closed loop at c={conc}, from each protocol's stored \
             HdrHistogram. A line ends where its sample count runs out of nines.{floor}"
        ),
        false,
    ))
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
            td_class(fmt::nanos(l.p50_ns as f64), if Some(l.p50_ns) == best { "best" } else { "" }),
            td(fmt::nanos(l.p90_ns as f64)),
            td(fmt::nanos(l.p99_ns as f64)),
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
            td(fmt::rate(c.throughput_ops_s)),
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

fn floor_overhead_chart(view: &View<'_>, payload: &str) -> Result<Chart, ReportError> {
    let Some(floor) = view.floor.as_deref() else {
        return Ok(Chart::missing(
            "Latency above the floor: the floor protocol was not part of this run (add it to --protocols).",
            true,
        ));
    };
    let ops = view.ops();
    let series: Vec<BarSeries> = view
        .protocols()
        .iter()
        .filter(|p| !view.is_floor(p))
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
        })
        .collect();
    if series.iter().all(|s| s.values.iter().all(Option::is_none)) {
        return Ok(Chart::missing("Latency above the floor: no operation was measured over both.", true));
    }
    let frame = Frame {
        title: format!("Median latency above the raw-TCP floor ({payload})"),
        x_desc: "operation".into(),
        y_desc: "p50 minus the floor's p50".into(),
        width: charts::WIDE,
        plot_height: 300,
    };
    let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
    let svg = charts::grouped_bars(&frame, &groups, &series, &[], Scale::Linear(Unit::Nanos))?;
    Ok(Chart::drawn(
        svg,
        format!(
            "What each protocol adds to the machine's own request/response cost: its p50 minus the p50 of \
             {floor} for the same operation and concurrency."
        ),
        true,
    ))
}

fn open_loop_chart(
    view: &View<'_>,
    payload: &str,
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
            });
        }
    }
    lines.retain(|l| !l.points.is_empty());
    let max_nines = lines.iter().flat_map(|l| l.points.last().map(|p| p.0)).fold(1.0, f64::max).ceil() as u32;
    let y = Axis::log_covering(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)), Unit::Nanos);
    let grey = RGBColor(110, 110, 110);
    let extra = [
        LegendEntry::new("solid: corrected", Mark::Line(grey)),
        LegendEntry::new("dashed: uncorrected", Mark::Dashed(grey)),
    ];
    let rate = cells.iter().find_map(|c| c.rate).unwrap_or(0.0);
    let frame = Frame {
        title: format!("{op}: open loop at {}, corrected vs uncorrected ({payload})", fmt::rate(rate)),
        x_desc: "percentile (log scale of nines)".into(),
        y_desc: "latency (log scale)".into(),
        width: charts::NARROW,
        plot_height: 300,
    };
    let svg = charts::lines(&frame, &Axis::Nines { max: max_nines.clamp(1, 5) }, &y, &lines, &extra)?;
    Ok(Chart::drawn(
        svg,
        "Open loop: requests are due at a fixed rate. Corrected latency runs from when a request was due \
         (what a user waiting for it sees); uncorrected from when it was actually sent, which hides queueing \
         (coordinated omission). Send lag is how late the generator itself sent requests (tokio's timer \
         has 1 ms granularity): it is inside the corrected figure, so at low rates read the two together.",
        false,
    ))
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
    ]);
    for c in cells {
        let three = |l: Option<&Latency>| match l {
            Some(l) => [l.p50_ns, l.p99_ns, l.p999_ns].map(|v| td(fmt::nanos(v as f64))),
            None => [td_class("–", "na"), td_class("–", "na"), td_class("–", "na")],
        };
        let mut row = vec![
            td(protocol_label(view, &c.protocol)),
            td(c.rate.map_or_else(|| "–".into(), fmt::rate)),
            td(fmt::rate(c.throughput_ops_s)),
        ];
        row.extend(three(c.latency.as_ref()));
        row.extend(three(c.latency_uncorrected.as_ref()));
        let lag = three(c.send_lag.as_ref());
        row.extend(lag.into_iter().take(2));
        t.rows.push(row);
    }
    t
}

// ---------------------------------------------------------------------------------------
// Throughput

pub(super) fn throughput_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let levels = view.levels(&payload);
        let ops = view.ops();
        let mut block = Block {
            heading: format!("Payload {payload}"),
            intro: None,
            charts: Vec::new(),
            tables: Vec::new(),
        };
        if levels.is_empty() {
            block.charts.push(Chart::missing("No closed-loop cell was measured.", true));
            blocks.push(block);
            continue;
        }
        if levels.len() == 1 {
            block.intro = Some(format!(
                "Only one closed-loop concurrency level was run (c={}), so there is no curve: throughput per \
                 operation at that level. Run wirebench run --profile quick (c = 1, 16) or --profile full \
                 (c = 1, 4, 16, 64) for a sweep.",
                levels[0]
            ));
            let series: Vec<BarSeries> = view
                .protocols()
                .iter()
                .map(|p| BarSeries {
                    label: p.clone(),
                    color: view.color(p),
                    values: ops
                        .iter()
                        .map(|op| {
                            view.closed(&payload, *op, p, Some(levels[0])).map(|c| vec![c.throughput_ops_s])
                        })
                        .collect(),
                })
                .collect();
            let frame = Frame {
                title: format!("Closed-loop throughput at c={} ({payload})", levels[0]),
                x_desc: "operation".into(),
                y_desc: "operations per second".into(),
                width: charts::WIDE,
                plot_height: 300,
            };
            let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
            let svg = charts::grouped_bars(&frame, &groups, &series, &[], Scale::Linear(Unit::Number))?;
            block.charts.push(Chart::drawn(
                svg,
                "Recorded operations divided by the recorded time, all workers together.",
                true,
            ));
        } else {
            for op in &ops {
                let x = Axis::Categories(levels.iter().map(|l| format!("c={l}")).collect());
                let lines: Vec<Line> = view
                    .protocols()
                    .iter()
                    .map(|p| Line {
                        label: protocol_label(view, p),
                        color: view.color(p),
                        stroke: if view.is_floor(p) { Stroke::Dashed } else { Stroke::Solid },
                        points: levels
                            .iter()
                            .enumerate()
                            .filter_map(|(i, l)| {
                                view.closed(&payload, *op, p, Some(*l))
                                    .map(|c| (i as f64, c.throughput_ops_s))
                            })
                            .collect(),
                        markers: true,
                        in_legend: true,
                    })
                    .filter(|l| !l.points.is_empty())
                    .collect();
                if lines.is_empty() {
                    block.charts.push(Chart::missing(format!("{op}: no closed-loop cell."), false));
                    continue;
                }
                let y = Axis::linear_from_zero(
                    lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)),
                    Unit::Number,
                );
                let frame = Frame {
                    title: format!("{op}: throughput vs concurrency ({payload})"),
                    x_desc: "closed-loop workers (concurrency)".into(),
                    y_desc: "operations per second".into(),
                    width: charts::NARROW,
                    plot_height: 280,
                };
                let svg = charts::lines(&frame, &x, &y, &lines, &[])?;
                block.charts.push(Chart::drawn(
                    svg,
                    format!("{op}: recorded operations per second at each closed-loop concurrency."),
                    false,
                ));
            }
        }
        let mut head = vec!["protocol".to_owned(), "c".to_owned()];
        head.extend(ops.iter().map(|o| o.name().to_owned()));
        let mut t = Table::with_head(head);
        for p in view.protocols() {
            for l in &levels {
                let mut row = vec![td(protocol_label(view, &p)), td(l.to_string())];
                let mut any = false;
                for op in &ops {
                    row.push(match view.closed(&payload, *op, &p, Some(*l)) {
                        Some(c) => {
                            any = true;
                            td(fmt::rate(c.throughput_ops_s))
                        }
                        None => td_class("–", "na"),
                    });
                }
                if any {
                    t.rows.push(row);
                }
            }
        }
        block.tables.push(t);
        blocks.push(block);
    }
    Ok(blocks)
}

// ---------------------------------------------------------------------------------------
// Serialization

/// The codec cases ("dataset/payload"), smallest first: datasets by their smallest encoding,
/// then payloads by size (payload names carry no order of their own).
pub(super) fn codec_cases(data: &CodecData) -> Vec<String> {
    let size = |f: &serialization::CodecFigure| f.raw_bytes.unwrap_or(f64::MAX);
    let min_of = |pred: &dyn Fn(&serialization::CodecFigure) -> bool| {
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

pub(super) fn serialization_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let data = view.codecs;
    let mut block = Block { heading: String::new(), intro: None, charts: Vec::new(), tables: Vec::new() };
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
    let mut formats: Vec<String> = Vec::new();
    for f in &data.figures {
        if !formats.contains(&f.format) {
            formats.push(f.format.clone());
        }
    }
    let cases = codec_cases(data);
    let find =
        |format: &str, case: &str| data.figures.iter().find(|f| f.format == format && f.case() == case);
    let color = |i: usize| PALETTE[i % PALETTE.len()];
    let series = |get: fn(&serialization::CodecFigure) -> Option<f64>| -> Vec<BarSeries> {
        formats
            .iter()
            .enumerate()
            .map(|(i, format)| BarSeries {
                label: format.clone(),
                color: color(i),
                values: cases.iter().map(|case| find(format, case).and_then(get).map(|v| vec![v])).collect(),
            })
            .collect()
    };
    let time_series = series(serialization::CodecFigure::round_trip_ns);
    if time_series.iter().any(|s| s.values.iter().any(Option::is_some)) {
        let frame = Frame {
            title: "Serialization time per message (encode + decode), by format".into(),
            x_desc: "dataset / payload".into(),
            y_desc: "encode + decode time (log scale)".into(),
            width: charts::WIDE,
            plot_height: 320,
        };
        block.charts.push(Chart::drawn(
            charts::grouped_bars(&frame, &cases, &time_series, &[], Scale::Log(Unit::Nanos))?,
            "criterion's mean time to encode one message plus the mean time to decode it; the split is in the \
             table. A missing bar: that case was not timed.",
            true,
        ));
    } else {
        block.charts.push(Chart::missing("Encode/decode times: no criterion estimates were found.", true));
    }
    let size_series = series(|f| f.raw_bytes);
    if size_series.iter().any(|s| s.values.iter().any(Option::is_some)) {
        let frame = Frame {
            title: "Encoded size per message, by format".into(),
            x_desc: "dataset / payload".into(),
            y_desc: "bytes per message, uncompressed (B, log scale)".into(),
            width: charts::WIDE,
            plot_height: 320,
        };
        block.charts.push(Chart::drawn(
            charts::grouped_bars(&frame, &cases, &size_series, &[], Scale::Log(Unit::Number))?,
            "Encoded bytes as each format writes them; gzip and zstd sizes are in the table.",
            true,
        ));
    } else {
        block.charts.push(Chart::missing("Encoded sizes: wirebench-codec-sizes.json was not found.", true));
    }
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
    for case in &cases {
        let in_case: Vec<_> = data.figures.iter().filter(|f| f.case() == *case).collect();
        let fastest = in_case.iter().filter_map(|f| f.round_trip_ns()).fold(f64::INFINITY, f64::min);
        let smallest = in_case.iter().filter_map(|f| f.raw_bytes).fold(f64::INFINITY, f64::min);
        for f in in_case {
            t.rows.push(vec![
                td(f.format.clone()),
                td(case.clone()),
                opt(f.encode_ns, fmt::nanos),
                opt(f.decode_ns, fmt::nanos),
                opt(f.round_trip_ns(), fmt::nanos),
                opt(f.round_trip_ns().map(|v| v / fastest), fmt::ratio),
                opt(f.raw_bytes, fmt::bytes),
                opt(f.gzip_bytes, fmt::bytes),
                opt(f.zstd_bytes, fmt::bytes),
                opt(f.raw_bytes.map(|v| v / smallest), fmt::ratio),
            ]);
        }
    }
    block.tables.push(t);
    block.intro = Some(format!("From the codec benches in {}.", data.dir.display()));
    Ok(vec![block])
}

// ---------------------------------------------------------------------------------------
// CPU

/// One optional figure of a cell.
type CellFigure = fn(&Cell) -> Option<f64>;

pub(super) fn cpu_blocks(view: &View<'_>) -> Result<Vec<Block>, ReportError> {
    let mut blocks = Vec::new();
    let grey = RGBColor(110, 110, 110);
    for payload in view.payloads() {
        if let Some(b) = unmeasured(view, &payload) {
            blocks.push(b);
            continue;
        }
        let ops = view.ops();
        let mut block = Block {
            heading: format!("Payload {payload}"),
            intro: None,
            charts: Vec::new(),
            tables: Vec::new(),
        };
        let series: Vec<BarSeries> = view
            .protocols()
            .iter()
            .map(|p| BarSeries {
                label: p.clone(),
                color: view.color(p),
                values: ops
                    .iter()
                    .map(|op| {
                        let r = &view.closed(&payload, *op, p, None)?.resources;
                        if r.server_cpu_us_per_op.is_none() && r.client_cpu_us_per_op.is_none() {
                            return None;
                        }
                        Some(vec![
                            r.server_cpu_us_per_op.unwrap_or(0.0) * 1e3,
                            r.client_cpu_us_per_op.unwrap_or(0.0) * 1e3,
                        ])
                    })
                    .collect(),
            })
            .collect();
        if series.iter().all(|s| s.values.iter().all(Option::is_none)) {
            block.charts.push(Chart::missing("No CPU time was recorded.", true));
        } else {
            let frame = Frame {
                title: format!("CPU time per operation, server and client ({payload})"),
                x_desc: "operation".into(),
                y_desc: "CPU time per operation".into(),
                width: charts::WIDE,
                plot_height: 320,
            };
            let extra = [
                LegendEntry::new("server (solid)", Mark::Box(grey)),
                LegendEntry::new("client (pale, stacked)", Mark::Box(charts::pale(grey, 0.45))),
            ];
            let groups: Vec<String> = ops.iter().map(|o| o.name().to_owned()).collect();
            let conc = view.levels(&payload).first().copied().unwrap_or(0);
            block.charts.push(Chart::drawn(
                charts::grouped_bars(&frame, &groups, &series, &extra, Scale::Linear(Unit::Nanos))?,
                format!(
                    "Closed loop at c={conc}: server CPU (all its threads) at the bottom, the harness process \
                     stacked on top, each over the recorded window divided by the recorded operations."
                ),
                true,
            ));
        }
        let us = |v: Option<f64>| v.map_or_else(|| td_class("not measured", "na"), |v| td(fmt::micros(v)));
        let sides: [(&str, CellFigure); 2] = [
            ("server CPU per op", |c| c.resources.server_cpu_us_per_op),
            ("client (harness) CPU per op", |c| c.resources.client_cpu_us_per_op),
        ];
        for (side, get) in sides {
            let mut head = vec![side.to_owned()];
            head.extend(ops.iter().map(|o| o.name().to_owned()));
            let mut t = Table::with_head(head);
            for p in view.protocols() {
                let mut row = vec![td(protocol_label(view, &p))];
                for op in &ops {
                    row.push(match view.closed(&payload, *op, &p, None) {
                        Some(c) => us(get(c)),
                        None => td_class("–", "na"),
                    });
                }
                t.rows.push(row);
            }
            block.tables.push(t);
        }
        let rss = view.r.cells.iter().filter(|c| c.payload == payload).fold((None, None), |(s, cl), c| {
            (s.max(c.resources.server_peak_rss_bytes), cl.max(c.resources.client_peak_rss_bytes))
        });
        let mib = |v: Option<u64>| {
            v.map_or_else(|| "not measured".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
        };
        block.intro = Some(format!("Peak resident memory: server {}, client {}.", mib(rss.0), mib(rss.1)));
        blocks.push(block);
    }
    Ok(blocks)
}

// ---------------------------------------------------------------------------------------
// Equivalence

pub(super) fn equivalence_blocks(view: &View<'_>) -> Vec<Block> {
    let eq = &view.r.equivalence;
    let mut payloads: Vec<String> = Vec::new();
    for e in eq {
        if !payloads.contains(&e.payload) {
            payloads.push(e.payload.clone());
        }
    }
    let mut blocks = Vec::new();
    for payload in payloads {
        let rows: Vec<_> = eq.iter().filter(|e| e.payload == payload).collect();
        let mut protocols: Vec<String> = Vec::new();
        let mut ops: Vec<Operation> = Vec::new();
        for e in &rows {
            if !protocols.contains(&e.protocol) {
                protocols.push(e.protocol.clone());
            }
            if !ops.contains(&e.operation) {
                ops.push(e.operation);
            }
        }
        let count = |v: &str| rows.iter().filter(|e| e.verdict == v).count();
        let mut head = vec!["protocol".to_owned()];
        head.extend(ops.iter().map(|o| o.name().to_owned()));
        let mut matrix = Table::with_head(head);
        for p in &protocols {
            let mut row = vec![td(p.clone())];
            for op in &ops {
                row.push(match rows.iter().find(|e| e.protocol == *p && e.operation == *op) {
                    Some(e) => td_class(
                        e.verdict.clone(),
                        match e.verdict.as_str() {
                            "agrees" => "holds",
                            "fails" => "fails",
                            _ => "na",
                        },
                    ),
                    None => td_class("not checked", "na"),
                });
            }
            matrix.rows.push(row);
        }
        // Reasons, one line per distinct (protocol, verdict, detail).
        let mut reasons = Table::new(&["protocol", "verdict", "operations", "reason or difference"]);
        reasons.class = "text";
        let mut seen: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        for e in rows.iter().filter(|e| e.verdict != "agrees") {
            seen.entry((e.protocol.clone(), e.verdict.clone(), e.detail.clone().unwrap_or_default()))
                .or_default()
                .push(e.operation.name().to_owned());
        }
        for ((p, v, d), ops) in seen {
            let class = if v == "fails" { "fails" } else { "" };
            reasons.rows.push(vec![td(p), td_class(v, class), td(ops.join(", ")), td(d)]);
        }
        let mut tables = vec![matrix];
        if !reasons.rows.is_empty() {
            tables.push(reasons);
        }
        blocks.push(Block {
            heading: format!("Payload {payload}"),
            intro: Some(format!(
                "{} (protocol, operation) pairs checked against the reference store before timing: {} agree, {} \
                 unsupported, {} fail (failures are not timed).",
                rows.len(),
                count("agrees"),
                count("unsupported"),
                count("fails")
            )),
            charts: Vec::new(),
            tables,
        });
    }
    blocks
}

// ---------------------------------------------------------------------------------------
// Method

pub(super) fn method_notes(view: &View<'_>) -> Vec<MethodNote> {
    let o = &view.r.options;
    vec![
        MethodNote {
            title: "Bytes",
            text: "Every byte each client socket wrote and read during an operation, counted by a wrapper \
                   around the client's TCP stream (checked against the kernel's TCP_INFO to the byte by a test). \
                   Payload is what the client's codec serialized (bodies, protobuf messages, JSON texts); \
                   overhead is the rest of the operation's bytes (HTTP start lines and headers, HTTP/2 frames \
                   and HPACK, gRPC prefixes, WebSocket frame headers and masks, length prefixes). Set-up is what \
                   a connection exchanged until ready (HTTP/2 preface and SETTINGS, WebSocket upgrade), reported \
                   per connection and not included in the per-operation figures. Figures are means over the \
                   recorded operations of a cell."
                .into(),
        },
        MethodNote {
            title: "TCP/IP headers",
            text: "An estimate, not a count: the kernel's segment counts for the connections × 52 bytes \
                   (IPv4 + TCP with timestamps), per operation, both directions."
                .into(),
        },
        MethodNote {
            title: "Round trips and turns",
            text: "Round trips are the requests an operation waited for in sequence, as the client issued them. \
                   Turns are direction changes seen on the socket: a request and its answer are two."
                .into(),
        },
        MethodNote {
            title: "Latency",
            text: format!(
                "HdrHistogram in nanoseconds, 3 significant figures, kept whole in results.json. Closed loop: \
                 C workers send back to back, one connection each, latency from send to the last byte of the \
                 answer. Open loop: requests are due at a fixed rate ({}), latency runs from the intended send \
                 time (corrected for coordinated omission); the uncorrected figure from the actual send is kept \
                 too. {} s of warm-up per cell is never recorded; {} s is recorded. Streams also record each \
                 message's arrival from the start of its call.",
                o.rate.map_or_else(|| "no open-loop point in this run".into(), fmt::rate),
                o.warmup_s,
                o.duration_s
            ),
        },
        MethodNote {
            title: "The floor",
            text: format!(
                "{} is length-prefixed protobuf over raw TCP: no HTTP at all. It measures the machine's own \
                 request/response cost; every protocol's latency is also shown as overhead above it, for the \
                 same operation and concurrency.",
                view.floor.as_deref().unwrap_or("The floor protocol (not in this run)")
            ),
        },
        MethodNote {
            title: "Throughput",
            text: "Recorded operations divided by the recorded time, all workers of a cell together.".into(),
        },
        MethodNote {
            title: "CPU and memory",
            text: "The harness process via getrusage; the server child via the sum of its threads' \
                   /proc/PID/task/*/schedstat; both over the recorded window, divided by the recorded operations. \
                   The harness figure includes the load generator's own work. Peak RSS from the kernel."
                .into(),
        },
        MethodNote {
            title: "Serialization",
            text: "criterion benches of encode and decode for each format on each payload (cargo bench -p \
                   wirebench --bench codecs): serde_json, prost, a GraphQL execution with its JSON response and \
                   the WebSocket envelope, each on a user and a page of orders. The page shows criterion's mean \
                   time per call from its estimates.json, and the encoded sizes raw, gzip and zstd."
                .into(),
        },
        MethodNote {
            title: "Equivalence",
            text: "Before anything is timed, every protocol runs every operation once and its answer, decoded \
                   to domain types, is compared with the reference store. A protocol that disagrees is \
                   reported and never timed."
                .into(),
        },
        MethodNote {
            title: "Which cell a figure comes from",
            text: "Per-operation bytes, round trips, latency spectra and CPU use each (payload, operation, \
                   protocol)'s closed-loop cell at the lowest concurrency run; throughput uses every closed-loop \
                   level; the open-loop section uses the open-loop cells."
                .into(),
        },
    ]
}
