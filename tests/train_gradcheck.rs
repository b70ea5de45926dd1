//! The DAG-MLP's forward pass against a naive per-example implementation, its backward
//! pass against central finite differences (every edge type: linear, skip, zero, plus
//! stem, readout and all biases) in f64, and its initial-feature Gram against the exact
//! closed-form kernel (issue 6); the same for erf / GELU / tanh edges and stems with
//! biases, and the model's initialisation `N(0, sw2 / fan_in)`, `N(0, sb2)` (issue 13).
mod common;

use archconv::activation::Activation;
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::model::{EdgeParams, LiftParams};
use archconv::train::{loss_and_grad, DagMlp, Loss};
use archconv::{Dag, Edge, Op};
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn gaussian(r: usize, c: usize, seed: u64) -> Array2<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((r, c), || StandardNormal.sample(&mut rng))
}

/// DAGs covering every edge type: DAG#1-#3, one with linear+skip+zero into one node, and
/// one whose node 2 has only zero edges (so edge 2->3 sees a zero node and only its bias).
fn dags() -> Vec<Dag> {
    vec![
        Dag::dag1(),
        Dag::dag2(),
        Dag::dag3(),
        Dag::parse("2_21_102").unwrap(),
        Dag::parse("2_00_012").unwrap(),
    ]
}

/// Naive forward pass: per example, per node, explicit loops (no GEMM, no shared code);
/// the activations are read from the network's stem and the DAG's edge parameters.
fn naive_logits(net: &DagMlp<f64>, x: &Array2<f64>) -> Array2<f64> {
    let dag = net.dag();
    let layers = net.layers();
    let affine = |l: usize, v: &Array1<f64>, act: Option<&Activation>| -> Array1<f64> {
        let d = &layers[l];
        Array1::from_shape_fn(d.w.nrows(), |i| {
            let s: f64 = (0..v.len()).map(|j| d.w[[i, j]] * v[j]).sum::<f64>() + d.b[i];
            match act {
                Some(Activation::Relu) => s.max(0.0),
                Some(a) => a.phi(s),
                None => s,
            }
        })
    };
    let stem_act = net.stem().stem_params().map(|p| p.activation());
    let mut out = Array2::zeros((x.nrows(), net.classes()));
    for r in 0..x.nrows() {
        let x0 = affine(0, &x.row(r).to_owned(), stem_act);
        let mut nodes: Vec<Array1<f64>> = Vec::new();
        for t in 0..dag.num_nodes() {
            if dag.is_input(t) {
                nodes.push(x0.clone());
                continue;
            }
            let mut acc = Array1::zeros(net.width());
            for (ei, e) in dag.edges().iter().enumerate() {
                if e.to != t {
                    continue;
                }
                match e.op {
                    Op::Zero => {}
                    Op::Skip => acc += &nodes[e.from],
                    Op::Linear => {
                        acc += &affine(
                            net.edge_layer(ei).unwrap(),
                            &nodes[e.from],
                            Some(e.params().activation()),
                        )
                    }
                }
            }
            nodes.push(acc);
        }
        let logits = affine(layers.len() - 1, nodes.last().unwrap(), None);
        out.row_mut(r).assign(&logits);
    }
    out
}

fn perturbed_net(dag: &Dag, d: usize, m: usize, c: usize, seed: u64) -> DagMlp<f64> {
    perturbed_net_with(dag, &LiftParams::relu_stem(), d, m, c, seed)
}

fn perturbed_net_with(
    dag: &Dag,
    stem: &LiftParams,
    d: usize,
    m: usize,
    c: usize,
    seed: u64,
) -> DagMlp<f64> {
    let mut net = DagMlp::<f64>::with_stem(dag, stem, d, m, c, seed).unwrap();
    // Nonzero biases so the bias paths (and a zero node's edge) carry signal.
    for (k, l) in net.layers_mut().iter_mut().enumerate() {
        let b = gaussian(1, l.b.len(), 100 + k as u64)
            .row(0)
            .mapv(|v| 0.3 * v);
        l.b.assign(&b);
    }
    net
}

