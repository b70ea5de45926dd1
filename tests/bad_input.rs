//! Regression tests for issue 17: bad input and resource limits give a clear error or the
//! right result, never an abort, a panic or a silent wrong number.

mod common;

use archconv::data::{self, CsvError, DataError};
use archconv::kernel::{Inputs, KernelError, KernelKind, Lift};
use archconv::Dag;
use common::{analytic_tol, assert_matrix_close};

// ---- numeric CSV reader: no silent data loss ----------------------------------------

#[test]
fn csv_leading_row_with_one_text_cell_is_an_error_not_a_dropped_header() {
    // Issue 17: "1,x\n2,3" used to drop line 1 as a header and return one row.
    let e = data::parse_csv_matrix("1,x\n2,3\n").unwrap_err();
    assert_eq!(
        e,
        CsvError::MixedHeader {
            line: 1,
            column: 2,
            value: "x".into()
        }
    );
    // Only the first line may be a header: a second text line is an error.
    let e = data::parse_csv_matrix("a,b\nc,d\n1,2\n").unwrap_err();
    assert_eq!(
        e,
        CsvError::NotANumber {
            line: 2,
            column: 1,
            value: "c".into()
        }
    );
    // A row of names only, then numbers: a header, and every data row is kept.
    let x = data::parse_csv_matrix("a,b\n1,2\n3,4\n").unwrap();
    assert_eq!(x, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
}

#[test]
fn csv_empty_cells_are_errors_not_shifted_columns() {
    // Issue 17: "1,,2" used to become a 2-column row [1, 2].
    for (text, line, column) in [
        ("1,,2\n", 1, 2),
        ("1,2,3\n4,5,\n", 2, 3),
        ("1;2\n;3\n", 2, 1),
        ("1\t2\n3\t\n", 2, 2),
    ] {
        let e = data::parse_csv_matrix(text).unwrap_err();
        assert_eq!(e, CsvError::EmptyCell { line, column }, "{text:?}");
    }
    // Runs of spaces are one separator (space-separated files have no empty cells).
    let x = data::parse_csv_matrix("1  2\n 3 4 \n").unwrap();
    assert_eq!(x, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
}

#[test]
fn csv_byte_order_mark_is_ignored_and_row_one_kept() {
    // Issue 17: a UTF-8 BOM made row 1 a "header" and dropped it.
    let x = data::parse_csv_matrix("\u{feff}1,2\n3,4\n").unwrap();
    assert_eq!(x, ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    let x = data::parse_csv_matrix("\u{feff}a,b\r\n1,2\r\n").unwrap();
    assert_eq!(x, ndarray::array![[1.0, 2.0]]);
}

#[test]
fn csv_errors_name_file_line_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("points.csv");
    std::fs::write(&p, "1,2\n3,nan\n").unwrap();
    let e = data::read_csv_matrix(&p).unwrap_err();
    assert!(matches!(e, DataError::Csv { .. }), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("points.csv") && m.contains("line 2, column 2") && m.contains("`nan`"),
        "{m}"
    );
    std::fs::write(&p, "1,2\n3,4,5\n").unwrap();
    let m = data::read_csv_matrix(&p).unwrap_err().to_string();
    assert!(m.contains("line 2: 3 cells, but line 1 has 2"), "{m}");
    std::fs::write(&p, "# only a comment\nx,y\n").unwrap();
    let e = data::read_csv_matrix(&p).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::Csv {
                source: CsvError::NoRows,
                ..
            }
        ),
        "{e:?}"
    );
}

// ---- scale-invariant normalisation ------------------------------------------------------

fn sample_data() -> ndarray::Array2<f64> {
    Inputs::gaussian(12, 7, 3)
}

#[test]
fn normalised_kernels_are_invariant_to_data_scale_1e_minus170_and_1e200() {
    // Issue 17: the Gram was formed before normalising, so 1e-170 gave zero kernels and
    // NaN and 1e200 an overflow error.
    let x = sample_data();
    let dag = Dag::dag3();
    for lift in [Lift::Dense, Lift::ReluStem] {
        let base = Inputs::from_data(x.view(), lift).unwrap();
        for scale in [1e-170, 1e-300, 1e200, 1e300] {
            let xs = &x * scale;
            let scaled = Inputs::from_data(xs.view(), lift).unwrap();
            // Normalised rows are the same to rounding: O(d) operations per entry.
            let tol = analytic_tol(x.ncols(), 1.0);
            assert_matrix_close(
                scaled.k0(),
                base.k0(),
                tol,
                &format!("K0 at scale {scale:e}"),
            );
            for kind in KernelKind::ALL {
                let a = scaled.kernel(&dag, kind).unwrap().into_output_gram();
                let b = base.kernel(&dag, kind).unwrap().into_output_gram();
                let s = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                assert_matrix_close(&a, &b, analytic_tol(x.ncols() * 8, s), kind.name());
            }
        }
    }
}

