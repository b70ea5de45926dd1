//! Figures (PAPER.md section 5) on [plotters]: SVG always, PNG through the bitmap backend,
//! and inline in evcxr notebooks through [`Figure`].
//!
//! Every figure has one drawing function of the shape
//!
//! ```text
//! fn draw_x<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, data: &XData) -> Result<(), PlotError>
//! ```
//!
//! so the same code draws to an SVG file, a PNG file, an SVG string or a notebook cell,
//! plus the conveniences `save_x_svg(path, data)`, `save_x_png(path, data)` and
//! `x_svg_string(data)` at a default size. Inputs are plain serde-serialisable structs
//! (for example [`BoundCurves`]) so other modules fill them without knowing plotters.
//!
//! | figure | paper | data | drawing function |
//! |---|---|---|---|
//! | DAG drawing | Fig. 3 | [`Dag`](crate::Dag) | [`draw_dag`], [`draw_dags`] |
//! | eigenvalue bounds vs input correlation `c` | Sec. 3.3 | [`BoundCurves`] | [`draw_bounds`] |
//! | Monte Carlo error vs width (log-log) | Sec. 6 | [`McErrorData`] | [`draw_mc_error`] |
//! | training accuracy vs epoch | Fig. 4 | [`TrainingData`] | [`draw_training`] |
//! | accuracy over effective depth/width | Fig. 5 | [`BubbleData`] | [`draw_bubbles`] |
//! | grouped bars (e.g. NTK step sizes) | — | [`BarData`] | [`draw_bars`] |
//!
//! Text is drawn with DejaVu Sans embedded in the binary (the `dejavu` crate) through
//! plotters' `ab_glyph` font support, so figures render on a machine without any system
//! fonts, fontconfig or freetype. The font is registered on first use by every drawing
//! function; [`register_fonts`] does it explicitly.
//!
//! ```
//! use archconv::{plot, Dag};
//! let svg = plot::dag_svg_string(&Dag::dag3(), "DAG#3")?;
//! assert!(svg.starts_with("<svg") && svg.contains("DAG#3"));
//! let dir = std::env::temp_dir().join("archconv-doc-plot");
//! plot::save_dag_png(dir.join("dag3.png"), &Dag::dag3(), "DAG#3")?;   // folder created
//! # Ok::<(), archconv::plot::PlotError>(())
//! ```

mod bars;
mod bounds;
mod bubbles;
mod dag;
mod mc;
mod scatter;
mod style;
mod training;

pub use bars::{draw_bars, BarData, BarGroup};
pub use bounds::{draw_bounds, BoundCurves, BoundSeries};
pub use bubbles::{draw_bubbles, BubbleData, BubblePanel, BubblePoint};
pub use dag::{dag_figure_size, draw_dag, draw_dags, layout_dag, DagLayout, LabelBox};
pub use mc::{draw_mc_error, McErrorData, McSeries};
pub use scatter::{draw_scatter, ScatterData, ScatterPanel, ScatterSeries};
pub use training::{draw_training, TrainingCurve, TrainingData, TrainingPanel};

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What went wrong while drawing or saving a figure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The drawing backend failed (reported by plotters).
    #[error("drawing the {figure} figure failed: {message}")]
    Drawing {
        /// Which figure.
        figure: &'static str,
        /// The backend's message.
        message: String,
    },
    /// Writing the output file (or creating its folder) failed.
    #[error("cannot write figure file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Nothing to draw.
    #[error("{figure} figure: {what} is empty, nothing to draw")]
    Empty {
        /// Which figure.
        figure: &'static str,
        /// What is empty (e.g. `series`, `panel CIFAR-10`).
        what: String,
    },
    /// A series has the wrong number of values.
    #[error("{figure} figure: {what} of series `{series}` has {got} values, expected {expected}")]
    Length {
        /// Which figure.
        figure: &'static str,
        /// The series name.
        series: String,
        /// Which vector (e.g. `std`, `bound`).
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A value is NaN or infinite (or not positive on a log axis).
    #[error("{figure} figure: {what} #{index} of series `{series}` is {value}, which cannot be drawn ({why})")]
    BadValue {
        /// Which figure.
        figure: &'static str,
        /// The series name.
        series: String,
        /// Which vector.
        what: &'static str,
        /// Position in the vector.
        index: usize,
        /// The value.
        value: f64,
        /// `not finite` or `not positive on a log axis`.
        why: &'static str,
    },
    /// The embedded font could not be parsed (never expected).
    #[error("the embedded DejaVu font could not be registered with plotters")]
    Font,
}

