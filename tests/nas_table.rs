//! NAS-Bench-201 table loading and Fig. 5 groups (issue 7), on a hand-written fixture in
//! the real file's layout: tests/fixtures/nb201_small.csv has 20 data rows (lines 2-21):
//! 15 distinct valid cells, one duplicate (line 7 repeats line 2), an accuracy above 100
//! (line 8), a truncated row (line 9), a NaN accuracy (line 10) and an operation outside
//! the NAS-Bench-201 set (line 11).

use archconv::data::DataError;
use archconv::nas::groups::Fig5;
use archconv::nas::stats::{mean_std, pearson};
use archconv::nas::{nb201_geometry, Dataset, NasError, Nb201Table, RowProblem};
use archconv::paths::{Ratio, Undefined};
use std::path::{Path, PathBuf};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nb201_small.csv")
}

fn fixture() -> (Nb201Table, Vec<NasError>) {
    let text = std::fs::read_to_string(fixture_path()).expect("fixture present");
    Nb201Table::parse_lenient(&text, fixture_path()).expect("header is valid")
}

fn row_error(e: &NasError) -> (usize, usize, String, RowProblem) {
    match e {
        NasError::Row {
            line,
            column,
            field,
            problem,
            ..
        } => (*line, *column, field.clone(), problem.clone()),
        other => panic!("expected a row error, got {other}"),
    }
}

#[test]
fn lenient_parse_reports_each_bad_row_with_line_and_column() {
    let (table, bad) = fixture();
    assert_eq!(table.len(), 15, "20 rows - 4 bad - 1 duplicate");
    let errs: Vec<_> = bad.iter().map(row_error).collect();
    assert_eq!(errs.len(), 4, "{errs:?}");
    // Line 8: `92.00,101.50,...` -> the second field starts at character 7.
    assert_eq!(
        (errs[0].0, errs[0].1, errs[0].2.as_str()),
        (8, 7, "CIFAR100TestAccuracy200Epochs")
    );
    assert_eq!(errs[0].3, RowProblem::OutOfRange { value: 101.5 });
    // Line 9 is cut after 4 fields.
    assert_eq!((errs[1].0, errs[1].1), (9, 1));
    assert_eq!(
        errs[1].3,
        RowProblem::FieldCount {
            expected: 5,
            found: 4
        }
    );
    // Line 10: `90.00,65.00,nan` -> third field at character 13.
    assert_eq!(
        (errs[2].0, errs[2].1, errs[2].2.as_str()),
        (10, 13, "ImageNetTestAccuracy200Epochs")
    );
    assert!(matches!(errs[2].3, RowProblem::NonFinite { value } if value.is_nan()));
    // Line 11: sep_conv_3x3 parses as an op but is not a NAS-Bench-201 cell; field 4 at 19.
    assert_eq!(
        (errs[3].0, errs[3].1, errs[3].2.as_str()),
        (11, 19, "ArchitectureString")
    );
    assert!(
        matches!(&errs[3].3, RowProblem::BadArch { message } if message.contains("not a NAS-Bench-201 cell"))
    );
    let msg = bad[0].to_string();
    assert!(
        msg.contains("line 8, column 7") && msg.contains("outside [0, 100]"),
        "{msg}"
    );
}

#[test]
fn strict_parse_fails_at_the_first_bad_row() {
    let text = std::fs::read_to_string(fixture_path()).unwrap();
    let err = Nb201Table::parse(&text, "f.csv").unwrap_err();
    assert_eq!(row_error(&err).0, 8);
    // Without the bad lines the strict parser accepts it.
    let good: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| !(7..=10).contains(i))
        .map(|(_, l)| l)
        .collect();
    let t = Nb201Table::parse(&good.join("\n"), "f.csv").unwrap();
    assert_eq!(t.len(), 15);
}

