//! The DAG-MLP's forward pass against a naive per-example implementation, its backward
//! pass against central finite differences (every edge type: linear, skip, zero, plus
//! stem, readout and all biases) in f64, and its initial-feature Gram against the exact
//! closed-form kernel (issue 6).
mod common;

use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::train::{loss_and_grad, DagMlp, Loss};
use archconv::{Dag, Op};
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

/// Naive forward pass: per example, per node, explicit loops (no GEMM, no shared code).
fn naive_logits(net: &DagMlp<f64>, x: &Array2<f64>) -> Array2<f64> {
    let dag = net.dag();
    let layers = net.layers();
    let affine = |l: usize, v: &Array1<f64>, relu: bool| -> Array1<f64> {
        let d = &layers[l];
        Array1::from_shape_fn(d.w.nrows(), |i| {
            let s: f64 = (0..v.len()).map(|j| d.w[[i, j]] * v[j]).sum::<f64>() + d.b[i];
            if relu {
                s.max(0.0)
            } else {
                s
            }
        })
    };
    let mut out = Array2::zeros((x.nrows(), net.classes()));
    for r in 0..x.nrows() {
        let x0 = affine(0, &x.row(r).to_owned(), true);
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
                    Op::Linear => acc += &affine(net.edge_layer(ei).unwrap(), &nodes[e.from], true),
                }
            }
            nodes.push(acc);
        }
        let logits = affine(layers.len() - 1, nodes.last().unwrap(), false);
        out.row_mut(r).assign(&logits);
    }
    out
}

fn perturbed_net(dag: &Dag, d: usize, m: usize, c: usize, seed: u64) -> DagMlp<f64> {
    let mut net = DagMlp::<f64>::new(dag, d, m, c, seed).unwrap();
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

#[test]
fn backward_matches_central_finite_differences_for_every_edge_type() {
    let (d, m, c, b) = (5, 6, 3, 7);
    let x = gaussian(b, d, 21);
    let y: Vec<u8> = (0..b).map(|i| (i % c) as u8).collect();
    let h = 1e-6;
    for loss in [Loss::CrossEntropy, Loss::Mse] {
        for dag in dags() {
            let net = perturbed_net(&dag, d, m, c, 5);
            let f = net.forward(x.view()).unwrap();
            let out = loss_and_grad(loss, f.logits.view(), &y);
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
                        let fd = (total_loss(&p, &x, &y, loss) - total_loss(&q, &x, &y, loss))
                            / (2.0 * h);
                        let an = if j < cols {
                            grads[k].w[[i, j]]
                        } else {
                            grads[k].b[i]
                        };
                        assert!(
                            (fd - an).abs() <= tol,
                            "{} {:?} layer {} ({}) entry ({i},{j}): finite difference {fd:e} vs backward {an:e} (tol {tol:e})",
                            dag.describe(),
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
                    "{}: layer {} has an all-zero gradient",
                    dag.describe(),
                    names[k]
                );
            }
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

#[test]
fn initial_output_gram_matches_the_exact_relu_stem_kernel() {
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
    for dag in [Dag::dag1(), Dag::dag2(), Dag::dag3()] {
        let exact = Inputs::from_data(x.view(), Lift::ReluStem)
            .unwrap()
            .kernel(&dag, KernelKind::Exact)
            .unwrap()
            .output()
            .gram
            .clone();
        let grams: Vec<Array2<f64>> = (0..seeds)
            .map(|s| {
                let net = DagMlp::<f64>::new(&dag, d, m, 2, 1000 + s).unwrap();
                let f = net.forward(x.view()).unwrap();
                let xh = f.nodes.last().unwrap();
                xh.dot(&xh.t()) / m as f64
            })
            .collect();
        let mean: Array2<f64> =
            grams.iter().fold(Array2::zeros((n, n)), |a, g| a + g) / seeds as f64;
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
                    "{} ({i},{j}): finite-width mean {} vs exact {} (tol {tol:e})",
                    dag.describe(),
                    mean[[i, j]],
                    exact[[i, j]]
                );
            }
        }
    }
}
