//! Figures: every figure kind renders to SVG (labels and data marks present) and to PNG
//! (decodes, right size, not blank); text is drawn from the embedded font; DAG labels
//! never overlap; bad data gives typed errors.
//!
//! Set `ARCHCONV_PLOT_OUT=/some/dir` to keep the rendered files for a look.

use archconv::dag::format::Nb201Arch;
use archconv::kernel::relu::h_iter;
use archconv::plot::{self, *};
use archconv::{Dag, Edge, Inputs, KernelKind, Lift, Op, PathStats};
use ndarray::array;
use std::path::PathBuf;

fn out_dir(test: &str) -> PathBuf {
    let base = std::env::var_os("ARCHCONV_PLOT_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("archconv-plot-tests-{}", std::process::id()))
        });
    base.join(test)
}

/// The contents of the SVG's `<text>` elements, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            Some(
                t.split_once('>')?
                    .1
                    .split_once("</text>")?
                    .0
                    .trim()
                    .to_string(),
            )
        })
        .collect()
}

fn count(svg: &str, tag: &str) -> usize {
    svg.matches(&format!("<{tag}")).count()
}

/// Decodes a PNG and returns (width, height, fraction of non-white pixels, number of
/// distinct colours).
fn png_stats(path: &std::path::Path) -> (u32, u32, f64, usize) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .to_rgb8();
    let (w, h) = img.dimensions();
    let mut ink = 0usize;
    let mut colours = std::collections::HashSet::new();
    for p in img.pixels() {
        if p.0 != [255, 255, 255] {
            ink += 1;
        }
        if colours.len() < 10_000 {
            colours.insert(p.0);
        }
    }
    (w, h, ink as f64 / (w as f64 * h as f64), colours.len())
}

fn assert_png(path: &std::path::Path, size: (u32, u32)) {
    let (w, h, ink, colours) = png_stats(path);
    assert_eq!((w, h), size, "{} has the wrong size", path.display());
    // A figure with axes, text and data covers well over 1% of the canvas and uses many
    // colours (antialiased text alone gives dozens of grey levels).
    assert!(
        ink > 0.01,
        "{} is (nearly) blank: {:.4} of pixels non-white",
        path.display(),
        ink
    );
    assert!(
        colours > 20,
        "{} has only {colours} colours",
        path.display()
    );
}

/// lambda_1, lambda_2, lambda_3 of PAPER.md section 3 for DAG#(dag+1).
fn closed_bound(dag: usize, c: f64) -> f64 {
    match dag {
        0 => 1.0 - h_iter(c, 3),
        1 => 3.0 * (1.0 - h_iter(c, 1)),
        _ => 4.0 - (c + h_iter(c, 1) + 2.0 * h_iter(c, 2)),
    }
}

/// The three bounds computed independently of `pathsum_bound`, from the closed forms of
/// PAPER.md section 3, plus exact-kernel 2x2 lambda_min at a few c.
fn bound_data() -> BoundCurves {
    let c: Vec<f64> = (0..=40)
        .map(|i| -0.2 + 1.2 * i as f64 / 40.0)
        .filter(|&c| c <= 0.999)
        .collect();
    let mut data = BoundCurves::new(c.clone());
    for (i, (name, dag)) in Dag::paper_dags().into_iter().enumerate() {
        let exact = [0.0, 0.25, 0.5, 0.75]
            .iter()
            .map(|&cc| {
                let inputs = Inputs::from_gram(array![[1.0, cc], [cc, 1.0]], Lift::Dense).unwrap();
                let k = inputs
                    .kernel(&dag, KernelKind::Exact)
                    .unwrap()
                    .into_output_gram();
                (cc, archconv::spectrum::lambda_min(&k).unwrap())
            })
            .collect();
        data.series.push(BoundSeries {
            name: name.to_string(),
            bound: c.iter().map(|&x| closed_bound(i, x)).collect(),
            exact,
        });
    }
    data
}

fn mc_data() -> McErrorData {
    let widths: Vec<f64> = (6..=12).map(|k| (1u32 << k) as f64).collect();
    let mut data = McErrorData::new();
    data.series.push(McSeries {
        name: "exact kernel".into(),
        error: widths.iter().map(|m| 0.9 / m.sqrt()).collect(),
        error_std: Some(widths.iter().map(|m| 0.3 / m.sqrt()).collect()),
        widths: widths.clone(),
    });
    data.series.push(McSeries {
        name: "path-sum kernel".into(),
        error: widths.iter().map(|m| 0.05 + 0.9 / m.sqrt()).collect(),
        error_std: None,
        widths,
    });
    data
}

