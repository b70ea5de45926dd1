//! DAG drawings in the style of the paper's Fig. 3.
//!
//! Nodes sit left to right on a horizontal line (node 0, the input, to node `H`, the
//! output). Edges are arcs `y(x) = ±h sin(pi (x - x_s) / (x_t - x_s))` above or below the
//! line; an edge between neighbouring nodes is a straight segment when that is free.
//! Solid blue = parameterized ([`Op::Linear`]), dashed dark grey = skip ([`Op::Skip`]),
//! light grey = removed ([`Op::Zero`]). Each edge carries its label (the benchmark
//! operation name, else the class name) just outside its apex.
//!
//! Placement is greedy and collision-checked: edges are placed by increasing span; each
//! takes the lowest arc level `h = k * (label height + gap)`, on either side, with its
//! label at the apex (or at 35 % / 65 % of the arc), such that its label box meets no
//! other label, node or edge, and its curve passes through no label and no intermediate
//! node. The font shrinks (down to 7 px) when the levels do not fit the area's height.
//! [`layout_dag`] exposes the result so tests can check that no two labels overlap.

use super::{drawing, register_fonts, PlotError, FONT};
use crate::dag::{Dag, Op};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

/// An edge label's box in pixel coordinates of the drawing area (`y` grows downwards).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelBox {
    /// Index of the edge in [`Dag::edges`].
    pub edge: usize,
    /// The text.
    pub text: String,
    /// Left.
    pub x0: f64,
    /// Top.
    pub y0: f64,
    /// Right.
    pub x1: f64,
    /// Bottom.
    pub y1: f64,
}

impl LabelBox {
    /// Whether two boxes overlap (touching edges do not count).
    pub fn overlaps(&self, other: &LabelBox) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }
}

/// Where everything of a DAG drawing goes, in pixel coordinates of the area.
#[derive(Debug, Clone, Serialize)]
pub struct DagLayout {
    /// Area size `(width, height)`.
    pub size: (u32, u32),
    /// Font size of the edge labels and node numbers, in pixels.
    pub font_size: f64,
    /// Node centres, index = node.
    pub nodes: Vec<(f64, f64)>,
    /// Node circle radius.
    pub node_radius: f64,
    /// One polyline per edge, in [`Dag::edges`] order.
    pub curves: Vec<Vec<(f64, f64)>>,
    /// One label per edge, in [`Dag::edges`] order.
    pub labels: Vec<LabelBox>,
    /// `y` of the title's centre.
    pub title_y: f64,
    /// `y` of the legend's centre.
    pub legend_y: f64,
    /// Whether the layout had to be squeezed vertically to fit (labels may then touch).
    pub squeezed: bool,
}

const MAX_FONT: f64 = 14.0;
const MIN_FONT: f64 = 7.0;
/// Collision weight of a label overlapping another label or a node.
const HARD: usize = 1000;

fn text_size(text: &str, fs: f64) -> (f64, f64) {
    match (FONT, fs).into_font().box_size(text) {
        Ok((w, h)) => (w as f64, h as f64),
        Err(_) => (0.6 * fs * text.chars().count() as f64, 1.2 * fs),
    }
}

