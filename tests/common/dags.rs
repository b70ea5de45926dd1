//! Test DAGs shared by the kernel tests: the paper's three, seeded Watts-Strogatz DAGs
//! with skips, skip pairs leaving one node, parallel linear edges and two inputs.

use archconv::dag::random::WattsStrogatz;
use archconv::{Dag, Edge, Op};

/// DAGs with skip pairs, multi-edges, several inputs and unreachable parts.
pub fn dags() -> Vec<(String, Dag)> {
    let mut v: Vec<(String, Dag)> = Dag::paper_dags()
        .into_iter()
        .map(|(n, d)| (n.to_string(), d))
        .collect();
    for seed in 0..3 {
        let ws = WattsStrogatz::new(14, 4, 0.5)
            .unwrap()
            .with_seed(seed)
            .with_skip_fraction(0.35)
            .unwrap();
        v.push((ws.to_string(), ws.dag().unwrap()));
    }
    let e = |a, b, op| Edge::new(a, b, op);
    // Two skip branches leaving one node, a parallel linear pair, a skip into a node
    // that also has a linear edge from the same source.
    v.push((
        "skip-pairs".into(),
        Dag::new(
            6,
            vec![
                e(0, 1, Op::Linear),
                e(1, 2, Op::Skip),
                e(1, 3, Op::Skip),
                e(2, 4, Op::Skip),
                e(3, 4, Op::Skip),
                e(1, 4, Op::Linear),
                e(1, 4, Op::Linear),
                e(4, 5, Op::Linear),
                e(2, 5, Op::Skip),
                e(0, 5, Op::Skip),
            ],
        )
        .unwrap(),
    ));
    // Two inputs (as DARTS cells), joined by skips and linear edges.
    v.push((
        "two-inputs".into(),
        Dag::with_inputs(
            5,
            vec![
                e(0, 2, Op::Skip),
                e(1, 2, Op::Skip),
                e(1, 3, Op::Linear),
                e(2, 3, Op::Skip),
                e(2, 4, Op::Linear),
                e(3, 4, Op::Skip),
                e(0, 4, Op::Skip),
            ],
            vec![0, 1],
        )
        .unwrap(),
    ));
    v
}