fn training_data() -> TrainingData {
    let epochs: Vec<f64> = (1..=30).map(f64::from).collect();
    let mut data = TrainingData::new();
    for (ds, top) in [("MNIST", 95.0), ("CIFAR-10", 45.0)] {
        let curves = [("DAG#1", 12.0), ("DAG#2", 8.0), ("DAG#3", 4.0)]
            .iter()
            .map(|&(name, tau)| TrainingCurve {
                name: name.into(),
                epochs: epochs.clone(),
                mean: epochs
                    .iter()
                    .map(|e| top * (1.0 - (-e / tau).exp()))
                    .collect(),
                std: Some(
                    epochs
                        .iter()
                        .map(|e| 1.0 + 2.0 * (-e / 10.0).exp())
                        .collect(),
                ),
            })
            .collect();
        data.panels.push(TrainingPanel {
            dataset: ds.into(),
            curves,
        });
    }
    data
}

/// The real NB201 (dbar, mbar) groups with a made-up accuracy surface (the figure test
/// needs realistic positions, not real accuracies).
fn bubble_data() -> BubbleData {
    let space = archconv::space::nb201_space();
    let mut data = BubbleData::new();
    for (ds, base) in [("CIFAR-10", 93.0), ("ImageNet16-120", 45.0)] {
        let points = space
            .groups
            .iter()
            .map(|(d, m, n)| {
                let (d, m) = (d.to_f64(), m.to_f64());
                BubblePoint {
                    depth: d,
                    width: m,
                    mean: base - 8.0 * (d - 1.6).powi(2) - 3.0 * (m - 2.2).powi(2),
                    spread: 0.5 + 2.0 / (*n as f64).sqrt(),
                }
            })
            .collect();
        data.panels.push(BubblePanel {
            dataset: ds.into(),
            points,
            correlation: Some(0.4321),
        });
    }
    data
}

fn bar_data() -> BarData {
    BarData {
        title: "Largest stable step size".into(),
        x_label: "architecture".into(),
        y_label: "step size η".into(),
        categories: vec!["DAG#1".into(), "DAG#2".into(), "DAG#3".into()],
        groups: vec![
            BarGroup {
                name: "2 / λ_max(NTK)".into(),
                values: vec![0.8, 0.4, 0.3],
            },
            BarGroup {
                name: "observed".into(),
                values: vec![0.75, 0.42, 0.28],
            },
        ],
    }
}

#[test]
fn bounds_figure_has_labels_and_marks() {
    let data = bound_data();
    let svg = bounds_svg_string(&data).unwrap();
    for s in [
        "input correlation c",
        "bound on λ_min(K^H)",
        "DAG#1 path-sum bound",
        "DAG#3 exact kernel",
        &data.title,
    ] {
        assert!(svg.contains(s), "missing `{s}`");
    }
    // 3 exact-kernel series of 4 markers, plus one legend marker each.
    assert_eq!(count(&svg, "circle"), 3 * 4 + 3);
    assert!(count(&svg, "polyline") >= 3);
    let dir = out_dir("bounds");
    save_bounds_svg(dir.join("bounds.svg"), &data).unwrap();
    save_bounds_png(dir.join("bounds.png"), &data).unwrap();
    assert_png(&dir.join("bounds.png"), (820, 540));
}

#[test]
fn mc_error_figure_has_labels_marks_and_guide() {
    let data = mc_data();
    let svg = mc_error_svg_string(&data).unwrap();
    for s in [
        "width m (neurons per layer)",
        "relative error",
        "exact kernel",
        "path-sum kernel",
        "guide",
    ] {
        assert!(svg.contains(s), "missing `{s}`");
    }
    // A marker per point of both series, and plotters' ErrorBar draws one more circle at
    // each mean of the series with bars.
    assert_eq!(count(&svg, "circle"), 2 * 7 + 7);
    let dir = out_dir("mc");
    save_mc_error_png(dir.join("mc.png"), &data).unwrap();
    assert_png(&dir.join("mc.png"), (820, 540));
}

