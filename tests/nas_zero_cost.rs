//! Zero-cost proxies on real NAS-Bench-201 networks: the cache, shards, the correlation
//! table and the authors' search protocol (issue 16).
mod common;

use archconv::dag::format::Nb201Arch;
use archconv::nas::cnn::Maps;
use archconv::nas::stats::kendall_tau_b;
use archconv::nas::zero_cost::search::{SearchFilter, SearchOptions, SearchProxy, SearchStudy};
use archconv::nas::zero_cost::study::ZeroCostStudy;
use archconv::nas::zero_cost::{self, cache, sample_indices, CellScore, ZcError, ZcSettings};
use archconv::nas::{Nb201Table, ProxyScores};
use std::path::PathBuf;
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archconv-zc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tiny skeleton (C = 2, one cell per stage) on 4 synthetic images: fast, and every
/// code path of the full network.
fn tiny() -> (ZcSettings, Maps) {
    let s = ZcSettings {
        sample: 6,
        batch: 4,
        channels: 2,
        cells_per_stage: 1,
        images: "synthetic".into(),
        ntk_batch: 4,
        regions: archconv::nas::tenas::LinearRegionSettings {
            samples: 50,
            batches: 2,
            ..Default::default()
        },
        ..ZcSettings::default()
    };
    let v: Vec<f32> = (0..4 * 3 * 32 * 32)
        .map(|i| ((i * 7919) % 1009) as f32 / 504.5 - 1.0)
        .collect();
    (s, Maps::from_nchw(&v, 4, 3, 32, 32))
}

