//! The authors' DAG-MLP: stem `Linear(d, m) + ReLU` -> DAG of `Linear(m, m) + ReLU` /
//! identity / absent edges (nodes sum their inputs) -> readout `Linear(m, classes)`;
//! generalised to any activation and variances per edge and for the stem (PAPER.md
//! section 9, [`crate::model`]). Forward and backward passes on faer GEMMs; each
//! traverses the DAG through one [`Plan`], so a node visits only its own non-zero
//! in-edges (in edge order) and the traversal costs `O(nodes + edges)` besides the GEMMs.

use super::gemm::{gemm, Scalar, Tr};
use super::TrainError;
use crate::activation::Activation;
use crate::dag::{Dag, Role};
use crate::model::LiftParams;
use crate::plan::{Plan, Step};
use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// One affine layer `y = x W^T + b` in PyTorch's layout: `w` is `out x in`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense<T> {
    /// Weights, `out x in`.
    pub w: Array2<T>,
    /// Bias, length `out`.
    pub b: Array1<T>,
}

impl<T: Scalar> Dense<T> {
    /// Zero weights and bias of the given shape.
    pub fn zeros(out: usize, inp: usize) -> Dense<T> {
        Dense {
            w: Array2::zeros((out, inp)),
            b: Array1::zeros(out),
        }
    }

    /// Kaiming-normal fan-in weights `W_ij ~ N(0, 2 / in)` (PyTorch's
    /// `kaiming_normal_(w, nonlinearity="relu")`), zero bias. Row `i` is drawn from its
    /// own ChaCha8 stream `(seed, i)`, so the result does not depend on thread count.
    /// The same as [`Dense::init`] with `sw2 = 2, sb2 = 0`.
    pub fn kaiming(out: usize, inp: usize, seed: u64) -> Dense<T> {
        Dense::init(out, inp, 2.0, 0.0, seed)
    }

    /// The model's initialisation (PAPER.md section 9): weights `W_ij ~ N(0, sw2 / in)`,
    /// biases `b_i ~ N(0, sb2)` — in standard parameterisation the same function at
    /// initialisation as `sqrt(sw2 / in) W' x + sqrt(sb2) b'` with `W', b' ~ N(0, 1)`.
    /// Row `i` of `W` is drawn from the ChaCha8 stream `(seed, i)`, the bias from stream
    /// `(seed, u64::MAX)` and only when `sb2 > 0` (otherwise it is zero), so `sw2 = 2,
    /// sb2 = 0` is bit-identical to [`Dense::kaiming`] and nothing depends on thread count.
    ///
    /// ```
    /// use archconv::train::Dense;
    /// let l = Dense::<f64>::init(3, 4, 2.0, 0.0, 7);
    /// assert_eq!(l, Dense::<f64>::kaiming(3, 4, 7));
    /// let b = Dense::<f64>::init(3, 4, 1.0, 0.25, 7);
    /// assert!(b.b.iter().all(|&v| v != 0.0));
    /// ```
    pub fn init(out: usize, inp: usize, sw2: f64, sb2: f64, seed: u64) -> Dense<T> {
        let std = (sw2 / inp as f64).sqrt();
        let mut w = Array2::<T>::zeros((out, inp));
        w.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut row)| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(i as u64);
                for v in row.iter_mut() {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    *v = T::of(std * z);
                }
            });
        let mut b = Array1::zeros(out);
        if sb2 > 0.0 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(u64::MAX);
            let sb = sb2.sqrt();
            for v in b.iter_mut() {
                let z: f64 = StandardNormal.sample(&mut rng);
                *v = T::of(sb * z);
            }
        }
        Dense { w, b }
    }

    /// Number of parameters (`out * in + out`).
    pub fn len(&self) -> usize {
        self.w.len() + self.b.len()
    }

    /// Always false (a layer has at least one output).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A DAG-MLP (PAPER.md section 1, "the authors' MLP code"; section 9 for general
