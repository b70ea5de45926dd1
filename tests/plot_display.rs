//! Notebook display: the HTML of each displayable type shows the right numbers. Expected
//! values come from PAPER.md (path counts, effective depth/width, NB201 filter box) or
//! from closed forms (2x2 eigenvalues, the path-sum bound), not from the code under test.

use archconv::display::{escape, evcxr_block, fmt_num};
use archconv::kernel::relu::h;
use archconv::report::{md_table, Report};
use archconv::{
    analyze, AnalyzeOptions, Dag, Edge, Figure, Inputs, Lift, Op, PathStats, SpectrumSummary,
};
use ndarray::array;

/// The `<td>` cells of the HTML, in order.
fn cells(html: &str) -> Vec<String> {
    html.split("<td>")
        .skip(1)
        .filter_map(|c| Some(c.split_once("</td>")?.0.to_string()))
        .collect()
}

/// Whether some table row holds `key` followed directly by `value`.
fn has_row(html: &str, key: &str, value: &str) -> bool {
    let c = cells(html);
    c.windows(2).any(|w| w[0] == key && w[1] == value)
}

#[test]
fn evcxr_block_frames_content_with_its_mime() {
    assert_eq!(
        evcxr_block("text/html", "<b>x</b>"),
        "EVCXR_BEGIN_CONTENT text/html\n<b>x</b>\nEVCXR_END_CONTENT\n"
    );
    assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
}

#[test]
fn path_stats_html_shows_the_paper_values_of_dag1_to_dag3() {
    // PAPER.md section 3: DAG#1 one path d=3; DAG#2 three paths d=1,1,1; DAG#3 four paths
    // d=0,1,2,2. dbar = sum d / P, mbar = #{d>0} / dbar.
    let cases = [
        (
            Dag::dag1(),
            "1",
            "3",
            "3.000000 (3)",
            "0.333333 (1/3)",
            vec![("3", "1")],
        ),
        (
            Dag::dag2(),
            "3",
            "3",
            "1.000000 (1)",
            "3.000000 (3)",
            vec![("1", "3")],
        ),
        (
            Dag::dag3(),
            "4",
            "5",
            "1.250000 (5/4)",
            "2.400000 (12/5)",
            vec![("0", "1"), ("1", "1"), ("2", "2")],
        ),
    ];
    for (dag, p, sum, depth, width, hist) in cases {
        let html = PathStats::of(&dag).unwrap().to_html();
        let what = dag.describe();
        assert!(has_row(&html, "paths P", p), "{what}: P\n{html}");
        assert!(has_row(&html, "sum of d_p", sum), "{what}: sum d_p");
        assert!(
            has_row(&html, "effective depth d̄", depth),
            "{what}: depth\n{html}"
        );
        assert!(has_row(&html, "effective width m̄", width), "{what}: width");
        for (d, n) in hist {
            assert!(has_row(&html, d, n), "{what}: n({d}) = {n}\n{html}");
        }
    }
}

#[test]
fn path_stats_html_says_why_depth_is_undefined() {
    let skip_only = Dag::new(2, vec![Edge::new(0, 1, Op::Skip)]).unwrap();
    let html = PathStats::of(&skip_only).unwrap().to_html();
    assert!(html.contains("skip-only"), "{html}");
    assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
    let no_path = Dag::new(3, vec![Edge::new(0, 1, Op::Linear)]).unwrap();
    let html = PathStats::of(&no_path).unwrap().to_html();
    assert!(
        has_row(&html, "paths P", "0") && html.contains("no path"),
        "{html}"
    );
}

#[test]
fn spectrum_html_shows_closed_form_eigenvalues() {
    // [[2, 1], [1, 2]] has eigenvalues 1 and 3: condition 3, mean diagonal 2, normalised 1/2.
    let s = SpectrumSummary::of(&array![[2.0, 1.0], [1.0, 2.0]]).unwrap();
    let html = s.to_html();
    for (k, v) in [
        ("λ_min", "1.000000"),
        ("λ_max", "3.000000"),
        ("condition", "3.000000"),
        ("mean diagonal", "2.000000"),
        ("λ_min / mean diag", "0.500000"),
    ] {
        assert!(has_row(&html, k, v), "{k} = {v}\n{html}");
    }
    // Singular: the condition number is unbounded, said in words.
    let s = SpectrumSummary::of(&array![[1.0, 1.0], [1.0, 1.0]]).unwrap();
    assert!(has_row(&s.to_html(), "condition", "inf (singular)"));
}

