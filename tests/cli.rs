//! The binary as a user runs it.
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