#[test]
fn normalize_rows_has_unit_mean_square_at_every_scale() {
    let x = sample_data();
    let d = x.ncols() as f64;
    for scale in [1e-300, 1e-170, 1.0, 1e200, 1e305] {
        let xn = Inputs::normalize_rows((&x * scale).view());
        for (i, row) in xn.rows().into_iter().enumerate() {
            let k = row.dot(&row) / d;
            assert!(
                (k - 1.0).abs() <= analytic_tol(x.ncols(), 1.0),
                "row {i} at scale {scale:e}: ||x||^2/d = {k}"
            );
        }
    }
}

#[test]
fn all_zero_data_are_named_degenerate_not_nan() {
    let z = ndarray::Array2::<f64>::zeros((5, 3));
    for r in [
        Inputs::from_data(z.view(), Lift::Dense),
        Inputs::from_data_unnormalized(z.view(), Lift::ReluStem),
    ] {
        assert_eq!(r.unwrap_err(), KernelError::ZeroData { n: 5, d: 3 });
    }
    // Unnormalised data so small that X X^T underflows are degenerate too.
    let tiny = sample_data() * 1e-170;
    let e = Inputs::from_data_unnormalized(tiny.view(), Lift::Dense).unwrap_err();
    assert!(matches!(e, KernelError::ZeroData { .. }), "{e:?}");
}

#[test]
fn unnormalised_overflow_names_the_matrix_entry_and_the_fix() {
    let huge = sample_data() * 1e200;
    let e = Inputs::from_data_unnormalized(huge.view(), Lift::Dense).unwrap_err();
    assert!(matches!(e, KernelError::GramOverflow { .. }), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("data Gram") && m.contains("--no-normalize"),
        "{m}"
    );
}

// ---- sizes parsed from input are checked before use ----------------------------------

#[test]
fn json_with_a_huge_node_count_is_refused_before_allocating() {
    // Issue 17: 23 bytes of JSON aborted the process (SIGABRT) sizing a node table.
    let e = Dag::parse(r#"{"nodes": 100000000000000000, "edges": []}"#).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("100000000000000000 nodes") && m.contains(&archconv::dag::MAX_NODES.to_string()),
        "{m}"
    );
}

#[test]
fn darts_concat_range_beyond_the_cell_is_refused_with_its_position() {
    // Issue 17: normal_concat=range(0, huge) allocated without bound.
    let text = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, 100000000000000))";
    let m = Dag::parse(text).unwrap_err().to_string();
    assert!(
        m.contains("range end of at most 3") && m.contains("100000000000000"),
        "{m}"
    );
    let text = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2], \
                reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=range(0, 99999999999))";
    assert!(Dag::parse(text).is_err());
    // In range: accepted.
    let ok =
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=range(2, 3))";
    assert_eq!(Dag::parse(ok).unwrap().output(), 3);
}

#[test]
fn darts_genotype_followed_by_garbage_is_an_error() {
    // Issue 17: anything after the reduction cell was accepted if it ended in ')'.
    let base = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], normal_concat=[2], \
                reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])";
    assert!(Dag::parse(base).is_ok());
    for tail in [" garbage", "x)", ")", " , 1)"] {
        let text = format!("{base}{tail}");
        assert!(Dag::parse(&text).is_err(), "accepted {text:?}");
    }
    let garbage_inside = base.replace("reduce_concat=[2]", "reduce_concat=[2], junk=1");
    assert!(
        Dag::parse(&garbage_inside).is_err(),
        "accepted {garbage_inside:?}"
    );
}

#[test]
fn path_statistics_of_a_100000_node_chain_take_linear_memory() {
    // Issue 17: node x node histograms (10^10 counts) for a 100,000-node chain.
    let n = 100_000;
    let s = archconv::PathStats::of(&Dag::chain(n)).unwrap();
    assert_eq!(s.num_paths(), 1);
    assert_eq!(s.depth_sum(), n as u128);
    assert_eq!(s.histogram().len(), n + 1);
    let h = archconv::paths::DepthHistograms::of(&Dag::chain(n)).unwrap();
    assert_eq!(h.sparse(n), (n, &[1u128][..]));
}

