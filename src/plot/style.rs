//! The look shared by the chart figures (bounds, Monte Carlo error, training curves,
//! bubbles, bars): caption and text sizes, margins, the light grid, the legend box and
//! the title-plus-panels split of multi-panel figures. Each figure module keeps only
//! what is specific to it.

use super::{drawing, tick, PlotError, FONT};
use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;

/// Outer margin of every chart, in pixels.
const MARGIN: u32 = 12;
/// Size of the tick labels (and of the legend text unless a figure asks otherwise).
pub(super) const LABEL_SIZE: u32 = 13;
/// Colour of the light grid lines.
const GRID: RGBColor = RGBColor(235, 235, 235);
/// Colour of the legend box's border.
const LEGEND_BORDER: RGBColor = RGBColor(180, 180, 180);

/// Text sizes and the x label area of one chart, which differ between a chart that fills
/// the figure and one panel of a multi-panel figure.
pub(super) struct Look {
    /// Caption (title) size.
    caption: u32,
    /// Height of the x label area (tick labels and axis description), in pixels.
    x_label_area: u32,
    /// Size of the axis descriptions.
    axis_desc: u32,
}

/// A chart that fills the whole figure (bars, bounds, Monte Carlo error); its caption size
/// is also the size of the figure title above multi-panel figures.
pub(super) const FIGURE: Look = Look {
    caption: 20,
    x_label_area: 48,
    axis_desc: 16,
};

/// One panel of a multi-panel figure (training curves, bubbles).
pub(super) const PANEL: Look = Look {
    caption: 17,
    x_label_area: 44,
    axis_desc: 15,
};

/// The chart that [`chart`] builds over the coordinate specs `X` and `Y`.
type Chart<'c, DB, X, Y> = ChartContext<
    'c,
    DB,
    Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>,
>;

/// Builds a chart on `area` with `caption` on top, the standard margin and label areas
/// (`y_label_area` pixels wide), over the coordinates `x` and `y` (linear or log ranges).
pub(super) fn chart<'c, DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    look: &Look,
    caption: &str,
    y_label_area: u32,
    x: X,
    y: Y,
    figure: &'static str,
) -> Result<Chart<'c, DB, X, Y>, PlotError>
where
    DB: DrawingBackend,
    X: AsRangedCoord,
    Y: AsRangedCoord,
{
    ChartBuilder::on(area)
        .caption(caption, (FONT, look.caption))
        .margin(MARGIN)
        .x_label_area_size(look.x_label_area)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x, y)
        .map_err(drawing(figure))
}

/// The mesh with the standard look: axis descriptions `x_desc` and `y_desc`, tick labels
/// through [`tick`](super::tick), light grey grid. Returned for figure-specific settings
/// before `draw`.
pub(super) fn mesh<'a, 'b, DB, X, Y>(
    chart: &'b mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    look: &Look,
    x_desc: &str,
    y_desc: &str,
) -> MeshStyle<'a, 'b, X, Y, DB>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style((FONT, look.axis_desc))
        .label_style((FONT, LABEL_SIZE))
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .light_line_style(GRID);
    mesh
}

/// Draws the legend (series labels) in a translucent white box with a grey border at
/// `position`, its text `text_size` pixels high.
pub(super) fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    text_size: u32,
    figure: &'static str,
) -> Result<(), PlotError>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(LEGEND_BORDER)
        .label_font((FONT, text_size))
        .draw()
        .map_err(drawing(figure))
}

/// The legend sample of a line series: a 20 px stroke in `style` (legend coordinates are
/// backend pixels).
pub(super) fn line_sample(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)
}

/// Clears `area` to white, draws `title` above everything, and splits the rest into `n`
/// panels side by side (multi-panel figures).
pub(super) fn titled_panels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    n: usize,
    figure: &'static str,
) -> Result<Vec<DrawingArea<DB, Shift>>, PlotError> {
    area.fill(&WHITE).map_err(drawing(figure))?;
    let area = area
        .titled(title, (FONT, FIGURE.caption))
        .map_err(drawing(figure))?;
    Ok(area.split_evenly((1, n)))
}