/// Converts a plotters error into [`PlotError::Drawing`] for `figure`.
pub(crate) fn drawing<E: std::fmt::Display>(figure: &'static str) -> impl Fn(E) -> PlotError {
    move |e| PlotError::Drawing {
        figure,
        message: e.to_string(),
    }
}

/// The font family every figure uses (registered from embedded DejaVu Sans).
pub const FONT: &str = "sans-serif";

/// Registers the embedded DejaVu Sans fonts with plotters under [`FONT`] (normal, bold,
/// oblique). Idempotent and cheap after the first call; every drawing function calls it.
pub fn register_fonts() -> Result<(), PlotError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Oblique, dejavu::sans::oblique())
                .is_ok()
            && plotters::style::register_font(FONT, FontStyle::Italic, dejavu::sans::oblique())
                .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// Series colours (colour-blind-friendly, Okabe-Ito order without yellow).
pub(crate) const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
];

/// The `i`-th series colour (cycles).
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Checks that `values` has `expected` finite entries (positive ones when `log`).
pub(crate) fn check_series(
    figure: &'static str,
    series: &str,
    what: &'static str,
    values: &[f64],
    expected: Option<usize>,
    log: bool,
) -> Result<(), PlotError> {
    if let Some(n) = expected {
        if values.len() != n {
            return Err(PlotError::Length {
                figure,
                series: series.to_string(),
                what,
                expected: n,
                got: values.len(),
            });
        }
    }
    for (index, &value) in values.iter().enumerate() {
        let why = if !value.is_finite() {
            "not finite"
        } else if log && value <= 0.0 {
            "not positive on a log axis"
        } else {
            continue;
        };
        return Err(PlotError::BadValue {
            figure,
            series: series.to_string(),
            what,
            index,
            value,
            why,
        });
    }
    Ok(())
}

/// `(min, max)` of the values, widened by `pad` of the range on both sides (and to a
/// unit range around a single value).
pub(crate) fn padded_range(values: impl IntoIterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let w = if lo == 0.0 { 1.0 } else { 0.05 * lo.abs() };
        return (lo - w, hi + w);
    }
    let p = pad * (hi - lo);
    (lo - p, hi + p)
}

/// Axis tick text: up to 3 decimals with trailing zeros trimmed (`5`, `0.25`, `92.5`),
/// scientific notation outside `[1e-3, 1e5)`.
pub(crate) fn tick(v: &f64) -> String {
    let v = *v;
    // Grid arithmetic leaves values like -2.2e-16 where 0 is meant.
    if v.abs() < 1e-12 {
        return "0".to_string();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Renders `draw` onto an in-memory SVG of `size` pixels.
pub fn render_svg<F>(size: (u32, u32), draw: F) -> Result<String, PlotError>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    register_fonts()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(drawing("svg"))?;
    }
    Ok(svg)
}

fn create_parent(path: &Path) -> Result<(), PlotError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// Renders `draw` to an SVG file at `path` (parent folders are created; written
/// atomically: a temporary file, then a rename).
pub fn save_svg<F>(path: impl AsRef<Path>, size: (u32, u32), draw: F) -> Result<(), PlotError>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    let path = path.as_ref();
    let svg = render_svg(size, draw)?;
    create_parent(path)?;
    write_file(path, svg.as_bytes())
}

/// Writes a figure file atomically ([`crate::report::write_atomic`]).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    crate::report::write_atomic(path, bytes).map_err(|e| PlotError::Io {
        path: e.path,
        source: e.source,
    })
}

