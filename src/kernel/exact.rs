//! The exact infinite-width recursion and its independent-branch simplification
//! (PAPER.md section 7). One traversal in topological order; [`Rule`] says whether the
//! branch cross terms are kept.
//!
//! For node `t` with incoming edges `e = (s -> t)`, `a_e = mu^s` (skip) or
//! `sqrt(diag K^s / pi)` (linear), `mu^t = sum_e a_e`, and
//!
//! ```text
//! exact:   K^t = sum_{linear e} f(K^s) + sum_{skip e, skip e'} S^{s,s'}
//!               + mu^t mu^tT - A A^T - sum_{linear e} a_e a_e^T,      A = sum_{skip e} a_e
//! branch:  K^t = sum_{linear e} f(K^s) + sum_{skip e} K^s
//! ```
//!
//! The rank-one part is `sum_{e != e', not both skip} a_e a_e'^T` rewritten with the
//! full sum `mu mu^T`. Cross-node Grams are never stored as dense matrices: unrolling the
//! recursion shows every `S^{a,b}` is a combination `sum_x c_x K^x + sum_b w_b (mu^b)^T +
//! sum_b mu^b z_b^T` of node Grams (symmetric) and rank-one terms, so each node's Gram is
//! one fused pass over `N x N` entries. Cross-node Grams are computed on demand and memoised:
//! `S^{t,u} = sum_{skip s->t} S^{s,u} + sum_{linear e into t} a_e (mu^u)^T` for `u < t`,
//! `S^{t,t} = K^t`, `S^{u,t} = (S^{t,u})^T`; all input nodes carry the same lifted
//! features, so `S` between inputs is `K^0`.
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, KernelKind, Lift, relu::h}};
//! use ndarray::array;
//! let c = 0.3;
//! let inp = Inputs::from_gram(array![[1.0, c], [c, 1.0]], Lift::Dense).unwrap();
//! // DAG#2 (1_01_222): node 3 sums three linear edges from nodes 0, 1, 2, which all
//! // equal the input here (skip chain 0 -> 1 -> 2). Exact: 3 f(c) + 6 (1/pi) cross terms.
//! let k = inp.kernel(&Dag::dag2(), KernelKind::Exact).unwrap();
//! let pi = std::f64::consts::PI;
//! assert!((k.output().gram[[0, 1]] - (3.0 * h(c) + 6.0 / pi)).abs() < 1e-14);
//! assert!((k.output().gram[[0, 0]] - (3.0 + 6.0 / pi)).abs() < 1e-14);
//! ```

use super::{relu, Inputs, KernelError, NodeState};
use crate::dag::{Dag, Op};
use crate::paths::DepthHistograms;
use ndarray::{Array1, Array2};
use std::collections::{BTreeMap, HashMap};

/// Which pair terms the recursion keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Every cross term (the exact infinite-width limit).
    Exact,
    /// No cross terms: each branch contributes its own kernel.
    IndependentBranch,
}

/// A symbolic `N x N` matrix `sum_x c_x K^x + sum_b right_b (mu^b)^T + sum_b mu^b (left_b)^T`.
#[derive(Debug, Clone, Default)]
struct Combo {
    grams: BTreeMap<usize, f64>,
    right: BTreeMap<usize, Array1<f64>>,
    left: BTreeMap<usize, Array1<f64>>,
}

fn merge(map: &mut BTreeMap<usize, Array1<f64>>, key: usize, v: &Array1<f64>) {
    match map.get_mut(&key) {
        Some(acc) => *acc += v,
        None => {
            map.insert(key, v.clone());
        }
    }
}

impl Combo {
    fn gram(x: usize) -> Combo {
        let mut c = Combo::default();
        c.grams.insert(x, 1.0);
        c
    }

    fn add(&mut self, other: &Combo) {
        for (&x, &c) in &other.grams {
            *self.grams.entry(x).or_insert(0.0) += c;
        }
        for (&b, v) in &other.right {
            merge(&mut self.right, b, v);
        }
        for (&b, v) in &other.left {
            merge(&mut self.left, b, v);
        }
    }

    fn transposed(&self) -> Combo {
        Combo {
            grams: self.grams.clone(),
            right: self.left.clone(),
            left: self.right.clone(),
        }
    }
}

/// Where `f(K^s)` lives: its own matrix, or the Gram of a node that is exactly `f(K^s)`
/// (a single linear edge from `s`), which took the matrix over instead of copying it.
enum FMap {
    Own(Array2<f64>),
    Node(usize),
}

struct Traversal<'a> {
    dag: &'a Dag,
    states: Vec<NodeState>,
    /// `f(K^s)` per source node, shared by all linear edges leaving `s`.
    fcache: HashMap<usize, FMap>,
    /// `S^{a,b}` for `a > b` (canonical nodes), symbolically.
    cross: HashMap<(usize, usize), Combo>,
    first_input: usize,
}

