//! Bars: horizontal stacked bars and grouped (optionally stacked) vertical bars.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Axis, ChartError, Ctx, Frame, INK, LegendEntry, Mark, Unit, pale, plot};

/// One row of a horizontal stacked bar chart.
#[derive(Debug, Clone)]
pub struct HBar {
    pub label: String,
    /// Segments left to right: (length, colour).
    pub segments: Vec<(f64, RGBColor)>,
    /// Text written after the bar (e.g. its total).
    pub note: String,
}

/// Horizontal stacked bars, first row at the top.
pub fn hbars(
    title: &str,
    x_desc: &str,
    rows: &[HBar],
    legend: &[LegendEntry],
    width: u32,
) -> Result<String, ChartError> {
    let totals: Vec<f64> = rows.iter().map(|r| r.segments.iter().map(|s| s.0.max(0.0)).sum()).collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    let x = Axis::Linear { min: 0.0, max: if max > 0.0 { max * 1.22 } else { 1.0 }, unit: Unit::Number };
    let n = rows.len();
    let y = Axis::Categories(rows.iter().rev().map(|r| r.label.clone()).collect());
    let frame = Frame {
        title: title.into(),
        x_desc: x_desc.into(),
        y_desc: String::new(),
        width,
        plot_height: 60 + 22 * n as u32,
    };
    plot(&frame, (&x, &y), legend, rows.len(), |chart| {
        let note_style = ("sans-serif", 11).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, row) in rows.iter().enumerate() {
            let yc = (n - 1 - i) as f64;
            let mut x0 = 0.0;
            for (len, color) in &row.segments {
                if *len <= 0.0 {
                    continue;
                }
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, yc - 0.36), (x0 + len, yc + 0.36)],
                    color.filled(),
                )))?;
                x0 += len;
            }
            if !row.note.is_empty() {
                chart.draw_series(std::iter::once(
                    EmptyElement::at((x0, yc)) + Text::new(row.note.clone(), (5, 0), note_style.clone()),
                ))?;
            }
        }
        Ok(())
    })
}

/// One series of a grouped bar chart: a value (or a stack of values) per group.
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub label: String,
    pub color: RGBColor,
    /// Per group: `None` (not measured) or the stacked parts, bottom first. The first part
    /// is drawn in the colour, the next ones paler.
    pub values: Vec<Option<Vec<f64>>>,
    /// Per group, the 95 % interval of the bar's top (across repeats), drawn as a whisker;
    /// empty or `None` where there is none.
    pub intervals: Vec<Option<(f64, f64)>>,
}

/// The value axis of a bar chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear(Unit),
    /// Logarithmic: for values spanning orders of magnitude. Bars are not stacked (only the
    /// first part of each value is drawn).
    Log(Unit),
}

/// Vertical bars: one group per category, one bar per series in each group.
pub fn grouped_bars(
    frame: &Frame,
    groups: &[String],
    series: &[BarSeries],
    extra_legend: &[LegendEntry],
    scale: Scale,
) -> Result<String, ChartError> {
    let stack_tops = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().map(|v| v.iter().sum::<f64>()))
        .chain(series.iter().flat_map(|s| s.intervals.iter().flatten().map(|i| i.1)));
    let y = match scale {
        Scale::Linear(unit) => Axis::linear_from_zero(stack_tops, unit),
        Scale::Log(unit) => Axis::log_covering(
            series
                .iter()
                .flat_map(|s| s.values.iter().flatten().filter_map(|v| v.first().copied()))
                .chain(series.iter().flat_map(|s| s.intervals.iter().flatten().flat_map(|i| [i.0, i.1]))),
            unit,
        ),
    };
    let floor = y.range().start;
    let x = Axis::Categories(groups.to_vec());
    let mut legend: Vec<LegendEntry> =
        series.iter().map(|s| LegendEntry::new(s.label.clone(), Mark::Box(s.color))).collect();
    legend.extend(extra_legend.iter().cloned());
    let k = series.len().max(1) as f64;
    let slot = 0.84 / k;
    plot(frame, (&x, &y), &legend, series.len(), |chart| {
        for (si, s) in series.iter().enumerate() {
            for (gi, v) in s.values.iter().enumerate() {
                let Some(parts) = v else { continue };
                let left = gi as f64 - 0.42 + slot * si as f64;
                let (x0, x1) = (left + slot * 0.06, left + slot * 0.94);
                if let Scale::Log(_) = scale {
                    let Some(v) = parts.first().filter(|v| **v > 0.0) else { continue };
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(x0, floor), (x1, y.coord(*v))],
                        s.color.filled(),
                    )))?;
                    continue;
                }
                let mut base = 0.0;
                for (pi, part) in parts.iter().enumerate() {
                    let color = if pi == 0 { s.color } else { pale(s.color, 0.45 / pi as f64) };
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(x0, base), (x1, base + part)],
                        color.filled(),
                    )))?;
                    base += part;
                }
            }
            for (gi, interval) in s.intervals.iter().enumerate() {
                let Some((lo, hi)) = interval else { continue };
                let mid = gi as f64 - 0.42 + slot * (si as f64 + 0.5);
                whisker(chart, mid, slot * 0.22, (y.coord(*lo).max(floor), y.coord(*hi)))?;
            }
        }
        Ok(())
    })
}

/// A 95 % interval drawn as an I-beam at `x`, `cap` wide, from `lo` to `hi` (drawn coordinates).
pub(super) fn whisker(
    chart: &mut Ctx<'_, '_>,
    x: f64,
    cap: f64,
    (lo, hi): (f64, f64),
) -> Result<(), ChartError> {
    let style = INK.stroke_width(1);
    let (l, r) = (x - cap / 2.0, x + cap / 2.0);
    let paths = [vec![(x, lo), (x, hi)], vec![(l, lo), (r, lo)], vec![(l, hi), (r, hi)]];
    chart.draw_series(paths.into_iter().map(|pts| PathElement::new(pts, style)))?;
    Ok(())
}
