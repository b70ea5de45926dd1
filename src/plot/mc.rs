//! Monte Carlo error against width on log-log axes: the finite-width Gram's distance to a
//! closed-form kernel shrinks like `m^{-1/2}` when that kernel is the right limit
//! (PAPER.md section 6), and levels off when it is not.

use super::style::{self, FIGURE, LABEL_SIZE};
use super::{check_series, color, drawing, register_fonts, PlotError};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

pub(crate) const SIZE: (u32, u32) = (820, 540);

/// One kernel's error curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McSeries {
    /// Legend name, e.g. `exact` or `path-sum`.
    pub name: String,
    /// Widths `m` (positive).
    pub widths: Vec<f64>,
    /// Mean error at each width (positive).
    pub error: Vec<f64>,
    /// Standard deviation (or standard error) of the error at each width, drawn as error
    /// bars; `None` for no bars.
    pub error_std: Option<Vec<f64>>,
}

/// Input of [`draw_mc_error`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McErrorData {
    /// Figure title.
    pub title: String,
    /// Y-axis label (what the error measures).
    pub y_label: String,
    /// One series per kernel.
    pub series: Vec<McSeries>,
    /// Draw the `C m^{-1/2}` guide through the first point of the first series.
    pub guide: bool,
}

impl McErrorData {
    /// Empty data with the default title, label and the guide line on.
    pub fn new() -> McErrorData {
        McErrorData {
            title: "Monte Carlo Gram error vs width".to_string(),
            y_label: "relative error ‖K_m − K‖_F / ‖K‖_F".to_string(),
            series: Vec::new(),
            guide: true,
        }
    }
}

impl Default for McErrorData {
    fn default() -> Self {
        McErrorData::new()
    }
}

/// Draws the error curves on log-log axes with optional error bars (clipped at the axis
/// bottom where `mean - std <= 0`) and the `m^{-1/2}` guide (dashed grey).
///
/// ```
/// use archconv::plot::{mc_error_svg_string, McErrorData, McSeries};
/// let widths = vec![64.0, 256.0, 1024.0];
/// let mut data = McErrorData::new();
/// data.series.push(McSeries { name: "exact".into(), error: widths.iter().map(|m: &f64| 1.0 / m.sqrt()).collect(), widths, error_std: None });
/// assert!(mc_error_svg_string(&data)?.contains("width m"));
/// # Ok::<(), archconv::plot::PlotError>(())
/// ```
pub fn draw_mc_error<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &McErrorData,
) -> Result<(), PlotError> {
    const FIG: &str = "Monte Carlo error";
    register_fonts()?;
    if data.series.iter().all(|s| s.widths.is_empty()) {
        return Err(PlotError::Empty {
            figure: FIG,
            what: "series".to_string(),
        });
    }
    for s in &data.series {
        check_series(FIG, &s.name, "widths", &s.widths, None, true)?;
        check_series(FIG, &s.name, "error", &s.error, Some(s.widths.len()), true)?;
        if let Some(sd) = &s.error_std {
            check_series(FIG, &s.name, "error_std", sd, Some(s.widths.len()), false)?;
        }
    }
    area.fill(&WHITE).map_err(drawing(FIG))?;
    let xs = || data.series.iter().flat_map(|s| s.widths.iter().copied());
    let (xmin, xmax) = xs().fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let lows = data.series.iter().flat_map(|s| {
        s.error.iter().enumerate().map(move |(i, &e)| {
            let sd = s.error_std.as_ref().map_or(0.0, |v| v[i]);
            if e - sd > 0.0 {
                e - sd
            } else {
                e
            }
        })
    });
    let highs = data.series.iter().flat_map(|s| {
        s.error
            .iter()
            .enumerate()
            .map(move |(i, &e)| e + s.error_std.as_ref().map_or(0.0, |v| v[i]))
    });
    let ymin = lows.fold(f64::INFINITY, f64::min);
    let ymax = highs.fold(0.0f64, f64::max);
    let (x0, x1) = (xmin / 1.5, xmax * 1.5);
    let (y0, y1) = (ymin / 2.0, ymax * 2.0);
    let (x, y) = ((x0..x1).log_scale(), (y0..y1).log_scale());
    let mut chart = style::chart(area, &FIGURE, &data.title, 72, x, y, FIG)?;
    let x_desc = "width m (neurons per layer)";
    style::mesh(&mut chart, &FIGURE, x_desc, &data.y_label)
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(drawing(FIG))?;
    if data.guide {
        if let Some(s) = data.series.iter().find(|s| !s.widths.is_empty()) {
            let (m0, e0) = (s.widths[0], s.error[0]);
            let guide = |m: f64| e0 * (m0 / m).sqrt();
            let grey = RGBColor(120, 120, 120);
            chart
                .draw_series(DashedLineSeries::new(
                    (0..=40)
                        .map(|i| {
                            let m = x0 * (x1 / x0).powf(i as f64 / 40.0);
                            (m, guide(m))
                        })
                        .filter(|&(_, y)| y >= y0 && y <= y1),
                    8,
                    5,
                    grey.stroke_width(2),
                ))
                .map_err(drawing(FIG))?
                .label("∝ m^(−1/2) guide")
                .legend(style::line_sample(grey.stroke_width(2)));
        }
    }
    for (i, s) in data.series.iter().enumerate() {
        let col = color(i);
        let pts: Vec<(f64, f64)> = s
            .widths
            .iter()
            .copied()
            .zip(s.error.iter().copied())
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
            .map_err(drawing(FIG))?
            .label(s.name.as_str())
            .legend(style::line_sample(col.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, col.filled())))
            .map_err(drawing(FIG))?;
        if let Some(sd) = &s.error_std {
            chart
                .draw_series(pts.iter().zip(sd).map(|(&(m, e), &d)| {
                    let lo = if e - d > y0 { e - d } else { y0 };
                    ErrorBar::new_vertical(m, lo, e, (e + d).min(y1), col.stroke_width(1), 8)
                }))
                .map_err(drawing(FIG))?;
        }
    }
    style::legend(
        &mut chart,
        SeriesLabelPosition::MiddleRight,
        LABEL_SIZE,
        FIG,
    )
}
