//! Issue 14, item 2: the output kernel written to a `.npy` file strip by strip
//! (`KernelFn::write_npy`). Reference: `KernelFn::nngp` / `ntk` of the same points, i.e.
//! the stored-state recursion and the backward NTK on the whole Gram (another algorithm:
//! the file's lift is formed a block at a time from the data and its kernel streamed).
//! Tolerance 1e-12 of the largest diagonal entry, as `tests/stream.rs` (f64); for f32
//! files, one f32 rounding: 2^-24 relative, doubled.

mod common;
use archconv::activation::Activation;
use archconv::kernel::npy::{Dtype, NpyError, NpyOptions, What};
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::{Inputs, KernelError, KernelFn, KernelKind, Lift};
use archconv::model::{EdgeParams, LiftParams};
use archconv::Dag;
use ndarray::Array2;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archconv-npy-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A minimal `.npy` 1.0 reader (C order, `<f8` or `<f4`, square).
fn read_npy(path: &Path) -> Array2<f64> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00", "magic and version");
    let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hl) % 64, 0, "header padded to 64 bytes");
    let h = std::str::from_utf8(&b[10..10 + hl]).unwrap();
    assert!(
        h.ends_with('\n') && h.contains("'fortran_order': False"),
        "{h}"
    );
    let shape = &h[h.find("'shape': (").unwrap() + 10..];
    let n: usize = shape[..shape.find(',').unwrap()].parse().unwrap();
    let data = &b[10 + hl..];
    if h.contains("'<f8'") {
        assert_eq!(data.len(), n * n * 8);
        Array2::from_shape_fn((n, n), |(i, j)| {
            let o = 8 * (i * n + j);
            f64::from_le_bytes(data[o..o + 8].try_into().unwrap())
        })
    } else {
        assert!(h.contains("'<f4'"), "{h}");
        assert_eq!(data.len(), n * n * 4);
        Array2::from_shape_fn((n, n), |(i, j)| {
            let o = 4 * (i * n + j);
            f64::from(f32::from_le_bytes(data[o..o + 4].try_into().unwrap()))
        })
    }
}

fn go(_: usize, _: usize) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn assert_close(got: &Array2<f64>, want: &Array2<f64>, rel: f64, what: &str) {
    let s = want.diag().iter().fold(0.0f64, |m, &v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want.iter())
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst <= rel * s,
        "{what}: worst {worst:e} against {:e}",
        rel * s
    );
}

