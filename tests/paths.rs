//! Path statistics: the DP against enumeration, the paper's numbers, exact big counts.
use archconv::dag::format::Nb201Arch;
use archconv::paths::{enumerate_paths, DepthHistograms, PathStats, Ratio, Undefined};
use archconv::space::nb201_space;
use archconv::{Dag, Edge, Op};
use proptest::prelude::*;

/// Statistics recomputed from an explicit path list (the independent route).
fn from_enumeration(dag: &Dag) -> (u128, Vec<u128>, u128) {
    let mut hist = vec![0u128; dag.num_nodes()];
    let mut p = 0;
    let mut sum = 0;
    for path in enumerate_paths(dag) {
        hist[path.depth] += 1;
        p += 1;
        sum += path.depth as u128;
    }
    while hist.len() > 1 && *hist.last().unwrap() == 0 {
        hist.pop();
    }
    (p, hist, sum)
}

#[test]
fn dp_agrees_with_enumeration_on_all_nb201_cells() {
    for a in Nb201Arch::all() {
        let dag = a.dag();
        let s = PathStats::of(&dag).unwrap();
        let (p, hist, sum) = from_enumeration(&dag);
        assert_eq!(
            (s.num_paths(), s.histogram().to_vec(), s.depth_sum()),
            (p, hist, sum),
            "{a}"
        );
    }
}

#[test]
fn paper_dags_have_the_section_3_paths() {
    let expect = [
        (vec![3], 3.0, Some(1.0 / 3.0)),
        (vec![1, 1, 1], 1.0, Some(3.0)),
        (vec![0, 1, 2, 2], 1.25, Some(2.4)),
    ];
    for ((_, dag), (depths, dbar, mbar)) in Dag::paper_dags().into_iter().zip(expect) {
        let s = PathStats::of(&dag).unwrap();
        assert_eq!(s.depths(), depths);
        assert_eq!(s.effective_depth(), Some(dbar));
        let w = s.effective_width().unwrap();
        assert!((w - mbar.unwrap()).abs() < 1e-15);
    }
    let s = PathStats::of(&Dag::dag3()).unwrap();
    assert_eq!(s.effective_width_exact(), Some(Ratio { num: 12, den: 5 }));
    assert_eq!(s.num_parameterized_paths(), 3);
}

#[test]
fn complete_64_node_dag_has_2_pow_62_paths_exactly() {
    let s = PathStats::of(&Dag::complete(64, Op::Linear)).unwrap();
    assert_eq!(s.num_paths(), 1u128 << 62);
    // Paths of depth d choose d-1 intermediate nodes among 62: n(d) = C(62, d-1).
    let mut binom = 1u128;
    for d in 1..=63usize {
        assert_eq!(s.histogram()[d], binom, "depth {d}");
        binom = binom * (62 - (d - 1)) as u128 / d as u128;
    }
    // Mean depth = 1 + 62/2 = 32.
    assert_eq!(s.effective_depth(), Some(32.0));
    // All skip: every path has depth 0 -> width undefined.
    let z = PathStats::of(&Dag::complete(64, Op::Skip)).unwrap();
    assert_eq!(z.num_paths(), 1u128 << 62);
    assert_eq!(z.undefined(), Some(Undefined::ZeroDepth));
    assert_eq!(z.effective_width(), None);
}

#[test]
fn undefined_depth_and_width_have_reasons() {
    let no_path = Dag::new(3, vec![Edge::new(0, 1, Op::Linear)]).unwrap();
    let s = PathStats::of(&no_path).unwrap();
    assert_eq!(s.num_paths(), 0);
    assert_eq!(s.undefined(), Some(Undefined::NoPath));
    assert_eq!(s.effective_depth(), None);
    assert_eq!(s.effective_width(), None);
    assert!(Undefined::NoPath.to_string().contains("no path"));
    let single = Dag::new(1, vec![]).unwrap();
    assert_eq!(
        PathStats::of(&single).unwrap().undefined(),
        Some(Undefined::ZeroDepth)
    );
}

#[test]
fn nb201_center_and_half_radius_are_exact() {
    let s = nb201_space();
    assert_eq!(s.depth_range, (0.25, 3.0));
    assert!((s.width_range.0 - 1.0 / 3.0).abs() < 1e-15 && s.width_range.1 == 4.0);
    assert_eq!(s.center.0, 1.625);
    assert!((s.center.1 - 13.0 / 6.0).abs() < 1e-15);
    assert_eq!(s.half_radius.0, 0.6875);
    assert!((s.half_radius.1 - 11.0 / 12.0).abs() < 1e-15);
    // Counts add up: defined cells + undefined = 15,625.
    let defined: usize = s.groups.iter().map(|g| g.2).sum();
    assert_eq!(defined + s.no_path + s.zero_depth, 15_625);
    // Narrower filters keep fewer cells.
    assert!(s.kept.windows(2).all(|w| w[0].1 >= w[1].1));
}

#[test]
fn per_node_histograms_count_paths_to_every_node() {
    let h = DepthHistograms::of(&Dag::dag3()).unwrap();
    assert_eq!(h.node(1)[..2], [0, 1]);
    // 0-2 linear (d=1); 0-1 linear then 1-2 skip (d=1). Histograms end at the longest
    // path and are stored from the shortest (issue 17: linear memory on chains).
    assert_eq!(h.node(2), vec![0, 2]);
    assert_eq!(h.sparse(2), (1, &[2u128][..]));
}

fn arb_dag() -> impl Strategy<Value = Dag> {
    (2usize..8).prop_flat_map(|n| {
        proptest::collection::vec((0usize..n, 0usize..n, 0u8..3), 0..16).prop_map(move |raw| {
            let edges = raw
                .into_iter()
                .filter(|(a, b, _)| a != b)
                .map(|(a, b, o)| {
                    let op = [Op::Zero, Op::Skip, Op::Linear][o as usize];
                    Edge::new(a.min(b), a.max(b), op)
                })
                .collect();
            Dag::new(n, edges).unwrap()
        })
    })
}

proptest! {
    #[test]
    fn dp_agrees_with_enumeration_on_random_dags(dag in arb_dag()) {
        let s = PathStats::of(&dag).unwrap();
        let (p, hist, sum) = from_enumeration(&dag);
        prop_assert_eq!(s.num_paths(), p);
        prop_assert_eq!(s.histogram().to_vec(), hist);
        prop_assert_eq!(s.depth_sum(), sum);
        if let (Some(d), Some(w)) = (s.effective_depth(), s.effective_width()) {
            prop_assert!((d - sum as f64 / p as f64).abs() < 1e-12);
            prop_assert!(w > 0.0 && w.is_finite());
        }
    }
}