/// Renders `draw` to a PNG file at `path` (parent folders are created; written
/// atomically: a temporary file, then a rename).
pub fn save_png<F>(path: impl AsRef<Path>, size: (u32, u32), draw: F) -> Result<(), PlotError>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
{
    let path = path.as_ref();
    register_fonts()?;
    create_parent(path)?;
    // Drawn to a temporary file beside the target (same extension, so the backend picks
    // PNG), then renamed: a failed or interrupted run never leaves a partial image.
    let tmp = crate::report::temp_path(path);
    let res = (|| {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| PlotError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        drop(root);
        std::fs::rename(&tmp, path).map_err(|source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        })
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// A rendered figure (an SVG document) for notebooks and HTML reports; see
/// `Figure::evcxr_display` and `Figure::to_html` (module `display`).
///
/// ```
/// use archconv::{plot::Figure, Dag};
/// let fig = Figure::dag(&Dag::dag1(), "DAG#1")?;
/// assert!(fig.svg().contains("DAG#1"));
/// assert!(fig.to_html().contains("<svg"));
/// # Ok::<(), archconv::plot::PlotError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Figure {
    svg: String,
    size: (u32, u32),
}

impl Figure {
    /// Renders any drawing function at `size` pixels, e.g.
    /// `Figure::render((800, 500), |a| draw_bounds(a, &data))`.
    pub fn render<F>(size: (u32, u32), draw: F) -> Result<Figure, PlotError>
    where
        F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
    {
        Ok(Figure {
            svg: render_svg(size, draw)?,
            size,
        })
    }

    /// Wraps an existing SVG document of `size` pixels.
    pub fn from_svg(svg: String, size: (u32, u32)) -> Figure {
        Figure { svg, size }
    }

    /// The SVG document.
    pub fn svg(&self) -> &str {
        &self.svg
    }

    /// `(width, height)` in pixels.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The drawing of a DAG (Fig. 3 style) at its default size.
    pub fn dag(dag: &crate::Dag, title: &str) -> Result<Figure, PlotError> {
        let size = dag_figure_size(dag);
        Figure::render(size, |a| draw_dag(a, dag, title))
    }

    /// The eigenvalue-bound curves at the default size.
    pub fn bounds(data: &BoundCurves) -> Result<Figure, PlotError> {
        Figure::render(bounds::SIZE, |a| draw_bounds(a, data))
    }

    /// The Monte Carlo error plot at the default size.
    pub fn mc_error(data: &McErrorData) -> Result<Figure, PlotError> {
        Figure::render(mc::SIZE, |a| draw_mc_error(a, data))
    }

    /// The training curves at the default size (one panel per dataset).
    pub fn training(data: &TrainingData) -> Result<Figure, PlotError> {
        Figure::render(training::size(data), |a| draw_training(a, data))
    }

    /// The bubble plots at the default size (one panel per dataset).
    pub fn bubbles(data: &BubbleData) -> Result<Figure, PlotError> {
        Figure::render(bubbles::size(data), |a| draw_bubbles(a, data))
    }

    /// The scatter plot at the default size (one panel per group).
    pub fn scatter(data: &ScatterData) -> Result<Figure, PlotError> {
        Figure::render(scatter::size(data), |a| draw_scatter(a, data))
    }

    /// The bar chart at the default size.
    pub fn bars(data: &BarData) -> Result<Figure, PlotError> {
        Figure::render(bars::SIZE, |a| draw_bars(a, data))
    }

    /// Writes the SVG to `path` (parent folders are created).
    pub fn save_svg(&self, path: impl AsRef<Path>) -> Result<(), PlotError> {
        let path = path.as_ref();
        create_parent(path)?;
        write_file(path, self.svg.as_bytes())
    }
}

/// Generates `save_x_svg`, `save_x_png` and `x_svg_string` for a figure whose data is a
/// struct and whose default size is `$size(data)`.
macro_rules! conveniences {
    ($draw:ident, $data:ty, $size:expr, $svg:ident, $png:ident, $string:ident, $what:literal) => {
        #[doc = concat!("Saves the ", $what, " as SVG at `path` (default size; folders created).")]
        pub fn $svg(path: impl AsRef<Path>, data: &$data) -> Result<(), PlotError> {
            save_svg(path, $size(data), |a| $draw(a, data))
        }
        #[doc = concat!("Saves the ", $what, " as PNG at `path` (default size; folders created).")]
        pub fn $png(path: impl AsRef<Path>, data: &$data) -> Result<(), PlotError> {
            save_png(path, $size(data), |a| $draw(a, data))
        }
        #[doc = concat!("The ", $what, " as an SVG document (default size).")]
        pub fn $string(data: &$data) -> Result<String, PlotError> {
            render_svg($size(data), |a| $draw(a, data))
        }
    };
}

conveniences!(
    draw_bounds,
    BoundCurves,
    |_| bounds::SIZE,
    save_bounds_svg,
    save_bounds_png,
    bounds_svg_string,
    "eigenvalue-bound figure"
);
conveniences!(
    draw_mc_error,
    McErrorData,
    |_| mc::SIZE,
    save_mc_error_svg,
    save_mc_error_png,
    mc_error_svg_string,
    "Monte Carlo error figure"
);
conveniences!(
    draw_training,
    TrainingData,
    training::size,
    save_training_svg,
    save_training_png,
    training_svg_string,
    "training-curve figure"
);
conveniences!(
    draw_bubbles,
    BubbleData,
    bubbles::size,
    save_bubbles_svg,
    save_bubbles_png,
    bubbles_svg_string,
    "bubble figure"
);
conveniences!(
    draw_scatter,
    ScatterData,
    scatter::size,
    save_scatter_svg,
    save_scatter_png,
    scatter_svg_string,
    "scatter plot"
);
conveniences!(
    draw_bars,
    BarData,
    |_| bars::SIZE,
    save_bars_svg,
    save_bars_png,
    bars_svg_string,
    "bar chart"
);

/// Saves the drawing of `dag` as SVG at `path` (size from [`dag_figure_size`]).
pub fn save_dag_svg(
    path: impl AsRef<Path>,
    dag: &crate::Dag,
    title: &str,
) -> Result<(), PlotError> {
    save_svg(path, dag_figure_size(dag), |a| draw_dag(a, dag, title))
}

/// Saves the drawing of `dag` as PNG at `path` (size from [`dag_figure_size`]).
pub fn save_dag_png(
    path: impl AsRef<Path>,
    dag: &crate::Dag,
    title: &str,
) -> Result<(), PlotError> {
    save_png(path, dag_figure_size(dag), |a| draw_dag(a, dag, title))
}

/// The drawing of `dag` as an SVG document.
pub fn dag_svg_string(dag: &crate::Dag, title: &str) -> Result<String, PlotError> {
    render_svg(dag_figure_size(dag), |a| draw_dag(a, dag, title))
}

/// Default size of [`draw_dags`] for these DAGs: the widest width, heights stacked.
pub fn dags_figure_size(dags: &[(&str, &crate::Dag)]) -> (u32, u32) {
    dags.iter()
        .map(|(_, d)| dag_figure_size(d))
        .fold((0, 0), |(w, h), (a, b)| (w.max(a), h + b))
}

/// Saves several DAG drawings stacked vertically (Fig. 3) as SVG.
pub fn save_dags_svg(
    path: impl AsRef<Path>,
    dags: &[(&str, &crate::Dag)],
) -> Result<(), PlotError> {
    save_svg(path, dags_figure_size(dags), |a| draw_dags(a, dags))
}

/// Saves several DAG drawings stacked vertically (Fig. 3) as PNG.
pub fn save_dags_png(
    path: impl AsRef<Path>,
    dags: &[(&str, &crate::Dag)],
) -> Result<(), PlotError> {
    save_png(path, dags_figure_size(dags), |a| draw_dags(a, dags))
}
