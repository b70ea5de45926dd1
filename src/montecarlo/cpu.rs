//! The two CPU samplers and the traversal they share.
//!
//! Both samplers produce a linear edge's pre-activations `Z` (`m x N`) one block of
//! `b` rows at a time as `Z_b = alpha E_b R`, with `E_b` (`b x k`) iid N(0, 1) drawn from
//! the block's own stream and `R` (`k x N`) fixed for the edge's source node:
//!
//! * **explicit**: `E_b` is a block of rows of the `m x m` weight matrix `W` and
//!   `R = X^s`, `alpha = 1 / sqrt(m)`: every entry of `W` is formed (only one block per
//!   worker is alive at a time). `O(m^2 N)` per edge, blocks of [`EXPLICIT_ROWS`] rows.
//! * **conditional** (PAPER.md section 6, "sampling shortcut"): given `X^s`, the rows of
//!   `W X^s / sqrt(m)` are iid `N(0, G)` with `G = (1/m) X^{sT} X^s`, so `R = F^T` for a
//!   square-root factor `F F^T = G` (`N x r`, see [`root_factor`]) and `alpha = 1`.
//!   `O(m N r + N^3)` per edge, blocks of [`CONDITIONAL_ROWS`] rows; a Cholesky `R` is
//!   upper triangular and its product needs half the flops. Every edge has its own noise, so edges
//!   leaving the same node are independent given the past, exactly as with independent
//!   weights.
//!
//! The input lift is the same product with `R = x^T` (`d x N`, the normalised data) and
//! `alpha = 1 / sqrt(d)`: dense `X^0 = Z`, ReLU stem `X^0 = sqrt(2) relu(Z)`. The
//! conditional sampler uses it too when `d <= r` (it draws `W0 x / sqrt(d)` from a root of
//! its Gram `x x^T / d` only when that root is narrower than the data). Every input node
//! receives the same lifted features.
//!
//! A node is built in one pass over fixed chunks of rows (in parallel): each block of
//! rows sums its incoming edges (skip edges add the source's rows, linear edges add
//! `sqrt(2) relu(Z_b)`), then feeds the chunk's Gram partial while it is in cache.
//!
//! Other edge parameters (PAPER.md section 9, [`EdgeMap`]): a linear edge with activation
//! `phi`, weight variance `sw2` and bias variance `sb2` adds
//! `phi(sqrt(sw2) Z_b + sqrt(sb2) b 1^T)`, `b` (`b` rows, iid N(0, 1)) one bias per unit
//! drawn from the block's bias stream (the edge's tag with bit 63 set, see `rng`). In
//! the conditional sampler this is exact too: given `X^s` a unit's pre-activation row is
//! `N(0, sw2 G + sb2 1 1^T)`, and `sqrt(sw2) e F^T + sqrt(sb2) b 1^T` has that law. The
//! bias is drawn, not folded into the root, so both samplers share it and the weight
//! streams stay those of the bias-free network. ReLU without bias keeps the vectorised
//! pass `sqrt(sw2) max(v, 0)` (the paper's edge: `sqrt(2)`, bit for bit as before);
//! everything else evaluates `phi` per entry in `f64`.
//! Features are stored only when a later edge reads them (a skip edge, or any edge in the
//! explicit sampler); the conditional sampler needs only the Gram of a linear edge's
//! source.

use super::features::{finish_gram, gram_chunk_rows, root_factor, Features, Partial, Real, SQRT2};
use super::rng::{bias_tag, edge_tag, fill_normal, stream, Domain, LIFT_TAG};
use super::{McError, McInputs, Precision, Sampler};
use crate::activation::Activation;
use crate::kernel::NodeState;
use crate::model::{EdgeParams, LiftParams};
use crate::plan::{Plan, Step};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::sync::Arc;

/// Rows of `W` per block in the explicit sampler.
pub(crate) const EXPLICIT_ROWS: usize = 128;
/// Rows of `E` per block in the conditional sampler.
pub(crate) const CONDITIONAL_ROWS: usize = 512;
// Gram chunks start at multiples of 512 rows (`gram_chunk_rows`), so every sampling block
// lies inside one chunk and its stream index `row / rows` is unique.
const _: () = assert!(512 % CONDITIONAL_ROWS == 0 && 512 % EXPLICIT_ROWS == 0);