#[test]
fn json_path_counts_beyond_64_bits_are_exact_decimal_strings() {
    // Issue 17: `--json` failed with "number out of range" for 2^64 or more paths.
    let dag = Dag::complete(70, archconv::Op::Linear);
    let s = archconv::PathStats::of(&dag).unwrap();
    assert_eq!(s.num_paths(), 1u128 << 68);
    let v = serde_json::to_value(archconv::analysis::PathReport::from(&s)).unwrap();
    assert_eq!(v["num_paths"], serde_json::json!((1u128 << 68).to_string()));
    // Counts that fit in u64 stay numbers: histogram n(1) = 1 (the direct edge).
    assert_eq!(v["depth_histogram"][1], serde_json::json!(1));
    let big = (0..=68)
        .map(|d| v["depth_histogram"][d].clone())
        .find(|x| x.is_string());
    assert!(big.is_some(), "some histogram counts exceed u64: {v}");
    // Small DAGs are unchanged.
    let v = serde_json::to_value(archconv::PathStats::of(&Dag::dag3()).unwrap()).unwrap();
    assert_eq!(v["num_paths"], serde_json::json!(4));
}

#[test]
fn describe_of_a_100000_node_chain_is_linear_in_its_size() {
    // Issue 17: the MLP code of a chain has one digit per node pair (5 GB for 100,000
    // nodes); `describe` falls back to the JSON edge list when that is shorter.
    let big = Dag::chain(100_000);
    let d = big.describe();
    assert!(d.len() < 40 * 100_000, "{} bytes", d.len());
    assert_eq!(Dag::parse(&d).unwrap(), big);
    // Small DAGs keep their MLP code.
    assert_eq!(Dag::dag3().describe(), "2_21_112");
    assert_eq!(Dag::chain(3).describe(), "2_02_002");
}

// ---- the CSV reader loses nothing ------------------------------------------------------

use proptest::prelude::*;

proptest! {
    #[test]
    fn csv_round_trips_every_cell_with_any_separator_header_bom_and_line_ending(
        (rows, cols, cells) in (1usize..6, 1usize..6).prop_flat_map(|(r, c)| {
            (Just(r), Just(c), proptest::collection::vec(-1e6f64..1e6, r * c))
        }),
        sep in 0usize..5,
        header in any::<bool>(),
        bom in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let sep = [",", ";", "\t", " ", ", "][sep];
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        if bom {
            text.push('\u{feff}');
        }
        if header {
            let names: Vec<String> = (0..cols).map(|j| format!("x{j}")).collect();
            text.push_str(&names.join(sep));
            text.push_str(eol);
        }
        for i in 0..rows {
            let row: Vec<String> = (0..cols).map(|j| format!("{:?}", cells[i * cols + j])).collect();
            text.push_str(&row.join(sep));
            text.push_str(eol);
        }
        let x = data::parse_csv_matrix(&text).unwrap();
        prop_assert_eq!(x.dim(), (rows, cols), "{:?}", text);
        for (a, b) in x.iter().zip(&cells) {
            prop_assert_eq!(a, b);
        }
    }
}

/// Issue 17: the Monte Carlo inputs are normalised scale-invariantly, like the closed-form
/// inputs: data of magnitude 1e-170 or 1e200 give the same rows (to a few roundings:
/// a division by the row's largest entry, then by its norm).
#[test]
fn mc_inputs_are_scale_invariant() {
    use archconv::montecarlo::McInputs;
    let x = archconv::Inputs::gaussian(6, 4, 1);
    let a = McInputs::from_data(x.view(), archconv::Lift::Dense).unwrap();
    for s in [1e-170, 1e200] {
        let b = McInputs::from_data((&x * s).view(), archconv::Lift::Dense).unwrap();
        for (p, q) in a.data().iter().zip(b.data().iter()) {
            assert!(
                (p - q).abs() <= 8.0 * f64::EPSILON * p.abs().max(1.0),
                "scale {s:e}: {p} vs {q}"
            );
        }
    }
}

/// Issue 17: a seed count whose per-network results alone exceed the memory budget is
/// refused before anything is sized by it.
#[test]
fn mc_absurd_seed_count_is_refused_by_the_budget() {
    use archconv::montecarlo::{run, McError, McInputs, McParams};
    let x = archconv::Inputs::gaussian(4, 3, 1);
    let inp = McInputs::from_data(x.view(), archconv::Lift::Dense).unwrap();
    let p = McParams {
        width: 8,
        seeds: usize::MAX / 4,
        ..McParams::default()
    };
    let e = run(&archconv::Dag::dag3(), &inp, &p, &|| {}).unwrap_err();
    assert!(matches!(e, McError::Memory(_)), "{e}");
}
