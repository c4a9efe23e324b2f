//! The report's charts, drawn with plotters into SVG strings that the page inlines.
//!
//! Three shapes cover every figure: horizontal stacked bars ([`hbars`]), grouped (optionally
//! stacked) vertical bars ([`grouped_bars`]) and lines ([`lines`]). Every chart has a title,
//! axis descriptions with units and a legend, drawn in a strip under the title so it never
//! covers data. Axes are always plain `f64` ranges with tick positions chosen here
//! ([`Axis`]): a log axis is drawn as log10 of the values, the percentile axis of a latency
//! spectrum as "nines" (`-log10(1 - q)`), and categories as 0, 1, 2, … with names as labels.
//! That keeps one coordinate type for all charts.

use std::ops::Range;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod bars;
mod lines;

pub use self::bars::{BarSeries, HBar, Scale, grouped_bars, hbars};
pub use self::lines::{Line, Stroke, lines};

/// The font plotters measures text with (the SVG names `sans-serif`; browsers use their own).
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static FONT_ONCE: Once = Once::new();

fn register_font() {
    FONT_ONCE.call_once(|| {
        // The font is compiled in and known to parse (checked by a test).
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A chart could not be drawn (plotters reported an error).
#[derive(Debug, thiserror::Error)]
#[error("drawing a chart: {0}")]
pub struct ChartError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError(e.to_string())
    }
}

/// Width of a chart that spans the page.
pub const WIDE: u32 = 1100;
/// Width of a chart in the two-column grid.
pub const NARROW: u32 = 545;

/// What the numbers on an axis are, for tick labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Plain numbers (bytes, counts, µs, operations per second): the axis description names the unit.
    Number,
    /// Nanoseconds, labelled with a unit on every tick (ns, µs, ms, s).
    Nanos,
}

/// One axis of a chart.
#[derive(Debug, Clone)]
pub enum Axis {
    /// Linear from `min` to `max`.
    Linear { min: f64, max: f64, unit: Unit },
    /// Logarithmic from `min` to `max` (both > 0); drawn as log10 of the values.
    Log { min: f64, max: f64, unit: Unit },
    /// Percentiles as "nines": 0 → 0 %, 1 → 90 %, 2 → 99 %, 3 → 99.9 %, … up to `max`.
    Nines { max: u32 },
    /// Named categories at 0, 1, 2, …
    Categories(Vec<String>),
}

impl Axis {
    /// A linear axis from 0 (or below, for negative data) to a little above the largest value.
    pub fn linear_from_zero(values: impl IntoIterator<Item = f64>, unit: Unit) -> Axis {
        let (lo, hi) = values
            .into_iter()
            .filter(|v| v.is_finite())
            .fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let hi = if hi <= 0.0 && lo >= 0.0 { 1.0 } else { hi };
        let pad = (hi - lo) * 0.08;
        Axis::Linear { min: if lo < 0.0 { lo - pad } else { 0.0 }, max: hi + pad, unit }
    }

    /// A log axis that covers the positive values with some room.
    pub fn log_covering(values: impl IntoIterator<Item = f64>, unit: Unit) -> Axis {
        let (lo, hi) = values
            .into_iter()
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if !lo.is_finite() {
            return Axis::Log { min: 1.0, max: 10.0, unit };
        }
        Axis::Log { min: lo / 1.25, max: (hi * 1.25).max(lo * 2.0), unit }
    }

    /// Where a data value sits on the drawn axis.
    pub fn coord(&self, v: f64) -> f64 {
        match self {
            Axis::Log { .. } => v.max(f64::MIN_POSITIVE).log10(),
            _ => v,
        }
    }

    fn range(&self) -> Range<f64> {
        match self {
            Axis::Linear { min, max, .. } => *min..*max,
            Axis::Log { min, max, .. } => min.log10()..max.log10(),
            Axis::Nines { max } => 0.0..f64::from(*max),
            Axis::Categories(names) => -0.5..names.len() as f64 - 0.5,
        }
    }