#[test]
fn training_figure_has_one_panel_per_dataset_and_bands() {
    let data = training_data();
    let svg = training_svg_string(&data).unwrap();
    for s in [
        "MNIST",
        "CIFAR-10",
        "epoch",
        "training accuracy (%)",
        "DAG#2 (mean ± std)",
    ] {
        assert!(svg.contains(s), "missing `{s}`");
    }
    // One band per curve per panel.
    assert_eq!(count(&svg, "polygon"), 2 * 3);
    assert_eq!(
        svg.matches("training accuracy (%)").count(),
        2,
        "one y label per panel"
    );
    let dir = out_dir("training");
    save_training_png(dir.join("training.png"), &data).unwrap();
    assert_png(&dir.join("training.png"), (20 + 2 * 560, 500));
}

#[test]
fn bubble_figure_has_colorbar_sizes_and_correlation() {
    let data = bubble_data();
    let n = data.panels[0].points.len();
    let svg = bubbles_svg_string(&data).unwrap();
    for s in [
        "effective depth",
        "effective width",
        "mean accuracy (%)",
        "R = 0.432",
        "ImageNet16-120",
        "std of accuracy (%) max",
    ] {
        assert!(svg.contains(s), "missing `{s}`");
    }
    // Two circles (fill + outline) per group per panel, and two legend size markers.
    assert_eq!(count(&svg, "circle"), 2 * (2 * n + 2));
    // Colour bar: 64 slices per panel.
    assert!(count(&svg, "rect") >= 2 * 64);
    let dir = out_dir("bubbles");
    save_bubbles_png(dir.join("bubbles.png"), &data).unwrap();
    assert_png(&dir.join("bubbles.png"), (20 + 2 * 640, 560));
}

#[test]
fn bar_figure_has_categories_and_values() {
    let data = bar_data();
    let svg = bars_svg_string(&data).unwrap();
    for s in ["DAG#1", "DAG#3", "observed", "step size η", "0.420"] {
        assert!(svg.contains(s), "missing `{s}`");
    }
    let dir = out_dir("bars");
    save_bars_png(dir.join("bars.png"), &data).unwrap();
    assert_png(&dir.join("bars.png"), (760, 500));
}

#[test]
fn dag_figure_shows_nodes_edges_and_legend() {
    let dag = Dag::dag3();
    let svg = dag_svg_string(&dag, "DAG#3 (mixed)").unwrap();
    for s in [
        "DAG#3 (mixed)",
        "input",
        "output",
        "parameterized",
        "skip (identity / pool)",
        "removed (none)",
    ] {
        assert!(svg.contains(s), "missing `{s}`");
    }
    // Two circles per node (fill + outline).
    assert_eq!(count(&svg, "circle"), 2 * dag.num_nodes());
    // Each edge's label appears as a text element.
    let t = texts(&svg);
    assert_eq!(
        t.iter().filter(|s| *s == "linear").count(),
        3,
        "DAG#3 has three linear edges: {t:?}"
    );
    assert_eq!(
        t.iter().filter(|s| *s == "skip").count(),
        3,
        "DAG#3 has three skip edges: {t:?}"
    );
    for k in 0..dag.num_nodes() {
        assert!(t.contains(&k.to_string()), "node {k} unlabelled: {t:?}");
    }
    let dir = out_dir("dag");
    let refs: Vec<(&str, Dag)> = Dag::paper_dags().into_iter().collect();
    let list: Vec<(&str, &Dag)> = refs.iter().map(|(n, d)| (*n, d)).collect();
    save_dags_svg(dir.join("fig3.svg"), &list).unwrap();
    save_dags_png(dir.join("fig3.png"), &list).unwrap();
    assert_png(&dir.join("fig3.png"), dags_figure_size(&list));
    let nb = Dag::parse(
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|sep_conv_3x3~2|",
    )
    .unwrap();
    save_dag_png(dir.join("nb201.png"), &nb, "NB201 cell").unwrap();
    let big = Dag::complete(12, Op::Linear);
    save_dag_png(dir.join("complete12.png"), &big, "complete DAG, 12 nodes").unwrap();
    assert_png(&dir.join("complete12.png"), dag_figure_size(&big));
}

