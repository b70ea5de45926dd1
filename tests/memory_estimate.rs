//! The Monte Carlo memory estimate is an upper bound of what sampling really allocates.
//!
//! This test binary installs a counting global allocator: it tracks the bytes currently
//! allocated and their high-water mark. For each configuration, the peak reached while
//! sampling one network (above what was allocated before) must not exceed
//! `memory::network_bytes`, which `run` and `sample_network` check against the memory cap
//! before allocating anything large. Networks run on one thread here, so the estimate is
//! asked for one worker. Not counted by the estimate (see its docs): the packing buffers
//! faer's GEMM allocates once per thread and keeps, so the thread's GEMMs are warmed up
//! first, in both precisions, and the caches of freed feature buffers and block scratch
//! are emptied before each measurement.

use archconv::montecarlo::{memory, sample_network, McInputs, Precision, Sampler};
use archconv::{Dag, Inputs, Lift};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::SeqCst) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::SeqCst);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn sampling_allocates_no_more_than_the_estimate() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // DAGs with skip edges (stored features), fan-out (shared factors) and a chain; N > d
    // and N < d; widths that are and are not multiples of the block and chunk sizes.
    let cases = [
        (Dag::dag3(), 64, 32, 4096),
        (Dag::dag2(), 40, 100, 3000),
        (Dag::parse("2_22_222_2222").unwrap(), 96, 16, 5000),
        (Dag::chain(3), 30, 8, 700),
    ];
    pool.install(|| {
        let a = faer::Mat::<f32>::from_fn(512, 512, |i, j| (i + j) as f32);
        let b = faer::Mat::<f64>::from_fn(512, 512, |i, j| (i * j) as f64);
        std::hint::black_box((&a * &a, &b * &b));
    });
    for (dag, n, d, m) in cases {
        let x = Inputs::gaussian(n, d, 1);
        for lift in [Lift::Dense, Lift::ReluStem] {
            let inp = McInputs::from_data(x.view(), lift).unwrap();
            for sampler in [Sampler::Conditional, Sampler::Explicit] {
                for precision in [Precision::F32, Precision::F64] {
                    let estimate =
                        memory::network_bytes(&dag, n, d, m, sampler, precision, 1).unwrap();
                    let (before, peak) = pool.install(|| {
                        // Buffers kept from the previous case would be reused without
                        // being allocated, hiding an undercount: start from empty caches
                        // (on the worker thread, which owns the scratch).
                        memory::release_cached_buffers();
                        let before = CURRENT.load(Ordering::SeqCst);
                        PEAK.store(before, Ordering::SeqCst);
                        let nodes =
                            sample_network(&dag, &inp, m, sampler, precision, 3, None).unwrap();
                        let peak = PEAK.load(Ordering::SeqCst);
                        drop(nodes);
                        (before, peak)
                    });
                    let used = (peak - before) as u64;
                    assert!(
                        used <= estimate,
                        "{} N={n} d={d} m={m} {lift} {sampler} {precision}: allocated {used} \
                         bytes above the baseline, estimate {estimate}",
                        dag.describe()
                    );
                }
            }
        }
    }
}
