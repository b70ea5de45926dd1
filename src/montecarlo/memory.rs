//! Memory estimates, made before anything large is allocated.

use super::cpu::{CONDITIONAL_ROWS, EXPLICIT_ROWS};
use super::features::gram_chunk_rows;
use super::{McError, Precision, Sampler};
use crate::dag::{Dag, Op};

/// Bytes one CPU network sample needs at its peak (features alive at once, block scratch
/// of every worker thread, Gram partials, node states), `None` on `u64` overflow.
///
/// Features: at most `F` matrices of `m x N` f64 are alive at once, where `F` is counted
/// by replaying the traversal's liveness (lift + sources still to be read + the node being
/// built); explicit `f32` adds one `m x N` f32 copy per live source.
pub fn network_bytes(
    dag: &Dag,
    n: usize,
    d: usize,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    threads: usize,
) -> Option<u64> {
    let nodes = dag.num_nodes();
    let mut last_use: Vec<usize> = (0..nodes).collect();
    for e in dag.edges().iter().filter(|e| e.op != Op::Zero) {
        last_use[e.from] = last_use[e.from].max(e.to);
    }
    let mut peak_live = 1u64; // the lift
    for t in 0..nodes {
        let live = (0..t)
            .filter(|&s| !dag.is_input(s) && last_use[s] >= t)
            .count() as u64;
        peak_live = peak_live.max(1 + live + 1);
    }
    let (m, n, d, h) = (m as u64, n as u64, d as u64, nodes as u64);
    let mn = m.checked_mul(n)?;
    let elem = match precision {
        Precision::F32 => 4u64,
        Precision::F64 => 8,
    };
    let mut bytes = peak_live.checked_mul(mn)?.checked_mul(8)?;
    if sampler == Sampler::Explicit && precision == Precision::F32 {
        bytes = bytes.checked_add(peak_live.checked_mul(mn)?.checked_mul(4)?)?;
    }
    let threads = threads.max(1) as u64;
    let scratch = match sampler {
        Sampler::Explicit => {
            let k = m.max(d);
            (EXPLICIT_ROWS as u64)
                .checked_mul(k.checked_add(n)?)?
                .checked_mul(elem)?
        }
        Sampler::Conditional => (CONDITIONAL_ROWS as u64)
            .checked_mul(2 * n)?
            .checked_mul(8)?,
    };
    bytes = bytes.checked_add(threads.checked_mul(scratch)?)?;
    let nn = n.checked_mul(n)?;
    let partials = m.div_ceil(gram_chunk_rows(m as usize) as u64);
    bytes = bytes.checked_add(partials.checked_mul(nn.checked_add(n)?)?.checked_mul(8)?)?;
    // Node states, square-root factors (conditional), the transposed data (explicit lift).
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
