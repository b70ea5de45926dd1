//! Accuracy over effective depth and width (the paper's Fig. 5): one bubble per
//! `(dbar, mbar)` group at x = effective depth, y = effective width; colour = the group's
//! mean accuracy (viridis, with a colour bar), area grows with its spread (std or
//! variance); the multiple correlation R between accuracy and `(dbar, mbar)` in the panel
//! title and legend. One panel per dataset.

use super::style::{self, PANEL};
use super::{check_series, drawing, padded_range, register_fonts, tick, PlotError, FONT};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use serde::{Deserialize, Serialize};

/// One `(dbar, mbar)` group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BubblePoint {
    /// Effective depth `dbar` (x).
    pub depth: f64,
    /// Effective width `mbar` (y).
    pub width: f64,
    /// Mean accuracy of the group's cells (colour).
    pub mean: f64,
    /// Spread of the accuracies (std or variance, see [`BubbleData::spread_label`]; size).
    pub spread: f64,
}

/// One dataset's panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BubblePanel {
    /// Panel title (the dataset), e.g. `CIFAR-10`.
    pub dataset: String,
    /// The groups.
    pub points: Vec<BubblePoint>,
    /// Multiple correlation R of accuracy on `(dbar, mbar)`, if computed.
    pub correlation: Option<f64>,
}

/// Input of [`draw_bubbles`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BubbleData {
    /// Figure title.
    pub title: String,
    /// What the colour shows, e.g. `mean accuracy (%)`.
    pub accuracy_label: String,
    /// What the size shows, e.g. `std of accuracy (%)` or `variance of accuracy`.
    pub spread_label: String,
    /// Panels, left to right.
    pub panels: Vec<BubblePanel>,
}

impl BubbleData {
    /// Empty data with the default title and labels (spread = standard deviation).
    pub fn new() -> BubbleData {
        BubbleData {
            title: "Accuracy by effective depth and width".to_string(),
            accuracy_label: "mean accuracy (%)".to_string(),
            spread_label: "std of accuracy (%)".to_string(),
            panels: Vec::new(),
        }
    }
}

impl Default for BubbleData {
    fn default() -> Self {
        BubbleData::new()
    }
}

pub(crate) fn size(data: &BubbleData) -> (u32, u32) {
    (20 + 640 * data.panels.len().max(1) as u32, 560)
}

const R_MIN: f64 = 4.0;
const R_MAX: f64 = 20.0;

fn radius(spread: f64, lo: f64, hi: f64) -> i32 {
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        return ((R_MIN + R_MAX) / 2.0).round() as i32;
    }
    // Area proportional to the spread above the minimum (radius ~ sqrt).
    let t = ((spread - lo) / (hi - lo)).clamp(0.0, 1.0);
    (R_MIN + (R_MAX - R_MIN) * t.sqrt()).round() as i32
}

fn viridis(v: f64, lo: f64, hi: f64) -> RGBColor {
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        return ViridisRGB.get_color(0.5f64);
    }
    ViridisRGB.get_color_normalized(v.clamp(lo, hi), lo, hi)
}