    fn ticks(&self) -> Vec<f64> {
        match self {
            Axis::Linear { min, max, .. } => nice_ticks(*min, *max),
            Axis::Log { min, max, .. } => log_ticks(*min, *max),
            Axis::Nines { max } => (0..=*max).map(f64::from).collect(),
            Axis::Categories(names) => (0..names.len()).map(|i| i as f64).collect(),
        }
    }

    fn label(&self, c: f64) -> String {
        match self {
            Axis::Linear { unit, .. } => unit_label(c, *unit),
            Axis::Log { unit, .. } => unit_label(10f64.powf(c), *unit),
            Axis::Nines { .. } => nines_label(c),
            Axis::Categories(names) => {
                let i = c.round();
                if i >= 0.0 && (i as usize) < names.len() { names[i as usize].clone() } else { String::new() }
            }
        }
    }

    fn is_categories(&self) -> bool {
        matches!(self, Axis::Categories(_))
    }
}

/// "0%", "90%", "99%", "99.9%", … for a position on a nines axis.
pub fn nines_label(x: f64) -> String {
    if x <= 0.0 {
        return "0%".into();
    }
    let pct = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.ceil() as usize).saturating_sub(2);
    format!("{pct:.decimals$}%")
}

fn unit_label(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Number => tick_number(v),
        Unit::Nanos if v == 0.0 => "0".into(),
        Unit::Nanos => {
            let a = v.abs();
            let (scaled, unit) = if a < 1e3 {
                (v, "ns")
            } else if a < 1e6 {
                (v / 1e3, "µs")
            } else if a < 1e9 {
                (v / 1e6, "ms")
            } else {
                (v / 1e9, "s")
            };
            format!("{} {unit}", tick_number(scaled))
        }
    }
}

/// A tick number without noise: 0, 2.5, 1200, 15k, 2.5M.
fn tick_number(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let mut s = format!("{scaled:.2}");
    while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
        s.pop();
    }
    if s == "-0" {
        s = "0".into();
    }
    s + suffix
}