/// The fixed right-hand side `R` (`k x N`, row-major) of a linear edge's block products
/// `Z_b = alpha E_b R`.
struct Operand<T> {
    k: usize,
    rhs: Rhs<T>,
    alpha: T,
    /// `R` is upper triangular (`k = N`).
    upper: bool,
}

enum Rhs<T> {
    Owned(Vec<T>),
    Features(Arc<Features<T>>),
}

impl<T: Real> Operand<T> {
    fn rhs(&self) -> &[T] {
        match &self.rhs {
            Rhs::Owned(v) => v,
            Rhs::Features(f) => f.data(),
        }
    }
}

/// `R = F^T` for a factor `F` (`N x r`).
fn factor_operand<T: Real>(f: &Mat<f64>, lower: bool) -> Operand<T> {
    let (n, r) = (f.nrows(), f.ncols());
    let mut rhs = Vec::with_capacity(r * n);
    for c in 0..r {
        rhs.extend((0..n).map(|i| T::of(f[(i, c)])));
    }
    Operand {
        k: r,
        rhs: Rhs::Owned(rhs),
        alpha: T::of(1.0),
        upper: lower,
    }
}

/// The lift's operand: the data (`R = x^T`, `alpha = 1/sqrt(d)`), or for the conditional
/// sampler a narrower root of the data Gram.
fn lift_operand<T: Real>(
    inp: &McInputs,
    sampler: Sampler,
    seed: u64,
) -> Result<Operand<T>, McError> {
    let (n, d) = (inp.len(), inp.dim());
    if sampler == Sampler::Conditional {
        let f = inp
            .data_factor()
            .ok_or(McError::Factorization { node: 0, seed })?;
        if f.f.ncols() < d {
            return Ok(factor_operand(&f.f, f.lower));
        }
    }
    let x = inp.data();
    let mut rhs = vec![T::of(0.0); d * n];
    for i in 0..n {
        for j in 0..d {
            rhs[j * n + i] = T::of(x[[i, j]]);
        }
    }
    Ok(Operand {
        k: d,
        rhs: Rhs::Owned(rhs),
        alpha: T::of(1.0 / (d as f64).sqrt()),
        upper: false,
    })
}

/// The identity activation of a dense lift with its own variances.
static IDENTITY: Activation = Activation::Identity;

/// What a linear edge (or the lift) does with its product `v = alpha E_b R`, the
/// pre-activation at unit weight variance (PAPER.md section 9: `z = sqrt(sw2) v +
/// sqrt(sb2) b`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum EdgeMap<'a> {
    /// `v`: the paper's dense lift (`sw2 = 1`, `sb2 = 0`, no activation).
    Identity,
    /// `gain max(v, 0)`, `gain = sqrt(sw2)`: ReLU without bias (the paper's edge and
    /// stem: `gain = sqrt(2)`).
    Relu(f64),
    /// `phi(scale v + bias b_k)` on unit row `k`, `b_k` iid N(0, 1) from the bias stream
    /// (`scale = sqrt(sw2)`, `bias = sqrt(sb2)`; no draw when `bias = 0`).
    General {
        /// `phi`.
        act: &'a Activation,
        /// `sqrt(sw2)`.
        scale: f64,
        /// `sqrt(sb2)`.
        bias: f64,
    },
}