/// Rectangle in "relative" coordinates: x in pixels, y = height above the node line.
#[derive(Clone, Copy, Debug)]
struct Rect {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Rect {
    fn hits_rect(&self, o: &Rect, pad: f64) -> bool {
        self.x0 - pad < o.x1 && o.x0 - pad < self.x1 && self.y0 - pad < o.y1 && o.y0 - pad < self.y1
    }
    fn hits_point(&self, (x, y): (f64, f64), pad: f64) -> bool {
        x > self.x0 - pad && x < self.x1 + pad && y > self.y0 - pad && y < self.y1 + pad
    }
    fn hits_circle(&self, (cx, cy): (f64, f64), r: f64) -> bool {
        let dx = (self.x0 - cx).max(0.0).max(cx - self.x1);
        let dy = (self.y0 - cy).max(0.0).max(cy - self.y1);
        dx * dx + dy * dy < r * r
    }
}

struct Placed {
    curve: Vec<(f64, f64)>,
    label: Rect,
}

/// Arc from `xs` to `xt` of signed height `h` (0 = straight), sampled every ~3 px.
fn arc(xs: f64, xt: f64, h: f64) -> Vec<(f64, f64)> {
    let n = (((xt - xs).abs() + 2.0 * h.abs()) / 3.0).ceil().max(8.0) as usize;
    (0..=n)
        .map(|i| {
            let u = i as f64 / n as f64;
            (xs + u * (xt - xs), h * (std::f64::consts::PI * u).sin())
        })
        .collect()
}

struct Geometry {
    fs: f64,
    r: f64,
    xs: Vec<f64>,
    placed: Vec<Placed>,
    squeezed_needed: f64,
    upper: f64,
}

/// Greedy placement at font size `fs` with nodes at `xs` (see the module docs).
fn place(dag: &Dag, xs: &[f64], fs: f64) -> Geometry {
    let (_, lh) = text_size("linear", fs);
    let r = (0.95 * fs).clamp(7.0, 13.0);
    let step = lh + 8.0;
    let gap = 3.0;
    let nodes: Vec<(f64, f64)> = xs.iter().map(|&x| (x, 0.0)).collect();
    let edges = dag.edges();
    let mut order: Vec<usize> = (0..edges.len()).collect();
    order.sort_by_key(|&i| (edges[i].to - edges[i].from, edges[i].from, i));
    let mut placed: Vec<Option<Placed>> = (0..edges.len()).map(|_| None).collect();
    let mut done: Vec<usize> = Vec::new();
    let mut straight_used = std::collections::HashSet::new();
    let (mut above, mut below) = (0usize, 0usize);
    let mut max_level = 0usize;
    for &i in &order {
        let e = &edges[i];
        let (x_s, x_t) = (xs[e.from], xs[e.to]);
        let (tw, th) = text_size(e.label(), fs);
        let span = e.to - e.from;
        let can_straight = span == 1 && !straight_used.contains(&(e.from, e.to));
        // Longer edges start higher (h grows like sqrt(span)) so arcs fan out instead of
        // hugging the node line; a straight segment is tried first where allowed.
        let spacing = if xs.len() > 1 { xs[1] - xs[0] } else { 1.0 };
        let h_min = 0.3 * spacing * ((span as f64) - 1.0).max(0.0).sqrt();
        let first_level = if can_straight {
            0
        } else {
            ((h_min / step).ceil() as usize).max(1)
        };
        let sides: [f64; 2] = if above <= below {
            [1.0, -1.0]
        } else {
            [-1.0, 1.0]
        };
        let mut best: Option<(usize, Placed, usize)> = None;
        // Levels above `max_level + 1` put the apex label above every other label, so a
        // candidate without label/node overlap always exists there; search on until one
        // without any collision is found, or give up on curve-label touches after a while.
        let cap = max_level + 2 + 2 * edges.len().min(20);
        'search: for k in first_level..=cap {
            if k > max_level + 2 && best.as_ref().is_some_and(|b| b.2 < HARD) {
                break;
            }
            let h = k as f64 * step;
            for side in sides {
                let curve = arc(x_s, x_t, side * h);
                let anchors: &[f64] = if k == 0 { &[0.5] } else { &[0.5, 0.35, 0.65] };
                for &u in anchors {
                    let ax = x_s + u * (x_t - x_s);
                    let ay = side * h * (std::f64::consts::PI * u).sin();
                    let label = if side > 0.0 {
                        Rect {
                            x0: ax - tw / 2.0,
                            x1: ax + tw / 2.0,
                            y0: ay + gap,
                            y1: ay + gap + th,
                        }
                    } else {
                        Rect {
                            x0: ax - tw / 2.0,
                            x1: ax + tw / 2.0,
                            y0: ay - gap - th,
                            y1: ay - gap,
                        }
                    };
                    // Label on label or on a node is HARD; an edge through a label is soft.
                    let mut cost = 0usize;
                    for &j in &done {
                        let p = placed[j].as_ref().expect("placed");
                        cost += HARD * usize::from(label.hits_rect(&p.label, 2.0));
                        cost += usize::from(p.curve.iter().any(|&q| label.hits_point(q, 1.5)));
                        cost += usize::from(curve.iter().any(|&q| p.label.hits_point(q, 1.5)));
                    }
                    cost += usize::from(curve.iter().any(|&q| label.hits_point(q, 1.0)));
                    cost += HARD
                        * nodes
                            .iter()
                            .filter(|&&c| label.hits_circle(c, r + 2.0))
                            .count();
                    for &(cx, _) in &nodes[e.from + 1..e.to] {
                        cost +=
                            usize::from(curve.iter().any(|&(x, y)| (x - cx).hypot(y) < r + 3.0));
                    }
                    // Prefer fewer collisions, then lower levels (already in order).
                    if best.as_ref().is_none_or(|b| cost < b.2) {
                        best = Some((
                            k,
                            Placed {
                                curve: curve.clone(),
                                label,
                            },
                            cost,
                        ));
                    }
                    if cost == 0 {
                        break 'search;
                    }
                }
            }
        }
        let (k, p, _) = best.expect("at least one candidate");
        if k == 0 {
            straight_used.insert((e.from, e.to));
        } else if p.curve.iter().map(|q| q.1).sum::<f64>() > 0.0 {
            above += 1;
        } else {
            below += 1;
        }
        max_level = max_level.max(k);
        placed[i] = Some(p);
        done.push(i);
    }
    let placed: Vec<Placed> = placed.into_iter().map(|p| p.expect("all placed")).collect();
    let mut upper = r;
    let mut lower = r;
    for p in &placed {
        upper = upper.max(p.label.y1);
        lower = lower.max(-p.label.y0);
        for &(_, y) in &p.curve {
            upper = upper.max(y);
            lower = lower.max(-y);
        }
    }
    Geometry {
        fs,
        r,
        xs: xs.to_vec(),
        placed,
        squeezed_needed: upper + lower,
        upper,
    }
}