/// activations).
///
/// * stem: `X^0 = phi_0(x W_0^T + b_0)`, `W_0 : m x d`; every input node of the DAG
///   receives `X^0`. The authors' stem is `phi_0 = relu` ([`DagMlp::new`]); any
///   [`LiftParams`] stem, or a dense lift (`phi_0` = identity), with
///   [`DagMlp::with_stem`];
/// * node `t > 0`: `X^t = sum_{e = s->t} g_e(X^s)` with `g_e(z) = phi_e(z W_e^T + b_e)`
///   (linear, `W_e : m x m`, `phi_e` the edge's [`crate::Edge::params`] activation,
///   ReLU by default), `g_e(z) = z` (skip), nothing (zero); a node with no incoming edge
///   is zero;
/// * readout: logits `= X^H W_r^T + b_r`, `W_r : classes x m`.
///
/// Initialisation follows the model ([`Dense::init`]): a layer with variances
/// `(sw2, sb2)` gets weights `N(0, sw2 / fan_in)` and biases `N(0, sb2)`; every weight
/// and bias is trained. The default (`relu`, `sw2 = 2`, `sb2 = 0` everywhere, readout
/// included) is Kaiming-normal fan-in with zero biases, as with PyTorch's `Linear` after
/// `kaiming_normal_` and `zeros_`. In the kernel convention of [`crate::kernel`], a linear
/// edge is `phi(sqrt(sw2 / m) W' x + sqrt(sb2) b')` with `W', b' ~ N(0, 1)`: the same
/// function (for the default, `sqrt(2) relu(W' x / sqrt(m))`).
///
/// ```
/// use archconv::{Dag, train::DagMlp};
/// let net = DagMlp::<f64>::new(&Dag::dag3(), 5, 16, 3, 0).unwrap();
/// let x = ndarray::Array2::<f64>::ones((4, 5));
/// assert_eq!(net.logits(x.view()).dim(), (4, 3));
/// // stem + 3 linear edges + readout
/// assert_eq!(net.layers().len(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct DagMlp<T> {
    dag: Dag,
    input_dim: usize,
    width: usize,
    classes: usize,
    layers: Vec<Dense<T>>,
    edge_layer: Vec<Option<usize>>,
    stem: LiftParams,
    /// Activation per layer (`None`: identity; the readout and a dense stem).
    acts: Vec<Option<Activation>>,
}

/// Activations kept by [`DagMlp::forward`] for the backward pass.
#[derive(Debug, Clone)]
pub struct Forward<T> {
    /// Node activations `X^t` (`batch x m`), index = node.
    pub nodes: Vec<Array2<T>>,
    /// Post-activation output of each linear edge (index = edge index in `dag.edges()`).
    pub edge_out: Vec<Option<Array2<T>>>,
    /// Pre-activation `z W_e^T + b_e` of each linear edge whose activation is neither
    /// ReLU (its derivative is read from the output) nor the identity; `None` elsewhere.
    pub edge_pre: Vec<Option<Array2<T>>>,
    /// The stem's pre-activation `x W_0^T + b_0`, kept under the same rule.
    pub stem_pre: Option<Array2<T>>,
    /// Logits (`batch x classes`).
    pub logits: Array2<T>,
}

/// `z <- relu(z + b)` row-wise, in parallel.
fn bias_relu<T: Scalar>(z: &mut Array2<T>, b: &Array1<T>) {
    let zero = T::of(0.0);
    z.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|mut row| {
            row.zip_mut_with(b, |v, &bb| {
                let s = *v + bb;
                *v = if s > zero { s } else { zero };
            });
        });
}

/// `z <- phi(z + b)` row-wise, in parallel: [`bias_relu`] for ReLU (bit-identical to the
/// ReLU-only trainer), the bias alone for the identity (`None`). Other activations are
/// evaluated in `f64`; their pre-activation is returned for the backward pass.
fn bias_act<T: Scalar>(
    z: &mut Array2<T>,
    b: &Array1<T>,
    act: Option<&Activation>,
) -> Option<Array2<T>> {
    match act {
        Some(Activation::Relu) => {
            bias_relu(z, b);
            None
        }
        None | Some(Activation::Identity) => {
            z.axis_iter_mut(Axis(0))
                .into_par_iter()
                .for_each(|mut row| row.zip_mut_with(b, |v, &bb| *v += bb));
            None
        }
        Some(a) => {
            z.axis_iter_mut(Axis(0))
                .into_par_iter()
                .for_each(|mut row| row.zip_mut_with(b, |v, &bb| *v += bb));
            let pre = z.clone();
            z.par_mapv_inplace(|v| T::of(a.phi(v.f64())));
            Some(pre)
        }
    }
}

