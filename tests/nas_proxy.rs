//! Exact-kernel proxy over NAS-Bench-201 (issue 7): the per-class cache must give the same
//! numbers as computing each cell directly, and classes must only merge cells whose op
//! classes agree.

use archconv::dag::format::Nb201Arch;
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::nas::proxy::{ProxyOptions, ProxyScores, ProxyStudy, PROXIES};
use archconv::nas::{nb201_geometry, Nb201Table};
use archconv::spectrum::SpectrumSummary;
use std::sync::OnceLock;

fn scores() -> &'static ProxyScores {
    static S: OnceLock<ProxyScores> = OnceLock::new();
    S.get_or_init(|| ProxyScores::compute(ProxyOptions::default()).unwrap())
}

#[test]
fn every_op_class_graph_is_computed_once() {
    let s = scores();
    assert_eq!(s.scores.len(), 15_625);
    assert_eq!(s.classes, 729, "3^6 op-class graphs");
}

#[test]
fn cached_scores_equal_direct_kernel_computation() {
    let s = scores();
    let o = ProxyOptions::default();
    let x = Inputs::gaussian(o.n, o.dim, o.seed);
    let inputs = Inputs::from_data(x.view(), Lift::Dense).unwrap();
    // A deterministic spread of cells (every 397th; 397 is prime, so all op patterns mix).
    for (i, cell) in Nb201Arch::all().enumerate().step_by(397) {
        let dag = cell.dag();
        match s.scores[i] {
            None => assert!(
                inputs.kernel(&dag, KernelKind::Exact).is_err(),
                "{cell}: no path"
            ),
            Some(k) => {
                for (j, kind) in KernelKind::ALL.into_iter().enumerate() {
                    let g = inputs.kernel(&dag, kind).unwrap().into_output_gram();
                    let sum = SpectrumSummary::of(&g).unwrap();
                    assert_eq!(k[j].lambda_min, sum.lambda_min, "{cell} {kind}");
                    assert_eq!(
                        k[j].normalized,
                        sum.normalized_lambda_min.unwrap(),
                        "{cell} {kind}"
                    );
                }
            }
        }
    }
}

#[test]
fn cells_differing_only_in_op_names_of_one_class_share_scores() {
    let s = scores();
    let idx = |ops: [&str; 6]| {
        let target = Nb201Arch::from_ops(ops).to_string();
        Nb201Arch::all()
            .position(|a| a.to_string() == target)
            .unwrap()
    };
    let a = idx([
        "nor_conv_3x3",
        "skip_connect",
        "nor_conv_1x1",
        "none",
        "avg_pool_3x3",
        "nor_conv_3x3",
    ]);
    let b = idx([
        "nor_conv_1x1",
        "avg_pool_3x3",
        "nor_conv_3x3",
        "none",
        "skip_connect",
        "nor_conv_1x1",
    ]);
    assert_eq!(s.scores[a], s.scores[b]);
    // A chain: all three kernels agree (PAPER.md section 7), so do their lambda_min.
    let chain = idx([
        "nor_conv_3x3",
        "none",
        "nor_conv_3x3",
        "none",
        "none",
        "nor_conv_3x3",
    ]);
    let k = s.scores[chain].unwrap();
    assert!(
        (k[0].lambda_min - k[2].lambda_min).abs() < 1e-10
            && (k[1].lambda_min - k[2].lambda_min).abs() < 1e-10
    );
    // No path: no score.
    assert_eq!(s.scores[idx(["none"; 6])], None);
}

#[test]
fn proxy_study_on_the_fixture_uses_defined_cells_only() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nb201_small.csv"
    ))
    .unwrap();
    let (table, _) = Nb201Table::parse_lenient(&text, "fixture").unwrap();
    let (points, filter) = nb201_geometry();
    let study = ProxyStudy::compute(&table, &points, filter, scores());
    assert_eq!(
        study.cells, 12,
        "15 cells minus 2 skip-only minus 1 without a path"
    );
    assert_eq!(study.correlations.len(), PROXIES.len() * 3);
    for c in &study.correlations {
        assert_eq!(c.n, 12);
        if let Some(t) = c.kendall_tau_b {
            assert!((-1.0..=1.0).contains(&t));
        }
    }
}
