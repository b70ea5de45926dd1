//! The shared memory budget (issue 17): with a small cap, every large request is refused
//! before it is allocated, with an error naming what, about how much and the cap.
//!
//! One test function: the cap is process-wide, so the checks run in sequence here, in a
//! test binary of their own.

use archconv::budget::{self, BudgetError};
use archconv::data::Dataset;
use archconv::kernel::{Inputs, KernelError, KernelKind, Lift};
use archconv::train::{train, Loss, Optimizer, TrainConfig, TrainError};
use archconv::Dag;

fn assert_refusal(e: &BudgetError, what: &str, limit: u64) {
    assert!(e.what.contains(what), "{e}");
    assert_eq!(e.limit, limit);
    assert!(e.needed.is_none_or(|n| n > limit), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("needs about") && m.contains("the memory cap is 1.00 MiB"),
        "{m}"
    );
}

#[test]
fn every_large_request_is_refused_under_a_small_cap() {
    let limit = 1 << 20;
    budget::set_limit(limit);
    assert_eq!(budget::limit(), limit);

    // Input Gram: N = 1000 points need 1000^2 x 24 bytes = 22.9 MiB.
    let x = Inputs::gaussian(1000, 2, 0);
    match Inputs::from_data(x.view(), Lift::Dense) {
        Err(KernelError::Memory(e)) => assert_refusal(&e, "input Gram", limit),
        other => panic!("expected a memory refusal, got {other:?}"),
    }

    // Per-node kernel states: a 200-node chain at N = 64 needs 200 x 64 x 65 x 8 = 6.3 MiB.
    let small = Inputs::from_data(Inputs::gaussian(64, 4, 0).view(), Lift::Dense).unwrap();
    match small.kernel(&Dag::chain(199), KernelKind::Exact) {
        Err(KernelError::Memory(e)) => assert_refusal(&e, "exact kernel", limit),
        other => panic!("expected a memory refusal, got {:?}", other.map(|_| ())),
    }

    // Depth histograms: 2000 nodes, node t reachable at every depth 1..=t (skip from 0
    // and linear chain) -> about 2000^2 / 2 counts of 16 bytes = 30.5 MiB.
    let mut edges = vec![];
    for t in 1..2000 {
        edges.push(archconv::Edge::new(t - 1, t, archconv::Op::Linear));
        if t > 1 {
            edges.push(archconv::Edge::new(0, t, archconv::Op::Skip));
        }
    }
    let wide = Dag::new(2000, edges).unwrap();
    // (`PathStats::of` frees each histogram after its last reader and needs only about
    // 0.4 MiB here; the full per-node table is what the kernels' DP builds.)
    match archconv::paths::DepthHistograms::of(&wide) {
        Err(archconv::paths::PathError::Memory(e)) => assert_refusal(&e, "path statistics", limit),
        other => panic!("expected a memory refusal, got {other:?}"),
    }

    // Training: width 1024 on DAG#3 needs 3 x 6 x 1024^2 f32 weights alone (72 MiB).
    let data = Dataset::synthetic(32, 8, 2, 0);
    let cfg = TrainConfig {
        width: 1024,
        lr: 0.01,
        optimizer: Optimizer::Sgd { batch: 16 },
        loss: Loss::CrossEntropy,
        epochs: 1,
        seed: 0,
    };
    match train::<f32>(&Dag::dag3(), &data, None, &cfg, &mut |_| {}) {
        Err(TrainError::Memory(e)) => assert_refusal(&e, "training width 1024", limit),
        other => panic!("expected a memory refusal, got {:?}", other.map(|_| ())),
    }

    // DARTS space with 5 intermediate nodes: 2.8 million cells.
    match archconv::nas::DartsSpace::try_compute(5) {
        Err(archconv::nas::NasError::Memory(e)) => assert_refusal(&e, "DARTS space", limit),
        other => panic!("expected a memory refusal, got {:?}", other.map(|_| ())),
    }

    // A small gzip file (2 MiB of zeros, a few KiB compressed) is decompressed only up
    // to the cap, never to whatever its stream claims.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut e, &vec![0u8; 2 << 20]).unwrap();
    let gz = e.finish().unwrap();
    assert!(gz.len() < 64 << 10);
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.gz");
    std::fs::write(&bomb, &gz).unwrap();
    let m = archconv::data::read_bytes(&bomb).unwrap_err().to_string();
    assert!(
        m.contains("bomb.gz") && m.contains("decompress to more than the memory cap of 1.00 MiB"),
        "{m}"
    );

    // Small requests still pass under the cap, and the default comes back with 0.
    assert!(Inputs::from_data(Inputs::gaussian(8, 2, 0).view(), Lift::Dense).is_ok());
    budget::set_limit(0);
    assert!(budget::limit() > limit);
    assert_eq!(archconv::data::read_bytes(&bomb).unwrap().len(), 2 << 20);
}