/// Checks the layout's promises: labels pairwise disjoint, off the nodes and inside the
/// area, and no squeezing at the default size.
fn assert_clean_layout(dag: &Dag, what: &str) {
    let size = dag_figure_size(dag);
    let lay = layout_dag(dag, size);
    assert!(
        !lay.squeezed,
        "{what}: squeezed at its default size {size:?}"
    );
    assert_eq!(lay.labels.len(), dag.edges().len());
    for (i, a) in lay.labels.iter().enumerate() {
        assert!(
            a.x0 >= 0.0 && a.y0 >= 0.0 && a.x1 <= size.0 as f64 && a.y1 <= size.1 as f64,
            "{what}: label {a:?} outside {size:?}"
        );
        for b in &lay.labels[i + 1..] {
            assert!(!a.overlaps(b), "{what}: labels overlap: {a:?} and {b:?}");
        }
        for &(cx, cy) in &lay.nodes {
            let dx = (a.x0 - cx).max(0.0).max(cx - a.x1);
            let dy = (a.y0 - cy).max(0.0).max(cy - a.y1);
            assert!(
                dx.hypot(dy) >= lay.node_radius,
                "{what}: label {a:?} covers node at ({cx}, {cy})"
            );
        }
    }
}

#[test]
fn dag_labels_never_overlap_paper_and_complete_dags() {
    for (name, dag) in Dag::paper_dags() {
        assert_clean_layout(&dag, name);
    }
    for n in 2..=12 {
        assert_clean_layout(&Dag::complete(n, Op::Linear), &format!("complete({n})"));
    }
    // Multi-edges and all three classes between the same pair.
    let multi = Dag::new(
        3,
        vec![
            Edge::new(0, 1, Op::Linear),
            Edge::new(0, 1, Op::Skip),
            Edge::new(0, 1, Op::Zero),
            Edge::new(1, 2, Op::Linear),
            Edge::new(0, 2, Op::Skip),
        ],
    )
    .unwrap();
    assert_clean_layout(&multi, "multi-edge");
}

#[test]
fn dag_labels_never_overlap_any_nb201_cell() {
    // Every one of the 15,625 cells (benchmark op names as labels).
    for arch in Nb201Arch::all() {
        assert_clean_layout(&arch.dag(), &arch.to_string());
    }
}

mod random_dags {
    use super::*;
    use proptest::prelude::*;

    fn dag_strategy() -> impl Strategy<Value = Dag> {
        (2usize..=11).prop_flat_map(|n| {
            let pairs: Vec<(usize, usize)> =
                (1..n).flat_map(|t| (0..t).map(move |s| (s, t))).collect();
            proptest::collection::vec(proptest::option::of(0u8..3), pairs.len()).prop_map(
                move |ops| {
                    let edges = pairs
                        .iter()
                        .zip(ops)
                        .filter_map(|(&(s, t), op)| {
                            let op = [Op::Zero, Op::Skip, Op::Linear][op? as usize];
                            Some(Edge::new(s, t, op))
                        })
                        .collect();
                    Dag::new(n, edges).unwrap()
                },
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha, ..ProptestConfig::default() })]
        #[test]
        fn labels_of_random_dags_never_overlap(dag in dag_strategy()) {
            assert_clean_layout(&dag, &dag.to_string());
        }
    }
}

#[test]
fn embedded_font_draws_text_into_png() {
    // The PNG text path needs glyphs from the embedded font (no system fonts are used):
    // a text-only image must get ink, and a longer string more ink.
    let dir = out_dir("font");
    let ink_of = |text: &str, file: &str| {
        let path = dir.join(file);
        plot::save_png(&path, (400, 60), |a| {
            use plotters::prelude::*;
            a.fill(&WHITE).unwrap();
            a.draw_text(text, &(plot::FONT, 24).into_font().color(&BLACK), (10, 15))
                .map_err(|e| PlotError::Drawing {
                    figure: "font",
                    message: e.to_string(),
                })
        })
        .unwrap();
        png_stats(&path).2
    };
    let short = ink_of("λ", "short.png");
    let long = ink_of("input correlation c", "long.png");
    assert!(short > 0.0, "no glyph drawn");
    assert!(
        long > 3.0 * short,
        "longer text should draw more ink: {long} vs {short}"
    );
}