fn bands(fs: f64) -> (f64, f64) {
    // Title band on top, legend band at the bottom.
    (1.3 * (fs + 2.0) + 14.0, 1.3 * fs + 16.0)
}

fn node_xs(dag: &Dag, width: f64, fs: f64) -> Vec<f64> {
    let (wi, _) = text_size("input", fs);
    let (wo, _) = text_size("output", fs);
    let r = (0.95 * fs).clamp(7.0, 13.0);
    let left = wi + r + 16.0;
    let right = wo + r + 16.0;
    let h = dag.output();
    if h == 0 {
        return vec![width / 2.0];
    }
    let spacing = ((width - left - right) / h as f64).max(2.0 * r + 4.0);
    (0..=h).map(|i| left + i as f64 * spacing).collect()
}

/// Computes the drawing's layout in an area of `size` pixels (see the module docs).
pub fn layout_dag(dag: &Dag, size: (u32, u32)) -> DagLayout {
    let _ = register_fonts();
    let (w, hgt) = (size.0 as f64, size.1 as f64);
    let mut fs = MAX_FONT;
    let geo = loop {
        let xs = node_xs(dag, w, fs);
        let g = place(dag, &xs, fs);
        let (top, bottom) = bands(fs);
        if g.squeezed_needed + 8.0 <= hgt - top - bottom || fs <= MIN_FONT {
            break g;
        }
        fs -= 1.0;
    };
    let (top, bottom) = bands(geo.fs);
    let avail = (hgt - top - bottom - 8.0).max(1.0);
    let scale = if geo.squeezed_needed > avail {
        avail / geo.squeezed_needed
    } else {
        1.0
    };
    // Centre the drawing vertically in the free band.
    let extra = avail - scale * geo.squeezed_needed;
    let axis_y = top + 4.0 + extra / 2.0 + scale * geo.upper;
    let to_px = |(x, y): (f64, f64)| (x, axis_y - scale * y);
    let edges = dag.edges();
    let curves = geo
        .placed
        .iter()
        .map(|p| p.curve.iter().map(|&q| to_px(q)).collect())
        .collect();
    let labels = geo
        .placed
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // Keep the label's size; only its anchor moves with the squeeze.
            let cx = 0.5 * (p.label.x0 + p.label.x1);
            let cy = axis_y - scale * 0.5 * (p.label.y0 + p.label.y1);
            let (hw, hh) = (
                0.5 * (p.label.x1 - p.label.x0),
                0.5 * (p.label.y1 - p.label.y0),
            );
            LabelBox {
                edge: i,
                text: edges[i].label().to_string(),
                x0: cx - hw,
                y0: cy - hh,
                x1: cx + hw,
                y1: cy + hh,
            }
        })
        .collect();
    DagLayout {
        size,
        font_size: geo.fs,
        nodes: geo.xs.iter().map(|&x| (x, axis_y)).collect(),
        node_radius: geo.r,
        curves,
        labels,
        title_y: top / 2.0,
        legend_y: hgt - bottom / 2.0,
        squeezed: scale < 1.0,
    }
}

