//! Issue 13, item 5 (path-statistics half): seeded Watts-Strogatz (RandWire) DAGs, exact
//! path counts beyond 2^128, correctly rounded effective depth and width, linear memory
//! and the memory budget.
//!
//! Every count is checked against an independent route: brute-force path enumeration on
//! small DAGs, closed forms (complete DAGs, ring lattices) and a plain big-integer DP
//! written here (no word-packed histograms, nothing freed).
//!
//! The memory cap is process-wide, so every test holds `LOCK`; the budget test sets a
//! small cap and restores the default before releasing it.

use archconv::budget;
use archconv::dag::format::ParseError;
use archconv::dag::random::{WattsStrogatz, WattsStrogatzError};
use archconv::paths::{enumerate_paths, Count, PathError, PathStats, WideFloat};
use archconv::{Dag, Edge, Op};
use num_bigint::BigUint;
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn ws(nodes: usize, k: usize, p: f64, seed: u64) -> Dag {
    WattsStrogatz::new(nodes, k, p)
        .unwrap()
        .with_seed(seed)
        .dag()
        .unwrap()
}

fn big(v: u128) -> BigUint {
    BigUint::from(v)
}

/// Reference DP: dense per-node histograms of `BigUint`, every node kept.
fn reference_histogram(dag: &Dag) -> Vec<BigUint> {
    let n = dag.num_nodes();
    let mut h: Vec<Vec<BigUint>> = vec![Vec::new(); n];
    for &i in dag.inputs() {
        h[i] = vec![big(1)];
    }
    for t in 0..n {
        for e in dag.in_edges(t) {
            let shift = usize::from(e.op == Op::Linear);
            let src = h[e.from].clone();
            let need = src.len() + shift;
            if h[t].len() < need {
                h[t].resize(need, BigUint::default());
            }
            for (d, c) in src.into_iter().enumerate() {
                h[t][d + shift] += c;
            }
        }
    }
    let mut out = std::mem::take(&mut h[dag.output()]);
    while out.len() > 1 && out.last() == Some(&BigUint::default()) {
        out.pop();
    }
    if out.is_empty() {
        out.push(BigUint::default());
    }
    out
}

/// Reference scalars `(P, sum_p d_p, #{d_p = 0})` by the per-node recurrences
/// `P_t = sum P_s`, `D_t = sum (D_s + [linear] P_s)`, `Z_t = sum_{skip} Z_s`.
fn reference_scalars(dag: &Dag) -> (BigUint, BigUint, BigUint) {
    let n = dag.num_nodes();
    let zero = BigUint::default;
    let (mut p, mut d, mut z) = (vec![zero(); n], vec![zero(); n], vec![zero(); n]);
    for &i in dag.inputs() {
        p[i] = big(1);
        z[i] = big(1);
    }
    for t in 0..n {
        for e in dag.in_edges(t) {
            let (ps, ds, zs) = (p[e.from].clone(), d[e.from].clone(), z[e.from].clone());
            d[t] += ds;
            if e.op == Op::Linear {
                d[t] += &ps;
            } else {
                z[t] += zs;
            }
            p[t] += ps;
        }
    }
    let o = dag.output();
    (p[o].clone(), d[o].clone(), z[o].clone())
}

fn binomial(n: u64, k: u64) -> BigUint {
    let mut c = big(1);
    for i in 0..k {
        c = c * BigUint::from(n - i) / BigUint::from(i + 1);
    }
    c
}

/// `x` is the f64 nearest to `num / den`: `|x - num/den| <= ulp(x) / 2`, exactly.
#[track_caller]
fn assert_correctly_rounded(x: f64, num: &BigUint, den: &BigUint) {
    assert!(x.is_finite() && x > 0.0, "{x}");
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let m = (bits & ((1 << 52) - 1)) | (1 << 52);
    // x = m 2^e with 2^52 <= m < 2^53: ulp = 2^e. Check 2 |num - m 2^e den| <= 2^e den.
    let (lhs, rhs, half_ulp) = if e >= 0 {
        (
            num.clone(),
            (BigUint::from(m) * den) << e as u64,
            den << (e as u64),
        )
    } else {
        (num << (-e) as u64, BigUint::from(m) * den, den.clone())
    };
    let diff = if lhs > rhs { &lhs - &rhs } else { &rhs - &lhs };
    assert!(
        diff * 2u8 <= half_ulp,
        "{x} is not the f64 nearest to {num}/{den}"
    );
}

