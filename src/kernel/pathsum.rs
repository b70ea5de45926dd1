//! The path-sum kernel (paper Eq. 12): `K^t = sum_d n_t(d) F^d(K^0)`.
//!
//! `n_t(d)` is the number of input-to-`t` paths with `d` linear edges
//! ([`crate::paths::DepthHistograms`]); `F^d` is the edges' NNGP map `F_e` (PAPER.md
//! section 9; the ReLU `f` for the paper's edge) applied `d` times. Every linear edge must
//! compute the same map ([`KernelError::PathSumMixedEdges`] otherwise): Eq. 12 composes
//! one map along each path. For the paper's edge each path keeps the unit diagonal, so
//! `K^H_ii = P K^0_ii`. Node means follow the same recursion as the other kernels,
//! `mu^t = sum_{skip} mu^s + sum_{linear} a_e` (`a_e = E[phi]`, `sqrt(diag K^s/pi)` for
//! ReLU), evaluated on this kernel's own diagonals.
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, KernelKind, Lift, relu::h_iter}};
//! use ndarray::array;
//! let c = 0.4;
//! let inp = Inputs::from_gram(array![[1.0, c], [c, 1.0]], Lift::Dense).unwrap();
//! let k = inp.kernel(&Dag::dag3(), KernelKind::PathSum).unwrap();
//! // DAG#3: paths of depth 0, 1, 2, 2  ->  c + f(c) + 2 f^2(c)
//! let expect = c + h_iter(c, 1) + 2.0 * h_iter(c, 2);
//! assert!((k.output().gram[[0, 1]] - expect).abs() < 1e-15);
//! assert_eq!(k.output().gram[[0, 0]], 4.0);
//! ```

use super::{Inputs, KernelError, NodeState};

use crate::paths::{DepthHistograms, PathError};
use crate::plan::{Plan, Step};
use ndarray::{Array1, Array2};

pub(crate) fn path_sum(plan: &Plan<'_>, inp: &Inputs) -> Result<Vec<NodeState>, KernelError> {
    let dag = plan.dag();
    let n = inp.len();
    let out = dag.output();
    // Eq. 12 composes one edge map d times: every linear edge must compute the same map
    // (a path through different maps would need its own composition, per path).
    if let [first, second, ..] = plan.distinct_params() {
        let (_, edge) = dag
            .edges()
            .iter()
            .enumerate()
            .find(|(i, _)| plan.pid(*i) == Some(1))
            .expect("a second parameter set belongs to an edge");
        return Err(KernelError::PathSumMixedEdges {
            first: first.to_string(),
            other: second.to_string(),
            from: edge.from,
            to: edge.to,
        });
    }
    let params = plan.distinct_params().first().cloned().unwrap_or_default();
    // Overflow of u128 counts only happens for gigantic DAGs whose f64 sums would be
    // meaningless anyway; report it as a kernel error naming the node.
    let hist = DepthHistograms::of(dag).map_err(|e| match e {
        PathError::Overflow(o) => KernelError::PathOverflow { node: o.node },
        PathError::Memory(m) => KernelError::Memory(m),
    })?;
    if !hist.reaches(out) {
        return Err(KernelError::NoPath { node: out });
    }
    let max_d = (0..dag.num_nodes())
        .filter_map(|t| {
            let (lo, c) = hist.sparse(t);
            c.iter().rposition(|&c| c > 0).map(|k| lo + k)
        })
        .max()
        .unwrap_or(0);
    crate::budget::check(
        format!("the path-sum kernel (f^d(K0) for d up to {max_d}, N = {n})"),
        crate::budget::bytes(n, n).and_then(|nn| nn.checked_mul(8)?.checked_mul(max_d as u64 + 1)),
    )?;
    // F_d = f^d(K^0), d = 1..=max_d (F_0 = K^0 is read in place).
    let mut maps: Vec<Array2<f64>> = Vec::with_capacity(max_d);
    for d in 1..=max_d {
        let prev = if d == 1 { inp.k0() } else { &maps[d - 2] };
        let next = params.nngp_map(prev.view());
        maps.push(next);
    }
    let fd = |d: usize| if d == 0 { inp.k0() } else { &maps[d - 1] };
    let mut states: Vec<NodeState> = Vec::with_capacity(dag.num_nodes());
    for t in 0..dag.num_nodes() {
        let (lo, counts) = hist.sparse(t);
        let dense: Vec<(f64, &Array2<f64>)> = counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(k, &c)| (c as f64, fd(lo + k)))
            .collect();
        let gram = super::exact::fused(n, &dense, &[], &[]);
        let mean = if dag.is_input(t) {
            inp.mu0().clone()
        } else {
            let mut mu = Array1::<f64>::zeros(n);
            for &i in plan.in_edges(t) {
                match plan.step(i) {
                    Step::Identity { from } => mu += &states[from].mean,
                    Step::Layer { from, .. } => mu += &params.mean(&states[from].gram),
                }
            }
            mu
        };
        states.push(NodeState { gram, mean });
    }
    Ok(states)
}