/// The default figure size for `dag`: width grows with the number of nodes (at least
/// 520 px, about 120 px per node gap, at most 1800 px), height is what the layout needs
/// at the full font size.
pub fn dag_figure_size(dag: &Dag) -> (u32, u32) {
    let _ = register_fonts();
    let w = (120.0 * dag.output() as f64 + 200.0).clamp(520.0, 1800.0);
    let xs = node_xs(dag, w, MAX_FONT);
    let g = place(dag, &xs, MAX_FONT);
    let (top, bottom) = bands(MAX_FONT);
    (
        w as u32,
        (g.squeezed_needed + top + bottom + 24.0).ceil() as u32,
    )
}

const LINEAR_COLOR: RGBColor = RGBColor(31, 100, 200);
const SKIP_COLOR: RGBColor = RGBColor(60, 60, 60);
const ZERO_COLOR: RGBColor = RGBColor(190, 190, 190);

fn style_of(op: Op) -> (RGBColor, u32) {
    match op {
        Op::Linear => (LINEAR_COLOR, 2),
        Op::Skip => (SKIP_COLOR, 2),
        Op::Zero => (ZERO_COLOR, 2),
    }
}

fn px(p: (f64, f64)) -> (i32, i32) {
    (p.0.round() as i32, p.1.round() as i32)
}

fn draw_edge_line<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pts: Vec<(i32, i32)>,
    op: Op,
) -> Result<(), PlotError> {
    let (color, width) = style_of(op);
    let style = ShapeStyle::from(&color).stroke_width(width);
    let dashed = match op {
        Op::Skip => true,
        Op::Zero | Op::Linear => false,
    };
    if dashed {
        area.draw(&plotters::element::DashedPathElement::new(pts, 7, 5, style))
            .map_err(drawing("dag"))
    } else {
        area.draw(&PathElement::new(pts, style))
            .map_err(drawing("dag"))
    }
}