impl Traversal<'_> {
    fn edge_mean(&self, s: usize, op: Op) -> Array1<f64> {
        match op {
            Op::Linear => super::relu_mean(&self.states[s].gram),
            _ => self.states[s].mean.clone(),
        }
    }

    fn ensure_f(&mut self, s: usize) {
        if !self.fcache.contains_key(&s) {
            let fk = relu::f_matrix(self.states[s].gram.view());
            self.fcache.insert(s, FMap::Own(fk));
        }
    }

    fn f_of(&self, s: usize) -> &Array2<f64> {
        match &self.fcache[&s] {
            FMap::Own(m) => m,
            FMap::Node(t) => &self.states[*t].gram,
        }
    }

    /// `f(K^s)` as an owned matrix for node `t` whose Gram is exactly `f(K^s)`: moved out
    /// of the cache (which then points at node `t`), copied only if another node owns it.
    fn take_f(&mut self, s: usize, t: usize) -> Array2<f64> {
        if let Some(FMap::Node(u)) = self.fcache.get(&s) {
            return crate::linalg::clone_fast(&self.states[*u].gram);
        }
        match self.fcache.insert(s, FMap::Node(t)) {
            Some(FMap::Own(m)) => m,
            _ => unreachable!("ensure_f runs first"),
        }
    }

    fn canon(&self, x: usize) -> usize {
        if self.dag.is_input(x) {
            self.first_input
        } else {
            x
        }
    }

    /// `S^{a,b}` symbolically.
    fn cross_gram(&mut self, a: usize, b: usize) -> Combo {
        let (a, b) = (self.canon(a), self.canon(b));
        if a == b {
            return Combo::gram(a);
        }
        if a < b {
            return self.cross_gram(b, a).transposed();
        }
        if let Some(s) = self.cross.get(&(a, b)) {
            return s.clone();
        }
        let mut s = Combo::default();
        let edges: Vec<(usize, Op)> = self.dag.in_edges(a).map(|e| (e.from, e.op)).collect();
        for (src, op) in edges {
            match op {
                Op::Skip => {
                    let c = self.cross_gram(src, b);
                    s.add(&c);
                }
                Op::Linear => {
                    let ae = self.edge_mean(src, Op::Linear);
                    merge(&mut s.right, b, &ae);
                }
                Op::Zero => {}
            }
        }
        self.cross.insert((a, b), s.clone());
        s
    }
}

/// `sum_k c_k M_k + sum_r alpha_r u_r v_r^T + sum_q F_q * G_q` (elementwise products) in
/// one pass over the rows, in parallel. Shared by the NNGP recursions and the NTK's
/// backward pass.
pub(crate) fn fused(
    n: usize,
    dense: &[(f64, &Array2<f64>)],
    rank1: &[(f64, &Array1<f64>, &Array1<f64>)],
    products: &[(&Array2<f64>, &Array2<f64>)],
) -> Array2<f64> {
    fused_with_maps(n, &[], dense, rank1, products)
}