/// `dz <- dz * phi'(.)` for a layer's activation: from the output for ReLU
/// (`relu'(0) = 0`, PyTorch's convention), from the kept pre-activation otherwise,
/// nothing for the identity.
fn act_backward<T: Scalar>(
    dz: &mut Array2<T>,
    act: Option<&Activation>,
    out: &Array2<T>,
    pre: Option<&Array2<T>>,
) {
    let zero = T::of(0.0);
    match (act, pre) {
        (Some(Activation::Relu), _) => Zip::from(dz).and(out).par_for_each(|d, &o| {
            if o <= zero {
                *d = zero;
            }
        }),
        (None | Some(Activation::Identity), _) => {}
        (Some(a), Some(pre)) => Zip::from(dz)
            .and(pre)
            .par_for_each(|d, &h| *d *= T::of(a.dphi(h.f64()))),
        (Some(a), None) => unreachable!("forward keeps the pre-activation of {a}"),
    }
}

fn add_assign<T: Scalar>(dst: &mut Array2<T>, src: &Array2<T>) {
    Zip::from(dst).and(src).par_for_each(|d, &s| *d += s);
}

/// Columns sums (bias gradient).
fn col_sum<T: Scalar>(a: &Array2<T>) -> Array1<T> {
    a.sum_axis(Axis(0))
}

impl<T: Scalar> DagMlp<T> {
    /// Builds the network with the authors' ReLU stem (Kaiming-normal, zero bias) and
    /// each linear edge's [`crate::Edge::params`] (the paper's edge by default: seeded
    /// Kaiming-normal weights, zero biases); layer `k` is drawn from seed
    /// `seed * 1_000_003 + k`, one stream per row ([`Dense::init`]). Errors if a size is
    /// zero or the DAG has no path from an input to its output (the logits would ignore
    /// the data). Same as [`DagMlp::with_stem`] with [`LiftParams::relu_stem`].
    pub fn new(
        dag: &Dag,
        input_dim: usize,
        width: usize,
        classes: usize,
        seed: u64,
    ) -> Result<DagMlp<T>, TrainError> {
        DagMlp::with_stem(
            dag,
            &LiftParams::relu_stem(),
            input_dim,
            width,
            classes,
            seed,
        )
    }