#[test]
fn forward_matches_naive_per_example_loops() {
    for dag in dags() {
        let net = perturbed_net(&dag, 7, 9, 4, 3);
        let x = gaussian(6, 7, 11);
        let fast = net.logits(x.view());
        let slow = naive_logits(&net, &x);
        let scale = slow.iter().fold(1.0f64, |a, &v| a.max(v.abs()));
        // Both sum O(d + P m) products in different orders.
        common::assert_matrix_close(
            &fast,
            &slow,
            common::analytic_tol(7 + 4 * 9 * 9, scale),
            &format!("logits of {}", dag.describe()),
        );
    }
}

fn total_loss(net: &DagMlp<f64>, x: &Array2<f64>, y: &[u8], loss: Loss) -> f64 {
    let f = net.forward(x.view()).unwrap();
    loss_and_grad(loss, f.logits.view(), y).loss
}

/// Every weight and bias gradient of `net`'s backward pass against central finite
/// differences of the loss, and every layer receiving signal.
fn check_gradients(net: &DagMlp<f64>, x: &Array2<f64>, y: &[u8], loss: Loss, what: &str) {
    let h = 1e-6;
    let f = net.forward(x.view()).unwrap();
    let out = loss_and_grad(loss, f.logits.view(), y);
    let grads = net.backward(x.view(), &f, out.grad.view()).unwrap();
    let names = net.layer_names();
    let l0 = out.loss.abs().max(1.0);
    // Central differences: truncation h^2 |L'''| / 6 plus rounding eps |L| / h.
    // Margin 1e3 over both for O(1) third derivatives; ReLU kinks within h of
    // a pre-activation are improbable (measure-zero) for Gaussian data.
    let tol = 1e3 * (common::EPS * l0 / h + h * h);
    for k in 0..net.layers().len() {
        let (rows, cols) = net.layers()[k].w.dim();
        let mut checked = 0;
        for i in 0..rows {
            for j in 0..=cols {
                // j == cols: the bias entry i.
                let mut p = net.clone();
                let mut q = net.clone();
                if j < cols {
                    p.layers_mut()[k].w[[i, j]] += h;
                    q.layers_mut()[k].w[[i, j]] -= h;
                } else {
                    p.layers_mut()[k].b[i] += h;
                    q.layers_mut()[k].b[i] -= h;
                }
                let fd = (total_loss(&p, x, y, loss) - total_loss(&q, x, y, loss)) / (2.0 * h);
                let an = if j < cols {
                    grads[k].w[[i, j]]
                } else {
                    grads[k].b[i]
                };
                assert!(
                    (fd - an).abs() <= tol,
                    "{what} {:?} layer {} ({}) entry ({i},{j}): finite difference {fd:e} vs backward {an:e} (tol {tol:e})",
                    loss,
                    k,
                    names[k]
                );
                checked += 1;
            }
        }
        assert_eq!(checked, rows * (cols + 1));
    }
    // Every layer receives gradient signal (no silently dead edge), including
    // the edge out of DAG "2_00_012"'s zero node, through its bias.
    for (k, g) in grads.iter().enumerate() {
        let norm: f64 = g.w.iter().chain(g.b.iter()).map(|v| v * v).sum();
        assert!(
            norm > 0.0,
            "{what}: layer {} has an all-zero gradient",
            names[k]
        );
    }
}

#[test]
fn backward_matches_central_finite_differences_for_every_edge_type() {
    let (d, m, c, b) = (5, 6, 3, 7);
    let x = gaussian(b, d, 21);
    let y: Vec<u8> = (0..b).map(|i| (i % c) as u8).collect();
    for loss in [Loss::CrossEntropy, Loss::Mse] {
        for dag in dags() {
            let net = perturbed_net(&dag, d, m, c, 5);
            check_gradients(&net, &x, &y, loss, &dag.describe());
        }
    }
}

