//! The two CPU samplers and the traversal they share.
//!
//! * **explicit**: a linear edge `s -> t` draws its `m x m` weight matrix `W` (iid
//!   N(0, 1)) in fixed blocks of [`EXPLICIT_ROWS`] rows, each from its own stream, and
//!   computes `sqrt(2) relu(W X^s / sqrt(m))` block by block with a GEMM (`f32` or `f64`,
//!   see [`super::Precision`]). Every entry of `W` is formed; only one block per worker
//!   is alive at a time. Cost `O(m^2 N)` per edge.
//! * **conditional** (PAPER.md section 6, "sampling shortcut"): given `X^s`, the rows of
//!   `W X^s / sqrt(m)` are iid `N(0, G)` with `G = (1/m) X^{sT} X^s`, so the edge draws
//!   `Z = E L^T` with `E` (`m x N`) iid N(0, 1) and `L L^T = G` ([`sqrt_factor`]). Cost
//!   `O(m N^2 + N^3)` per edge; every edge has its own noise, so edges leaving the same
//!   node are independent given the past, exactly as with independent weights.
//!
//! Both lift the data the same way (dense: `X^0 = W0 x / sqrt(d)`; ReLU stem:
//! `X^0 = sqrt(2) relu(W0 x / sqrt(d))`; the conditional sampler draws `W0 x / sqrt(d)`
//! from its Gram `X X^T / d`), feed every input node the same lifted features, add skip
//! edges unit by unit and sum incoming edges at each node.

use super::features::{gram_mean, sqrt_factor, Features, SQRT2};
use super::rng::{edge_tag, fill_normal_f32, fill_normal_f64, stream, Domain, LIFT_TAG};
use super::{McError, McInputs, Precision, Sampler};
use crate::dag::{Dag, Op};
use crate::kernel::{Lift, NodeState};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::sync::Arc;

/// Rows of `W` per block in the explicit sampler.
pub(crate) const EXPLICIT_ROWS: usize = 128;
/// Rows of `E` per block in the conditional sampler.
pub(crate) const CONDITIONAL_ROWS: usize = 512;

/// What a source node's outgoing linear edges share.
enum Prepared {
    /// Explicit, `f64`: use the features as they are.
    Plain,
    /// Explicit, `f32`: a single-precision copy of `X^s`.
    F32(Vec<f32>),
    /// Conditional: `L` with `L L^T = G^s`.
    Factor(Mat<f64>),
}

/// `out += sqrt(2) relu(z)` (`relu = false`: `out += z`).
fn accumulate<T: Copy + Into<f64>>(out: &mut [f64], z: &[T], relu: bool) {
    if relu {
        out.iter_mut()
            .zip(z)
            .for_each(|(o, &v)| *o += SQRT2 * v.into().max(0.0));
    } else {
        out.iter_mut().zip(z).for_each(|(o, &v)| *o += v.into());
    }
}

/// Explicit product of a block of iid N(0,1) weight rows with `x` (`k x N`, row-major),
/// scaled by `alpha`, added into `acc` through `sqrt(2) relu` (or linearly).
#[allow(clippy::too_many_arguments)]
fn explicit_block_gemm(
    acc: &mut Features,
    x64: &[f64],
    x32: Option<&[f32]>,
    k: usize,
    alpha: f64,
    relu: bool,
    seed: u64,
    tag: u64,
) {
    let n = acc.n;
    acc.data
        .par_chunks_mut(EXPLICIT_ROWS * n)
        .enumerate()
        .for_each(|(c, out)| {
            let b = out.len() / n;
            let mut rng = stream(seed, Domain::Explicit, tag, c as u64);
            match x32 {
                Some(x) => {
                    let mut w = vec![0f32; b * k];
                    fill_normal_f32(&mut rng, &mut w);
                    let mut z = vec![0f32; b * n];
                    faer::linalg::matmul::matmul(
                        MatMut::from_row_major_slice_mut(&mut z, b, n),
                        Accum::Replace,
                        MatRef::from_row_major_slice(&w, b, k),
                        MatRef::from_row_major_slice(x, k, n),
                        alpha as f32,
                        Par::Seq,
                    );
                    accumulate(out, &z, relu);
                }
                None => {
                    let mut w = vec![0f64; b * k];
                    fill_normal_f64(&mut rng, &mut w);
                    let mut z = vec![0f64; b * n];
                    faer::linalg::matmul::matmul(
                        MatMut::from_row_major_slice_mut(&mut z, b, n),
                        Accum::Replace,
                        MatRef::from_row_major_slice(&w, b, k),
                        MatRef::from_row_major_slice(x64, k, n),
                        alpha,
                        Par::Seq,
                    );
                    accumulate(out, &z, relu);
                }
            }
        });
}

/// Conditional draw `Z = E L^T` (`E` iid N(0,1), `m x N`) added into `acc`.
fn conditional_block(acc: &mut Features, l: &Mat<f64>, relu: bool, seed: u64, tag: u64) {
    let n = acc.n;
    acc.data
        .par_chunks_mut(CONDITIONAL_ROWS * n)
        .enumerate()
        .for_each(|(c, out)| {
            let b = out.len() / n;
            let mut rng = stream(seed, Domain::Conditional, tag, c as u64);
            let mut e = vec![0f64; b * n];
            fill_normal_f64(&mut rng, &mut e);
            let mut z = vec![0f64; b * n];
            faer::linalg::matmul::matmul(
                MatMut::from_row_major_slice_mut(&mut z, b, n),
                Accum::Replace,
                MatRef::from_row_major_slice(&e, b, n),
                l.transpose(),
                1.0,
                Par::Seq,
            );
            accumulate(out, &z, relu);
        });
}