/// Ticks at 1, 2, 2.5 or 5 × 10^k steps, about five of them.
fn nice_ticks(min: f64, max: f64) -> Vec<f64> {
    let span = max - min;
    if span.is_nan() || span <= 0.0 {
        return vec![min];
    }
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(mag * 10.0);
    let first = (min / step).ceil() as i64;
    let last = (max / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Ticks (as log10) at 1, 2, 5 × 10^k, or only powers of ten over a wide range.
fn log_ticks(min: f64, max: f64) -> Vec<f64> {
    let (lo, hi) = (min.log10().floor() as i32, max.log10().ceil() as i32);
    let mults: &[f64] = if hi - lo > 3 { &[1.0] } else { &[1.0, 2.0, 5.0] };
    let mut out = Vec::new();
    for e in lo..=hi {
        for m in mults {
            let v = m * 10f64.powi(e);
            if v >= min && v <= max {
                out.push(v.log10());
            }
        }
    }
    if out.len() < 2 {
        out = vec![min.log10(), max.log10()];
    }
    out
}

/// A colour blended with white: `t` = 1 is the colour, 0 is white.
pub fn pale(c: RGBColor, t: f64) -> RGBColor {
    let mix = |v: u8| (f64::from(v) * t + 255.0 * (1.0 - t)).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    Box(RGBColor),
    Line(RGBColor),
    Dashed(RGBColor),
}

/// One legend entry.
#[derive(Debug, Clone)]
pub struct LegendEntry {
    pub label: String,
    pub mark: Mark,
    /// A key to how marks are drawn (solid vs dashed, pale vs full), not a series of its own:
    /// no data mark carries its exact colour.
    pub key: bool,
}

impl LegendEntry {
    /// A series: the plot has at least one mark in this colour.
    pub fn new(label: impl Into<String>, mark: Mark) -> Self {
        LegendEntry { label: label.into(), mark, key: false }
    }

    /// A key to the marks' styles (see [`LegendEntry::key`]).
    pub fn key(label: impl Into<String>, mark: Mark) -> Self {
        LegendEntry { label: label.into(), mark, key: true }
    }

    fn color(&self) -> RGBColor {
        match self.mark {
            Mark::Box(c) | Mark::Line(c) | Mark::Dashed(c) => c,
        }
    }
}

/// Writes on the `<svg>` element what the chart claims to show, for checks that read the
/// drawing: `data-plot` is the plotting area (x0 y0 x1 y1, in the SVG's own coordinates) and
/// `data-series` the series the legend names, as JSON `[[label, "#rrggbb"], …]`.
fn annotate(svg: &str, plot: (Range<i32>, Range<i32>), legend: &[LegendEntry]) -> String {
    let series: Vec<(&str, String)> = legend
        .iter()
        .filter(|e| !e.key)
        .map(|e| {
            let c = e.color();
            (e.label.as_str(), format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2))
        })
        .collect();
    let json = serde_json::to_string(&series).expect("strings serialize");
    let attr = json.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    let (x, y) = plot;
    let tag = format!(r#"<svg data-plot="{} {} {} {}" data-series="{attr}""#, x.start, y.start, x.end, y.end);
    svg.replacen("<svg", &tag, 1)
}

/// What every chart has.
#[derive(Debug, Clone)]
pub struct Frame {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub width: u32,
    /// Height of the plotting part (title and legend come on top).
    pub plot_height: u32,
}

/// A linear `f64` range whose ticks are exactly the given positions (plotters' own f64
/// range picks its ticks itself, and its `WithKeyPoints` wrapper loses the label formatter).
#[derive(Debug, Clone)]
struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let t = if span > 0.0 { (value - self.range.start) / span } else { 0.5 };
        limit.0 + (f64::from(limit.1 - limit.0) * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

type Coords = Cartesian2d<Ticked, Ticked>;
type Ctx<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Coords>;

const TITLE_SIZE: u32 = 17;
const LABEL_SIZE: u32 = 12;
const LEGEND_ROW: u32 = 20;
const LEGEND_LEFT: u32 = 14;
const GRID: RGBColor = RGBColor(226, 229, 233);
const INK: RGBColor = RGBColor(40, 44, 52);

fn text_width(area: &DrawingArea<SVGBackend<'_>, Shift>, text: &str, size: u32) -> Result<u32, ChartError> {
    Ok(area.estimate_text_size(text, &("sans-serif", size).into_text_style(area))?.0)
}

/// Lays the legend out in rows; returns each entry's (row, x) and the number of rows.
fn legend_layout(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    legend: &[LegendEntry],
    width: u32,
) -> Result<(Vec<(u32, u32)>, u32), ChartError> {
    let (mut row, mut x) = (0, LEGEND_LEFT);
    let mut at = Vec::with_capacity(legend.len());
    for e in legend {
        let w = 24 + text_width(area, &e.label, LABEL_SIZE)? + 14;
        if x + w > width.saturating_sub(10) && x > LEGEND_LEFT {
            row += 1;
            x = LEGEND_LEFT;
        }
        at.push((row, x));
        x += w;
    }
    Ok((at, if legend.is_empty() { 0 } else { row + 1 }))
}

fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    legend: &[LegendEntry],
    at: &[(u32, u32)],
) -> Result<(), ChartError> {
    let style = ("sans-serif", LABEL_SIZE).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (e, (row, x)) in legend.iter().zip(at) {
        let (x, y) = (*x as i32, (*row * LEGEND_ROW + LEGEND_ROW / 2) as i32);
        match e.mark {
            Mark::Box(c) => {
                area.draw(&Rectangle::new([(x, y - 6), (x + 18, y + 6)], c.filled()))?;
            }
            Mark::Line(c) => {
                area.draw(&PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)))?;
            }
            Mark::Dashed(c) => {
                for dx in [0, 8, 16] {
                    area.draw(&PathElement::new(
                        vec![(x + dx, y), (x + (dx + 4).min(18), y)],
                        c.stroke_width(3),
                    ))?;
                }
            }
        }
        area.draw(&Text::new(e.label.clone(), (x + 24, y), style.clone()))?;
    }
    Ok(())
}

/// Draws the frame (title, legend, axes) and lets `body` draw the data.
/// The most bars or lines of one series each that a chart may draw (a reader cannot tell
/// more apart): the sections split their variants by family to stay under it.
pub const MAX_MARKS: usize = 12;

