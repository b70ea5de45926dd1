//! Scatter plots: one marker per point, one colour per named series, one panel per
//! group (for example accuracy against `lambda_min`, one panel per dataset and size).

use super::style::{self, LABEL_SIZE, PANEL};
use super::{check_series, color, drawing, padded_range, register_fonts, PlotError};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// One named set of points (drawn in one colour).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScatterSeries {
    /// Legend name. The same name gets the same colour in every panel.
    pub name: String,
    /// X values.
    pub x: Vec<f64>,
    /// Y values (as many as `x`).
    pub y: Vec<f64>,
}

/// One panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScatterPanel {
    /// Panel title.
    pub title: String,
    /// Series.
    pub series: Vec<ScatterSeries>,
}

/// Input of [`draw_scatter`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScatterData {
    /// Figure title.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Panels, left to right.
    pub panels: Vec<ScatterPanel>,
}

pub(crate) fn size(data: &ScatterData) -> (u32, u32) {
    (20 + 480 * data.panels.len().max(1) as u32, 460)
}

/// Draws one panel per group side by side, one filled circle per point.
///
/// ```
/// use archconv::plot::{scatter_svg_string, ScatterData, ScatterPanel, ScatterSeries};
/// let data = ScatterData { title: "t".into(), x_label: "x".into(), y_label: "y".into(),
///     panels: vec![ScatterPanel { title: "MNIST".into(), series: vec![ScatterSeries {
///         name: "NNGP".into(), x: vec![1.0, 2.0], y: vec![0.5, 0.7] }] }] };
/// let svg = scatter_svg_string(&data)?;
/// assert!(svg.contains("MNIST") && svg.contains("NNGP"));
/// # Ok::<(), archconv::plot::PlotError>(())
/// ```
pub fn draw_scatter<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &ScatterData,
) -> Result<(), PlotError> {
    const FIG: &str = "scatter";
    register_fonts()?;
    if data.panels.is_empty() {
        return Err(PlotError::Empty {
            figure: FIG,
            what: "panels".to_string(),
        });
    }
    let mut names: Vec<&str> = Vec::new();
    for p in &data.panels {
        if p.series.iter().all(|s| s.x.is_empty()) {
            return Err(PlotError::Empty {
                figure: FIG,
                what: format!("panel {}", p.title),
            });
        }
        for s in &p.series {
            check_series(FIG, &s.name, "x", &s.x, None, false)?;
            check_series(FIG, &s.name, "y", &s.y, Some(s.x.len()), false)?;
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
    }
    let panels = style::titled_panels(area, &data.title, data.panels.len(), FIG)?;
    for (p, sub) in data.panels.iter().zip(&panels) {
        let xr = padded_range(p.series.iter().flat_map(|s| s.x.iter().copied()), 0.05);
        let yr = padded_range(p.series.iter().flat_map(|s| s.y.iter().copied()), 0.05);
        let mut chart = style::chart(sub, &PANEL, &p.title, 60, xr.0..xr.1, yr.0..yr.1, FIG)?;
        style::mesh(&mut chart, &PANEL, &data.x_label, &data.y_label)
            .draw()
            .map_err(drawing(FIG))?;
        for s in &p.series {
            let col = color(names.iter().position(|n| *n == s.name).unwrap_or(0));
            chart
                .draw_series(
                    s.x.iter()
                        .zip(&s.y)
                        .map(|(&x, &y)| Circle::new((x, y), 4, col.mix(0.8).filled())),
                )
                .map_err(drawing(FIG))?
                .label(s.name.clone())
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, col.filled()));
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerRight, LABEL_SIZE, FIG)?;
    }
    Ok(())
}
