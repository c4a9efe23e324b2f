//! Lines over two axes.

use super::{Axis, ChartError, Frame, LegendEntry, Mark, plot};
use plotters::prelude::*;

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
}

/// One line of a line chart, in data units (the axes transform them).
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub color: RGBColor,
    pub stroke: Stroke,
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at every point (for sparse data such as concurrency levels).
    pub markers: bool,
    /// Leave the line out of the legend (when an extra entry explains it).
    pub in_legend: bool,
    /// 95 % intervals across repeats, drawn as whiskers: (x, low, high) in data units.
    pub intervals: Vec<(f64, f64, f64)>,
}

/// Lines over two axes.
pub fn lines(
    frame: &Frame,
    x: &Axis,
    y: &Axis,
    series: &[Line],
    extra_legend: &[LegendEntry],
) -> Result<String, ChartError> {
    let mut legend: Vec<LegendEntry> = series
        .iter()
        .filter(|l| l.in_legend)
        .map(|l| {
            let mark = match l.stroke {
                Stroke::Solid => Mark::Line(l.color),
                Stroke::Dashed => Mark::Dashed(l.color),
            };
            LegendEntry::new(l.label.clone(), mark)
        })
        .collect();
    legend.extend(extra_legend.iter().cloned());
    plot(frame, (x, y), &legend, series.len(), |chart| {
        for l in series {
            let pts: Vec<(f64, f64)> = l.points.iter().map(|(a, b)| (x.coord(*a), y.coord(*b))).collect();
            let style = l.color.stroke_width(2);
            match l.stroke {
                Stroke::Solid => {
                    chart.draw_series(LineSeries::new(pts.clone(), style))?;
                }
                Stroke::Dashed => {
                    chart.draw_series(DashedLineSeries::new(pts.clone(), 7, 5, style))?;
                }
            }
            for (xi, lo, hi) in &l.intervals {
                super::bars::whisker(chart, x.coord(*xi), 0.08, (y.coord(*lo), y.coord(*hi)))?;
            }
            if l.markers {
                chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, l.color.filled())))?;
            }
        }
        Ok(())
    })
}