/// Networks with smooth activations and biases: erf / GELU / tanh on every linear edge
/// (each DAG of [`dags`]), one DAG mixing all three, and stems of each kind plus a dense
/// (identity) lift.
fn activation_cases() -> Vec<(String, Dag, LiftParams)> {
    let p = |a: Activation, sw2: f64, sb2: f64| EdgeParams::new(a, sw2, sb2).unwrap();
    let stems = [
        LiftParams::stem(Activation::Erf, 1.5, 0.1).unwrap(),
        LiftParams::stem(Activation::Gelu, 2.0, 0.2).unwrap(),
        LiftParams::stem(Activation::Tanh, 1.0, 0.1).unwrap(),
        LiftParams::dense_with(1.0, 0.3).unwrap(),
    ];
    let edges = [
        p(Activation::Erf, 1.5, 0.1),
        p(Activation::Gelu, 2.0, 0.2),
        p(Activation::Tanh, 1.2, 0.3),
    ];
    let mut out = vec![];
    for (k, dag) in dags().into_iter().enumerate() {
        let e = &edges[k % edges.len()];
        let s = &stems[k % stems.len()];
        out.push((
            format!("{} {e} {s}", dag.describe()),
            dag.with_all_params(e),
            s.clone(),
        ));
    }
    let mixed = Dag::new(
        4,
        vec![
            Edge::linear_with(0, 1, edges[0].clone()),
            Edge::linear_with(0, 2, edges[1].clone()),
            Edge::new(1, 2, Op::Skip),
            Edge::linear_with(1, 3, edges[2].clone()),
            Edge::linear_with(2, 3, edges[0].clone()),
        ],
    )
    .unwrap();
    out.push(("mixed erf/gelu/tanh".into(), mixed, stems[3].clone()));
    out
}

#[test]
fn backward_matches_central_finite_differences_for_smooth_activations_with_biases() {
    let (d, m, c, b) = (5, 6, 3, 7);
    let x = gaussian(b, d, 22);
    let y: Vec<u8> = (0..b).map(|i| (i % c) as u8).collect();
    for (name, dag, stem) in activation_cases() {
        let net = perturbed_net_with(&dag, &stem, d, m, c, 6);
        // The forward pass against the naive loops first.
        let slow = naive_logits(&net, &x);
        let scale = slow.iter().fold(1.0f64, |a, &v| a.max(v.abs()));
        common::assert_matrix_close(
            &net.logits(x.view()),
            &slow,
            common::analytic_tol(d + 4 * m * m, scale),
            &format!("logits of {name}"),
        );
        for loss in [Loss::CrossEntropy, Loss::Mse] {
            check_gradients(&net, &x, &y, loss, &name);
        }
    }
}

#[test]
fn init_follows_the_model_variances() {
    // W ~ N(0, sw2 / fan_in), b ~ N(0, sb2) for the stem and every edge; the readout
    // stays Kaiming with a zero bias. Sample second moments of N(0, s2): sd sqrt(2) s2.
    let (d, m) = (300, 400);
    let edge = EdgeParams::new(Activation::Tanh, 1.2, 0.3).unwrap();
    let stem = LiftParams::stem(Activation::Erf, 1.5, 0.2).unwrap();
    let net =
        DagMlp::<f64>::with_stem(&Dag::dag3().with_all_params(&edge), &stem, d, m, 10, 9).unwrap();
    let last = net.layers().len() - 1;
    for (k, (l, name)) in net.layers().iter().zip(net.layer_names()).enumerate() {
        let (sw2, sb2) = if k == 0 {
            stem.variances()
        } else if k == last {
            (2.0, 0.0)
        } else {
            (edge.sw2(), edge.sb2())
        };
        let fan_in = l.w.ncols() as f64;
        let n = l.w.len();
        let var: f64 = l.w.iter().map(|v| v * v).sum::<f64>() / n as f64;
        let s2 = sw2 / fan_in;
        assert!(
            (var - s2).abs() <= common::mc_tol(2f64.sqrt() * s2, n, 5.0),
            "{name}: weight variance {var} vs {s2}"
        );
        let nb = l.b.len();
        let bvar: f64 = l.b.iter().map(|v| v * v).sum::<f64>() / nb as f64;
        assert!(
            (bvar - sb2).abs() <= common::mc_tol(2f64.sqrt() * sb2, nb, 5.0),
            "{name}: bias variance {bvar} vs {sb2}"
        );
        if sb2 == 0.0 {
            assert!(l.b.iter().all(|&b| b == 0.0), "{name}: bias not zero");
        }
    }
}