impl<'a> EdgeMap<'a> {
    /// The map of a linear edge with parameters `p`.
    pub(crate) fn of_edge(p: &'a EdgeParams) -> EdgeMap<'a> {
        Self::of(p.activation(), p.sw2(), p.sb2())
    }

    /// The map of the input lift: the stem's, or the identity with the dense variances.
    pub(crate) fn of_lift(l: &'a LiftParams) -> EdgeMap<'a> {
        match l.stem_params() {
            Some(p) => Self::of_edge(p),
            None => {
                let (sw2, sb2) = l.variances();
                Self::of(&IDENTITY, sw2, sb2)
            }
        }
    }

    fn of(act: &'a Activation, sw2: f64, sb2: f64) -> EdgeMap<'a> {
        match act {
            // `sqrt(2.0)` is correctly rounded, so this is `SQRT2` bit for bit; spelled
            // out for the paper's edge all the same.
            Activation::Relu if sb2 == 0.0 => {
                EdgeMap::Relu(if sw2 == 2.0 { SQRT2 } else { sw2.sqrt() })
            }
            Activation::Identity if sb2 == 0.0 && sw2 == 1.0 => EdgeMap::Identity,
            _ => EdgeMap::General {
                act,
                scale: sw2.sqrt(),
                bias: sb2.sqrt(),
            },
        }
    }
}

/// One incoming edge of the node being built.
enum Input<'a, T> {
    Skip(&'a Features<T>),
    Linear {
        op: &'a Operand<T>,
        tag: u64,
        map: EdgeMap<'a>,
    },
}

/// Builds one node: its Gram and mean, and its features when `store`.
#[allow(clippy::too_many_arguments)]
fn build_node<T: Real>(
    m: usize,
    n: usize,
    inputs: &[Input<'_, T>],
    rows: usize,
    store: bool,
    seed: u64,
    domain: Domain,
) -> (NodeState, Option<Features<T>>) {
    let chunk = gram_chunk_rows(m);
    let kmax = inputs
        .iter()
        .map(|i| match i {
            Input::Linear { op, .. } => op.k,
            Input::Skip(_) => 0,
        })
        .max()
        .unwrap_or(0);
    let zero = T::of(0.0);
    // Unused by skip edges and the identity (`combine` without `relu` ignores it).
    let gain = T::of(SQRT2);
    let fill = |c: usize, mut out: Option<&mut [T]>| -> Partial<T> {
        let r0 = c * chunk;
        let len = chunk.min(m - r0);
        with_scratch::<T, _>(rows * kmax + 2 * rows * n + rows, |buf| {
            let (e, rest) = buf.split_at_mut(rows * kmax);
            let (z, rest) = rest.split_at_mut(rows * n);
            let (own, bscr) = rest.split_at_mut(rows * n);
            let mut partial = Partial::new(n);
            for i in 0..len.div_ceil(rows) {
                let row0 = r0 + i * rows;
                let b = rows.min(r0 + len - row0);
                let block = (row0 / rows) as u64;
                let blk: &mut [T] = match out.as_deref_mut() {
                    Some(o) => &mut o[i * rows * n..(i * rows + b) * n],
                    None => &mut own[..b * n],
                };
                let mut first = true;
                for (q, input) in inputs.iter().enumerate() {
                    // The last input's pass also adds the finished rows to the column sums.
                    let sums = (q + 1 == inputs.len()).then_some(&mut partial.sums[..]);
                    match input {
                        Input::Skip(src) => {
                            let s = &src.data()[row0 * n..(row0 + b) * n];
                            combine(blk, s, gain, false, first, sums);
                        }
                        Input::Linear { op, tag, map } => {
                            let e = &mut e[..b * op.k];
                            fill_normal(&mut stream(seed, domain, *tag, block), e);
                            let zb = MatMut::from_row_major_slice_mut(&mut z[..b * n], b, n);
                            let eb = MatRef::from_row_major_slice(e, b, op.k);
                            let r = MatRef::from_row_major_slice(op.rhs(), op.k, n);
                            if op.upper {
                                triangular::matmul(
                                    zb,
                                    BlockStructure::Rectangular,
                                    Accum::Replace,
                                    eb,
                                    BlockStructure::Rectangular,
                                    r,
                                    BlockStructure::TriangularUpper,
                                    op.alpha,
                                    Par::Seq,
                                );
                            } else {
                                faer::linalg::matmul::matmul(
                                    zb,
                                    Accum::Replace,
                                    eb,
                                    r,
                                    op.alpha,
                                    Par::Seq,
                                );
                            }
                            let zb = &z[..b * n];
                            match *map {
                                EdgeMap::Identity => combine(blk, zb, gain, false, first, sums),
                                // The paper's edge: `g = SQRT2`, as in a ReLU-only build.
                                EdgeMap::Relu(g) => combine(blk, zb, T::of(g), true, first, sums),
                                EdgeMap::General {
                                    act,
                                    scale,
                                    bias: sb,
                                } => {
                                    let c = if sb != 0.0 {
                                        let bv = &mut bscr[..b];
                                        let mut rng = stream(seed, domain, bias_tag(*tag), block);
                                        fill_normal(&mut rng, bv);
                                        Some((sb, &*bv))
                                    } else {
                                        None
                                    };
                                    combine_general(blk, zb, n, act, scale, c, first, sums)
                                }
                            }
                        }
                    }
                    first = false;
                }
                if first {
                    blk.fill(zero);
                }
                partial.add(blk);
            }
            partial
        })
    };
    let (partials, features): (Vec<Partial<T>>, Option<Features<T>>) = if store {
        let mut x = Features::uninit(m * n);
        let p = x
            .data_mut()
            .par_chunks_mut(chunk * n)
            .enumerate()
            .map(|(c, out)| fill(c, Some(out)))
            .collect();
        (p, Some(x))
    } else {
        let p = (0..m.div_ceil(chunk))
            .into_par_iter()
            .map(|c| fill(c, None))
            .collect();
        (p, None)
    };
    (finish_gram(&partials, m, n), features)
}

crate::simd::avx2_dispatch! {
    /// `blk = f(z)` (`first`) or `blk += f(z)`, with `f(v) = gain max(v, 0)` (`relu`) or
    /// the identity: one elementwise pass, the same arithmetic on every path, with AVX2
    /// when the processor has it. With `sums` (length `N`), the finished rows of `blk`
    /// are also added to it, row by row, while they are in registers.
    fn combine[T: Real](
        blk: &mut [T],
        z: &[T],
        gain: T,
        relu: bool,
        first: bool,
        sums: Option<&mut [T]>,
    ) {
        let zero = T::of(0.0);
        let pos = |v: T| if v > zero { v } else { zero };
        match (relu, first) {
            (true, true) => pass(blk, z, sums, |o, v| *o = gain * pos(v)),
            (true, false) => pass(blk, z, sums, |o, v| *o += gain * pos(v)),
            (false, true) => pass(blk, z, sums, |o, v| *o = v),
            (false, false) => pass(blk, z, sums, |o, v| *o += v),
        }
    }
}

/// `blk = y` (`first`) or `blk += y` with `y = phi(scale z + c_k)` on row `k` (`N` entries
/// a row), `c_k = bias b_k` from `bias = (bias, b)` or `0`: any activation, evaluated in
/// `f64` per entry and rounded to `T`. With `sums`, each finished row is added to it.
#[allow(clippy::too_many_arguments)]
fn combine_general<T: Real>(
    blk: &mut [T],
    z: &[T],
    n: usize,
    act: &Activation,
    scale: f64,
    bias: Option<(f64, &[T])>,
    first: bool,
    mut sums: Option<&mut [T]>,
) {
    // faer's GEMM (AVX-512 / AVX2) leaves the upper halves of the vector registers dirty,
    // and the SSE-encoded libm routines behind `phi` (tanh, expm1, exp) then pay the
    // SSE/AVX transition penalty on every call: measured 400 ns instead of 18 ns per tanh
    // at m = 16384, N = 64. One `vzeroupper` per block clears it.
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        fn zeroupper() {
            std::arch::x86_64::_mm256_zeroupper()
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the processor supports AVX (checked just above).
            unsafe { zeroupper() }
        }
    }
    for (k, (orow, zrow)) in blk.chunks_exact_mut(n).zip(z.chunks_exact(n)).enumerate() {
        let c = bias.map_or(0.0, |(s, b)| s * b[k].wide());
        for (o, &v) in orow.iter_mut().zip(zrow) {
            let y = T::of(act.phi(scale * v.wide() + c));
            if first {
                *o = y;
            } else {
                *o += y;
            }
        }
        if let Some(s) = sums.as_deref_mut() {
            for (sj, &o) in s.iter_mut().zip(orow.iter()) {
                *sj += o;
            }
        }
    }
}

/// Applies `op` to every `(blk, z)` pair; with `sums`, row by row, adding each finished
/// row of `blk` to `sums`.
#[inline(always)]
fn pass<T: Real>(blk: &mut [T], z: &[T], sums: Option<&mut [T]>, op: impl Fn(&mut T, T)) {
    match sums {
        None => blk.iter_mut().zip(z).for_each(|(o, &v)| op(o, v)),
        Some(s) => {
            let n = s.len();
            for (orow, zrow) in blk.chunks_exact_mut(n).zip(z.chunks_exact(n)) {
                for ((o, &v), sj) in orow.iter_mut().zip(zrow).zip(s.iter_mut()) {
                    op(o, v);
                    *sj += *o;
                }
            }
        }
    }
}

thread_local! {
    /// Per-thread block scratch, reused across chunks, nodes and networks (fresh
    /// allocations of this size are returned to the system on free and page-fault back).
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Frees this thread's block scratch.
pub(crate) fn drop_scratch() {
    SCRATCH.with(|s| *s.borrow_mut() = Vec::new());
}

/// Scratch buffers kept after use up to this size (larger ones are freed).
const SCRATCH_KEEP_BYTES: usize = 64 << 20;

/// Runs `f` on this thread's scratch, viewed as `len` values of `T` with arbitrary
/// contents (every user overwrites before reading).
fn with_scratch<T: Real, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let words = (len * std::mem::size_of::<T>()).div_ceil(8);
    if buf.len() < words {
        buf.resize(words, 0);
    }
    let r = f(&mut bytemuck::cast_slice_mut::<u64, T>(&mut buf[..words])[..len]);
    if buf.len() * 8 <= SCRATCH_KEEP_BYTES {
        SCRATCH.with(|s| *s.borrow_mut() = buf);
    }
    r
}

/// The last node that reads node `s` through an edge ([`Plan::last_reader`]), itself when
/// none does: the traversal drops `s`'s features and operand once that node is built.
pub(crate) fn last_use(plan: &Plan<'_>, s: usize) -> usize {
    plan.last_reader(s).unwrap_or(s)
}

/// The nodes whose features the traversal drops once node `t` is built: the sources of
/// `t`'s in-edges whose last reader `t` is, and `t` itself when nothing reads it.
pub(crate) fn released_at<'p>(plan: &'p Plan<'_>, t: usize) -> impl Iterator<Item = usize> + 'p {
    plan.in_edges(t)
        .iter()
        .map(|&i| plan.edge(i).from)
        .chain(std::iter::once(t))
        .filter(move |&s| last_use(plan, s) == t)
}

/// Whether a later edge reads node `s`'s features, so that the traversal stores them: a
/// skip edge, or any edge in the explicit sampler (the conditional sampler's linear edges
/// read only the source's Gram). `O(out-degree)`; shared with the memory estimates,
/// which replay the same liveness.
pub(crate) fn reads_features(plan: &Plan<'_>, s: usize, sampler: Sampler) -> bool {
    plan.out_edges(s).iter().any(|&i| match plan.step(i) {
        Step::Identity { .. } => true,
        Step::Layer { .. } => match sampler {
            Sampler::Explicit => true,
            Sampler::Conditional => false,
        },
    })
}

/// Checks a node state for NaN or infinity.
fn check_state(st: &NodeState, node: usize, seed: u64) -> Result<(), McError> {
    if st.gram.iter().chain(st.mean.iter()).all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(McError::NonFinite { node, seed })
    }
}

/// One finite-width network of `plan`'s DAG: every node's empirical Gram and mean (CPU).
/// Assumes validated arguments (width > 0, memory checked). The plan is built once per
/// run and shared by its networks.
pub(crate) fn simulate(
    plan: &Plan<'_>,
    inp: &McInputs,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    seed: u64,
) -> Result<Vec<NodeState>, McError> {
    match precision {
        Precision::F32 => simulate_in::<f32>(plan, inp, m, sampler, seed),
        Precision::F64 => simulate_in::<f64>(plan, inp, m, sampler, seed),
    }
}

/// The traversal: nodes in topological order, each reading only its own in-edges
/// ([`Plan::in_edges`], in edge order, so the sums and the edge tags are fixed), and each
/// node's features and operand dropped once its last reader is built
/// ([`Plan::last_reader`]): `O(nodes + edges)` besides the products.
fn simulate_in<T: Real>(
    plan: &Plan<'_>,
    inp: &McInputs,
    m: usize,
    sampler: Sampler,
    seed: u64,
) -> Result<Vec<NodeState>, McError> {
    let dag = plan.dag();
    let nodes = dag.num_nodes();
    let n = inp.len();
    let (rows, domain) = match sampler {
        Sampler::Explicit => (EXPLICIT_ROWS, Domain::Explicit),
        Sampler::Conditional => (CONDITIONAL_ROWS, Domain::Conditional),
    };
    let mut feats: Vec<Option<Arc<Features<T>>>> = vec![None; nodes];
    let mut prepared: Vec<Option<Operand<T>>> = (0..nodes).map(|_| None).collect();
    let mut states: Vec<NodeState> = Vec::with_capacity(nodes);
    let mut lifted: Option<(Option<Arc<Features<T>>>, NodeState)> = None;
    let any_input_read = dag
        .inputs()
        .iter()
        .any(|&s| reads_features(plan, s, sampler));
    for t in 0..nodes {
        if dag.is_input(t) {
            if lifted.is_none() {
                let op = lift_operand::<T>(inp, sampler, seed)?;
                let input = Input::Linear {
                    op: &op,
                    tag: LIFT_TAG,
                    map: EdgeMap::of_lift(inp.lift_params()),
                };
                let (st, x0) = build_node(m, n, &[input], rows, any_input_read, seed, domain);
                check_state(&st, t, seed)?;
                lifted = Some((x0.map(Arc::new), st));
            }
            let (x0, st) = lifted.as_ref().expect("set above");
            feats[t] = x0.clone();
            states.push(st.clone());
        } else {
            for &i in plan.in_edges(t) {
                // A layer's operand, once per source node.
                let from = match plan.step(i) {
                    Step::Layer { from, .. } => from,
                    Step::Identity { .. } => continue,
                };
                if prepared[from].is_some() {
                    continue;
                }
                prepared[from] = Some(match sampler {
                    Sampler::Explicit => Operand {
                        k: m,
                        rhs: Rhs::Features(Arc::clone(
                            feats[from].as_ref().expect("read features are stored"),
                        )),
                        alpha: T::of(1.0 / (m as f64).sqrt()),
                        upper: false,
                    },
                    Sampler::Conditional => {
                        let f = root_factor(&states[from].gram, T::EPS)
                            .ok_or(McError::Factorization { node: from, seed })?;
                        factor_operand(&f.f, f.lower)
                    }
                });
            }
            let inputs: Vec<Input<'_, T>> = plan
                .in_edges(t)
                .iter()
                .map(|&i| match plan.step(i) {
                    Step::Identity { from } => Input::Skip(
                        feats[from]
                            .as_deref()
                            .expect("skip sources are stored until their last use"),
                    ),
                    Step::Layer { from, pid } => Input::Linear {
                        op: prepared[from].as_ref().expect("set above"),
                        tag: edge_tag(i),
                        map: EdgeMap::of_edge(plan.params(pid)),
                    },
                })
                .collect();
            let store = reads_features(plan, t, sampler);
            let (st, x) = build_node(m, n, &inputs, rows, store, seed, domain);
            drop(inputs);
            check_state(&st, t, seed)?;
            states.push(st);
            feats[t] = x.map(Arc::new);
        }
        for s in released_at(plan, t) {
            feats[s] = None;
            prepared[s] = None;
        }
    }
    Ok(states)
}
