//! DARTS normal-cell space (issue 7): counts in closed form and by hand, deduplication
//! invariant under relabelling, DP statistics against path enumeration, and the
//! Genotype route.

use archconv::dag::format::Genotype;
use archconv::nas::darts::{enumerate_cells, DartsSpace};
use archconv::paths::{enumerate_paths, PathStats, Ratio};
use archconv::Op;

fn labelled_closed_form(k: usize) -> usize {
    (0..k).map(|i| (2 + i) * (1 + i) / 2).product::<usize>() << (2 * k)
}

#[test]
fn labelled_counts_match_the_closed_form() {
    for k in 1..=4 {
        assert_eq!(enumerate_cells(k).len(), labelled_closed_form(k), "k = {k}");
    }
    assert_eq!(labelled_closed_form(4), 46_080);
}

#[test]
fn one_intermediate_node_by_hand() {
    // Node 2 takes inputs 0 and 1; paths 0-2-out and 1-2-out. Ops (L, L): d = 1, 1 ->
    // (1, 2); (L, S) or (S, L): d = 1, 0 -> (1/2, 2); (S, S): skip-only.
    let s = DartsSpace::compute(1);
    assert_eq!((s.labelled, s.structures, s.zero_depth), (4, 4, 1));
    let g: Vec<(Ratio, Ratio, usize)> = s.groups.iter().map(|g| (g.0, g.1, g.2)).collect();
    assert_eq!(
        g,
        vec![
            (Ratio::new(1, 2), Ratio::new(2, 1), 2),
            (Ratio::new(1, 1), Ratio::new(2, 1), 1)
        ]
    );
}

#[test]
fn two_intermediate_nodes_dedup_by_hand() {
    // Node 3 reads {0,1}, {0,2} or {1,2}: 3 x 16 op patterns = 48 labelled cells. Only when
    // node 3 reads {0,1} can nodes 2 and 3 swap: those 16 cells form (16 + 4 fixed)/2 = 10
    // structures (fixed: node 3's ops equal node 2's); the other 32 are distinct.
    let s = DartsSpace::compute(2);
    assert_eq!((s.labelled, s.structures), (48, 42));
    assert_eq!(
        s.groups.iter().map(|g| g.3).sum::<usize>() + 3,
        48,
        "labelled multiplicities add up (3 all-skip cells)"
    );
}

#[test]
fn canonical_key_is_invariant_under_valid_relabelling() {
    let perms: Vec<Vec<usize>> = vec![
        vec![0, 1, 2],
        vec![0, 2, 1],
        vec![1, 0, 2],
        vec![1, 2, 0],
        vec![2, 0, 1],
        vec![2, 1, 0],
    ];
    let cells = enumerate_cells(3);
    let key = |c: &archconv::nas::darts::DartsCell| c.canonical_key(&perms);
    // Swapping intermediates 2 and 3 is valid when node 3 does not read node 2; the
    // relabelled cell must appear in the enumeration with the same key and statistics.
    let mut checked = 0;
    for c in &cells {
        let edges: Vec<(usize, usize, bool)> = c.edges().collect();
        if edges.iter().any(|&(s, t, _)| s == 2 && t == 3) {
            continue;
        }
        let swap = |v: usize| match v {
            2 => 3,
            3 => 2,
            v => v,
        };
        let mut want: Vec<(usize, usize, bool)> = edges
            .iter()
            .map(|&(s, t, p)| (swap(s), swap(t), p))
            .collect();
        want.sort();
        let twin = cells
            .iter()
            .find(|d| {
                let mut e: Vec<_> = d.edges().collect();
                e.sort();
                e == want
            })
            .expect("relabelled cell is in the space");
        assert_eq!(key(c), key(twin));
        assert_eq!(
            PathStats::of(&c.dag()).unwrap(),
            PathStats::of(&twin.dag()).unwrap()
        );
        checked += 1;
    }
    assert!(checked > 100);
}

#[test]
fn dp_statistics_match_path_enumeration_and_genotype_route() {
    // Every k = 4 cell: the DP's depth histogram equals enumerated paths' depths, and the
    // DARTS genotype built from op names gives the same statistics.
    let mut dmin = (1_000u128, 1u128); // above any depth sum / path count here
    let mut dmax = (0u128, 1u128);
    for (i, c) in enumerate_cells(4).iter().enumerate() {
        let dag = c.dag();
        let stats = PathStats::of(&dag).unwrap();
        let mut depths: Vec<usize> = enumerate_paths(&dag).map(|p| p.depth).collect();
        depths.sort();
        assert_eq!(depths, stats.depths());
        if depths.iter().sum::<usize>() > 0 {
            let (s, p) = (depths.iter().sum::<usize>() as u128, depths.len() as u128);
            if s * dmin.1 < dmin.0 * p {
                dmin = (s, p);
            }
            if s * dmax.1 > dmax.0 * p {
                dmax = (s, p);
            }
        }
        if i % 97 == 0 {
            let normal = c
                .edges()
                .map(|(s, _, p)| {
                    (
                        if p { "sep_conv_3x3" } else { "max_pool_3x3" }.to_string(),
                        s,
                    )
                })
                .collect();
            let g = Genotype::new(normal, vec![2, 3, 4, 5]).unwrap();
            assert_eq!(PathStats::of(&g.dag()).unwrap(), stats);
            assert!(g.dag().edges().iter().all(|e| e.op != Op::Zero));
        }
    }
    let s = DartsSpace::compute(4);
    assert_eq!(
        s.depth_range_exact,
        (Ratio::new(dmin.0, dmin.1), Ratio::new(dmax.0, dmax.1))
    );
    assert_eq!(s.labelled, 46_080);
    assert!(s.structures < s.labelled && s.structures * 24 >= s.labelled);
}

#[test]
fn darts_v2_normal_cell_has_depth_1_and_width_7_under_the_authors_convention() {
    // By hand: paths 0-2, 1-2, 0-3, 1-3, 1-4 (one convolution each), 0-4 and 0-5 (skip),
    // 0-2-5 and 1-2-5 (two convolutions), every intermediate joined to the output by a
    // weight-0 edge: P = 9, sum of depths 9, so dbar = 1 and mbar = 7 / 1 = 7.
    let g = Genotype::parse(
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), \
         ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), \
         ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])",
    )
    .unwrap();
    let s = PathStats::of(&g.dag()).unwrap();
    assert_eq!(s.effective_depth_exact(), Some(Ratio::new(1, 1)));
    assert_eq!(s.effective_width_exact(), Some(Ratio::new(7, 1)));
    // The two conventions' boxes: the authors' code box holds DARTS-V2's (1, 7), and the
    // box table names both with their structure counts.
    let space = DartsSpace::compute(4);
    let boxes = space.boxes();
    assert_eq!(boxes.len(), 3);
    let code = &boxes[2];
    assert_eq!((code.depth, code.width), ((0.5, 1.6), (4.0, 12.0)));
    assert!(code.structures > 0 && code.structures < space.structures);
    let paper = &boxes[1];
    assert!((paper.depth.0 - 0.8).abs() < 1e-12 && (paper.width.1 - 15.3).abs() < 1e-12);
    // Structures inside a box equal a direct count over the groups.
    let direct: usize = space
        .groups
        .iter()
        .filter(|(d, m, _, _)| {
            (0.5..=1.6).contains(&d.to_f64()) && (4.0..=12.0).contains(&m.to_f64())
        })
        .map(|g| g.2)
        .sum();
    assert_eq!(code.structures, direct);
}
