//! Memory estimates, made before anything large is allocated.

use super::cpu::{last_use, reads_features, CONDITIONAL_ROWS, EXPLICIT_ROWS};
use super::features::gram_chunk_rows;
use super::{McError, Precision, Sampler};
use crate::dag::Dag;
use crate::plan::Plan;

/// Bytes one CPU network sample needs at its peak (features alive at once, block scratch
/// of every worker thread, Gram partials, node states), `None` on `u64` overflow.
///
/// Features (`m x N` in the working precision) are stored only for nodes a later edge
/// reads: skip sources, and every source in the explicit sampler. At most `F` of them are
/// alive at once, counted by replaying the traversal's liveness (lift + stored sources
/// still to be read + the node being built). Each worker holds a chunk buffer
/// (`gram_chunk_rows(m) x N`), a noise block (`rows x k`, `k = max(m, d, N)` explicit,
/// `max(d, N)` conditional), a bias block (`rows`), a product block and its Gram partial.
/// Edge parameters (activation, variances; PAPER.md section 9) change none of this.
///
/// Not counted: the packing buffers faer's GEMM allocates once per thread and keeps for
/// the thread's life (sized from the CPU caches: about 70 MB per thread on a machine with
/// a 32 MB L3), and the small pool of freed feature buffers kept for reuse (at most
/// 128 MB). `tests/memory_estimate.rs` checks the bound with a counting allocator.
pub fn network_bytes(
    dag: &Dag,
    n: usize,
    d: usize,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    threads: usize,
) -> Option<u64> {
    network_bytes_of(&Plan::of(dag), n, d, m, sampler, precision, threads)
}

/// [`network_bytes`] from the DAG's plan, built once by the caller: `O(nodes + edges)`.
pub(crate) fn network_bytes_of(
    plan: &Plan<'_>,
    n: usize,
    d: usize,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    threads: usize,
) -> Option<u64> {
    let dag = plan.dag();
    let nodes = dag.num_nodes();
    // Node s (stored, not an input) is alive while t is in (s, last_use(s)]: count the
    // live nodes at every t with a difference array, O(nodes) instead of O(nodes^2).
    let mut delta = vec![0i64; nodes + 2];
    for s in 0..nodes {
        let last = last_use(plan, s);
        if !dag.is_input(s) && last > s && reads_features(plan, s, sampler) {
            delta[s + 1] += 1;
            delta[last + 1] -= 1;
        }
    }
    let mut peak_live = 1u64; // the lift
    let mut live = 0i64;
    for d in delta.iter().take(nodes) {
        live += d;
        peak_live = peak_live.max(1 + live.max(0) as u64 + 1);
    }
    let (m, n, d, h) = (m as u64, n as u64, d as u64, nodes as u64);
    let mn = m.checked_mul(n)?;
    let elem = precision.bytes();
    let mut bytes = peak_live.checked_mul(mn)?.checked_mul(elem)?;
    let threads = threads.max(1) as u64;
    let rows = match sampler {
        Sampler::Explicit => EXPLICIT_ROWS as u64,
        Sampler::Conditional => CONDITIONAL_ROWS as u64,
    };
    let chunk = (gram_chunk_rows(m as usize) as u64).min(m);
    let nn = n.checked_mul(n)?;
    let k = match sampler {
        Sampler::Explicit => m.max(d).max(n),
        Sampler::Conditional => d.max(n),
    };
    // The block's biases (`rows` values; drawn only by edges with `sb2 > 0`, counted
    // always) sit beside the noise.
    let scratch = rows
        .checked_mul(k.checked_add(n)?.checked_add(1)?)?
        .checked_add(chunk.checked_mul(n)?)?
        .checked_add(nn)?
        .checked_mul(elem)?;
    bytes = bytes.checked_add(threads.checked_mul(scratch)?)?;
    let partials = m.div_ceil(chunk.max(1));
    bytes = bytes.checked_add(
        partials.checked_mul(nn.checked_mul(elem)?.checked_add(n.checked_mul(8)?)?)?,
    )?;
    // Node states, square-root factors (conditional), the transposed data (lift).
    bytes = bytes.checked_add(h.checked_mul(nn.checked_add(n)?)?.checked_mul(16)?)?;
    bytes.checked_add(n.checked_mul(d)?.checked_mul(16)?)
}

/// Bytes of a whole run's fixed part: inputs (`N x d` data, `N x N` Grams), the three
/// closed-form kernels at every node (with the exact recursion's cross-node Grams, at
/// most one per node pair) and the per-node running means and variances across seeds.
pub fn run_bytes(dag: &Dag, n: usize, d: usize) -> Option<u64> {
    let (n, d, h) = (n as u64, d as u64, dag.num_nodes() as u64);
    let nn = n.checked_mul(n)?;
    let per_node = nn.checked_add(n)?.checked_mul(8)?;
    let kernels = h
        .checked_mul(3)?
        .checked_add(h.checked_mul(h)? / 2)?
        .checked_mul(per_node)?;
    let welford = h.checked_mul(2)?.checked_mul(per_node)?;
    let inputs = n
        .checked_mul(d)?
        .checked_mul(8)?
        .checked_add(nn.checked_mul(24)?)?;
    kernels.checked_add(welford)?.checked_add(inputs)
}

/// Returns to the allocator what sampling keeps for reuse: the freed feature buffers (at
/// most 128 MB, shared) and the calling thread's block scratch (at most 64 MB per
/// thread). The next network then allocates afresh. Useful after a large run, and before
/// measuring what one network allocates.
pub fn release_cached_buffers() {
    super::features::drain_pool();
    super::cpu::drop_scratch();
}

/// Available memory: `MemAvailable` from `/proc/meminfo`, if readable.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Default cap when the caller gives none: 90% of `MemAvailable`, or 8 GiB when
/// `/proc/meminfo` cannot be read.
pub fn default_limit() -> u64 {
    available_bytes().map(|b| b / 10 * 9).unwrap_or(8 << 30)
}

/// How many networks may be sampled at once within `limit` bytes: `min(seeds, threads,
/// (limit - fixed) / per_network)`; an error when not even one fits.
pub(crate) fn plan_concurrency(
    per_network: Option<u64>,
    fixed: Option<u64>,
    limit: u64,
    seeds: usize,
    threads: usize,
    width: usize,
    points: usize,
) -> Result<usize, McError> {
    let too_big = |needed: Option<u64>| McError::TooLarge {
        needed,
        limit,
        width,
        points,
    };
    let (Some(per), Some(fixed)) = (per_network, fixed) else {
        return Err(too_big(None));
    };
    let needed = per.checked_add(fixed);
    match needed {
        Some(total) if total <= limit => {}
        _ => return Err(too_big(needed)),
    }
    let fit = ((limit - fixed) / per.max(1)) as usize;
    Ok(fit.min(seeds).min(threads.max(1)).max(1))
}
