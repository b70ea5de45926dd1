//! Eigenvalue-bound curves against the input correlation `c` (PAPER.md section 3,
//! the paper's Sec. 3.3 / App. C): lines for the path-sum bounds
//! `lambda_1 = 1 - f^3(c)`, `lambda_2 = 3 (1 - f(c))`, `lambda_3 = 4 - (c + f(c) + 2 f^2(c))`
//! of DAG#1-#3, markers for the exact kernel's values beside them.

use super::style::{self, FIGURE, LABEL_SIZE};
use super::{check_series, color, drawing, padded_range, register_fonts, PlotError};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

pub(crate) const SIZE: (u32, u32) = (820, 540);

/// One DAG's curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundSeries {
    /// Legend name, e.g. `DAG#1`.
    pub name: String,
    /// The bound at each `c` of [`BoundCurves::c`] (drawn as a line).
    pub bound: Vec<f64>,
    /// Exact-kernel values `(c, value)` (drawn as markers); may be empty.
    pub exact: Vec<(f64, f64)>,
}

/// Input of [`draw_bounds`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundCurves {
    /// Figure title.
    pub title: String,
    /// Y-axis label.
    pub y_label: String,
    /// The correlation grid `c` (x axis).
    pub c: Vec<f64>,
    /// One series per DAG.
    pub series: Vec<BoundSeries>,
}

impl BoundCurves {
    /// Empty data with the default title and axis label.
    pub fn new(c: Vec<f64>) -> BoundCurves {
        BoundCurves {
            title: "Upper bound on λ_min(K^H) vs input correlation".to_string(),
            y_label: "bound on λ_min(K^H)".to_string(),
            c,
            series: Vec::new(),
        }
    }

    /// The figure data of computed bounds ([`crate::spectrum::paper_bounds`]): the
    /// default title and label, one series per DAG.
    ///
    /// ```
    /// use archconv::{plot::BoundCurves, spectrum::paper_bounds};
    /// let b = BoundCurves::of(&paper_bounds(&[0.0, 0.5], &[0.5])?);
    /// assert_eq!(b.series.len(), 3);
    /// assert!(b.series[0].bound[1] < b.series[1].bound[1]);   // lambda_1 < lambda_2 at c = 0.5
    /// # Ok::<(), archconv::Error>(())
    /// ```
    pub fn of(bounds: &crate::spectrum::PaperBounds) -> BoundCurves {
        let mut data = BoundCurves::new(bounds.c.clone());
        data.series = bounds
            .dags
            .iter()
            .map(|d| BoundSeries {
                name: d.name.clone(),
                bound: d.bound.clone(),
                exact: d.exact.clone(),
            })
            .collect();
        data
    }
}

/// Draws the bound curves: x = input correlation `c`, y = bound; one colour per DAG,
/// line = path-sum bound, circles = exact kernel.
///
/// ```
/// use archconv::plot::{bounds_svg_string, BoundCurves, BoundSeries};
/// let c: Vec<f64> = (0..=10).map(|i| i as f64 / 10.0).collect();
/// let mut data = BoundCurves::new(c.clone());
/// data.series.push(BoundSeries { name: "DAG#1".into(), bound: c.iter().map(|x| 1.0 - x).collect(), exact: vec![(0.5, 0.4)] });
/// let svg = bounds_svg_string(&data)?;
/// assert!(svg.contains("DAG#1") && svg.contains("input correlation c"));
/// # Ok::<(), archconv::plot::PlotError>(())
/// ```
pub fn draw_bounds<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &BoundCurves,
) -> Result<(), PlotError> {
    const FIG: &str = "bounds";
    register_fonts()?;
    if data.series.is_empty() || data.c.is_empty() {
        return Err(PlotError::Empty {
            figure: FIG,
            what: "series or c grid".to_string(),
        });
    }
    check_series(FIG, "c", "c grid", &data.c, None, false)?;
    for s in &data.series {
        check_series(FIG, &s.name, "bound", &s.bound, Some(data.c.len()), false)?;
        let (xs, ys): (Vec<f64>, Vec<f64>) = s.exact.iter().copied().unzip();
        check_series(FIG, &s.name, "exact c", &xs, None, false)?;
        check_series(FIG, &s.name, "exact value", &ys, None, false)?;
    }
    area.fill(&WHITE).map_err(drawing(FIG))?;
    let xr = padded_range(
        data.c
            .iter()
            .copied()
            .chain(data.series.iter().flat_map(|s| s.exact.iter().map(|p| p.0))),
        0.02,
    );
    let yr = padded_range(
        data.series
            .iter()
            .flat_map(|s| s.bound.iter().copied().chain(s.exact.iter().map(|p| p.1)))
            .chain([0.0]),
        0.05,
    );
    let mut chart = style::chart(area, &FIGURE, &data.title, 64, xr.0..xr.1, yr.0..yr.1, FIG)?;
    style::mesh(&mut chart, &FIGURE, "input correlation c", &data.y_label)
        .draw()
        .map_err(drawing(FIG))?;
    for (i, s) in data.series.iter().enumerate() {
        let col = color(i);
        chart
            .draw_series(LineSeries::new(
                data.c.iter().copied().zip(s.bound.iter().copied()),
                col.stroke_width(2),
            ))
            .map_err(drawing(FIG))?
            .label(format!("{} path-sum bound", s.name))
            .legend(style::line_sample(col.stroke_width(2)));
        if !s.exact.is_empty() {
            chart
                .draw_series(
                    s.exact
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 4, col.stroke_width(2))),
                )
                .map_err(drawing(FIG))?
                .label(format!("{} exact kernel λ_min", s.name))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, col.stroke_width(2)));
        }
    }
    style::legend(&mut chart, SeriesLabelPosition::UpperRight, LABEL_SIZE, FIG)
}
