//! Grouped bar chart, for small tables such as the NTK step sizes per DAG: one cluster
//! per category, one coloured bar per group inside it.

use super::style::{self, FIGURE, LABEL_SIZE};
use super::{check_series, color, drawing, register_fonts, PlotError, FONT};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

pub(crate) const SIZE: (u32, u32) = (760, 500);

/// One group (legend entry): a value per category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarGroup {
    /// Legend name.
    pub name: String,
    /// One value per category of [`BarData::categories`].
    pub values: Vec<f64>,
}

/// Input of [`draw_bars`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarData {
    /// Figure title.
    pub title: String,
    /// X-axis label (what the categories are).
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Category names along x.
    pub categories: Vec<String>,
    /// Groups.
    pub groups: Vec<BarGroup>,
}

/// Draws grouped bars from 0 (values may be negative) with each bar's value above it.
///
/// ```
/// use archconv::plot::{bars_svg_string, BarData, BarGroup};
/// let data = BarData { title: "Step sizes".into(), x_label: "architecture".into(), y_label: "η".into(),
///     categories: vec!["DAG#1".into(), "DAG#2".into()],
///     groups: vec![BarGroup { name: "theory".into(), values: vec![0.5, 0.25] }] };
/// assert!(bars_svg_string(&data)?.contains("DAG#2"));
/// # Ok::<(), archconv::plot::PlotError>(())
/// ```
pub fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &BarData,
) -> Result<(), PlotError> {
    const FIG: &str = "bar";
    register_fonts()?;
    if data.categories.is_empty() || data.groups.is_empty() {
        return Err(PlotError::Empty {
            figure: FIG,
            what: "categories or groups".to_string(),
        });
    }
    for g in &data.groups {
        check_series(
            FIG,
            &g.name,
            "values",
            &g.values,
            Some(data.categories.len()),
            false,
        )?;
    }
    area.fill(&WHITE).map_err(drawing(FIG))?;
    let all = data.groups.iter().flat_map(|g| g.values.iter().copied());
    let (lo, hi) = all.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let pad = 0.15 * (hi - lo).max(f64::MIN_POSITIVE);
    let (ylo, yhi) = (
        if lo < 0.0 { lo - pad } else { 0.0 },
        if hi > 0.0 { hi + pad } else { pad },
    );
    let n = data.categories.len();
    let x = -0.5..(n as f64 - 0.5);
    let mut chart = style::chart(area, &FIGURE, &data.title, 70, x, ylo..yhi, FIG)?;
    let cats = data.categories.clone();
    style::mesh(&mut chart, &FIGURE, &data.x_label, &data.y_label)
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&move |x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cats.len() {
                cats[i as usize].clone()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(drawing(FIG))?;
    let k = data.groups.len() as f64;
    let bw = 0.8 / k;
    for (gi, g) in data.groups.iter().enumerate() {
        let col = color(gi);
        let left = |ci: usize| ci as f64 - 0.4 + gi as f64 * bw;
        chart
            .draw_series(g.values.iter().enumerate().map(|(ci, &v)| {
                Rectangle::new(
                    [(left(ci) + 0.02 * bw, 0.0), (left(ci) + 0.98 * bw, v)],
                    col.filled(),
                )
            }))
            .map_err(drawing(FIG))?
            .label(g.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], col.filled()));
        chart
            .draw_series(g.values.iter().enumerate().map(|(ci, &v)| {
                let y = if v >= 0.0 { v } else { 0.0 };
                Text::new(
                    format!("{v:.3}"),
                    (left(ci) + 0.5 * bw, y),
                    TextStyle::from((FONT, 12).into_font()).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Bottom,
                        ),
                    ),
                )
            }))
            .map_err(drawing(FIG))?;
    }
    style::legend(&mut chart, SeriesLabelPosition::UpperRight, LABEL_SIZE, FIG)
}