#[test]
fn bad_data_gives_typed_errors() {
    let mut data = bound_data();
    data.series[1].bound.pop();
    assert!(
        matches!(bounds_svg_string(&data), Err(PlotError::Length { ref series, what: "bound", .. }) if series == "DAG#2")
    );
    let mut data = bound_data();
    data.series[0].bound[3] = f64::NAN;
    assert!(matches!(
        bounds_svg_string(&data),
        Err(PlotError::BadValue { index: 3, .. })
    ));
    let mut data = mc_data();
    data.series[0].error[2] = 0.0;
    assert!(matches!(
        mc_error_svg_string(&data),
        Err(PlotError::BadValue {
            index: 2,
            why: "not positive on a log axis",
            ..
        })
    ));
    assert!(matches!(
        training_svg_string(&TrainingData::new()),
        Err(PlotError::Empty { .. })
    ));
    let mut data = bubble_data();
    data.panels[1].points.clear();
    assert!(
        matches!(bubbles_svg_string(&data), Err(PlotError::Empty { ref what, .. }) if what.contains("ImageNet16-120"))
    );
    let mut data = bar_data();
    data.groups[0].values.push(1.0);
    assert!(matches!(
        bars_svg_string(&data),
        Err(PlotError::Length {
            expected: 3,
            got: 4,
            ..
        })
    ));
}

#[test]
fn save_creates_missing_folders_and_reports_unwritable_paths() {
    let dir = out_dir("nested").join("a").join("b");
    save_dag_svg(dir.join("d.svg"), &Dag::dag1(), "DAG#1").unwrap();
    assert!(dir.join("d.svg").exists());
    // A file where a folder should be: an Io error naming the path.
    let blocker = out_dir("nested").join("file");
    std::fs::write(&blocker, "x").unwrap();
    let err = save_dag_svg(blocker.join("d.svg"), &Dag::dag1(), "DAG#1").unwrap_err();
    assert!(
        matches!(err, PlotError::Io { ref path, .. } if path.ends_with("d.svg")),
        "{err}"
    );
}

#[test]
fn figure_data_round_trips_through_json() {
    let data = bubble_data();
    // serde_json's default float parser may be off by one ulp: compare within 4 ulps.
    let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs());
    let back: BubbleData = serde_json::from_str(&serde_json::to_string(&data).unwrap()).unwrap();
    assert_eq!(
        (&back.title, &back.spread_label, back.panels.len()),
        (&data.title, &data.spread_label, data.panels.len())
    );
    for (p, q) in back.panels.iter().zip(&data.panels) {
        assert_eq!(
            (&p.dataset, p.correlation, p.points.len()),
            (&q.dataset, q.correlation, q.points.len())
        );
        for (a, b) in p.points.iter().zip(&q.points) {
            assert!(
                close(a.depth, b.depth)
                    && close(a.width, b.width)
                    && close(a.mean, b.mean)
                    && close(a.spread, b.spread),
                "{a:?} vs {b:?}"
            );
        }
    }
    let t = training_data();
    let back: TrainingData = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back.panels.len(), t.panels.len());
    for (p, q) in back.panels.iter().zip(&t.panels) {
        for (a, b) in p.curves.iter().zip(&q.curves) {
            assert_eq!((&a.name, &a.epochs), (&b.name, &b.epochs));
            assert!(a.mean.iter().zip(&b.mean).all(|(x, y)| close(*x, *y)));
        }
    }
}

#[test]
fn paper_dag_path_counts_match_drawn_edges() {
    // The drawing shows every edge: as many curves as edges, one label per edge.
    for (name, dag) in Dag::paper_dags() {
        let lay = layout_dag(&dag, dag_figure_size(&dag));
        assert_eq!(lay.curves.len(), dag.edges().len(), "{name}");
        assert!(PathStats::of(&dag).unwrap().num_paths() >= 1);
    }
}

#[test]
fn theory_figures_writes_files_and_bounds_match_closed_forms() {
    let dir = out_dir("theory");
    let sec = archconv::report::theory::theory_figures(&dir).unwrap();
    for f in &sec.files {
        let p = dir.join(f);
        assert!(p.exists(), "{f} missing");
        if f.ends_with(".png") {
            let (_, _, ink, _) = png_stats(&p);
            assert!(ink > 0.01, "{f} blank");
        }
    }
    // The curves' values equal lambda_1..3 of PAPER.md section 3 (closed forms above).
    let grid = [-0.5, 0.0, 0.3, 0.9];
    let b = BoundCurves::of(&archconv::spectrum::paper_bounds(&grid, &[]).unwrap());
    for (i, s) in b.series.iter().enumerate() {
        for (k, &c) in grid.iter().enumerate() {
            let want = closed_bound(i, c);
            assert!(
                (s.bound[k] - want).abs() <= 1e-12,
                "{} at c={c}: {} vs {want}",
                s.name,
                s.bound[k]
            );
        }
    }
    // The section tabulates the values at the marked correlations.
    assert!(sec.markdown.contains("| 0.5 |"), "{}", sec.markdown);
}
