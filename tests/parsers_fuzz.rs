//! Property tests over every parser and data reader (issue 17): valid inputs mutated byte
//! by byte (replaced, inserted, deleted, duplicated, truncated, or spliced with tokens
//! that stress sizes and syntax) never panic and never abort; each gives a value or a
//! typed error. A panic fails the case; an abort (for example an allocation the
//! allocator cannot satisfy) kills the test binary, which fails the run.

use archconv::dag::format::{Genotype, MlpCode, Nb201Arch};
use archconv::data;
use archconv::nas::Nb201Table;
use archconv::{Dag, PathStats};
use proptest::prelude::*;
use std::io::Write;

/// Tokens spliced into inputs: huge and edge-case numbers, separators, syntax of every
/// format, a byte-order mark, non-finite values.
const TOKENS: &[&str] = &[
    "99999999999999999999999",
    "18446744073709551615",
    "1048577",
    "-1",
    "0",
    "1e308",
    "1e-320",
    "nan",
    "inf",
    ",",
    ";",
    "\t",
    "\n",
    "\r\n",
    " ",
    ",,",
    "\u{feff}",
    "range(0, 99999999999999)",
    "range(",
    ")",
    "(",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "~",
    "|",
    "+",
    "_",
    "#",
    "\"nodes\": 1000000000000",
    "skip_connect",
    "none",
    "linear",
    "Genotype(",
    "normal_concat=",
    "reduce_concat=",
    "\u{e9}",
];

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Token(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Token(i, t)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(seed: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in ms {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *m {
            Mutation::Replace(i, v) if !b.is_empty() => {
                let k = i % b.len();
                b[k] = v;
            }
            Mutation::Insert(i, v) => {
                let k = at(i, b.len());
                b.insert(k, v);
            }
            Mutation::Delete(i) if !b.is_empty() => {
                let k = i % b.len();
                b.remove(k);
            }
            Mutation::Token(i, t) => {
                let k = at(i, b.len());
                b.splice(k..k, TOKENS[t].bytes());
            }
            Mutation::Duplicate(i, n) if !b.is_empty() => {
                let k = i % b.len();
                let end = (k + n).min(b.len());
                let chunk = b[k..end].to_vec();
                b.splice(end..end, chunk);
            }
            Mutation::Truncate(i) => {
                let k = at(i, b.len());
                b.truncate(k);
            }
            _ => {}
        }
    }
    b
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..8)
}

fn dag_seeds() -> Vec<String> {
    vec![
        "2_21_112".into(),
        "1_01_222".into(),
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|".into(),
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), \
         ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), \
         ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), \
         ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
            .into(),
        "[('sep_conv_3x3', 0), ('skip_connect', 1)]".into(),
        Dag::dag3().to_string(),
        r#"{"nodes": 4, "inputs": [0], "edges": [[0, 1, "linear"], {"from": 1, "to": 3, "op": "skip_connect"}, [0, 3, "none"]]}"#.into(),
    ]
}

/// Parses with every entry point; a DAG that parses also gets its path statistics.
fn parse_everything(text: &str) {
    if let Ok(dag) = Dag::parse(text) {
        let _ = PathStats::of(&dag);
        let _ = dag.to_string();
    }
    let _ = MlpCode::parse(text);
    let _ = Nb201Arch::parse(text);
    if let Ok(g) = Genotype::parse(text) {
        // Round trip of what was accepted.
        assert_eq!(Genotype::parse(&g.to_string()).as_ref(), Ok(&g));
    }
}

fn csv_seed() -> &'static str {
    "\u{feff}x,y,z\n# comment\n1,2.5,-3\n4e-3,5,6\n\n7,8,9\n"
}

fn digits_seed() -> String {
    let row = |label: u8| {
        let mut f: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
        f.push(label.to_string());
        f.join(",")
    };
    format!("{}\n{}\n", row(3), row(9))
}

fn idx_images() -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for v in [3u32, 2, 2] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..12).map(|i| (i * 20) as u8));
    b
}

fn idx_labels() -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&3u32.to_be_bytes());
    b.extend_from_slice(&[3, 0, 9]);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn cifar() -> Vec<u8> {
    let mut b = Vec::new();
    for (label, fill) in [(3u8, 7u8), (9, 200)] {
        b.push(label);
        b.extend(std::iter::repeat_n(fill, data::CIFAR_RECORD - 1));
    }
    b
}