#[test]
fn files_equal_the_in_memory_kernels() {
    let _g = lock();
    let dir = tmpdir("equal");
    let x = Inputs::gaussian(70, 6, 3);
    let erf = EdgeParams::new(Activation::Erf, 1.5, 0.1).unwrap();
    let cases: Vec<(String, KernelFn, What)> = vec![
        (
            "paper exact NNGP".into(),
            KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact),
            What::Nngp,
        ),
        (
            "stem, independent-branch NTK".into(),
            KernelFn::new(&Dag::dag2(), Lift::ReluStem, KernelKind::IndependentBranch),
            What::Ntk(NtkVariant::Full),
        ),
        (
            "erf with biases, erf stem, exact NTK frozen lift".into(),
            KernelFn::new(
                &Dag::dag3().with_all_params(&erf),
                LiftParams::stem(Activation::Erf, 1.0, 0.2).unwrap(),
                KernelKind::Exact,
            ),
            What::Ntk(NtkVariant::FrozenLift),
        ),
        (
            "unnormalised, dense lift with variances, full NTK".into(),
            KernelFn::new(
                &Dag::dag3(),
                LiftParams::dense_with(1.3, 0.2).unwrap(),
                KernelKind::Exact,
            )
            .unnormalized(),
            What::Ntk(NtkVariant::Full),
        ),
    ];
    for (i, (name, kf, what)) in cases.iter().enumerate() {
        let want = match what {
            What::Nngp => common::stored_kernel(kf, &x, None),
            What::Ntk(v) => common::stored_kernel(kf, &x, Some(*v)),
        };
        for dtype in [Dtype::F64, Dtype::F32] {
            let path = dir.join(format!("k{i}-{dtype:?}.npy"));
            // Strips of 16 rows: several batches, the last one short.
            let opts = NpyOptions {
                dtype,
                strip_rows: Some(16),
                ..NpyOptions::default()
            };
            let r = kf
                .write_npy(x.view(), *what, &path, &opts, &mut go)
                .unwrap();
            assert_eq!((r.n, r.strip_rows, r.resumed_at_row), (70, 16, 0));
            assert_eq!(
                r.entries_computed,
                (0..70u64)
                    .step_by(16)
                    .map(|i0| (70 - i0) * 16.min(70 - i0))
                    .sum::<u64>()
            );
            let got = read_npy(&path);
            let rel = match dtype {
                Dtype::F64 => 1e-12,
                Dtype::F32 => 2.0 * f64::from(f32::EPSILON),
            };
            assert_close(&got, &want, rel, &format!("{name} {dtype:?}"));
            assert!(
                got.iter().zip(got.t().iter()).all(|(a, b)| a == b),
                "symmetric"
            );
            assert!(!dir.join(format!("k{i}-{dtype:?}.npy.partial")).exists());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_interrupted_run_resumes_to_the_same_bytes_and_never_looks_complete() {
    let _g = lock();
    let dir = tmpdir("resume");
    let x = Inputs::gaussian(90, 5, 8);
    let kf = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
    let opts = NpyOptions {
        strip_rows: Some(8),
        ..NpyOptions::default()
    };
    let whole = dir.join("whole.npy");
    kf.write_npy(x.view(), What::Nngp, &whole, &opts, &mut go)
        .unwrap();
    let path = dir.join("k.npy");
    let partial = dir.join("k.npy.partial");
    // Stop after the first batch.
    let mut stop = |_: usize, _: usize| ControlFlow::Break(());
    let e = kf
        .write_npy(x.view(), What::Nngp, &path, &opts, &mut stop)
        .unwrap_err();
    let rows = match e {
        NpyError::Interrupted { rows, n, .. } => {
            assert!(rows > 0 && rows < n, "{rows} of {n}");
            rows
        }
        other => panic!("expected an interruption, got {other}"),
    };
    assert!(
        !path.exists(),
        "an unfinished run must not leave {}",
        path.display()
    );
    assert!(partial.exists());
    // Without --resume the partial run is refused, not overwritten.
    let e = kf
        .write_npy(x.view(), What::Nngp, &path, &opts, &mut go)
        .unwrap_err();
    assert!(matches!(e, NpyError::PartialExists { .. }), "{e}");
    // Other data, the same file: refused.
    let other = Inputs::gaussian(90, 5, 9);
    let resume = NpyOptions {
        resume: true,
        ..opts.clone()
    };
    let e = kf
        .write_npy(other.view(), What::Nngp, &path, &resume, &mut go)
        .unwrap_err();
    assert!(matches!(e, NpyError::ResumeMismatch { .. }), "{e}");
    // Resumed with thinner strips (a smaller budget, say): the same bytes.
    let resume = NpyOptions {
        strip_rows: Some(5),
        ..resume
    };
    let r = kf
        .write_npy(x.view(), What::Nngp, &path, &resume, &mut go)
        .unwrap();
    assert_eq!(r.resumed_at_row, rows);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    assert!(!partial.exists() && !dir.join("k.npy.partial.json").exists());
    // A finished file is not replaced unless asked.
    let e = kf
        .write_npy(x.view(), What::Nngp, &path, &opts, &mut go)
        .unwrap_err();
    assert!(matches!(e, NpyError::Exists { .. }), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_budget_thins_strips_or_refuses() {
    let _g = lock();
    let dir = tmpdir("budget");
    let x = Inputs::gaussian(3000, 4, 1);
    let kf = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
    let opts = NpyOptions {
        strip_rows: Some(3000),
        ..NpyOptions::default()
    };
    archconv::budget::set_limit(200 << 20);
    let r = kf.write_npy(x.view(), What::Nngp, &dir.join("k.npy"), &opts, &mut go);
    archconv::budget::set_limit(1 << 20);
    let refused = kf.write_npy(x.view(), What::Nngp, &dir.join("k2.npy"), &opts, &mut go);
    archconv::budget::set_limit(0);
    let r = r.unwrap();
    assert!(
        r.strip_rows < 3000 && r.estimated_bytes <= 200 << 20,
        "{r:?}"
    );
    // The thinned run's numbers: a few entries against the whole kernel of a subset
    // (the kernel of a point pair depends on those two points only).
    let got = read_npy(&dir.join("k.npy"));
    let idx = [0usize, 17, 1500, 2999];
    let sub = Array2::from_shape_fn((4, 4), |(a, c)| x[[idx[a], c]]);
    let want = kf.nngp(sub.view(), None).unwrap();
    for (a, &i) in idx.iter().enumerate() {
        for (b, &j) in idx.iter().enumerate() {
            assert!((got[[i, j]] - want[[a, b]]).abs() <= 1e-12 * want[[0, 0]]);
        }
    }
    match refused {
        Err(NpyError::Kernel(KernelError::Memory(e))) => {
            assert!(e.to_string().contains("memory cap"), "{e}")
        }
        other => panic!("expected a memory refusal, got {other:?}"),
    }
    assert!(!dir.join("k2.npy").exists() && !dir.join("k2.npy.partial").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_requests_are_typed_errors() {
    let _g = lock();
    let dir = tmpdir("bad");
    let x = Inputs::gaussian(10, 3, 0);
    let ps = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::PathSum);
    let e = ps
        .write_npy(
            x.view(),
            What::Nngp,
            &dir.join("a.npy"),
            &NpyOptions::default(),
            &mut go,
        )
        .unwrap_err();
    assert!(matches!(e, NpyError::NotTiled { .. }), "{e}");
    let kf = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
    let e = kf
        .write_npy(
            x.view(),
            What::Nngp,
            &dir.join("no/such/dir/a.npy"),
            &NpyOptions::default(),
            &mut go,
        )
        .unwrap_err();
    assert!(
        matches!(e, NpyError::Io { .. }) && e.to_string().contains("no/such/dir"),
        "{e}"
    );
    let mut nan = x.clone();
    nan[[4, 1]] = f64::NAN;
    let e = kf
        .write_npy(
            nan.view(),
            What::Nngp,
            &dir.join("b.npy"),
            &NpyOptions::default(),
            &mut go,
        )
        .unwrap_err();
    assert!(e.to_string().contains("row 4, column 1"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