/// Same check for a [`WideFloat`] (53-bit significand, any exponent).
#[track_caller]
fn assert_wide_correctly_rounded(x: WideFloat, num: &BigUint, den: &BigUint) {
    let (m, e) = (BigUint::from(x.mantissa()), x.exponent());
    assert!(x.mantissa() >> 52 == 1, "{x:?} not normalised");
    let (lhs, rhs, ulp) = if e >= 0 {
        (num.clone(), (m * den) << e as u64, den << (e as u64))
    } else {
        (num << (-e) as u64, m * den, den.clone())
    };
    let diff = if lhs > rhs { &lhs - &rhs } else { &rhs - &lhs };
    assert!(diff * 2u8 <= ulp, "{x} is not nearest to {num}/{den}");
}

#[test]
fn watts_strogatz_dags_are_deterministic_per_seed() {
    let _g = lock();
    let a = ws(500, 4, 0.75, 7);
    assert_eq!(a, ws(500, 4, 0.75, 7));
    assert_ne!(a, ws(500, 4, 0.75, 8));
    let s = WattsStrogatz::new(500, 4, 0.75)
        .unwrap()
        .with_seed(7)
        .with_skip_fraction(0.3)
        .unwrap();
    assert_eq!(s.dag().unwrap(), s.dag().unwrap());
    assert_ne!(s.dag().unwrap(), a);
}

#[test]
fn watts_strogatz_dags_are_acyclic_with_one_input_and_one_output() {
    let _g = lock();
    for (n, k, p, seed) in [
        (10, 2, 0.5, 0),
        (30, 4, 0.75, 1),
        (200, 6, 0.2, 2),
        (1000, 4, 0.75, 3),
        (17, 16, 1.0, 4),
    ] {
        let dag = ws(n, k, p, seed);
        let out = n + 1;
        assert_eq!(dag.num_nodes(), n + 2);
        assert_eq!(dag.inputs(), &[0]);
        assert_eq!(dag.output(), out);
        assert!(dag.edges().iter().all(|e| e.from < e.to), "not forward");
        // Every node but the input has a predecessor; every node but the output has a
        // successor, so 0 is the only source and n + 1 the only sink.
        for v in 1..=out {
            assert!(dag.in_edges(v).count() > 0, "node {v} has no predecessor");
        }
        for v in 0..out {
            assert!(dag.out_edges(v).count() > 0, "node {v} has no successor");
        }
        // Ring edges: n k / 2 of them, no self-loops, no multi-edges.
        let ring: Vec<(usize, usize)> = dag
            .edges()
            .iter()
            .filter(|e| e.from != 0 && e.to != out)
            .map(|e| (e.from, e.to))
            .collect();
        assert_eq!(ring.len(), n * k / 2, "WS({n}, {k}, {p})");
        assert_eq!(ring.iter().collect::<HashSet<_>>().len(), ring.len());
        // Input and output edges: exactly one per ring source and per ring sink.
        let has_pred: HashSet<usize> = ring.iter().map(|e| e.1).collect();
        let has_succ: HashSet<usize> = ring.iter().map(|e| e.0).collect();
        let sources = (1..=n).filter(|v| !has_pred.contains(v)).count();
        let sinks = (1..=n).filter(|v| !has_succ.contains(v)).count();
        assert_eq!(dag.out_edges(0).count(), sources);
        assert_eq!(dag.in_edges(out).count(), sinks);
        assert_eq!(dag.edges().len(), n * k / 2 + sources + sinks);
        assert!(dag.edges().iter().all(|e| e.op == Op::Linear));
    }
}