/// Writes `bytes` to a fresh file and runs `read` on it.
fn with_file<T>(name: &str, bytes: &[u8], read: impl FnOnce(&std::path::Path) -> T) -> T {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    read(&p)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn dag_parsers_never_panic_on_mutated_input(
        which in 0usize..7,
        ms in mutations(),
    ) {
        let seeds = dag_seeds();
        let bytes = mutate(seeds[which].as_bytes(), &ms);
        parse_everything(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn csv_matrix_parser_never_panics_and_keeps_its_shape(ms in mutations()) {
        let bytes = mutate(csv_seed().as_bytes(), &ms);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(x) = data::parse_csv_matrix(&text) {
            // Whatever is accepted is a full, finite matrix.
            prop_assert!(x.nrows() >= 1 && x.ncols() >= 1);
            prop_assert!(x.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn nb201_table_parser_never_panics(ms in mutations()) {
        let seed = include_str!("fixtures/nb201_small.csv");
        let bytes = mutate(seed.as_bytes(), &ms);
        let text = String::from_utf8_lossy(&bytes);
        let _ = Nb201Table::parse(&text, "fuzz.csv");
        if let Ok((t, _)) = Nb201Table::parse_lenient(&text, "fuzz.csv") {
            prop_assert!(t.records().iter().all(|r| r.accuracy(archconv::nas::Dataset::Cifar10).is_finite()));
        }
    }
}

proptest! {
    // File readers: each case writes a temporary file, so fewer cases.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn idx_readers_never_panic_on_mutated_files(ms in mutations(), gz in any::<bool>()) {
        for (seed, images) in [(idx_images(), true), (idx_labels(), false)] {
            let seed = if gz { gzip(&seed) } else { seed };
            let bytes = mutate(&seed, &ms);
            with_file("f.idx", &bytes, |p| {
                if images {
                    let _ = data::read_idx_images(p);
                } else {
                    let _ = data::read_idx_labels(p, 10);
                }
            });
        }
    }

    #[test]
    fn cifar_and_digits_readers_never_panic_on_mutated_files(ms in mutations()) {
        let bytes = mutate(&cifar(), &ms);
        with_file("c.bin", &bytes, |p| {
            if let Ok(d) = data::read_cifar10_bin(p) {
                assert!(d.y.iter().all(|&l| l < 10));
            }
        });
        let bytes = mutate(digits_seed().as_bytes(), &ms);
        with_file("digits.csv", &bytes, |p| {
            if let Ok(d) = data::read_digits_csv(p) {
                assert_eq!(d.dim(), 64);
            }
        });
        let bytes = mutate(csv_seed().as_bytes(), &ms);
        with_file("m.csv", &bytes, |p| {
            let _ = data::read_csv_matrix(p);
        });
        let bytes = mutate(include_str!("fixtures/nb201_small.csv").as_bytes(), &ms);
        with_file("t.csv", &bytes, |p| {
            let _ = Nb201Table::load(p);
        });
    }
}

#[test]
fn mutation_seeds_are_valid_inputs() {
    // The properties above only mean something if the unmutated seeds parse.
    for s in dag_seeds() {
        assert!(Dag::parse(&s).is_ok(), "{s}");
    }
    assert_eq!(data::parse_csv_matrix(csv_seed()).unwrap().dim(), (3, 3));
    let (t, bad) =
        Nb201Table::parse_lenient(include_str!("fixtures/nb201_small.csv"), "f.csv").unwrap();
    assert!(!t.is_empty());
    // The fixture has deliberately bad rows (tests/nas_table.rs): the strict parser
    // reports the first, the lenient one all of them.
    assert_eq!(
        Nb201Table::parse(include_str!("fixtures/nb201_small.csv"), "f.csv").is_ok(),
        bad.is_empty()
    );
    with_file("f.idx", &idx_images(), |p| {
        assert!(data::read_idx_images(p).is_ok())
    });
    with_file("l.idx", &gzip(&idx_labels()), |p| {
        assert!(data::read_idx_labels(p, 10).is_ok())
    });
    with_file("c.bin", &cifar(), |p| {
        assert_eq!(data::read_cifar10_bin(p).unwrap().len(), 2)
    });
    with_file("d.csv", digits_seed().as_bytes(), |p| {
        assert_eq!(data::read_digits_csv(p).unwrap().len(), 2)
    });
}