    /// Like [`DagMlp::new`] with any stem: a [`LiftParams::stem`] computes
    /// `X^0 = phi(x W_0^T + b_0)` with `W_0 ~ N(0, sw2 / d)`, `b_0 ~ N(0, sb2)`; a dense
    /// lift ([`LiftParams::dense_with`]) the same without `phi`. The readout stays
    /// Kaiming-normal with a zero bias (the authors' `Linear`).
    ///
    /// ```
    /// use archconv::{Dag, activation::Activation, model::{EdgeParams, LiftParams}};
    /// use archconv::train::DagMlp;
    /// let p = EdgeParams::new(Activation::Relu, 2.0, 0.1).unwrap();
    /// let dag = Dag::dag3().with_all_params(&p);
    /// let stem = LiftParams::stem(Activation::Relu, 1.0, 0.0).unwrap();
    /// let net = DagMlp::<f64>::with_stem(&dag, &stem, 5, 16, 3, 0).unwrap();
    /// assert_eq!(net.stem(), &stem);
    /// assert!(net.layers()[1].b.iter().all(|&b| b != 0.0)); // biases ~ N(0, 0.1)
    /// ```
    pub fn with_stem(
        dag: &Dag,
        stem: &LiftParams,
        input_dim: usize,
        width: usize,
        classes: usize,
        seed: u64,
    ) -> Result<DagMlp<T>, TrainError> {
        for (what, v) in [
            ("input dimension", input_dim),
            ("width", width),
            ("classes", classes),
        ] {
            if v == 0 {
                return Err(TrainError::Config {
                    what,
                    value: "0".into(),
                    why: "must be positive".into(),
                });
            }
        }
        // Reachability from the input nodes (through non-zero edges).
        let plan = Plan::of(dag);
        let mut reach = vec![false; dag.num_nodes()];
        for &i in dag.inputs() {
            reach[i] = true;
        }
        for t in 0..dag.num_nodes() {
            if plan.in_edges(t).iter().any(|&i| reach[plan.edge(i).from]) {
                reach[t] = true;
            }
        }
        if !reach[dag.output()] {
            return Err(TrainError::NoPath {
                dag: dag.describe(),
            });
        }
        let layer_seed = |k: usize| seed.wrapping_mul(1_000_003).wrapping_add(k as u64);
        let (sw0, sb0) = stem.variances();
        let mut layers = vec![Dense::init(width, input_dim, sw0, sb0, layer_seed(0))];
        let mut acts = vec![stem.stem_params().map(|p| p.activation().clone())];
        let mut edge_layer = Vec::with_capacity(dag.edges().len());
        for e in dag.edges() {
            match e.role() {
                Role::Layer { params: p, .. } => {
                    edge_layer.push(Some(layers.len()));
                    layers.push(Dense::init(
                        width,
                        width,
                        p.sw2(),
                        p.sb2(),
                        layer_seed(layers.len()),
                    ));
                    acts.push(Some(p.activation().clone()));
                }
                Role::Identity { .. } | Role::Absent => edge_layer.push(None),
            }
        }
        layers.push(Dense::kaiming(classes, width, layer_seed(layers.len())));
        acts.push(None);
        Ok(DagMlp {
            dag: dag.clone(),
            input_dim,
            width,
            classes,
            layers,
            edge_layer,
            stem: stem.clone(),
            acts,
        })
    }

    /// The stem ([`LiftParams::relu_stem`] for [`DagMlp::new`]).
    pub fn stem(&self) -> &LiftParams {
        &self.stem
    }

    /// The architecture.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// Width `m`.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Input dimension `d`.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// Number of classes (readout size).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The layers: `[stem, linear edges in edge-list order..., readout]`.
    pub fn layers(&self) -> &[Dense<T>] {
        &self.layers
    }

    /// Mutable layers (same order as [`DagMlp::layers`]).
    pub fn layers_mut(&mut self) -> &mut [Dense<T>] {
        &mut self.layers
    }

    /// Human names of the layers (`stem`, `edge 0->1`, `readout`).
    pub fn layer_names(&self) -> Vec<String> {
        let mut v = vec!["stem".to_string()];
        for e in self.dag.edges() {
            match e.role() {
                Role::Layer { .. } => v.push(format!("edge {}->{}", e.from, e.to)),
                Role::Identity { .. } | Role::Absent => {}
            }
        }
        v.push("readout".into());
        v
    }

    /// Index into [`DagMlp::layers`] of edge `i` of `dag.edges()`, if it is linear.
    pub fn edge_layer(&self, edge: usize) -> Option<usize> {
        self.edge_layer.get(edge).copied().flatten()
    }