#[test]
fn unrewired_watts_strogatz_is_the_oriented_ring_lattice() {
    let _g = lock();
    // p = 0: edges {u, u + j mod n}, j = 1..=k/2, oriented low -> high, shifted by one.
    for (n, k) in [(9usize, 2usize), (12, 4), (15, 6)] {
        let dag = ws(n, k, 0.0, 99);
        let mut want: Vec<(usize, usize)> = (0..n)
            .flat_map(|u| (1..=k / 2).map(move |j| (u, (u + j) % n)))
            .map(|(a, b)| (a.min(b) + 1, a.max(b) + 1))
            .collect();
        want.push((0, 1)); // ring node 0 is the only source ...
        want.push((n, n + 1)); // ... and ring node n - 1 the only sink
        want.sort();
        let mut got: Vec<(usize, usize)> = dag.edges().iter().map(|e| (e.from, e.to)).collect();
        got.sort();
        assert_eq!(got, want, "WS({n}, {k}, 0)");
    }
    // k = 2: the chain 1 -> 2 -> ... -> n plus the wrap edge 1 -> n, so two paths of
    // depths n + 1 and 3.
    let s = PathStats::of(&ws(50, 2, 0.0, 0)).unwrap();
    assert_eq!(s.num_paths(), 2);
    assert_eq!(s.depths(), vec![3, 51]);
}

#[test]
fn skip_fraction_is_exact_and_seeded() {
    let _g = lock();
    let base = WattsStrogatz::new(300, 4, 0.5).unwrap().with_seed(5);
    for f in [0.0, 0.1, 0.5, 1.0] {
        let dag = base.with_skip_fraction(f).unwrap().dag().unwrap();
        let e = dag.edges().len();
        assert_eq!(
            dag.count(Op::Skip),
            (f * e as f64).round() as usize,
            "f = {f}"
        );
        assert_eq!(dag.count(Op::Skip) + dag.count(Op::Linear), e);
    }
    // The skips do not change the graph, only the classes.
    let plain = base.dag().unwrap();
    let mixed = base.with_skip_fraction(0.5).unwrap().dag().unwrap();
    let ends = |d: &Dag| d.edges().iter().map(|e| (e.from, e.to)).collect::<Vec<_>>();
    assert_eq!(ends(&plain), ends(&mixed));
}

#[test]
fn bad_watts_strogatz_parameters_are_typed_errors() {
    let _g = lock();
    assert_eq!(
        WattsStrogatz::new(100, 3, 0.5),
        Err(WattsStrogatzError::OddK { k: 3 })
    );
    for (n, k) in [(100, 0), (4, 4), (4, 6)] {
        assert_eq!(
            WattsStrogatz::new(n, k, 0.5),
            Err(WattsStrogatzError::KOutOfRange { k, nodes: n })
        );
    }
    for p in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(
            WattsStrogatz::new(100, 4, p),
            Err(WattsStrogatzError::NotAProbability { name: "p", .. })
        ));
        let ok = WattsStrogatz::new(100, 4, 0.5).unwrap();
        assert!(matches!(
            ok.with_skip_fraction(p),
            Err(WattsStrogatzError::NotAProbability { name: "skip", .. })
        ));
    }
    let max = archconv::dag::MAX_NODES;
    let e = WattsStrogatz::new(max - 1, 4, 0.5).unwrap_err();
    assert_eq!(
        e,
        WattsStrogatzError::TooManyNodes {
            nodes: max - 1,
            max
        }
    );
    assert!(e.to_string().contains(&format!("{}", max + 1)), "{e}");
    assert!(WattsStrogatz::new(max - 2, 4, 0.5).is_ok());
}

fn syntax_at(text: &str) -> (usize, String) {
    match Dag::parse(text) {
        Err(e @ ParseError::Syntax { .. }) => {
            let ParseError::Syntax { position, .. } = e else {
                unreachable!()
            };
            (position, e.to_string())
        }
        other => panic!("{text}: expected a syntax error, got {other:?}"),
    }
}