/// Node-0 features of one network.
fn lift(
    inp: &McInputs,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    seed: u64,
) -> Result<Features, McError> {
    let n = inp.len();
    let relu = inp.lift() == Lift::ReluStem;
    let mut x0 = Features::zeros(m, n);
    match sampler {
        Sampler::Explicit => {
            let d = inp.dim();
            // Rhs = X^T (d x N): the normalised data, one point per column.
            let xt: Vec<f64> = {
                let x = inp.data();
                let mut v = vec![0.0; d * n];
                for i in 0..n {
                    for j in 0..d {
                        v[j * n + i] = x[[i, j]];
                    }
                }
                v
            };
            let x32: Option<Vec<f32>> =
                (precision == Precision::F32).then(|| xt.iter().map(|&v| v as f32).collect());
            explicit_block_gemm(
                &mut x0,
                &xt,
                x32.as_deref(),
                d,
                1.0 / (d as f64).sqrt(),
                relu,
                seed,
                LIFT_TAG,
            );
        }
        Sampler::Conditional => {
            let l = inp
                .data_factor()
                .ok_or(McError::Factorization { node: 0, seed })?;
            conditional_block(&mut x0, l, relu, seed, LIFT_TAG);
        }
    }
    Ok(x0)
}

/// Checks a node state for NaN or infinity.
fn check_state(st: &NodeState, node: usize, seed: u64) -> Result<(), McError> {
    if st.gram.iter().chain(st.mean.iter()).all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(McError::NonFinite { node, seed })
    }
}

/// One finite-width network: every node's empirical Gram and mean (CPU). Assumes
/// validated arguments (width > 0, memory checked).
pub(crate) fn simulate(
    dag: &Dag,
    inp: &McInputs,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    seed: u64,
) -> Result<Vec<NodeState>, McError> {
    let nodes = dag.num_nodes();
    let n = inp.len();
    // Last node that reads each node's features (itself when nothing does).
    let mut last_use: Vec<usize> = (0..nodes).collect();
    for e in dag.edges().iter().filter(|e| e.op != Op::Zero) {
        last_use[e.from] = last_use[e.from].max(e.to);
    }
    let mut feats: Vec<Option<Arc<Features>>> = vec![None; nodes];
    let mut prepared: Vec<Option<Prepared>> = (0..nodes).map(|_| None).collect();
    let mut states: Vec<NodeState> = Vec::with_capacity(nodes);
    let mut lifted: Option<(Arc<Features>, NodeState)> = None;
    for t in 0..nodes {
        if dag.is_input(t) {
            if lifted.is_none() {
                let x0 = lift(inp, m, sampler, precision, seed)?;
                let st = gram_mean(&x0);
                check_state(&st, t, seed)?;
                lifted = Some((Arc::new(x0), st));
            }
            let (x0, st) = lifted.as_ref().expect("set above");
            feats[t] = Some(Arc::clone(x0));
            states.push(st.clone());
        } else {
            let mut acc = Features::zeros(m, n);
            for (index, e) in dag.edges().iter().enumerate() {
                if e.to != t || e.op == Op::Zero {
                    continue;
                }
                let src = Arc::clone(
                    feats[e.from]
                        .as_ref()
                        .expect("source features alive until last use"),
                );
                match e.op {
                    Op::Skip => acc.add(&src),
                    Op::Linear => {
                        if prepared[e.from].is_none() {
                            prepared[e.from] = Some(match (sampler, precision) {
                                (Sampler::Explicit, Precision::F64) => Prepared::Plain,
                                (Sampler::Explicit, Precision::F32) => Prepared::F32(src.to_f32()),
                                (Sampler::Conditional, _) => Prepared::Factor(
                                    sqrt_factor(&states[e.from].gram)
                                        .ok_or(McError::Factorization { node: e.from, seed })?,
                                ),
                            });
                        }
                        let tag = edge_tag(index);
                        let alpha = 1.0 / (m as f64).sqrt();
                        match prepared[e.from].as_ref().expect("set above") {
                            Prepared::Plain => explicit_block_gemm(
                                &mut acc, &src.data, None, m, alpha, true, seed, tag,
                            ),
                            Prepared::F32(x) => explicit_block_gemm(
                                &mut acc,
                                &src.data,
                                Some(x),
                                m,
                                alpha,
                                true,
                                seed,
                                tag,
                            ),
                            Prepared::Factor(l) => conditional_block(&mut acc, l, true, seed, tag),
                        }
                    }
                    Op::Zero => {}
                }
            }
            let st = gram_mean(&acc);
            check_state(&st, t, seed)?;
            states.push(st);
            feats[t] = Some(Arc::new(acc));
        }
        for s in 0..=t {
            if last_use[s] <= t {
                feats[s] = None;
                prepared[s] = None;
            }
        }
    }
    Ok(states)
}