    /// Total number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.layers.iter().map(Dense::len).sum()
    }

    /// Floating-point operations of one forward pass per example, counting the GEMMs
    /// only (`2 * in * out` per layer): `2 (d m + L m^2 + m C)` for `L` linear edges.
    /// A training step costs about three times this (forward, weight and input gradients;
    /// the stem needs no input gradient, so exactly `3F - 2dm`).
    pub fn forward_flops(&self) -> f64 {
        self.layers.iter().map(|l| 2.0 * l.w.len() as f64).sum()
    }

    /// Training FLOPs per example: `3 F - 2 d m` (see [`DagMlp::forward_flops`]).
    pub fn train_flops(&self) -> f64 {
        3.0 * self.forward_flops() - 2.0 * (self.input_dim * self.width) as f64
    }

    fn check_input(&self, x: &ArrayView2<'_, T>) -> Result<(), TrainError> {
        if x.ncols() != self.input_dim {
            return Err(TrainError::InputDim {
                expected: self.input_dim,
                got: x.ncols(),
            });
        }
        Ok(())
    }

    /// Forward pass keeping activations. `x` is `batch x d`, row-major. Node `t` sums its
    /// non-zero in-edges in edge order ([`Plan::in_edges`]).
    pub fn forward(&self, x: ArrayView2<'_, T>) -> Result<Forward<T>, TrainError> {
        self.check_input(&x)?;
        let x = x.as_standard_layout();
        let bsz = x.nrows();
        let m = self.width;
        let stem = &self.layers[0];
        let mut x0 = Array2::<T>::zeros((bsz, m));
        gemm(
            &mut x0.view_mut(),
            x.view(),
            Tr::N,
            stem.w.view(),
            Tr::T,
            false,
        );
        let stem_pre = bias_act(&mut x0, &stem.b, self.acts[0].as_ref());
        let plan = Plan::of(&self.dag);
        let n = self.dag.num_nodes();
        let mut nodes: Vec<Array2<T>> = Vec::with_capacity(n);
        let mut edge_out: Vec<Option<Array2<T>>> = vec![None; self.dag.edges().len()];
        let mut edge_pre: Vec<Option<Array2<T>>> = vec![None; self.dag.edges().len()];
        for t in 0..n {
            if self.dag.is_input(t) {
                nodes.push(x0.clone());
                continue;
            }
            let mut acc = Array2::<T>::zeros((bsz, m));
            for &ei in plan.in_edges(t) {
                match plan.step(ei) {
                    Step::Identity { from } => add_assign(&mut acc, &nodes[from]),
                    Step::Layer { from, .. } => {
                        let li = self.edge_layer[ei].expect("linear edge has a layer");
                        let l = &self.layers[li];
                        let mut z = Array2::<T>::zeros((bsz, m));
                        gemm(
                            &mut z.view_mut(),
                            nodes[from].view(),
                            Tr::N,
                            l.w.view(),
                            Tr::T,
                            false,
                        );
                        edge_pre[ei] = bias_act(&mut z, &l.b, self.acts[li].as_ref());
                        add_assign(&mut acc, &z);
                        edge_out[ei] = Some(z);
                    }
                }
            }
            nodes.push(acc);
        }
        let r = self.layers.last().expect("readout");
        let mut logits = Array2::<T>::zeros((bsz, self.classes));
        gemm(
            &mut logits.view_mut(),
            nodes[n - 1].view(),
            Tr::N,
            r.w.view(),
            Tr::T,
            false,
        );
        logits += &r.b;
        Ok(Forward {
            nodes,
            edge_out,
            edge_pre,
            stem_pre,
            logits,
        })
    }

    /// Logits only, evaluated in chunks of 1024 examples to bound memory.
    ///
    /// # Panics
    /// If `x` does not have `d` columns.
    #[track_caller]
    pub fn logits(&self, x: ArrayView2<'_, T>) -> Array2<T> {
        assert_eq!(
            x.ncols(),
            self.input_dim,
            "input has {} features, the network expects {}",
            x.ncols(),
            self.input_dim
        );
        let mut out = Array2::<T>::zeros((x.nrows(), self.classes));
        let mut start = 0;
        while start < x.nrows() {
            let end = (start + 1024).min(x.nrows());
            let f = self
                .forward(x.slice(ndarray::s![start..end, ..]))
                .expect("width checked");
            out.slice_mut(ndarray::s![start..end, ..]).assign(&f.logits);
            start = end;
        }
        out
    }

    /// Backward pass: gradients of a loss with respect to every layer, given the forward
    /// activations of input `x` and `dlogits = dLoss/dlogits`. Same order as
    /// [`DagMlp::layers`]. ReLU'(0) = 0 (PyTorch's convention).
    ///
    /// Reverse topological order, each node through its own in-edges ([`Plan::in_edges`],
    /// in edge order): `dX^H = dlogits W_r`; for a skip edge `s -> t`,
    /// `dX^s += dX^t`; for a linear edge, `dZ = dX^t * phi_e'(Z_e)` (ReLU:
    /// `dX^t * 1[out > 0]`), `dW_e = dZ^T X^s`,
    /// `db_e = 1^T dZ`, `dX^s += dZ W_e`; finally the stem from the sum of the input
    /// nodes' gradients.
    pub fn backward(
        &self,
        x: ArrayView2<'_, T>,
        fwd: &Forward<T>,
        dlogits: ArrayView2<'_, T>,
    ) -> Result<Vec<Dense<T>>, TrainError> {
        self.check_input(&x)?;
        let x = x.as_standard_layout();
        let dlogits = dlogits.as_standard_layout();
        let bsz = x.nrows();
        let m = self.width;
        let plan = Plan::of(&self.dag);
        let n = self.dag.num_nodes();
        let mut grads: Vec<Dense<T>> = self
            .layers
            .iter()
            .map(|l| Dense::zeros(l.w.nrows(), l.w.ncols()))
            .collect();
        let last = self.layers.len() - 1;
        // Readout.
        gemm(
            &mut grads[last].w.view_mut(),
            dlogits.view(),
            Tr::T,
            fwd.nodes[n - 1].view(),
            Tr::N,
            false,
        );
        grads[last].b = col_sum(&dlogits.to_owned());
        let mut dnode: Vec<Option<Array2<T>>> = vec![None; n];
        let mut dh = Array2::<T>::zeros((bsz, m));
        gemm(
            &mut dh.view_mut(),
            dlogits.view(),
            Tr::N,
            self.layers[last].w.view(),
            Tr::N,
            false,
        );
        dnode[n - 1] = Some(dh);
        for t in (0..n).rev() {
            if self.dag.is_input(t) {
                continue;
            }
            let Some(dt) = dnode[t].take() else { continue };
            for &ei in plan.in_edges(t) {
                match plan.step(ei) {
                    Step::Identity { from } => match &mut dnode[from] {
                        Some(ds) => add_assign(ds, &dt),
                        slot @ None => *slot = Some(dt.clone()),
                    },
                    Step::Layer { from, .. } => {
                        let li = self.edge_layer[ei].expect("linear edge has a layer");
                        let out = fwd.edge_out[ei]
                            .as_ref()
                            .expect("forward kept linear edge outputs");
                        let mut dz = dt.clone();
                        act_backward(
                            &mut dz,
                            self.acts[li].as_ref(),
                            out,
                            fwd.edge_pre[ei].as_ref(),
                        );
                        gemm(
                            &mut grads[li].w.view_mut(),
                            dz.view(),
                            Tr::T,
                            fwd.nodes[from].view(),
                            Tr::N,
                            true,
                        );
                        grads[li].b += &col_sum(&dz);
                        let slot = dnode[from].get_or_insert_with(|| Array2::zeros((bsz, m)));
                        gemm(
                            &mut slot.view_mut(),
                            dz.view(),
                            Tr::N,
                            self.layers[li].w.view(),
                            Tr::N,
                            true,
                        );
                    }
                }
            }
        }
        // Stem: every input node holds X^0.
        let mut d0: Option<Array2<T>> = None;
        for &i in self.dag.inputs() {
            if let Some(di) = dnode[i].take() {
                match &mut d0 {
                    Some(acc) => add_assign(acc, &di),
                    None => d0 = Some(di),
                }
            }
        }
        if let Some(mut dz0) = d0 {
            let x0 = &fwd.nodes[self.dag.inputs()[0]];
            act_backward(&mut dz0, self.acts[0].as_ref(), x0, fwd.stem_pre.as_ref());
            gemm(
                &mut grads[0].w.view_mut(),
                dz0.view(),
                Tr::T,
                x.view(),
                Tr::N,
                false,
            );
            grads[0].b = col_sum(&dz0);
        }
        Ok(grads)
    }

    /// Plain gradient step `theta <- theta - lr * g` on every weight and bias.
    pub fn sgd_step(&mut self, grads: &[Dense<T>], lr: f64) {
        let a = T::of(lr);
        for (l, g) in self.layers.iter_mut().zip(grads) {
            Zip::from(&mut l.w)
                .and(&g.w)
                .par_for_each(|w, &gw| *w -= a * gw);
            Zip::from(&mut l.b)
                .and(&g.b)
                .for_each(|b, &gb| *b -= a * gb);
        }
    }
}
