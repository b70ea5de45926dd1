//! Shared test helpers: tolerances live here (STYLE.md), so every test derives its
//! thresholds the same way.
#![allow(dead_code)]

use ndarray::Array2;

pub mod dags;
pub mod width;

/// Unit roundoff of f64.
pub const EPS: f64 = f64::EPSILON;

/// Tolerance for analytic agreement of an O(n)-operation computation on values of size
/// `scale`: `c * n * eps * scale` with a small safety constant `c = 16`.
pub fn analytic_tol(n: usize, scale: f64) -> f64 {
    16.0 * (n.max(1) as f64) * EPS * scale.max(1e-300)
}

/// Monte Carlo tolerance: `k` standard errors of a mean of `n` samples with standard
/// deviation `sigma` (`k = 4` gives a two-sided false-alarm rate of about 6e-5).
pub fn mc_tol(sigma: f64, n: usize, k: f64) -> f64 {
    k * sigma / (n as f64).sqrt()
}

/// Largest absolute entrywise difference and where it occurs.
pub fn worst_diff(a: &Array2<f64>, b: &Array2<f64>) -> (f64, (usize, usize)) {
    assert_eq!(a.dim(), b.dim(), "shape mismatch");
    let mut worst = (0.0, (0, 0));
    for ((i, j), x) in a.indexed_iter() {
        let d = (x - b[[i, j]]).abs();
        if d > worst.0 || d.is_nan() {
            worst = (d, (i, j));
        }
    }
    worst
}

/// Asserts `|a - b| <= tol` entrywise; on failure prints the worst entry of both.
#[track_caller]
pub fn assert_matrix_close(a: &Array2<f64>, b: &Array2<f64>, tol: f64, what: &str) {
    let (d, (i, j)) = worst_diff(a, b);
    assert!(
        d <= tol,
        "{what}: worst |diff| = {d:e} at ({i}, {j}): actual {} vs expected {} (tol {tol:e})",
        a[[i, j]],
        b[[i, j]]
    );
}

/// Relative Frobenius distance `||a - b||_F / ||b||_F`.
pub fn rel_frobenius(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let num: f64 = a.iter().zip(b.iter()).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

/// The data directory tests read: `$ARCHCONV_DATA`, or the project's shared
/// `../shared/datasets` when the variable is unset.
pub fn data_dir() -> std::path::PathBuf {
    std::env::var_os("ARCHCONV_DATA")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets"))
        })
}

/// A file the test needs from the data directory ([`data_dir`]). Tests that call this
/// carry `#[cfg_attr(not(archconv_data), ignore = ...)]` (see `build.rs`), so they run
/// only when a data directory exists; then a missing file fails the test (issue 17), it
/// is not skipped.
#[track_caller]
pub fn data_file(rel: &str) -> std::path::PathBuf {
    let dir = data_dir();
    let p = dir.join(rel);
    assert!(
        p.is_file(),
        "data file {} is missing: the data directory {} (ARCHCONV_DATA = {:?}) must hold the \
         shared datasets listed in datasets/README.md",
        p.display(),
        dir.display(),
        std::env::var_os("ARCHCONV_DATA")
    );
    p
}

/// The output NNGP (`ntk = None`) or NTK of `kf` on `x` by the stored-state recursions
/// ([`archconv::Inputs::kernel`], [`archconv::Inputs::ntk`]): every node's `N x N` state
/// held, a different algorithm from the block-by-block [`archconv::KernelFn::nngp`].
pub fn stored_kernel(
    kf: &archconv::KernelFn,
    x: &Array2<f64>,
    ntk: Option<archconv::kernel::ntk::NtkVariant>,
) -> Array2<f64> {
    use archconv::kernel::exact::Rule;
    use archconv::{Inputs, KernelKind};
    let inp = if kf.normalizes() {
        Inputs::from_data_with(x.view(), kf.lift())
    } else {
        Inputs::from_data_unnormalized_with(x.view(), kf.lift())
    }
    .expect("valid data");
    match ntk {
        None => inp
            .kernel(kf.dag(), kf.kind())
            .expect("kernel")
            .into_output_gram(),
        Some(v) => {
            let rule = match kf.kind() {
                KernelKind::Exact => Rule::Exact,
                KernelKind::IndependentBranch => Rule::IndependentBranch,
                KernelKind::PathSum => panic!("the path-sum rule has no NTK"),
            };
            inp.ntk(kf.dag(), rule).expect("ntk").theta(v)
        }
    }
}