/// Draws one bubble panel per dataset with its colour bar (module docs).
///
/// ```
/// use archconv::plot::{bubbles_svg_string, BubbleData, BubblePanel, BubblePoint};
/// let mut data = BubbleData::new();
/// data.panels.push(BubblePanel { dataset: "CIFAR-10".into(), correlation: Some(0.5), points: vec![
///     BubblePoint { depth: 1.0, width: 2.0, mean: 90.0, spread: 1.0 },
///     BubblePoint { depth: 2.0, width: 1.0, mean: 80.0, spread: 3.0 }] });
/// let svg = bubbles_svg_string(&data)?;
/// assert!(svg.contains("R = 0.500") && svg.contains("effective depth"));
/// # Ok::<(), archconv::plot::PlotError>(())
/// ```
pub fn draw_bubbles<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &BubbleData,
) -> Result<(), PlotError> {
    const FIG: &str = "bubble";
    register_fonts()?;
    if data.panels.is_empty() {
        return Err(PlotError::Empty {
            figure: FIG,
            what: "panels".to_string(),
        });
    }
    for p in &data.panels {
        if p.points.is_empty() {
            return Err(PlotError::Empty {
                figure: FIG,
                what: format!("panel {}", p.dataset),
            });
        }
        let col = |f: fn(&BubblePoint) -> f64| p.points.iter().map(f).collect::<Vec<f64>>();
        check_series(FIG, &p.dataset, "depth", &col(|q| q.depth), None, false)?;
        check_series(FIG, &p.dataset, "width", &col(|q| q.width), None, false)?;
        check_series(FIG, &p.dataset, "mean", &col(|q| q.mean), None, false)?;
        check_series(FIG, &p.dataset, "spread", &col(|q| q.spread), None, false)?;
        if let Some(r) = p.correlation {
            check_series(FIG, &p.dataset, "correlation", &[r], None, false)?;
        }
    }
    let panels = style::titled_panels(area, &data.title, data.panels.len(), FIG)?;
    for (p, sub) in data.panels.iter().zip(&panels) {
        let (w, _) = sub.dim_in_pixel();
        let (main, bar) = sub.split_horizontally(w.saturating_sub(120));
        let (alo, ahi) = p
            .points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), q| {
                (a.min(q.mean), b.max(q.mean))
            });
        let (slo, shi) = p
            .points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), q| {
                (a.min(q.spread), b.max(q.spread))
            });
        let xr = padded_range(p.points.iter().map(|q| q.depth), 0.08);
        let yr = padded_range(p.points.iter().map(|q| q.width), 0.08);
        // Headroom for the legend in the upper right.
        let yr = (yr.0, yr.1 + 0.15 * (yr.1 - yr.0));
        let caption = match p.correlation {
            Some(r) => format!("{} (R = {r:.3})", p.dataset),
            None => p.dataset.clone(),
        };
        let mut chart = style::chart(&main, &PANEL, &caption, 56, xr.0..xr.1, yr.0..yr.1, FIG)?;
        style::mesh(&mut chart, &PANEL, "effective depth", "effective width")
            .draw()
            .map_err(drawing(FIG))?;
        // Big bubbles first so small ones stay visible on top.
        let mut order: Vec<&BubblePoint> = p.points.iter().collect();
        order.sort_by(|a, b| b.spread.total_cmp(&a.spread));
        chart
            .draw_series(order.iter().map(|q| {
                let r = radius(q.spread, slo, shi);
                let c = viridis(q.mean, alo, ahi);
                EmptyElement::at((q.depth, q.width))
                    + Circle::new((0, 0), r, c.mix(0.85).filled())
                    + Circle::new((0, 0), r, RGBColor(40, 40, 40).stroke_width(1))
            }))
            .map_err(drawing(FIG))?;
        // Legend: R, and two reference sizes for the spread.
        let grey = RGBColor(150, 150, 150);
        if let Some(r) = p.correlation {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(drawing(FIG))?
                .label(format!("multiple correlation R = {r:.3}"))
                .legend(|(x, y)| EmptyElement::at((x, y)));
        }
        for (label, s) in [("min", slo), ("max", shi)] {
            let rr = radius(s, slo, shi);
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(drawing(FIG))?
                .label(format!("{} {label} = {s:.3}", data.spread_label))
                .legend(move |(x, y)| Circle::new((x + 10, y), rr.min(9), grey.stroke_width(1)));
        }
        // Smaller legend text: the spread labels are long.
        style::legend(&mut chart, SeriesLabelPosition::UpperRight, 12, FIG)?;
        draw_colorbar(&bar, alo, ahi, &data.accuracy_label)?;
    }
    Ok(())
}

fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lo: f64,
    hi: f64,
    label: &str,
) -> Result<(), PlotError> {
    const FIG: &str = "bubble";
    let (lo_r, hi_r) = if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let mut bar = ChartBuilder::on(area)
        .margin_top(48)
        .margin_bottom(56)
        .margin_left(4)
        .margin_right(16)
        .y_label_area_size(0)
        .right_y_label_area_size(64)
        .build_cartesian_2d(0.0..1.0, lo_r..hi_r)
        .map_err(drawing(FIG))?;
    bar.configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .disable_x_axis()
        .y_desc(label)
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .y_label_formatter(&tick)
        .y_labels(6)
        .draw()
        .map_err(drawing(FIG))?;
    let n = 64;
    bar.draw_series((0..n).map(|i| {
        let a = lo_r + (hi_r - lo_r) * i as f64 / n as f64;
        let b = lo_r + (hi_r - lo_r) * (i + 1) as f64 / n as f64;
        Rectangle::new(
            [(0.0, a), (1.0, b)],
            viridis(0.5 * (a + b), lo, hi).filled(),
        )
    }))
    .map_err(drawing(FIG))?;
    Ok(())
}
