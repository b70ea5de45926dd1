//! The binary as a user runs it.
mod common;
use std::process::Command;

fn archconv(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_archconv"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn analyze_reports_the_dag3_numbers_of_the_issue() {
    let (ok, out, err) = archconv(&["analyze", "2_21_112"]);
    assert!(ok, "{err}");
    assert!(out.contains("paths P = 4"), "{out}");
    assert!(out.contains("d=0: 1, d=1: 1, d=2: 2"), "{out}");
    assert!(
        out.contains("effective depth = 1.250000 (5/4), effective width = 2.400000 (12/5)"),
        "{out}"
    );
    for k in [
        "path-sum",
        "independent-branch",
        "exact",
        "NTK exact",
        "NTK indep-branch",
    ] {
        assert!(out.contains(k), "{out}");
    }
}

#[test]
fn analyze_json_is_machine_readable() {
    let (ok, out, err) = archconv(&["analyze", "1_01_222", "--json", "-n", "16"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["paths"]["num_paths"], 3);
    assert_eq!(v["kernels"].as_array().unwrap().len(), 3);
    let lmin = v["kernels"][2]["spectrum"]["lambda_min"].as_f64().unwrap();
    assert!(lmin > 0.0);
    assert_eq!(v["ntk"][1]["rule"], "exact");
    // Training every layer adds positive semi-definite terms to the NNGP: Theta >= K.
    assert!(v["ntk"][1]["spectrum"]["lambda_min"].as_f64().unwrap() >= lmin);
}

#[test]
fn bad_input_gives_a_clear_error_and_nonzero_exit() {
    let (ok, _, err) = archconv(&["analyze", "2_21_1x2"]);
    assert!(!ok);
    assert!(err.contains("at byte 6") && err.contains('^'), "{err}");
    let (ok, _, err) = archconv(&["analyze", "2_21_112", "-n", "1"]);
    assert!(!ok);
    assert!(err.contains("at least 2 input points"), "{err}");
    let (ok, _, err) = archconv(&["analyze", "2_21_112", "--csv", "/nonexistent/file.csv"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/file.csv"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn csv_inputs_with_non_finite_values_name_line_and_column() {
    let dir = std::env::temp_dir().join(format!("archconv-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("x.csv");
    std::fs::write(&p, "a,b\n1,2\n3,inf\n").unwrap();
    let (ok, _, err) = archconv(&["analyze", "2_21_112", "--csv", p.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("line 3, column 2"), "{err}");
}

#[test]
fn space_nb201_prints_center_radius_and_filter() {
    let (ok, out, err) = archconv(&["space", "nb201"]);
    assert!(ok, "{err}");
    assert!(out.contains("cells: 15625"));
    assert!(
        out.contains("center (1.625000, 2.166667), half-radius (0.687500, 0.916667)"),
        "{out}"
    );
    for f in [
        "radius factor 1 ",
        "radius factor 0.75",
        "radius factor 0.5 ",
        "radius factor 0.25",
    ] {
        assert!(out.contains(f), "{out}");
    }
}

#[test]
fn reproduce_quick_writes_the_reports() {
    let dir = std::env::temp_dir().join(format!("archconv-repro-{}", std::process::id()));
    let (ok, _, err) = archconv(&["reproduce", "--quick", "--out", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("Eigenvalue bounds"));
    let js: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(js["sections"]["bounds"]["data"].as_array().unwrap().len() > 10);
    // With the data directory, the training-free search on real networks runs (24 cells,
    // 32 images) and writes its figure; without it, the step is listed as skipped.
    if std::env::var_os("ARCHCONV_DATA")
        .is_some_and(|d| std::path::Path::new(&d).join("cifar10-subset200").is_dir())
    {
        assert!(
            md.contains("Training-free NAS on real NAS-Bench-201 networks"),
            "{md}"
        );
        assert!(js["sections"]["nas-search"]["data"]["correlations"]["cells"] == 24);
        assert!(dir.join("nas_search.svg").is_file() && dir.join("nas_search.png").is_file());
    } else {
        assert!(md.contains("training-free NAS search"), "{md}");
    }
}

#[test]
fn analyze_takes_the_network_settings_and_reports_them() {
    let (ok, out, err) = archconv(&[
        "analyze",
        "2_21_112",
        "-n",
        "16",
        "--activation",
        "erf",
        "--sw2",
        "1.5",
        "--sb2",
        "0.1",
        "--lift-sb2",
        "0.05",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("linear edges: erf(sw2=1.5, sb2=0.1); lift: dense(sw2=1, sb2=0.05)"),
        "{out}"
    );
    // The settings change the kernels: the erf network's exact lambda_min differs from
    // the paper's ReLU network's on the same inputs.
    let (ok, relu, err) = archconv(&["analyze", "2_21_112", "-n", "16", "--json"]);
    assert!(ok, "{err}");
    let (ok2, erf, err2) = archconv(&[
        "analyze",
        "2_21_112",
        "-n",
        "16",
        "--json",
        "--activation",
        "erf",
    ]);
    assert!(ok2, "{err2}");
    let lam = |text: &str| -> f64 {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["kernels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == "exact")
            .unwrap()["spectrum"]["lambda_min"]
            .as_f64()
            .unwrap()
    };
    assert!((lam(&relu) - lam(&erf)).abs() > 1e-6);
    let v: serde_json::Value = serde_json::from_str(&erf).unwrap();
    assert_eq!(v["network"][0], "erf(sw2=2, sb2=0)");
    // Mixed edges: the path-sum rule is not defined, the other kernels are.
    let mixed = r#"{"nodes": 3, "edges": [{"from": 0, "to": 1, "op": "linear", "activation": "tanh"}, [1, 2, "linear"]]}"#;
    let (ok, out, err) = archconv(&["analyze", mixed, "-n", "8"]);
    assert!(ok, "{err}");
    assert!(out.contains("not defined: path-sum"), "{out}");
    assert!(out.contains("exact"), "{out}");
}

#[test]
fn bad_network_settings_are_refused_naming_the_flag() {
    for (args, needle) in [
        (vec!["--activation", "swish9"], "--activation"),
        (vec!["--sw2", "-1"], "sw2 = -1"),
        (vec!["--sb2", "nan"], "sb2 = NaN"),
        (
            vec!["--stem-activation", "erf"],
            "--stem-activation needs --lift relu-stem",
        ),
    ] {
        let mut a = vec!["analyze", "2_21_112", "-n", "8"];
        a.extend(args);
        let (ok, out, err) = archconv(&a);
        assert!(!ok, "{a:?} should fail: {out}");
        assert!(err.contains(needle), "{a:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `archconv predict` on the seeded synthetic set (no data needed): its converged NTK
/// prediction is kernel regression, recomputed here from the library's kernels with
/// nalgebra's LU (an independent solve), and gradient descent past `2 / lambda_max`
/// diverges.
#[test]
fn predict_reports_kernel_regression_and_the_stable_learning_rate() {
    use archconv::kernel::{ntk::NtkVariant, KernelFn, KernelKind, Lift};
    let args = [
        "predict",
        "2_21_112",
        "--dataset",
        "synthetic",
        "--train-n",
        "120",
        "--test-n",
        "60",
        "--json",
    ];
    let (ok, out, err) = archconv(&args);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["n_train"], 120);
    assert_eq!(v["rule"], "exact");
    let d = archconv::data::Dataset::synthetic(2500, 64, 10, 12345);
    let (tr, te) = (d.slice(0..120), d.slice(2000..2060));
    let kf = KernelFn::new(&archconv::Dag::dag3(), Lift::Dense, KernelKind::Exact);
    let (x, xt) = (tr.x_f64(), te.x_f64());
    let th = kf.ntk(x.view(), None, NtkVariant::Full).unwrap();
    let tt = kf.ntk(xt.view(), Some(x.view()), NtkVariant::Full).unwrap();
    let a = nalgebra::DMatrix::from_fn(120, 120, |i, j| th[[i, j]]);
    let y = nalgebra::DMatrix::from_fn(120, 10, |i, c| f64::from(u8::from(tr.y[i] as usize == c)));
    let alpha = a.lu().solve(&y).unwrap();
    let correct = (0..60)
        .filter(|&i| {
            let f: Vec<f64> = (0..10)
                .map(|c| (0..120).map(|j| tt[[i, j]] * alpha[(j, c)]).sum())
                .collect();
            let best = (0..10).fold(0, |b, c| if f[c] > f[b] { c } else { b });
            best == te.y[i] as usize
        })
        .count();
    let acc = v["ntk"]["converged"]["test_accuracy"].as_f64().unwrap();
    assert!(
        (acc - correct as f64 / 60.0).abs() < 1e-12,
        "{acc} vs {correct}/60"
    );
    // The curve's training loss falls from ||y||^2 / 2 = 60.
    let curve = v["ntk"]["curve"].as_array().unwrap();
    // (Q^T y summed again: rounding of a sum of 120 squares.)
    let l0 = curve[0]["train_loss"].as_f64().unwrap();
    assert!((l0 - 60.0).abs() <= 1e-12 * 60.0, "{l0}");
    assert!(curve.last().unwrap()["train_loss"].as_f64().unwrap() < 1.0);
    // Gradient descent just past 2 / lambda_max diverges; just below it converges.
    let lr_max = v["ntk"]["max_stable_lr"].as_f64().unwrap();
    for (f, diverges) in [(1.02, true), (0.98, false)] {
        let lr = format!("{}", f * lr_max);
        let mut gd: Vec<&str> = args.to_vec();
        gd.extend(["--lr", &lr, "--steps", "0,5000"]);
        let (ok, out, err) = archconv(&gd);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let end = v["ntk"]["curve"][1]["train_loss"].as_f64().unwrap();
        assert_eq!(end > 60.0, diverges, "lr {f} x lr_max: loss {end}");
    }
    // The path-sum rule has no NTK part; bad noise is refused.
    let mut ps: Vec<&str> = args.to_vec();
    ps.extend(["--rule", "path-sum"]);
    let (ok, out, err) = archconv(&ps);
    assert!(ok, "{err}");
    assert!(!out.contains("\"ntk\""), "{out}");
    let mut bad: Vec<&str> = args.to_vec();
    bad.extend(["--noise", "-1"]);
    let (ok, _, err) = archconv(&bad);
    assert!(!ok && err.contains("noise variance"), "{err}");
}

/// `archconv kernel` writes the output kernel to a .npy file (checked against the
/// library's in-memory kernel of the same seeded points), refuses to replace it, and
/// reads `--memory` with units.
#[test]
fn kernel_writes_a_npy_file_under_a_memory_cap() {
    use archconv::kernel::{Inputs, KernelFn, KernelKind, Lift};
    let dir = std::env::temp_dir().join(format!("archconv-cli-kernel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("k.npy");
    let o = out.to_str().unwrap();
    let (ok, text, err) = archconv(&[
        "kernel", "2_21_112", "-n", "120", "--out", o, "--memory", "1GiB",
    ]);
    assert!(ok, "{err}");
    assert!(text.contains("120 x 120, f64"), "{text}");
    let b = std::fs::read(&out).unwrap();
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    let at = |i: usize, j: usize| {
        let p = 10 + hl + 8 * (i * 120 + j);
        f64::from_le_bytes(b[p..p + 8].try_into().unwrap())
    };
    let x = Inputs::gaussian(120, 32, 0);
    let k = KernelFn::new(&archconv::Dag::dag3(), Lift::Dense, KernelKind::Exact)
        .nngp(x.view(), None)
        .unwrap();
    for (i, j) in [(0, 0), (3, 77), (119, 5)] {
        assert!(
            (at(i, j) - k[[i, j]]).abs() <= 1e-12 * k[[0, 0]],
            "({i}, {j})"
        );
    }
    let (ok, _, err) = archconv(&["kernel", "2_21_112", "-n", "120", "--out", o]);
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = archconv(&[
        "kernel", "2_21_112", "-n", "120", "--out", o, "--memory", "4XB",
    ]);
    assert!(!ok && err.contains("unknown unit"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `kernel --lambda-min`: the output kernel in memory and its smallest eigenvalue,
/// against the full symmetric eigensolver on the stored-state recursion's kernel of the
/// same seeded points (two other algorithms). The Cholesky-Krylov route is taken from
/// N = 257 on. Its error is its stopping test (`1e-13 lambda_min`) plus the rounding of
/// a backward-stable factorization and of the full solver, each `O(N eps lambda_max)`:
/// the tolerance is `1e-13 |lambda_min|` plus `common::analytic_tol(N, lambda_max)`
/// (`16 N eps lambda_max`). A memory cap below the kernel and its
/// factor is refused before anything is computed; `--out` and `--lambda-min` exclude each
/// other, and one of them is required.
#[test]
fn kernel_lambda_min_reports_the_smallest_eigenvalue_of_the_output_kernel() {
    use archconv::kernel::{Inputs, KernelKind, Lift};
    let n = 300;
    let (ok, text, err) = archconv(&["kernel", "2_21_112", "-n", "300", "--lambda-min", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    let got = v["lambda_min"].as_f64().expect("lambda_min");
    assert_eq!(v["n"], n);
    let x = Inputs::gaussian(n, 32, 0);
    let k = Inputs::from_data(x.view(), Lift::Dense)
        .unwrap()
        .kernel(&archconv::Dag::dag3(), KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let ev = archconv::spectrum::eigenvalues(&k).unwrap();
    let lmax = ev[n - 1];
    let tol = 1e-13 * ev[0].abs() + common::analytic_tol(n, lmax);
    assert!(
        (got - ev[0]).abs() <= tol,
        "{got} vs {} (tolerance {tol:e})",
        ev[0]
    );
    // 300^2 x 16 bytes is 1.4 MB: a 1 MiB cap refuses it.
    let (ok, _, err) = archconv(&[
        "kernel",
        "2_21_112",
        "-n",
        "300",
        "--lambda-min",
        "--memory",
        "1",
    ]);
    assert!(!ok && err.contains("Cholesky factor"), "{err}");
    let (ok, _, err) = archconv(&["kernel", "2_21_112", "-n", "30"]);
    assert!(!ok && err.contains("--out"), "{err}");
    let (ok, _, err) = archconv(&[
        "kernel",
        "2_21_112",
        "-n",
        "30",
        "--lambda-min",
        "--out",
        "k.npy",
    ]);
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}