#[test]
fn duplicates_and_missing_cells_are_reported() {
    let (table, _) = fixture();
    assert_eq!(table.duplicates().len(), 1);
    let d = &table.duplicates()[0];
    assert_eq!((d.first_line, d.line, d.same_accuracies), (2, 7, true));
    assert_eq!(table.missing().len(), 15_625 - 15);
    let all_none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";
    let absent = "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|";
    assert!(
        !table.missing().iter().any(|m| m == all_none),
        "listed at line 6"
    );
    assert!(table.missing().iter().any(|m| m == absent));
    match table.require_complete().unwrap_err() {
        NasError::Incomplete {
            duplicates,
            missing,
            ..
        } => assert_eq!((duplicates, missing), (1, 15_610)),
        e => panic!("{e}"),
    }
}

#[test]
fn header_problems_and_empty_files_are_typed_errors() {
    let e = Nb201Table::parse("CIFAR10TestAccuracy200Epochs,ArchitectureString\n", "h.csv")
        .unwrap_err();
    assert!(
        matches!(
            e,
            NasError::Header {
                line: 1,
                missing: "CIFAR100TestAccuracy200Epochs",
                ..
            }
        ),
        "{e}"
    );
    assert!(matches!(
        Nb201Table::parse("\n\n", "e.csv").unwrap_err(),
        NasError::EmptyFile { .. }
    ));
    // Columns may come in any order.
    let csv = "ArchitectureString,ImageNetTestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,CIFAR10TestAccuracy200Epochs\r\n\
               |none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|,25,55,85\r\n";
    let t = Nb201Table::parse(csv, "o.csv").unwrap();
    assert_eq!(t.records()[0].accuracies, [85.0, 55.0, 25.0]);
    // A negative accuracy and a non-number.
    let bad = "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString,UniqueString\n\
               -0.5,1,1,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,u\n\
               1,abc,1,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,u\n";
    let (_, errs) = Nb201Table::parse_lenient(bad, "b.csv").unwrap();
    assert_eq!(
        row_error(&errs[0]).3,
        RowProblem::OutOfRange { value: -0.5 }
    );
    assert_eq!(
        row_error(&errs[1]).3,
        RowProblem::NotANumber { text: "abc".into() }
    );
    // An unparsable arch string carries the parser's message.
    let garbled = "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString,UniqueString\n\
                   1,1,1,|nor_conv_3x3~5|,u\n";
    let (_, errs) = Nb201Table::parse_lenient(garbled, "g.csv").unwrap();
    assert!(matches!(row_error(&errs[0]).3, RowProblem::BadArch { .. }));
}

#[test]
fn missing_file_names_the_expected_path_and_how_to_get_it() {
    let dir = std::env::temp_dir().join(format!("archconv-nas-missing-{}", std::process::id()));
    let err = Nb201Table::load_from_dir(&dir).unwrap_err();
    match &err {
        NasError::Data(DataError::Missing { path, hint }) => {
            assert!(path.ends_with("nats-bench-tss/nats_bench_tss_200ep.csv"));
            assert!(hint.contains("nats_bench"));
        }
        e => panic!("{e}"),
    }
}

fn r(num: u128, den: u128) -> Ratio {
    Ratio::new(num, den)
}