/// [`fused`] plus terms `c f(K)` whose ReLU map is computed row by row in the same pass
/// instead of being stored ([`relu::FRows`]): a map read by one node only costs no
/// `N x N` write and read.
pub(crate) fn fused_with_maps(
    n: usize,
    maps: &[(f64, &relu::FRows<'_>)],
    dense: &[(f64, &Array2<f64>)],
    rank1: &[(f64, &Array1<f64>, &Array1<f64>)],
    products: &[(&Array2<f64>, &Array2<f64>)],
) -> Array2<f64> {
    // The same matrix may appear twice (a node that took over f(K^s) read both as f(K^s)
    // and as a node Gram): read it once with the summed coefficient.
    let mut merged: Vec<(f64, &Array2<f64>)> = Vec::with_capacity(dense.len());
    for &(c, m) in dense {
        match merged.iter_mut().find(|(_, x)| std::ptr::eq(*x, m)) {
            Some((acc, _)) => *acc += c,
            None => merged.push((c, m)),
        }
    }
    let dense = &merged[..];
    let mut out = crate::linalg::zeros_fast(n, n);
    let fill = |(i, mut row): (usize, ndarray::ArrayViewMut1<'_, f64>)| {
        let o = row.as_slice_mut().expect("contiguous row");
        if !maps.is_empty() {
            let mut buf = vec![0.0; n];
            for &(c, f) in maps {
                f.row(i, &mut buf);
                if c == 1.0 {
                    o.iter_mut().zip(&buf).for_each(|(x, &y)| *x += y);
                } else {
                    o.iter_mut().zip(&buf).for_each(|(x, &y)| *x += c * y);
                }
            }
        }
        for &(c, m) in dense {
            let src = m.row(i);
            let src = src.as_slice().expect("contiguous row");
            if c == 1.0 {
                o.iter_mut().zip(src).for_each(|(x, &y)| *x += y);
            } else {
                o.iter_mut().zip(src).for_each(|(x, &y)| *x += c * y);
            }
        }
        for &(alpha, u, v) in rank1 {
            let cu = alpha * u[i];
            if cu != 0.0 {
                let v = v.as_slice().expect("contiguous vector");
                o.iter_mut().zip(v).for_each(|(x, &y)| *x += cu * y);
            }
        }
        for &(f, p) in products {
            let (fr, pr) = (f.row(i), p.row(i));
            o.iter_mut()
                .zip(fr.as_slice().expect("contiguous row"))
                .zip(pr.as_slice().expect("contiguous row"))
                .for_each(|((x, &a), &b)| *x += a * b);
        }
    };
    crate::linalg::for_each_row(&mut out, fill);
    out
}

pub(crate) fn recursion(
    dag: &Dag,
    inp: &Inputs,
    rule: Rule,
) -> Result<Vec<NodeState>, KernelError> {
    let n = inp.len();
    let out = dag.output();
    if let Ok(h) = DepthHistograms::of(dag) {
        if !h.reaches(out) {
            return Err(KernelError::NoPath { node: out });
        }
    }
    let mut tr = Traversal {
        dag,
        states: Vec::with_capacity(dag.num_nodes()),
        fcache: HashMap::new(),
        cross: HashMap::new(),
        first_input: dag.inputs().iter().copied().min().unwrap_or(0),
    };
    // Last node that reads f(K^s), so the cache can be released early, and the nodes
    // that read it (a map read by one node is computed inside that node's pass).
    let mut last_use = vec![0usize; dag.num_nodes()];
    let mut first_use = vec![usize::MAX; dag.num_nodes()];
    for e in dag.edges().iter().filter(|e| e.op == Op::Linear) {
        last_use[e.from] = last_use[e.from].max(e.to);
        first_use[e.from] = first_use[e.from].min(e.to);
    }
    for t in 0..dag.num_nodes() {
        if dag.is_input(t) {
            tr.states.push(NodeState {
                gram: crate::linalg::clone_fast(inp.k0()),
                mean: inp.mu0().clone(),
            });
            continue;
        }
        let edges: Vec<(usize, Op)> = dag.in_edges(t).map(|e| (e.from, e.op)).collect();
        let mut mu = Array1::<f64>::zeros(n);
        let mut skip_sum = Array1::<f64>::zeros(n);
        let mut linear_means = Vec::new();
        let mut linear_sources: BTreeMap<usize, f64> = BTreeMap::new();
        let mut skips = Vec::new();
        for &(s, op) in &edges {
            let a = tr.edge_mean(s, op);
            mu += &a;
            match op {
                Op::Linear => {
                    if first_use[s] != last_use[s] || edges.len() == 1 {
                        tr.ensure_f(s);
                    }
                    *linear_sources.entry(s).or_insert(0.0) += 1.0;
                    linear_means.push(a);
                }
                Op::Skip => {
                    skip_sum += &a;
                    skips.push(s);
                }
                Op::Zero => {}
            }
        }
        // Skip part: sum over ordered skip pairs of S^{s,s'} (branch rule: diagonal only).
        let mut combo = Combo::default();
        for (i, &s) in skips.iter().enumerate() {
            combo.add(&Combo::gram(tr.canon(s)));
            if rule == Rule::Exact {
                for &s2 in &skips[i + 1..] {
                    let c = tr.cross_gram(s, s2);
                    combo.add(&c);
                    combo.add(&c.transposed());
                }
            }
        }
        // A single linear edge: K^t = f(K^s) exactly (mu^t = a_e, no pair terms).
        if let [(s, Op::Linear)] = edges[..] {
            let gram = tr.take_f(s, t);
            tr.states.push(NodeState { gram, mean: mu });
            tr.fcache.retain(|&s, _| last_use[s] > t);
            continue;
        }
        let gram = {
            let rows: Vec<(f64, relu::FRows<'_>)> = linear_sources
                .iter()
                .filter(|(s, _)| !tr.fcache.contains_key(s))
                .map(|(&s, &c)| (c, relu::FRows::new(tr.states[s].gram.view())))
                .collect();
            let maps: Vec<(f64, &relu::FRows<'_>)> = rows.iter().map(|(c, f)| (*c, f)).collect();
            let mut dense: Vec<(f64, &Array2<f64>)> = Vec::new();
            for (&s, &c) in &linear_sources {
                if tr.fcache.contains_key(&s) {
                    dense.push((c, tr.f_of(s)));
                }
            }
            for (&x, &c) in &combo.grams {
                if c != 0.0 {
                    dense.push((c, &tr.states[x].gram));
                }
            }
            let mut rank1: Vec<(f64, &Array1<f64>, &Array1<f64>)> = Vec::new();
            for (&b, w) in &combo.right {
                rank1.push((1.0, w, &tr.states[b].mean));
            }
            for (&b, z) in &combo.left {
                rank1.push((1.0, &tr.states[b].mean, z));
            }
            // With a single incoming edge the pair terms cancel exactly (mu = a_e).
            if rule == Rule::Exact && edges.len() > 1 {
                rank1.push((1.0, &mu, &mu));
                rank1.push((-1.0, &skip_sum, &skip_sum));
                for a in &linear_means {
                    rank1.push((-1.0, a, a));
                }
            }
            fused_with_maps(n, &maps, &dense, &rank1, &[])
        };
        tr.states.push(NodeState { gram, mean: mu });
        tr.fcache.retain(|&s, _| last_use[s] > t);
    }
    Ok(tr.states)
}