#[test]
fn watts_strogatz_text_form_parses_anywhere_a_dag_is_accepted() {
    let _g = lock();
    let want = ws(1000, 4, 0.75, 1);
    for text in [
        "ws(nodes=1000,k=4,p=0.75,seed=1)",
        "  ws ( nodes = 1000 , k = 4 , p = 0.75 , seed = 1 )  ",
        "ws(seed=1, p=0.75, k=4, nodes=1000)",
        "ws(nodes=1000, k=4, p=7.5e-1, seed=1)",
    ] {
        assert_eq!(Dag::parse(text).unwrap(), want, "{text}");
    }
    assert_eq!(
        Dag::parse("ws(nodes=20, k=4, p=0.3)").unwrap(),
        ws(20, 4, 0.3, 0),
        "seed defaults to 0"
    );
    let s = WattsStrogatz::new(40, 6, 0.25)
        .unwrap()
        .with_seed(u64::MAX)
        .with_skip_fraction(0.125)
        .unwrap();
    assert_eq!(s.to_string().parse::<WattsStrogatz>().unwrap(), s);
    assert_eq!(Dag::parse(&s.to_string()).unwrap(), s.dag().unwrap(), "{s}");
    // Errors: byte position of the offending token, caret underneath.
    let cases: [(&str, usize, &str); 10] = [
        ("ws(nodes=100, k=3, p=0.5)", 16, "an even k"),
        ("ws(nodes=100, k=100, p=0.5)", 16, "2 <= k < nodes = 100"),
        ("ws(nodes=100, k=4, p=1.5)", 21, "a probability in [0, 1]"),
        ("ws(nodes=100, k=4, p=nan)", 21, "a probability in [0, 1]"),
        (
            "ws(nodes=100, k=4, p=0.5, skip=2)",
            31,
            "a probability in [0, 1]",
        ),
        ("ws(nodes=100, k=4, q=0.5)", 19, "a parameter name"),
        ("ws(nodes=100, k=4, k=4, p=0.5)", 19, "each parameter once"),
        ("ws(nodes=100, k=4)", 17, "`p=`"),
        ("ws(nodes=100 k=4, p=0.5)", 13, "',' or ')'"),
        ("ws(nodes=100, k=4, p=0.5) x", 26, "end of input"),
    ];
    for (text, at, says) in cases {
        let (position, msg) = syntax_at(text);
        assert_eq!(position, at, "{text}: {msg}");
        assert!(msg.contains(says), "{text}: {msg}");
        let caret_line = msg.lines().last().unwrap();
        assert_eq!(caret_line.find('^'), Some(at + 2), "{msg}");
    }
    let (_, msg) = syntax_at("ws(nodes=99999999999, k=4, p=0.5)");
    assert!(msg.contains("ring nodes"), "{msg}");
}

#[test]
fn path_counts_of_small_watts_strogatz_dags_match_enumeration() {
    let _g = lock();
    let mut checked = 0;
    for seed in 0..40u64 {
        let n = 6 + (seed as usize % 7);
        let k = if seed % 3 == 0 { 4 } else { 2 };
        let p = (seed % 5) as f64 / 4.0;
        let skip = (seed % 4) as f64 / 4.0;
        let dag = WattsStrogatz::new(n, k, p)
            .unwrap()
            .with_seed(seed)
            .with_skip_fraction(skip)
            .unwrap()
            .dag()
            .unwrap();
        let mut hist = vec![0u128; dag.num_nodes()];
        let mut count = 0u128;
        for path in enumerate_paths(&dag) {
            hist[path.depth] += 1;
            count += 1;
        }
        while hist.len() > 1 && hist.last() == Some(&0) {
            hist.pop();
        }
        let s = PathStats::of(&dag).unwrap();
        assert_eq!(s.num_paths(), count, "seed {seed}");
        assert_eq!(s.histogram(), &hist[..], "seed {seed}");
        let sum: u128 = hist.iter().enumerate().map(|(d, &c)| d as u128 * c).sum();
        assert_eq!(s.depth_sum(), sum);
        assert_eq!(s.num_parameterized_paths(), count - hist[0]);
        checked += 1;
    }
    assert_eq!(checked, 40);
}