#[test]
fn shards_resume_merge_and_match_a_direct_evaluation() {
    let (s, x) = tiny();
    let dir = tmp("shards");
    let f0 = zero_cost::shard_file(&dir, (0, 2));
    let a = zero_cost::run_shard(&s, &x, &f0, (0, 2), &mut |_, _| {}).unwrap();
    let b = zero_cost::run_shard(
        &s,
        &x,
        &zero_cost::shard_file(&dir, (1, 2)),
        (1, 2),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!((a.len(), b.len()), (3, 3));
    let all = zero_cost::collect(&dir, &s).unwrap();
    let mut want: Vec<usize> = sample_indices(6, 0);
    want.sort();
    assert_eq!(all.iter().map(|r| r.index).collect::<Vec<_>>(), want);
    // Resuming a complete shard scores nothing and leaves the file as it was.
    let len = std::fs::metadata(&f0).unwrap().len();
    let mut first = None;
    let again = zero_cost::run_shard(&s, &x, &f0, (0, 2), &mut |d, t| {
        first.get_or_insert((d, t));
    })
    .unwrap();
    assert_eq!(first, Some((3, 3)));
    assert_eq!(again, a);
    assert_eq!(std::fs::metadata(&f0).unwrap().len(), len);
    // Cached scores equal a fresh evaluation (the network and the score are deterministic).
    let archs: Vec<Nb201Arch> = Nb201Arch::all().collect();
    for r in &all {
        let fresh = zero_cost::score_cell(r.index, &archs[r.index], &s, &x).unwrap();
        assert_eq!(
            (fresh.naswot, fresh.params, fresh.flops, fresh.relus),
            (r.naswot, r.params, r.flops, r.relus)
        );
    }
    // A shard file given to the wrong shard is refused.
    let e = zero_cost::run_shard(&s, &x, &f0, (1, 2), &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("another shard"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn caches_from_other_settings_damaged_or_foreign_are_refused() {
    let (s, x) = tiny();
    let dir = tmp("refuse");
    let f = zero_cost::shard_file(&dir, (0, 1));
    zero_cost::run_shard(&s, &x, &f, (0, 1), &mut |_, _| {}).unwrap();
    let good = std::fs::read_to_string(&f).unwrap();
    // Other settings: the first differing field is named, with both values.
    let other = ZcSettings {
        net_seed: 9,
        ..s.clone()
    };
    let e = zero_cost::run_shard(&other, &x, &f, (0, 1), &mut |_, _| {}).unwrap_err();
    assert!(matches!(e, ZcError::OtherSettings { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("settings.net_seed = 0, this run has 9"),
        "{e}"
    );
    // Another format or version.
    let bumped = good.replacen(
        &format!("\"format\":{}", cache::FORMAT),
        &format!("\"format\":{}", cache::FORMAT + 100),
        1,
    );
    assert_ne!(bumped, good);
    std::fs::write(&f, &bumped).unwrap();
    assert!(zero_cost::collect(&dir, &s)
        .unwrap_err()
        .to_string()
        .contains("format"));
    // A damaged record names its line.
    let lines: Vec<&str> = good.lines().collect();
    let damaged = format!("{}\n{}\n{{\"index\": 3,\n", lines[0], lines[1]);
    std::fs::write(&f, damaged).unwrap();
    let e = zero_cost::collect(&dir, &s).unwrap_err();
    assert!(matches!(e, ZcError::Corrupt { line: 3, .. }), "{e}");
    // A truncated last line (an interrupted write).
    std::fs::write(&f, &good[..good.len() - 5]).unwrap();
    let e = cache::read(&f, None).unwrap_err();
    assert!(e.to_string().contains("incomplete"), "{e}");
    // A cell outside the sample, and a repeated one.
    let stranger = (0..15_625)
        .find(|i| !sample_indices(6, 0).contains(i))
        .unwrap();
    let arch = Nb201Arch::all().nth(stranger).unwrap().to_string();
    let rec = lines[1].to_string();
    let r: CellScore = serde_json::from_str(&rec).unwrap();
    let moved = serde_json::to_string(&CellScore {
        index: stranger,
        arch,
        ..r
    })
    .unwrap();
    std::fs::write(&f, format!("{}\n{moved}\n", lines[0])).unwrap();
    assert!(cache::read(&f, None)
        .unwrap_err()
        .to_string()
        .contains("not in the sample"));
    std::fs::write(&f, format!("{}\n{rec}\n{rec}\n", lines[0])).unwrap();
    assert!(cache::read(&f, None)
        .unwrap_err()
        .to_string()
        .contains("twice"));
    // Not a cache at all, and an empty file.
    std::fs::write(&f, "index,score\n").unwrap();
    assert!(matches!(
        cache::read(&f, None),
        Err(ZcError::Corrupt { line: 1, .. })
    ));
    std::fs::write(&f, "").unwrap();
    assert!(cache::read(&f, None)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    // Settings out of range.
    let none = ZcSettings {
        sample: 0,
        ..s.clone()
    };
    assert!(matches!(
        zero_cost::run_shard(&none, &x, &f, (0, 1), &mut |_, _| {}),
        Err(ZcError::BadSettings(_))
    ));
    let bigger = ZcSettings { batch: 8, ..s };
    assert!(matches!(
        zero_cost::run_shard(&bigger, &x, &f, (0, 1), &mut |_, _| {}),
        Err(ZcError::BatchMismatch { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A table of `cells` with given CIFAR-10 accuracies (the other two datasets: half and a
/// third of it), as the benchmark's CSV.
fn table(cells: &[(usize, f64)]) -> Nb201Table {
    let archs: Vec<String> = Nb201Arch::all().map(|a| a.to_string()).collect();
    let mut csv = String::from("CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString\n");
    for &(i, a) in cells {
        csv.push_str(&format!("{a},{},{},{}\n", a / 2.0, a / 3.0, archs[i]));
    }
    Nb201Table::parse_lenient(&csv, "synthetic.csv").unwrap().0
}

fn record(index: usize, naswot: Option<f64>, params: usize) -> CellScore {
    CellScore {
        index,
        arch: Nb201Arch::all().nth(index).unwrap().to_string(),
        naswot,
        relus: 1,
        params,
        flops: params * 3,
        seconds: 1.0,
        // TE-NAS prefers many parameters here: lower kappa, more regions.
        ntk_condition: Some(10.0 / params as f64),
        regions: 100 * params,
        tenas_seconds: 2.0,
    }
}

#[test]
fn search_draws_whole_pools_and_filters_as_the_authors_do() {
    // Index 0 is the all-`none` cell (no path: outside every box) with the best NASWOT.
    let none = Nb201Arch::all()
        .position(|a| a.to_string().matches("none").count() == 6)
        .unwrap();
    let all3 = Nb201Arch::all()
        .position(|a| a.to_string().matches("nor_conv_3x3").count() == 6)
        .unwrap();
    let mixed = Nb201Arch::all()
        .position(|a| a.to_string() == "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
        .unwrap();
    let t = table(&[(none, 10.0), (all3, 93.0), (mixed, 93.7)]);
    let recs = vec![
        record(none, Some(900.0), 1),
        record(all3, Some(800.0), 3),
        record(mixed, None, 2),
    ];
    let opts = SearchOptions {
        runs: 7,
        per_run: 3,
        seed: 1,
    };
    let empty = SearchFilter::Box {
        depth: (5.0, 6.0),
        width: (5.0, 6.0),
    };
    let s = SearchStudy::compute(
        &t,
        &recs,
        &[SearchFilter::Radius(1.0), empty],
        opts,
        SearchProxy::Naswot,
    )
    .unwrap();
    // Every run draws the whole pool. No filter: the no-path cell has the best score.
    let r0 = &s.rows[0];
    assert_eq!(
        (r0.accuracy[0].mean, r0.accuracy[0].std, r0.scored, r0.saved),
        (10.0, Some(0.0), 1.0, 0.0)
    );
    // The space box drops it; the singular-kernel cell (-inf) loses to the -1 of nothing
    // and to 800: the all-3x3 cell is chosen, and 2 of 3 cells are scored.
    let r1 = &s.rows[1];
    assert_eq!((r1.accuracy[0].mean, r1.accuracy[1].mean), (93.0, 46.5));
    assert!((r1.scored - 2.0 / 3.0).abs() < 1e-15 && (r1.saved - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(r1.paper_cifar100, Some(69.48));
    // A box that keeps nothing scores nothing and saves all the time.
    assert_eq!((s.rows[2].scored, s.rows[2].saved), (0.0, 1.0));
    // A pool smaller than one search is not searched.
    assert!(SearchStudy::compute(
        &t,
        &recs,
        &[],
        SearchOptions { per_run: 4, ..opts },
        SearchProxy::Naswot
    )
    .is_none());
    // TE-NAS ranks by rank(kappa) + rank(regions) among the scored cells: the all-3x3
    // cell (3 parameters: lowest kappa, most regions) wins with or without the filter;
    // the singular NASWOT kernel of `mixed` does not matter to it.
    let te = SearchStudy::compute(
        &t,
        &recs,
        &[SearchFilter::Radius(1.0), empty],
        opts,
        SearchProxy::TeNas,
    )
    .unwrap();
    assert_eq!(
        (te.rows[0].accuracy[0].mean, te.rows[1].accuracy[0].mean),
        (93.0, 93.0)
    );
    assert!((te.rows[1].saved - 1.0 / 3.0).abs() < 1e-15);
    assert_eq!(te.rows[1].paper_cifar100, None);
    // Nothing scored: the first drawn cell, as with NASWOT's all -1 scores.
    assert_eq!(te.rows[2].accuracy[0].mean, s.rows[2].accuracy[0].mean);
}

#[test]
fn rank_correlations_equal_those_of_the_raw_values() {
    let idx: Vec<usize> = (0..40).map(|i| i * 389 % 15_625).collect();
    let accs: Vec<(usize, f64)> = idx
        .iter()
        .map(|&i| (i, 50.0 + ((i * 7) % 41) as f64))
        .collect();
    let t = table(&accs);
    let recs: Vec<CellScore> = idx
        .iter()
        .map(|&i| record(i, Some(((i * 13) % 29) as f64), (i * 17) % 31))
        .collect();
    let kernel = ProxyScores::compute(Default::default()).unwrap();
    let synflow: Vec<f64> = recs
        .iter()
        .map(|r| (r.params as f64).ln() * 2.0 + 1.0)
        .collect();
    let st = ZeroCostStudy::compute(&t, &recs, Some(&synflow), 40, &kernel);
    assert_eq!(st.cells, 40);
    let acc: Vec<f64> = accs.iter().map(|a| a.1).collect();
    let params: Vec<f64> = recs.iter().map(|r| r.params as f64).collect();
    let naswot: Vec<f64> = recs.iter().map(|r| r.naswot.unwrap()).collect();
    let row = |name: &str| st.rows.iter().find(|r| r.proxy == name).unwrap();
    // Kendall's tau-b depends only on the order: ranks and values give the same value.
    let close = |a: Option<f64>, b: Option<f64>| (a.unwrap() - b.unwrap()).abs() < 1e-12;
    assert!(close(row("#params").tau[0], kendall_tau_b(&params, &acc)));
    assert!(close(row("NASWOT").tau[0], kendall_tau_b(&naswot, &acc)));
    let half: Vec<f64> = acc.iter().map(|a| a / 2.0).collect();
    assert!(close(row("NASWOT").tau[1], kendall_tau_b(&naswot, &half)));
    // SynFlow's row ranks the values it is given: here an increasing function of #params.
    assert_eq!(row("SynFlow").tau, row("#params").tau);
    // TE-NAS: kappa = 10 / params and regions = 100 params both order cells as #params
    // does, and so does their rank sum.
    for name in [
        "TE-NAS -kappa (NTK condition number)",
        "TE-NAS linear regions",
        "TE-NAS -(rank(kappa) + rank(regions))",
    ] {
        assert!(close(row(name).tau[0], row("#params").tau[0]), "{name}");
    }
}

fn archconv() -> Command {
    Command::new(env!("CARGO_BIN_EXE_archconv"))
}

#[test]
#[cfg_attr(
    not(archconv_data),
    ignore = "needs the data directory: set ARCHCONV_DATA (or provide ../shared/datasets) and rebuild"
)]
fn nas_search_cli_scores_real_networks_resumes_and_refuses_stale_caches() {
    common::data_file(archconv::nas::table::NB201_FILE);
    common::data_file("cifar10-subset200/cifar10_data_batch_1_first200.bin");
    let dir = tmp("cli");
    let cache = dir.join("cache");
    let run = |extra: &[&str]| {
        archconv()
            .args([
                "nas",
                "search",
                "--sample",
                "4",
                "--batch",
                "8",
                "--runs",
                "5",
                "--per-run",
                "3",
                "--ntk-batch",
                "4",
                "--region-samples",
                "100",
                "--cache",
            ])
            .arg(&cache)
            .args(extra)
            .env("ARCHCONV_DATA", common::data_dir())
            .output()
            .unwrap()
    };
    let a = run(&[]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let out = String::from_utf8(a.stdout.clone()).unwrap();
    assert!(
        out.contains("| NASWOT |") && out.contains("box depth [0.99, 2.51], width [0.99, 3.01]"),
        "{out}"
    );
    assert!(out.contains("cifar10_data_batch_1_first200.bin"), "{out}");
    // The second run reads every score from the cache: the same report.
    let b = run(&[]);
    assert!(b.status.success());
    assert_eq!(a.stdout, b.stdout);
    // Other settings against the same cache: refused, naming the field.
    let c = run(&["--net-seed", "1"]);
    assert!(!c.status.success());
    let err = String::from_utf8_lossy(&c.stderr);
    assert!(
        err.contains("settings.net_seed") && err.contains("not reused"),
        "{err}"
    );
    let d = run(&["--shard", "2/2"]);
    assert!(!d.status.success());
    assert!(String::from_utf8_lossy(&d.stderr).contains("0 <= K < M"));
    std::fs::remove_dir_all(&dir).unwrap();
}
