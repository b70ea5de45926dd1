//! Parsers: round trips, error positions, and no panic on arbitrary input.
use archconv::dag::format::{parse_any, Genotype, MlpCode, Nb201Arch, ParseError};
use archconv::{Dag, DagError, Edge, Op};
use proptest::prelude::*;

#[test]
fn mlp_codes_round_trip_and_name_the_paper_dags() {
    for code in [
        "2_02_002",
        "1_01_222",
        "2_21_112",
        "0_00_000",
        "2",
        "1_11_111_2222",
    ] {
        let c = MlpCode::parse(code).unwrap();
        assert_eq!(c.to_string(), code);
        assert_eq!(MlpCode::from_dag(&c.dag()).unwrap(), c);
    }
    assert_eq!(Dag::dag1(), Dag::parse("2_02_002").unwrap());
    // DAG#3 edges as in PAPER.md section 3.
    let d3 = Dag::dag3();
    let lin: Vec<(usize, usize)> = d3
        .edges()
        .iter()
        .filter(|e| e.op == Op::Linear)
        .map(|e| (e.from, e.to))
        .collect();
    let skip: Vec<(usize, usize)> = d3
        .edges()
        .iter()
        .filter(|e| e.op == Op::Skip)
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(lin, vec![(0, 1), (0, 2), (2, 3)]);
    assert_eq!(skip, vec![(1, 2), (0, 3), (1, 3)]);
}

#[test]
fn every_nb201_cell_round_trips() {
    let mut n = 0;
    for a in Nb201Arch::all() {
        let s = a.to_string();
        let b = Nb201Arch::parse(&s).unwrap();
        assert_eq!(a, b);
        assert_eq!(Dag::parse(&s).unwrap(), a.dag());
        n += 1;
    }
    assert_eq!(n, 15_625);
}

#[test]
fn nb201_ops_map_to_classes() {
    let a = Nb201Arch::parse(
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|max_pool_3x3~2|",
    )
    .unwrap();
    let ops: Vec<Op> = a.dag().edges().iter().map(|e| e.op).collect();
    // Sorted by (to, from): 0-1, 0-2, 1-2, 0-3, 1-3, 2-3.
    assert_eq!(
        ops,
        vec![
            Op::Linear,
            Op::Zero,
            Op::Skip,
            Op::Skip,
            Op::Linear,
            Op::Skip
        ]
    );
}

#[test]
fn darts_genotype_parses_repr_and_round_trips() {
    let text = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), \
                ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), \
                reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))";
    let g = Genotype::parse(text).unwrap();
    let again = Genotype::parse(&g.to_string()).unwrap();
    assert_eq!(g, again);
    let dag = g.dag();
    assert_eq!(dag.num_nodes(), 7);
    assert_eq!(dag.inputs(), &[0, 1]);
    assert_eq!(dag.in_edges(6).count(), 4);
    assert_eq!(dag.count(Op::Linear), 6);
}

#[test]
fn json_round_trips_and_accepts_objects() {
    for dag in [
        Dag::dag1(),
        Dag::dag2(),
        Dag::dag3(),
        Genotype::parse("[('sep_conv_3x3', 0), ('skip_connect', 1)]")
            .unwrap()
            .dag(),
    ] {
        assert_eq!(Dag::parse(&dag.to_string()).unwrap(), dag);
    }
    let d = Dag::parse(r#"{"nodes": 3, "edges": [{"from": 0, "to": 1, "op": "nor_conv_3x3"}, [1, 2, "skip"], [0, 2, "linear"], [0, 2, "linear"]]}"#).unwrap();
    assert_eq!(d.count(Op::Linear), 3); // multi-edges kept
}

fn syntax_position(e: &ParseError) -> usize {
    match e {
        ParseError::Syntax { position, .. } | ParseError::UnknownOp { position, .. } => *position,
        other => panic!("expected a positioned error, got {other:?}"),
    }
}

#[test]
fn errors_point_at_the_offending_byte() {
    let e = MlpCode::parse("2_21_1x2").unwrap_err();
    assert_eq!(syntax_position(&e), 6);
    assert!(e.to_string().contains("      ^"), "{e}");
    let e = Nb201Arch::parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x4~1|").unwrap_err();
    assert_eq!(syntax_position(&e), 33);
    assert!(e.to_string().contains("avg_pool_3x4"));
    let e = Nb201Arch::parse("|nor_conv_3x3~1|").unwrap_err(); // source 1 into node 1
    assert_eq!(syntax_position(&e), 14);
    let e = Genotype::parse("Genotype(normal=[('sep_conv_3x3', 0), ('bogus', 1)])").unwrap_err();
    assert!(matches!(e, ParseError::UnknownOp { ref name, .. } if name == "bogus"));
    let e = parse_any(r#"{"nodes": 3, "edges": [[0, 1, "linear"],]}"#).unwrap_err();
    assert!(matches!(e, ParseError::Syntax { .. }));
    assert!(matches!(
        parse_any("hello"),
        Err(ParseError::Unrecognized { .. })
    ));
    assert!(matches!(
        parse_any(""),
        Err(ParseError::Unrecognized { .. })
    ));
}

#[test]
fn cycles_backward_edges_and_bad_nodes_are_rejected() {
    assert_eq!(
        Dag::new(3, vec![Edge::new(2, 1, Op::Linear)]).unwrap_err(),
        DagError::NotForward {
            index: 0,
            from: 2,
            to: 1
        }
    );
    assert!(matches!(
        Dag::new(3, vec![Edge::new(1, 1, Op::Skip)]),
        Err(DagError::NotForward { .. })
    ));
    assert!(matches!(
        Dag::new(3, vec![Edge::new(0, 5, Op::Skip)]),
        Err(DagError::NodeOutOfRange { node: 5, .. })
    ));
    assert!(matches!(Dag::new(0, vec![]), Err(DagError::Empty)));
    let e = parse_any(r#"{"nodes": 3, "edges": [[0, 1, "linear"], [2, 1, "skip"]]}"#).unwrap_err();
    assert!(e.to_string().contains("2 -> 1 does not go forward"), "{e}");
    let e =
        parse_any(r#"{"nodes": 3, "inputs": [0, 1], "edges": [[0, 1, "linear"]]}"#).unwrap_err();
    assert!(
        e.to_string().contains("input node 1 has an incoming edge"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn parsers_never_panic_on_arbitrary_text(s in "\\PC{0,80}") {
        let _ = parse_any(&s);
        let _ = MlpCode::parse(&s);
        let _ = Nb201Arch::parse(&s);
        let _ = Genotype::parse(&s);
    }

    #[test]
    fn parsers_never_panic_on_format_like_text(s in "[|+~_0-9a-z(),'\\[\\] {}\":=]{0,120}") {
        let _ = parse_any(&s);
        let _ = Nb201Arch::parse(&s);
        let _ = Genotype::parse(&format!("Genotype(normal={s}"));
        let _ = MlpCode::parse(&s);
    }

    #[test]
    fn random_mlp_codes_round_trip(groups in proptest::collection::vec(proptest::collection::vec(0u8..3, 1..8), 1..7)) {
        let code: Vec<String> = groups.iter().enumerate().map(|(i, g)| (0..=i).map(|k| char::from(b'0' + g[k % g.len()])).collect()).collect();
        let code = code.join("_");
        let c = MlpCode::parse(&code).unwrap();
        prop_assert_eq!(c.to_string(), code);
        prop_assert_eq!(Dag::parse(&c.dag().to_string()).unwrap(), c.dag());
    }
}