#[test]
fn complete_dag_beyond_2_pow_128_has_binomial_histogram_and_exact_ratios() {
    let _g = lock();
    // Complete DAG on 140 nodes: a path of depth d picks d - 1 of the 138 inner nodes.
    let s = PathStats::of(&Dag::complete(140, Op::Linear)).unwrap();
    assert!(!s.fits_u128());
    let p = BigUint::from(1u8) << 138u32;
    assert_eq!(s.num_paths_exact().to_biguint(), p);
    let h = s.histogram_exact();
    assert_eq!(h.len(), 140);
    assert!(h[0].is_zero());
    for d in 1..=139u64 {
        assert_eq!(h[d as usize].to_biguint(), binomial(138, d - 1), "n({d})");
    }
    // sum_d d C(138, d - 1) = 2^138 + 138 2^137 = 70 * 2^138.
    let sum = &p * 70u8;
    assert_eq!(s.depth_sum_exact().to_biguint(), sum);
    assert_eq!(s.num_parameterized_paths_exact().to_biguint(), p);
    assert_eq!(
        s.effective_depth_exact().map(|r| (r.num, r.den)),
        Some((70, 1))
    );
    assert_eq!(s.effective_depth(), Some(70.0));
    // mbar = P * P / (70 P) = 2^138 / 70 = 2^137 / 35: exact, reduced, above u128.
    assert_eq!(s.effective_width_exact(), None);
    let w = s.effective_width().unwrap();
    assert_correctly_rounded(w, &(BigUint::from(1u8) << 137u32), &big(35));
    assert_eq!(s.effective_width_float().unwrap().to_f64(), Some(w));
    // The skip-only twin: every path has depth 0.
    let z = PathStats::of(&Dag::complete(140, Op::Skip)).unwrap();
    assert_eq!(z.num_paths_exact().to_biguint(), p);
    assert_eq!(z.undefined(), Some(archconv::Undefined::ZeroDepth));
    assert_eq!(z.effective_width_float(), None);
}

#[test]
#[should_panic(expected = "use PathStats::num_paths_exact")]
fn u128_accessor_beyond_u128_panics_with_the_exact_alternative() {
    let s = {
        let _g = lock();
        PathStats::of(&Dag::complete(140, Op::Linear)).unwrap()
    };
    let _ = s.num_paths();
}

#[test]
fn watts_strogatz_beyond_2_pow_128_matches_a_reference_big_integer_dp() {
    let _g = lock();
    // WS(1000, 4, 0.1): mostly the ring lattice, so about 2^550 paths.
    for seed in [1u64, 2] {
        let dag = ws(1000, 4, 0.1, seed);
        let s = PathStats::of(&dag).unwrap();
        let want = reference_histogram(&dag);
        assert!(want.iter().sum::<BigUint>().bits() > 128, "seed {seed}");
        let got: Vec<BigUint> = s.histogram_exact().iter().map(Count::to_biguint).collect();
        assert_eq!(got, want, "seed {seed}");
        let (p, d, z) = reference_scalars(&dag);
        assert_eq!(s.num_paths_exact().to_biguint(), p);
        assert_eq!(s.depth_sum_exact().to_biguint(), d);
        assert_eq!(s.num_parameterized_paths_exact().to_biguint(), &p - &z);
        // Correct rounding against the exact rationals D / P and (P - Z) P / D.
        assert_correctly_rounded(s.effective_depth().unwrap(), &d, &p);
        let wnum = (&p - &z) * &p;
        assert_wide_correctly_rounded(s.effective_width_float().unwrap(), &wnum, &d);
        assert_correctly_rounded(s.effective_width().unwrap(), &wnum, &d);
        assert_wide_correctly_rounded(s.effective_depth_float().unwrap(), &d, &p);
    }
}