/// Draws a chart of `marks` bars or lines (one per series, or per row of horizontal bars);
/// refuses more than [`MAX_MARKS`].
fn plot(
    frame: &Frame,
    (x, y): (&Axis, &Axis),
    legend: &[LegendEntry],
    marks: usize,
    body: impl FnOnce(&mut Ctx<'_, '_>) -> Result<(), ChartError>,
) -> Result<String, ChartError> {
    if marks > MAX_MARKS {
        return Err(ChartError(format!(
            "{}: {marks} bars or lines, more than the {MAX_MARKS} a chart may draw",
            frame.title
        )));
    }
    register_font();
    let mut svg = String::new();
    let plot_pixels;
    {
        // First pass on a scratch area to measure the legend and the y labels.
        let mut scratch = String::new();
        let probe = SVGBackend::with_string(&mut scratch, (frame.width, 100)).into_drawing_area();
        let (at, rows) = legend_layout(&probe, legend, frame.width)?;
        let y_ticks = y.ticks();
        let y_label_w = y_ticks
            .iter()
            .map(|t| text_width(&probe, &y.label(*t), LABEL_SIZE))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .max()
            .unwrap_or(20);
        drop(probe);

        let legend_h = rows * LEGEND_ROW + 6;
        let title_h = TITLE_SIZE + 14;
        let height = title_h + legend_h + frame.plot_height;
        let root = SVGBackend::with_string(&mut svg, (frame.width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (title_area, rest) = root.split_vertically(title_h);
        title_area.draw(&Text::new(
            frame.title.clone(),
            (12, 7),
            ("sans-serif", TITLE_SIZE).into_font().style(FontStyle::Bold).color(&INK),
        ))?;
        let (legend_area, plot_area) = rest.split_vertically(legend_h);
        draw_legend(&legend_area, legend, &at)?;

        let mut chart = ChartBuilder::on(&plot_area)
            .margin_top(6)
            .margin_right(24)
            .margin_left(8)
            .margin_bottom(4)
            .x_label_area_size(44)
            .y_label_area_size(y_label_w + 34)
            .build_cartesian_2d(
                Ticked { range: x.range(), ticks: x.ticks() },
                Ticked { range: y.range(), ticks: y_ticks },
            )?;
        let x_fmt = |v: &f64| x.label(*v);
        let y_fmt = |v: &f64| y.label(*v);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(frame.x_desc.clone())
            .y_desc(frame.y_desc.clone())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", LABEL_SIZE).into_font().color(&INK))
            .axis_desc_style(("sans-serif", 13).into_font().color(&INK))
            .bold_line_style(GRID)
            .axis_style(RGBColor(120, 126, 134));
        if x.is_categories() {
            mesh.disable_x_mesh();
        }
        if y.is_categories() {
            mesh.disable_y_mesh();
        }
        mesh.draw()?;
        body(&mut chart)?;
        plot_pixels = chart.plotting_area().get_pixel_range();
        root.present()?;
    }
    Ok(annotate(&svg, plot_pixels, legend).replacen("<svg", &format!(r#"<svg data-marks="{marks}""#), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_parses_and_a_chart_draws() {
        let svg = hbars(
            "t",
            "bytes (B)",
            &[HBar { label: "a".into(), segments: vec![(3.0, RED)], note: "3 B".into() }],
            &[LegendEntry::new("x", Mark::Box(RED))],
            NARROW,
        )
        .unwrap();
        assert!(svg.contains("<svg") && svg.contains("3 B"));
        // The chart says what it shows: its plotting area and the one series it names.
        assert!(svg.contains(r#"data-series="[[&quot;x&quot;,&quot;#ff0000&quot;]]""#), "{svg:.300}");
        assert!(svg.contains("data-plot=\""));
    }

    #[test]
    fn nines_labels() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(4.0), "99.99%");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(tick_number(15000.0), "15k");
        assert_eq!(tick_number(2.5), "2.5");
        let t = log_ticks(100.0, 10_000.0);
        assert_eq!(t.first().copied(), Some(2.0));
    }
}
