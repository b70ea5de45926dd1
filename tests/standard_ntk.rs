//! The standard-parameterisation NTK (`kernel::standard`, issue 14 study 4b) against two
//! independent routes: the empirical NTK of `train::DagMlp` at initialisation (per-sample
//! gradients from its backward pass, Monte Carlo over seeds) and, for its `O(m)` part,
//! the NTK-parameterisation kernel `Theta_FrozenLift` of `kernel::ntk`.

use archconv::activation::Activation;
use archconv::kernel::{Inputs, KernelFn, KernelKind, Lift};
use archconv::model::{EdgeParams, LiftParams};
use archconv::train::DagMlp;
use archconv::Dag;
use ndarray::{Array1, Array2};

/// Empirical SP NTK of one logit at initialisation: `Theta_ij = <dlogit_i/dp, dlogit_j/dp>`
/// over every weight and bias.
fn empirical_sp_ntk(
    dag: &Dag,
    stem: &LiftParams,
    x: &Array2<f64>,
    m: usize,
    seed: u64,
) -> Array2<f64> {
    let net = DagMlp::<f64>::with_stem(dag, stem, x.ncols(), m, 1, seed).unwrap();
    let fwd = net.forward(x.view()).unwrap();
    let n = x.nrows();
    let grads: Vec<Array1<f64>> = (0..n)
        .map(|i| {
            let mut dl = Array2::<f64>::zeros((n, 1));
            dl[[i, 0]] = 1.0;
            let g = net.backward(x.view(), &fwd, dl.view()).unwrap();
            let flat: Vec<f64> = g
                .iter()
                .flat_map(|l| l.w.iter().chain(l.b.iter()).copied().collect::<Vec<_>>())
                .collect();
            Array1::from(flat)
        })
        .collect();
    Array2::from_shape_fn((n, n), |(i, j)| grads[i].dot(&grads[j]))
}

/// Monte Carlo check: over `seeds` networks the per-entry ratio `Theta_emp / Theta_SP` has
/// mean 1 up to the finite-width bias `O(1/m)`; its fluctuations are `O(1/sqrt(m))`. The
/// test asks `|mean - 1| <= 4 SE + 4/m` for every entry, SE the sample standard error over
/// seeds (a 4-sigma band; the `4/m` term bounds the `O(1/m)` bias with the constant well
/// above what the entries here show).
fn check_mc(dag: &Dag, stem: LiftParams, label: &str) {
    let (n, d, m, seeds) = (4, 6, 1024, 6);
    let x = Inputs::gaussian(n, d, 3);
    let k = KernelFn::new(dag, stem.clone(), KernelKind::Exact).unnormalized();
    let theory = k.ntk_standard(x.view(), m).unwrap();
    let samples: Vec<Array2<f64>> = (0..seeds)
        .map(|s| empirical_sp_ntk(dag, &stem, &x, m, 100 + s))
        .collect();
    for i in 0..n {
        for j in 0..n {
            let r: Vec<f64> = samples.iter().map(|t| t[[i, j]] / theory[[i, j]]).collect();
            let mean = r.iter().sum::<f64>() / seeds as f64;
            let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (seeds as f64 - 1.0);
            let se = (var / seeds as f64).sqrt();
            let tol = 4.0 * se + 4.0 / m as f64;
            assert!(
                (mean - 1.0).abs() <= tol,
                "{label}: entry ({i},{j}) empirical/theory mean {mean:.4} (SE {se:.4}, tolerance {tol:.4}); theory {:.4e}, samples {:?}",
                theory[[i, j]],
                samples.iter().map(|t| t[[i, j]]).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn sp_ntk_matches_empirical_ntk_of_dag_mlp_paper_dags() {
    for (name, dag) in Dag::paper_dags() {
        check_mc(&dag, LiftParams::relu_stem(), name);
    }
}

#[test]
fn sp_ntk_matches_empirical_ntk_with_biases_other_activations_and_dense_lift() {
    let p = EdgeParams::new(Activation::Tanh, 1.5, 0.2).unwrap();
    let dag = Dag::dag3().with_all_params(&p);
    check_mc(
        &dag,
        LiftParams::stem(Activation::Erf, 1.0, 0.1).unwrap(),
        "DAG#3 tanh(1.5, 0.2), erf stem",
    );
    check_mc(
        &Dag::dag2(),
        LiftParams::dense_with(1.0, 0.0).unwrap(),
        "DAG#2, dense lift",
    );
}

/// For the authors' network (`sw2 = sr2 = 2`, no biases) every weight term is `m` times
/// the NTK-parameterisation term and the biases add width-independent terms, so
/// `Theta_SP(m2) - Theta_SP(m1) = (m2 - m1) Theta_FrozenLift` to rounding.
#[test]
fn sp_ntk_grows_like_width_times_frozen_lift_ntk() {
    use archconv::kernel::ntk::NtkVariant;
    let x = Inputs::gaussian(7, 5, 11);
    for (name, dag) in Dag::paper_dags() {
        let k = KernelFn::new(&dag, Lift::ReluStem, KernelKind::Exact).unnormalized();
        let a = k.ntk_standard(x.view(), 100).unwrap();
        let b = k.ntk_standard(x.view(), 1100).unwrap();
        let frozen = k.ntk(x.view(), None, NtkVariant::FrozenLift).unwrap();
        let scale = b.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        for ((&p, &q), &f) in a.iter().zip(b.iter()).zip(frozen.iter()) {
            let err = ((q - p) - 1000.0 * f).abs();
            assert!(
                err <= 1e-12 * scale,
                "{name}: {q} - {p} vs 1000 x {f} (err {err:e})"
            );
        }
    }
}

#[test]
fn sp_ntk_rejects_zero_width() {
    let x = Inputs::gaussian(3, 2, 0);
    let k = KernelFn::new(&Dag::dag1(), Lift::ReluStem, KernelKind::Exact);
    let e = k.ntk_standard(x.view(), 0).unwrap_err();
    assert!(e.to_string().contains("width"), "{e}");
    let p = KernelFn::new(&Dag::dag1(), Lift::ReluStem, KernelKind::PathSum);
    assert!(p.ntk_standard(x.view(), 8).is_err());
}