#[test]
fn kaiming_init_has_fan_in_variance_and_zero_bias() {
    let net = DagMlp::<f64>::new(&Dag::dag3(), 300, 400, 10, 9).unwrap();
    for (l, name) in net.layers().iter().zip(net.layer_names()) {
        let fan_in = l.w.ncols() as f64;
        let n = l.w.len();
        let var: f64 = l.w.iter().map(|v| v * v).sum::<f64>() / n as f64;
        // Sample second moment of N(0, s2): sd of w^2 is sqrt(2) s2.
        let s2 = 2.0 / fan_in;
        assert!(
            (var - s2).abs() <= common::mc_tol(2f64.sqrt() * s2, n, 5.0),
            "{name}: variance {var} vs {s2}"
        );
        assert!(l.b.iter().all(|&b| b == 0.0), "{name}: bias not zero");
    }
}

/// The seed-averaged Gram of the initial output features of `DagMlp::with_stem` against
/// the exact closed-form NNGP of the same model.
fn check_initial_gram(dag: &Dag, stem: &LiftParams, what: &str) {
    // Inputs normalised to ||x||^2 = d, the convention of Inputs::from_data, so the
    // network's stem sees K^0 = X X^T / d with unit diagonal.
    let (n, d, m, seeds) = (6, 40, 1024, 12);
    let mut x = gaussian(n, d, 31);
    // Correlated points (shared component) so off-diagonals are far from h(0).
    let common_dir = gaussian(1, d, 32);
    for mut r in x.rows_mut() {
        r += &common_dir.row(0);
        let s = (d as f64 / r.dot(&r)).sqrt();
        r.mapv_inplace(|v| v * s);
    }
    let exact = Inputs::from_data_with(x.view(), stem)
        .unwrap()
        .kernel(dag, KernelKind::Exact)
        .unwrap()
        .output()
        .gram
        .clone();
    let grams: Vec<Array2<f64>> = (0..seeds)
        .map(|s| {
            let net = DagMlp::<f64>::with_stem(dag, stem, d, m, 2, 1000 + s).unwrap();
            let f = net.forward(x.view()).unwrap();
            let xh = f.nodes.last().unwrap();
            xh.dot(&xh.t()) / m as f64
        })
        .collect();
    let mean: Array2<f64> = grams.iter().fold(Array2::zeros((n, n)), |a, g| a + g) / seeds as f64;
    for i in 0..n {
        for j in 0..n {
            let vals: Vec<f64> = grams.iter().map(|g| g[[i, j]]).collect();
            let sd = (vals.iter().map(|v| (v - mean[[i, j]]).powi(2)).sum::<f64>()
                / (seeds - 1) as f64)
                .sqrt();
            // Standard error of the seed average (5 sigma) plus the O(1/m)
            // finite-width bias, bounded by the entry's own scale over m.
            let tol =
                common::mc_tol(sd, seeds as usize, 5.0) + 4.0 * exact[[i, j]].abs() / m as f64;
            assert!(
                (mean[[i, j]] - exact[[i, j]]).abs() <= tol,
                "{what} ({i},{j}): finite-width mean {} vs exact {} (tol {tol:e})",
                mean[[i, j]],
                exact[[i, j]]
            );
        }
    }
}

#[test]
fn initial_output_gram_matches_the_exact_relu_stem_kernel() {
    assert_eq!(LiftParams::from(Lift::ReluStem), LiftParams::relu_stem());
    for dag in [Dag::dag1(), Dag::dag2(), Dag::dag3()] {
        check_initial_gram(&dag, &LiftParams::relu_stem(), &dag.describe());
    }
}

#[test]
fn initial_output_gram_matches_the_exact_kernel_for_smooth_activations_with_biases() {
    for (name, dag, stem) in activation_cases() {
        check_initial_gram(&dag, &stem, &name);
    }
}