#[test]
fn fig5_groups_match_hand_derived_depth_and_width() {
    let (table, _) = fixture();
    let (points, _) = nb201_geometry();
    let fig = Fig5::compute(&table, &points).unwrap();
    assert_eq!((fig.cells, fig.defined), (15, 12));
    // Hand-derived (dbar, mbar) -> CIFAR-10 accuracies of the fixture's lines:
    // all conv (paths d = 1,2,2,3) -> (2, 2): lines 2, 3; chains -> (3, 1/3): 4, 20;
    // one conv edge 0->3 -> (1, 1): 13, 18; 0->3 conv + 0->1 skip/pool + 1->3 conv
    // (d = 1, 1) -> (1, 2): 14, 19; DAG#3 (d = 0,1,2,2) -> (5/4, 12/5): 15;
    // skip 0->3 + conv chain (d = 0, 3) -> (3/2, 2/3): 16; d = 1, 2 -> (3/2, 4/3): 17;
    // all conv but pool 2->3 (d = 1,2,1,2) -> (3/2, 8/3): 21.
    let expect: Vec<(Ratio, Ratio, Vec<f64>)> = vec![
        (r(1, 1), r(1, 1), vec![85.0, 84.0]),
        (r(1, 1), r(2, 1), vec![89.9, 89.3]),
        (r(5, 4), r(12, 5), vec![91.8]),
        (r(3, 2), r(2, 3), vec![90.2]),
        (r(3, 2), r(4, 3), vec![89.0]),
        (r(3, 2), r(8, 3), vec![92.7]),
        (r(2, 1), r(2, 1), vec![93.1, 92.5]),
        (r(3, 1), r(1, 3), vec![88.4, 87.2]),
    ];
    let p = &fig.panels[0];
    assert_eq!(p.dataset, Dataset::Cifar10);
    assert_eq!(p.groups.len(), expect.len());
    for (g, (d, m, accs)) in p.groups.iter().zip(&expect) {
        assert_eq!(
            (g.depth_exact, g.width_exact, g.count),
            (*d, *m, accs.len())
        );
        let mean = accs.iter().sum::<f64>() / accs.len() as f64;
        assert!((g.mean - mean).abs() < 1e-12, "{g:?}");
        match accs.len() {
            // Two values: sample std = |a - b| / sqrt(2).
            2 => assert!((g.std.unwrap() - (accs[0] - accs[1]).abs() / 2f64.sqrt()).abs() < 1e-12),
            _ => assert_eq!(g.std, None),
        }
    }
    // Undefined: two skip-only cells (all skip, all pool), one without a path.
    let und: Vec<(Undefined, usize)> = p.undefined.iter().map(|u| (u.reason, u.count)).collect();
    assert_eq!(und, vec![(Undefined::NoPath, 1), (Undefined::ZeroDepth, 2)]);
    assert!((p.undefined[1].mean.unwrap() - (75.0 + 70.6) / 2.0).abs() < 1e-12);
    // Worst/best need >= 8 cells per group: none here.
    assert!(p.worst.is_empty() && p.best.is_empty());
}

#[test]
fn fig5_linear_r_over_groups_matches_the_two_regressor_closed_form() {
    // Independent route: for two regressors, R^2 = (r1^2 + r2^2 - 2 r1 r2 r12) / (1 - r12^2)
    // with r1 = corr(y, d), r2 = corr(y, m), r12 = corr(d, m).
    let (table, _) = fixture();
    let (points, _) = nb201_geometry();
    let fig = Fig5::compute(&table, &points).unwrap();
    for p in &fig.panels {
        let d: Vec<f64> = p.groups.iter().map(|g| g.depth).collect();
        let m: Vec<f64> = p.groups.iter().map(|g| g.width).collect();
        let y: Vec<f64> = p.groups.iter().map(|g| g.mean).collect();
        let (r1, r2, r12) = (
            pearson(&y, &d).unwrap(),
            pearson(&y, &m).unwrap(),
            pearson(&d, &m).unwrap(),
        );
        let r2_closed = (r1 * r1 + r2 * r2 - 2.0 * r1 * r2 * r12) / (1.0 - r12 * r12);
        let fit = p.over_groups.linear.as_ref().unwrap();
        assert!(
            (fit.r2 - r2_closed).abs() < 1e-10,
            "{}: {} vs {}",
            p.dataset,
            fit.r2,
            r2_closed
        );
        // Nested models: the quadratic fit cannot be worse.
        let q = p.over_cells.quadratic.as_ref().unwrap();
        assert!(q.r + 1e-12 >= p.over_cells.linear.as_ref().unwrap().r);
        // Over cells uses every defined cell.
        assert_eq!(p.over_cells.linear.as_ref().unwrap().n, 12);
        let (mean, _) = mean_std(&y);
        assert!(mean.is_finite());
    }
}
