//! Training curves (the paper's Fig. 4): accuracy against epoch, mean ± std over runs as
//! a line with a shaded band, one colour per DAG, one panel per dataset.

use super::style::{self, LABEL_SIZE, PANEL};
use super::{check_series, color, drawing, padded_range, register_fonts, PlotError};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// One DAG's curve on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingCurve {
    /// Legend name, e.g. `DAG#3`. The same name gets the same colour in every panel.
    pub name: String,
    /// Epochs (x values).
    pub epochs: Vec<f64>,
    /// Mean accuracy over runs at each epoch.
    pub mean: Vec<f64>,
    /// Standard deviation over runs (band `mean ± std`); `None` for no band.
    pub std: Option<Vec<f64>>,
}

/// One dataset's panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingPanel {
    /// Panel title (the dataset), e.g. `MNIST`.
    pub dataset: String,
    /// Curves.
    pub curves: Vec<TrainingCurve>,
}

/// Input of [`draw_training`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// Figure title (drawn above the panels).
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Panels, drawn left to right.
    pub panels: Vec<TrainingPanel>,
}

impl TrainingData {
    /// Empty data with the default title and labels.
    pub fn new() -> TrainingData {
        TrainingData {
            title: "Training accuracy (mean ± std over runs)".to_string(),
            x_label: "epoch".to_string(),
            y_label: "training accuracy (%)".to_string(),
            panels: Vec::new(),
        }
    }
}

impl Default for TrainingData {
    fn default() -> Self {
        TrainingData::new()
    }
}

pub(crate) fn size(data: &TrainingData) -> (u32, u32) {
    (20 + 560 * data.panels.len().max(1) as u32, 500)
}

/// Draws one panel per dataset side by side: lines = mean accuracy, bands = mean ± std.
///
/// ```
/// use archconv::plot::{training_svg_string, TrainingCurve, TrainingData, TrainingPanel};
/// let mut data = TrainingData::new();
/// data.panels.push(TrainingPanel { dataset: "MNIST".into(), curves: vec![TrainingCurve {
///     name: "DAG#1".into(), epochs: vec![1.0, 2.0, 3.0], mean: vec![50.0, 70.0, 80.0], std: Some(vec![2.0, 1.5, 1.0]) }] });
/// let svg = training_svg_string(&data)?;
/// assert!(svg.contains("MNIST") && svg.contains("epoch"));
/// # Ok::<(), archconv::plot::PlotError>(())
/// ```
pub fn draw_training<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &TrainingData,
) -> Result<(), PlotError> {
    const FIG: &str = "training";
    register_fonts()?;
    if data.panels.is_empty() {
        return Err(PlotError::Empty {
            figure: FIG,
            what: "panels".to_string(),
        });
    }
    let mut names: Vec<&str> = Vec::new();
    for p in &data.panels {
        if p.curves.is_empty() {
            return Err(PlotError::Empty {
                figure: FIG,
                what: format!("panel {}", p.dataset),
            });
        }
        for c in &p.curves {
            check_series(FIG, &c.name, "epochs", &c.epochs, None, false)?;
            check_series(FIG, &c.name, "mean", &c.mean, Some(c.epochs.len()), false)?;
            if let Some(sd) = &c.std {
                check_series(FIG, &c.name, "std", sd, Some(c.epochs.len()), false)?;
            }
            if !names.contains(&c.name.as_str()) {
                names.push(&c.name);
            }
        }
    }
    let panels = style::titled_panels(area, &data.title, data.panels.len(), FIG)?;
    for (p, sub) in data.panels.iter().zip(&panels) {
        let xr = padded_range(p.curves.iter().flat_map(|c| c.epochs.iter().copied()), 0.0);
        let yr = padded_range(
            p.curves.iter().flat_map(|c| {
                c.mean.iter().enumerate().flat_map(move |(i, &m)| {
                    let s = c.std.as_ref().map_or(0.0, |v| v[i]);
                    [m - s, m + s]
                })
            }),
            0.05,
        );
        let mut chart = style::chart(sub, &PANEL, &p.dataset, 60, xr.0..xr.1, yr.0..yr.1, FIG)?;
        style::mesh(&mut chart, &PANEL, &data.x_label, &data.y_label)
            .draw()
            .map_err(drawing(FIG))?;
        for c in &p.curves {
            let col = color(names.iter().position(|n| *n == c.name).unwrap_or(0));
            if let Some(sd) = &c.std {
                // Band: upper edge forward, lower edge backward.
                let mut poly: Vec<(f64, f64)> = c
                    .epochs
                    .iter()
                    .zip(&c.mean)
                    .zip(sd)
                    .map(|((&x, &m), &s)| (x, m + s))
                    .collect();
                poly.extend(
                    c.epochs
                        .iter()
                        .zip(&c.mean)
                        .zip(sd)
                        .rev()
                        .map(|((&x, &m), &s)| (x, m - s)),
                );
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, col.mix(0.2).filled())))
                    .map_err(drawing(FIG))?;
            }
            chart
                .draw_series(LineSeries::new(
                    c.epochs.iter().copied().zip(c.mean.iter().copied()),
                    col.stroke_width(2),
                ))
                .map_err(drawing(FIG))?
                .label(if c.std.is_some() {
                    format!("{} (mean ± std)", c.name)
                } else {
                    c.name.clone()
                })
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + Rectangle::new([(0, -5), (20, 5)], col.mix(0.25).filled())
                        + PathElement::new(vec![(0, 0), (20, 0)], col.stroke_width(2))
                });
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerRight, LABEL_SIZE, FIG)?;
    }
    Ok(())
}
