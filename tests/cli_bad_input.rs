//! Issue 17, from the shell: bad input and impossible sizes exit with status 1 (2 for
//! usage errors) and a clear message, never an abort, a panic or a silent wrong number.
use std::process::Command;

struct Run {
    code: Option<i32>,
    out: String,
    err: String,
}

fn archconv(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_archconv"))
        .args(args)
        .output()
        .expect("binary runs");
    Run {
        code: out.status.code(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[track_caller]
fn refused(args: &[&str], code: i32, needles: &[&str]) -> Run {
    let r = archconv(args);
    assert_eq!(
        r.code,
        Some(code),
        "{args:?}: stdout {} stderr {}",
        r.out,
        r.err
    );
    assert!(!r.err.contains("panicked"), "{args:?} panicked: {}", r.err);
    for n in needles {
        assert!(r.err.contains(n), "{args:?}: stderr lacks {n:?}: {}", r.err);
    }
    r
}

#[test]
fn huge_sizes_are_refused_with_a_memory_estimate() {
    for args in [
        &["analyze", "2_21_112", "-n", "100000000000"][..],
        &["analyze", "2_21_112", "--dim", "100000000000"],
        &["analyze", "2_21_112", "-n", "300000"],
        &["mc", "2_21_112", "-n", "300000"],
        &[
            "mc",
            "2_21_112",
            "--width",
            "100000000000000",
            "--seeds",
            "2",
        ],
    ] {
        refused(args, 1, &["about", "GiB", "but the", "cap is"]);
    }
    // The global --memory cap applies to every command.
    refused(
        &["--memory", "1", "analyze", "2_21_112", "-n", "1000"],
        1,
        &["needs about", "memory cap is 1.00 MiB"],
    );
    refused(
        &[
            "train",
            "--dataset",
            "synthetic",
            "--width",
            "100000000",
            "--memory",
            "64",
        ],
        1,
        &["training width 100000000", "needs about"],
    );
}

#[test]
fn tiny_inputs_with_huge_counts_are_refused_not_aborted() {
    refused(
        &["analyze", r#"{"nodes": 100000000000000000, "edges": []}"#],
        1,
        &["100000000000000000 nodes, more than"],
    );
    refused(
        &[
            "analyze",
            "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, 100000000000000))",
        ],
        1,
        &["range end of at most 3"],
    );
    // 6 intermediate DARTS nodes would enumerate 232 million cells: a usage error.
    refused(&["nas", "darts", "--nodes", "6"], 2, &["not in 1..=5"]);
}

#[test]
fn analyze_json_writes_path_counts_beyond_64_bits() {
    let edges: Vec<String> = (1..66)
        .flat_map(|t| (0..t).map(move |s| format!("[{s}, {t}, \"linear\"]")))
        .collect();
    let json = format!("{{\"nodes\": 66, \"edges\": [{}]}}", edges.join(", "));
    let r = archconv(&["analyze", &json, "--json", "-n", "4", "--dim", "3"]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    let v: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    assert_eq!(
        v["paths"]["num_paths"],
        serde_json::json!((1u128 << 64).to_string())
    );
}

#[test]
fn degenerate_and_badly_scaled_csv_data() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.csv");
    std::fs::write(&zero, "0,0\n0,0\n0,0\n").unwrap();
    for cmd in ["analyze", "mc"] {
        let z = zero.to_str().unwrap();
        let r = refused(
            &[cmd, "2_21_112", "--csv", z, "--width", "8"][..if cmd == "mc" { 6 } else { 4 }],
            1,
            &["degenerate data"],
        );
        assert!(!r.err.contains("no path"), "{}", r.err);
    }
    // The same data at scale 1 and 1e200 print the same table.
    let one = dir.path().join("one.csv");
    let big = dir.path().join("big.csv");
    std::fs::write(&one, "1,2\n3,-1\n0.5,4\n").unwrap();
    std::fs::write(&big, "1e200,2e200\n3e200,-1e200\n0.5e200,4e200\n").unwrap();
    let a = archconv(&["analyze", "2_21_112", "--csv", one.to_str().unwrap()]);
    let b = archconv(&["analyze", "2_21_112", "--csv", big.to_str().unwrap()]);
    assert_eq!(a.code, Some(0), "{}", a.err);
    assert_eq!(b.code, Some(0), "{}", b.err);
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&a.out), body(&b.out));
    // Unnormalised, 1e200 overflows the Gram: the error names the file and the entry.
    refused(
        &[
            "analyze",
            "2_21_112",
            "--csv",
            big.to_str().unwrap(),
            "--no-normalize",
        ],
        1,
        &["big.csv", "data Gram", "row 0, column 0"],
    );
    // An empty cell is an error naming file, line and column.
    let gap = dir.path().join("gap.csv");
    std::fs::write(&gap, "1,2\n3,,4\n").unwrap();
    refused(
        &["analyze", "2_21_112", "--csv", gap.to_str().unwrap()],
        1,
        &["gap.csv", "line 2, column 2", "empty cell"],
    );
}

#[test]
fn train_rejects_zero_seeds_and_a_learning_rate_that_vanishes_in_f32() {
    refused(
        &["train", "--dataset", "synthetic", "--seeds", "0"],
        1,
        &["--seeds must be at least 1"],
    );
    refused(
        &[
            "train",
            "--dataset",
            "synthetic",
            "--lr",
            "1e-50",
            "--epochs",
            "1",
            "--seeds",
            "1",
            "--width",
            "8",
        ],
        1,
        &["learning rate 1e-50", "f32"],
    );
    refused(
        &[
            "train",
            "--dataset",
            "synthetic",
            "--seeds",
            "100000000000",
            "--epochs",
            "100000000000",
        ],
        1,
        &["training records", "needs"],
    );
}

#[test]
fn train_reads_the_dag_from_a_file_like_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dag.txt");
    std::fs::write(&p, "2_21_112\n").unwrap();
    let arg = format!("@{}", p.display());
    let r = archconv(&[
        "train",
        "--dag",
        &arg,
        "--dataset",
        "synthetic",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--width",
        "8",
        "--train-n",
        "64",
        "--test-n",
        "16",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(r.out.contains("2_21_112"), "{}", r.out);
    // One seed: no standard deviation of 0 is printed.
    assert!(
        r.out.contains("± n/a") && !r.out.contains("± 0.0000"),
        "{}",
        r.out
    );
    let missing = format!("@{}", dir.path().join("absent.txt").display());
    refused(
        &["train", "--dag", &missing, "--dataset", "synthetic"],
        1,
        &["cannot read DAG file"],
    );
}

#[test]
fn reproduce_refuses_to_overwrite_foreign_files_and_writes_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // A user's report.md: refused, and left as it was.
    std::fs::write(out.join("report.md"), "my notes\n").unwrap();
    let o = out.to_str().unwrap();
    refused(
        &[
            "reproduce",
            "--quick",
            "--out",
            o,
            "--data",
            "/nonexistent-archconv-data",
        ],
        1,
        &[
            "report.md exists and was not written by archconv reproduce",
            "--force",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        "my notes\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    // A corrupt data file is an error (exit 1), not a skipped step; nothing is written.
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("nats-bench-tss")).unwrap();
    std::fs::write(
        data.join("nats-bench-tss/nats_bench_tss_200ep.csv"),
        "garbage\n",
    )
    .unwrap();
    let fresh = dir.path().join("fresh");
    refused(
        &[
            "reproduce",
            "--quick",
            "--out",
            fresh.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
        1,
        &["nats_bench_tss_200ep.csv"],
    );
    assert!(!fresh.join("report.md").exists() && !fresh.join("report.json").exists());
}

#[test]
fn reproduce_write_failures_say_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("sub");
    refused(
        &["reproduce", "--quick", "--out", out.to_str().unwrap()],
        1,
        &["cannot write"],
    );
}

#[test]
fn data_option_naming_a_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("train-images-idx3-ubyte.gz");
    std::fs::write(&file, "x").unwrap();
    refused(
        &[
            "train",
            "--dataset",
            "mnist",
            "--data",
            file.to_str().unwrap(),
        ],
        1,
        &["is not a directory"],
    );
}

#[test]
fn mc_with_one_network_prints_no_standard_error_and_bounds_sweep_exponents() {
    let r = archconv(&["mc", "2_21_112", "--seeds", "1", "--width", "32", "-n", "6"]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(r.out.contains("± n/a (one network)"), "{}", r.out);
    assert!(!r.out.contains("± 0.0000"), "{}", r.out);
    refused(
        &["mc", "2_21_112", "--sweep", "--sweep-max", "64"],
        2,
        &["not in 0..=62"],
    );
    refused(
        &[
            "mc",
            "2_21_112",
            "--sweep",
            "--sweep-min",
            "9",
            "--sweep-max",
            "8",
        ],
        1,
        &["above --sweep-max"],
    );
    refused(
        &["mc", "2_21_112", "--seeds", "1000000000000000"],
        1,
        &["Monte Carlo networks", "needs about"],
    );
}

#[test]
fn nas_nb201_rejects_zero_and_absurd_trial_counts() {
    refused(
        &["nas", "nb201", "--trials", "0"],
        1,
        &["--trials must be at least 1"],
    );
    refused(
        &["nas", "nb201", "--trials", "1000000000000000"],
        1,
        &["random-search trials", "needs about"],
    );
}

#[test]
fn analyze_of_a_100000_node_chain_finishes_in_linear_memory() {
    // Issue 17: node x node histograms, then a 5 GB MLP code in the report header.
    let edges: Vec<String> = (0..100_000)
        .map(|i| format!("[{i}, {}, \"linear\"]", i + 1))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("chain.json");
    std::fs::write(
        &p,
        format!("{{\"nodes\": 100001, \"edges\": [{}]}}", edges.join(", ")),
    )
    .unwrap();
    let arg = format!("@{}", p.display());
    let r = archconv(&["--memory", "2048", "analyze", &arg, "-n", "4", "--dim", "3"]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(
        r.out.contains("paths P = 1"),
        "{}",
        &r.out[..r.out.len().min(2000)]
    );
    assert!(r.out.len() < 8 << 20, "{} bytes of output", r.out.len());
}