/// Draws `dag` (Fig. 3 style; module docs) with `title` on top and a legend below.
///
/// ```
/// use archconv::{plot, Dag};
/// let svg = plot::render_svg((600, 300), |a| plot::draw_dag(a, &Dag::dag2(), "DAG#2 (parallel)"))?;
/// assert!(svg.contains("DAG#2 (parallel)") && svg.contains("skip"));
/// # Ok::<(), archconv::plot::PlotError>(())
/// ```
pub fn draw_dag<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    dag: &Dag,
    title: &str,
) -> Result<(), PlotError> {
    register_fonts()?;
    area.fill(&WHITE).map_err(drawing("dag"))?;
    let (w, h) = area.dim_in_pixel();
    let lay = layout_dag(dag, (w, h));
    let fs = lay.font_size;
    let center = Pos::new(HPos::Center, VPos::Center);
    area.draw_text(
        title,
        &TextStyle::from((FONT, fs + 3.0).into_font().style(FontStyle::Bold)).pos(center),
        px((w as f64 / 2.0, lay.title_y)),
    )
    .map_err(drawing("dag"))?;
    // Removed edges first so the others draw over them.
    let edges = dag.edges();
    let mut order: Vec<usize> = (0..edges.len()).collect();
    order.sort_by_key(|&i| !edges[i].op.is_absent());
    for &i in &order {
        let pts = lay.curves[i].iter().map(|&p| px(p)).collect();
        draw_edge_line(area, pts, edges[i].op)?;
    }
    // Labels on a translucent white halo so edges passing behind do not hide them.
    for &i in &order {
        let l = &lay.labels[i];
        area.draw(&Rectangle::new(
            [px((l.x0 - 1.0, l.y0)), px((l.x1 + 1.0, l.y1))],
            WHITE.mix(0.85).filled(),
        ))
        .map_err(drawing("dag"))?;
    }
    for &i in &order {
        let l = &lay.labels[i];
        let (color, _) = style_of(edges[i].op);
        let color = if edges[i].op.is_absent() {
            RGBColor(150, 150, 150)
        } else {
            color
        };
        area.draw_text(
            &l.text,
            &TextStyle::from((FONT, fs).into_font())
                .color(&color)
                .pos(center),
            px((0.5 * (l.x0 + l.x1), 0.5 * (l.y0 + l.y1))),
        )
        .map_err(drawing("dag"))?;
    }
    let r = lay.node_radius;
    for (k, &c) in lay.nodes.iter().enumerate() {
        let c = px(c);
        area.draw(&Circle::new(c, r as i32, ShapeStyle::from(&WHITE).filled()))
            .map_err(drawing("dag"))?;
        area.draw(&Circle::new(
            c,
            r as i32,
            ShapeStyle::from(&BLACK).stroke_width(2),
        ))
        .map_err(drawing("dag"))?;
        area.draw_text(
            &k.to_string(),
            &TextStyle::from((FONT, fs).into_font()).pos(center),
            c,
        )
        .map_err(drawing("dag"))?;
    }
    if let (Some(&first), Some(&last)) = (lay.nodes.first(), lay.nodes.last()) {
        if lay.nodes.len() > 1 {
            let right = Pos::new(HPos::Right, VPos::Center);
            let left = Pos::new(HPos::Left, VPos::Center);
            let ts = TextStyle::from((FONT, fs).into_font().style(FontStyle::Oblique));
            area.draw_text("input", &ts.pos(right), px((first.0 - r - 6.0, first.1)))
                .map_err(drawing("dag"))?;
            area.draw_text("output", &ts.pos(left), px((last.0 + r + 6.0, last.1)))
                .map_err(drawing("dag"))?;
        }
    }
    draw_legend(area, fs, lay.legend_y)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    fs: f64,
    y: f64,
) -> Result<(), PlotError> {
    let items = [
        (Op::Linear, "parameterized (linear / conv)"),
        (Op::Skip, "skip (identity / pool)"),
        (Op::Zero, "removed (none)"),
    ];
    let sample = 30.0;
    let widths: Vec<f64> = items.iter().map(|(_, t)| text_size(t, fs).0).collect();
    let total: f64 =
        widths.iter().map(|w| w + sample + 8.0).sum::<f64>() + 24.0 * (items.len() - 1) as f64;
    let (w, _) = area.dim_in_pixel();
    let mut x = (w as f64 - total) / 2.0;
    let left = Pos::new(HPos::Left, VPos::Center);
    for ((op, text), tw) in items.iter().zip(widths) {
        draw_edge_line(area, vec![px((x, y)), px((x + sample, y))], *op)?;
        area.draw_text(
            text,
            &TextStyle::from((FONT, fs).into_font()).pos(left),
            px((x + sample + 8.0, y)),
        )
        .map_err(drawing("dag"))?;
        x += sample + 8.0 + tw + 24.0;
    }
    Ok(())
}

/// Draws several DAGs stacked vertically (the paper's Fig. 3 shows DAG#1-#3), each in a
/// band proportional to its [`dag_figure_size`] height.
pub fn draw_dags<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    dags: &[(&str, &Dag)],
) -> Result<(), PlotError> {
    register_fonts()?;
    if dags.is_empty() {
        return Err(PlotError::Empty {
            figure: "dag",
            what: "the list of DAGs".to_string(),
        });
    }
    area.fill(&WHITE).map_err(drawing("dag"))?;
    let (w, h) = area.dim_in_pixel();
    let wanted: Vec<f64> = dags
        .iter()
        .map(|(_, d)| dag_figure_size(d).1 as f64)
        .collect();
    let total: f64 = wanted.iter().sum();
    let mut y = 0.0f64;
    for ((title, dag), hw) in dags.iter().zip(wanted) {
        let band = h as f64 * hw / total;
        let sub = area
            .clone()
            .shrink((0, y.round() as i32), (w, band.round() as u32));
        draw_dag(&sub, dag, title)?;
        y += band;
    }
    Ok(())
}