#[test]
fn ten_thousand_node_watts_strogatz_dags_have_exact_statistics() {
    let _g = lock();
    // The RandWire setting k = 4, p = 0.75, and p = 0.25 (about 2^900 paths).
    for p in [0.75, 0.25] {
        let dag = ws(10_000, 4, p, 1);
        let s = PathStats::of(&dag).unwrap();
        let (np, d, z) = reference_scalars(&dag);
        assert_eq!(s.num_paths_exact().to_biguint(), np, "p = {p}");
        assert_eq!(s.depth_sum_exact().to_biguint(), d);
        assert_eq!(s.num_parameterized_paths_exact().to_biguint(), &np - &z);
        let total: BigUint = s.histogram_exact().iter().map(Count::to_biguint).sum();
        assert_eq!(total, np);
        assert_correctly_rounded(s.effective_depth().unwrap(), &d, &np);
        assert_wide_correctly_rounded(s.effective_width_float().unwrap(), &((&np - &z) * &np), &d);
        if p == 0.25 {
            assert!(np.bits() > 128);
        }
    }
}

#[test]
fn json_of_huge_counts_is_exact_and_small_reports_are_unchanged() {
    let _g = lock();
    let dag = ws(1000, 4, 0.1, 1);
    let s = PathStats::of(&dag).unwrap();
    let (p, _, _) = reference_scalars(&dag);
    let v = serde_json::to_value(archconv::analysis::PathReport::from(&s)).unwrap();
    assert_eq!(v["num_paths"], serde_json::json!(p.to_string()));
    let width = v["effective_width_float"].as_str().unwrap();
    let (mantissa, exp10) = width.split_once('e').unwrap();
    let lg = mantissa.parse::<f64>().unwrap().log10() + exp10.parse::<f64>().unwrap();
    let want = s.effective_width_float().unwrap().log2() * std::f64::consts::LOG10_2;
    assert!((lg - want).abs() < 1e-12, "{width}");
    assert_eq!(
        v["effective_width"],
        serde_json::json!(s.effective_width().unwrap())
    );
    assert_eq!(v["effective_width_exact"], serde_json::Value::Null);
    assert_eq!(v["undefined_reason"], serde_json::Value::Null);
    // DAG#3 (paths of depth 0, 1, 2, 2; PAPER.md section 3): the report as before.
    let small = PathStats::of(&Dag::dag3()).unwrap();
    assert_eq!(
        serde_json::to_string(&archconv::analysis::PathReport::from(&small)).unwrap(),
        r#"{"num_paths":4,"depth_histogram":[1,1,2],"depth_sum":5,"parameterized_paths":3,"effective_depth":1.25,"effective_width":2.4,"effective_depth_exact":"5/4","effective_width_exact":"12/5","undefined_reason":null}"#
    );
    assert_eq!(
        serde_json::to_string(&small).unwrap(),
        r#"{"histogram":[1,1,2],"num_paths":4,"depth_sum":5,"nonzero":3}"#
    );
}

#[test]
fn chain_of_100000_nodes_has_linear_memory_and_exact_statistics() {
    let _g = lock();
    // Closed form: one path through 99,999 linear edges. The estimate is linear in the
    // node count (it passes a 32 MiB cap), and a DAG whose live histograms are quadratic
    // is refused under the same cap before anything is allocated.
    let limit = 32 << 20;
    budget::set_limit(limit);
    let chain = PathStats::of(&Dag::chain(99_999));
    let complete = PathStats::of(&Dag::complete(1000, Op::Linear));
    let generator = WattsStrogatz::new(100_000, 1000, 0.5).unwrap().dag();
    budget::set_limit(0);
    let s = chain.unwrap();
    assert_eq!(s.num_paths(), 1);
    assert_eq!(s.depth_sum(), 99_999);
    assert_eq!(s.histogram().len(), 100_000);
    assert_eq!(s.effective_width(), Some(1.0 / 99_999.0));
    match complete {
        Err(PathError::Memory(e)) => {
            assert!(e.what.contains("path statistics"), "{e}");
            assert_eq!(e.limit, limit);
            assert!(e.needed.is_none_or(|n| n > limit), "{e:?}");
            assert!(e.to_string().contains("the memory cap is 32.0 MiB"), "{e}");
        }
        other => panic!("expected a memory refusal, got {other:?}"),
    }
    match generator {
        Err(WattsStrogatzError::Memory(e)) => {
            assert!(e.what.contains("Watts-Strogatz"), "{e}");
            assert!(e.needed.is_none_or(|n| n > limit), "{e:?}");
        }
        other => panic!("expected a memory refusal, got {other:?}"),
    }
}