#[test]
fn analysis_html_has_pathsum_bound_of_dag3() {
    // Two unit inputs with correlation c: the path-sum output Gram of DAG#3 is
    // [[4, k], [k, 4]] with k = c + h(c) + 2 h(h(c)) (PAPER.md section 3), so
    // lambda_min = 4 - k = lambda_3.
    let c = 0.5;
    let inputs = Inputs::from_gram(array![[1.0, c], [c, 1.0]], Lift::Dense).unwrap();
    let a = analyze(&Dag::dag3(), &inputs, &AnalyzeOptions::default()).unwrap();
    let html = a.to_html();
    let lambda3 = 4.0 - (c + h(c) + 2.0 * h(h(c)));
    let c = cells(&html);
    let row = c
        .iter()
        .position(|x| x == "path-sum")
        .expect("path-sum row");
    assert_eq!(c[row + 1], fmt_num(lambda3), "path-sum lambda_min\n{html}");
    // Mean diagonal of the path-sum kernel is P = 4.
    assert_eq!(c[row + 5], fmt_num(4.0));
    for k in ["independent-branch", "exact"] {
        assert!(c.iter().any(|x| x == k), "row {k} missing");
    }
    assert!(has_row(&html, "paths P", "4"));
}

#[test]
fn space_html_shows_the_nb201_filter_box() {
    // PAPER.md section 4: exact NB201 ranges d in [0.25, 3], m in [1/3, 4]; center
    // (1.625, 13/6), half-radius (0.6875, 11/12); 15,625 cells.
    let html = archconv::space::nb201_space().to_html();
    assert!(has_row(&html, "cells", "15625"));
    assert!(
        has_row(&html, "effective depth range", "(0.250000, 3.000000)"),
        "{html}"
    );
    assert!(has_row(
        &html,
        "effective width range",
        "(0.333333, 4.000000)"
    ));
    assert!(has_row(&html, "center (d̄, m̄)", "(1.625000, 2.166667)"));
    assert!(has_row(&html, "half-radius", "(0.687500, 0.916667)"));
    // Every cell is counted in exactly one group.
    let s = archconv::space::nb201_space();
    let in_groups: usize = s.groups.iter().map(|g| g.2).sum();
    assert_eq!(in_groups + s.no_path + s.zero_depth, 15_625);
}

#[test]
fn dag_html_has_drawing_and_one_row_per_edge() {
    let dag = Dag::parse(
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|sep_conv_3x3~2|",
    )
    .unwrap();
    let html = dag.to_html();
    assert!(html.contains("<svg"), "no inline drawing");
    assert_eq!(html.matches("<tr><td>").count(), 6, "one row per edge");
    let c = cells(&html);
    // Row for 1 -> 2: class skip, name avg_pool_3x3.
    assert!(
        c.windows(4)
            .any(|w| w == ["1", "2", "skip", "avg_pool_3x3"]),
        "{c:?}"
    );
    assert!(
        c.windows(4).any(|w| w == ["0", "2", "zero", "none"]),
        "{c:?}"
    );
    assert!(html.contains("3 linear, 2 skip, 1 removed"), "{html}");
}

#[test]
fn report_html_turns_markdown_tables_into_tables_and_escapes() {
    let mut r = Report::default();
    let md = format!(
        "Bounds at c = 0.5.\n\n{}",
        md_table(
            &["DAG", "bound"],
            &[
                vec!["DAG#1".into(), "0.25".into()],
                vec!["DAG#2".into(), "1.5".into()]
            ]
        )
    );
    r.push(
        "bounds",
        "Eigenvalue bounds",
        md,
        serde_json::json!({}),
        vec!["bounds.svg".into()],
    );
    r.skipped.push("training: <MNIST> absent".into());
    let html = r.to_html();
    assert!(html.contains("<h3>Eigenvalue bounds</h3>"));
    assert!(html.contains("<th>DAG</th><th>bound</th>"), "{html}");
    assert!(has_row(&html, "DAG#2", "1.5"));
    assert!(
        !cells(&html).iter().any(|c| c.starts_with("---")),
        "separator row leaked: {html}"
    );
    assert!(html.contains("<p>Bounds at c = 0.5.</p>"));
    assert!(html.contains("<code>bounds.svg</code>"));
    assert!(html.contains("training: &lt;MNIST&gt; absent"));
}

#[test]
fn figure_html_embeds_the_svg() {
    let fig = Figure::dag(&Dag::dag1(), "DAG#1").unwrap();
    let html = fig.to_html();
    assert!(html.contains(fig.svg()) && fig.svg().contains("DAG#1"));
    let (w, h) = fig.size();
    assert!(
        fig.svg().contains(&format!("width=\"{w}\""))
            && fig.svg().contains(&format!("height=\"{h}\""))
    );
}