/// Nodes `0..=len`, consecutive nodes joined by two linear edges: `2^len` paths, all of
/// depth `len`.
fn ladder(len: usize) -> Dag {
    let edges = (0..len)
        .flat_map(|i| {
            [
                Edge::new(i, i + 1, Op::Linear),
                Edge::new(i, i + 1, Op::Linear),
            ]
        })
        .collect();
    Dag::new(len + 1, edges).unwrap()
}

#[test]
fn widths_beyond_f64_are_finite_wide_floats() {
    let _g = lock();
    // P = 2^1100, dbar = 1100, mbar = P / 1100 = 2^1098 / 275 > f64::MAX.
    let s = PathStats::of(&ladder(1100)).unwrap();
    let p = BigUint::from(1u8) << 1100u32;
    assert_eq!(s.num_paths_exact().to_biguint(), p);
    assert_eq!(s.histogram_exact().len(), 1101);
    assert_eq!(s.effective_depth(), Some(1100.0));
    assert_eq!(s.effective_width(), None);
    assert_eq!(s.undefined(), None);
    let w = s.effective_width_float().unwrap();
    assert_wide_correctly_rounded(w, &(BigUint::from(1u8) << 1098u32), &big(275));
    assert!((w.log2() - (1098.0 - 275f64.log2())).abs() < 1e-9);
    // Text and JSON say so instead of "undefined".
    let report = archconv::analysis::PathReport::from(&s);
    let shown = report.effective_width_float.clone().unwrap();
    assert!(shown.ends_with("e328"), "{shown}");
    let html = s.to_html();
    assert!(html.contains(&format!("≈ {shown}")), "{html}");
    // A depth below f64's normal range: one path of depth 1 among 2^1100 of depth 0.
    let mut edges: Vec<Edge> = (0..1100)
        .flat_map(|i| [Edge::new(i, i + 1, Op::Skip), Edge::new(i, i + 1, Op::Skip)])
        .collect();
    edges.push(Edge::new(0, 1100, Op::Linear));
    let s = PathStats::of(&Dag::new(1101, edges).unwrap()).unwrap();
    assert_eq!(s.effective_depth(), None);
    let d = s.effective_depth_float().unwrap();
    assert_wide_correctly_rounded(d, &big(1), &((BigUint::from(1u8) << 1100u32) + 1u8));
    // mbar = #{d_p > 0} P / sum d_p = P = 2^1100 + 1, which rounds to 2^1100.
    assert_eq!(s.effective_width(), None);
    let w = s.effective_width_float().unwrap();
    assert_eq!((w.mantissa(), w.exponent()), (1 << 52, 1100 - 52));
}

proptest::proptest! {
    #[test]
    fn watts_strogatz_parser_never_panics_and_round_trips(
        text in "[ ]?ws ?\\(([a-z]{0,6}=?[0-9.e+-]{0,6}[, ]{0,2}){0,6}\\)?[ x]?"
    ) {
        // Parameters only: building graphs of up to 10^6 nodes is not the point here.
        if let Ok(ws) = WattsStrogatz::parse(&text) {
            let again = WattsStrogatz::parse(&ws.to_string());
            proptest::prop_assert_eq!(again, Ok(ws), "{}", text);
        }
    }
}
