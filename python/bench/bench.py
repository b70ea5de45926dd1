"""Benchmarks of the Python package (issue 18), as ratios measured in one run.

1. The N = 20,000 output kernel (DAG#3, exact rule) tiled on a dask.distributed
   LocalCluster (two worker processes, one thread and one Rust thread each) against the
   in-process call (``KernelFn.tile`` of the whole set: the same output-only streamed
   kernel, two Rust threads), alternating, each twice. The cluster is timed twice:
   computing the tiles and reducing them on the workers (``.sum()``), and gathering the
   whole 3.2 GB matrix into the client (``.compute()``).
2. Python call overhead: ``KernelFn.nngp`` at N = 64 from Python (median of REPS calls)
   against the same call from Rust (``examples/call_time.rs``).

Usage: python python/bench/bench.py [N] [CHUNK] [--calls-only]   (defaults 20000 2500).
Prints one JSON object; a benchmark, not a test.
"""

import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import timeit

import numpy as np

import archconv
import archconv.dask as ad

ROOT = pathlib.Path(__file__).resolve().parents[2]


def in_process(k, x):
    t0 = time.perf_counter()
    terms = k.point_terms(x)
    K = k.tile(x, terms)
    t = time.perf_counter() - t0
    return t, float(K[::997, ::991].sum())


def on_cluster(client, k, x, chunk, gather):
    arr = ad.kernel(k, x, chunks=chunk)
    t0 = time.perf_counter()
    if gather:
        K = arr.compute()
        check = float(K[::997, ::991].sum())
        del K
    else:
        check = float(arr.sum().compute())
    return time.perf_counter() - t0, check


def cluster_runs(k, x, chunk):
    """Alternating in-process and cluster runs, twice each; returns the times."""
    from dask.distributed import Client, LocalCluster

    runs = {"in_process_s": [], "cluster_sum_s": [], "cluster_gather_s": []}
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit="9GiB",
        env={"RAYON_NUM_THREADS": "1"},
    ) as cluster, Client(cluster) as client:
        on_cluster(client, k, x[:2000], 500, False)  # warm-up: imports on the workers
        for _ in range(2):
            t, ref = in_process(k, x)
            runs["in_process_s"].append(round(t, 3))
            t, _ = on_cluster(client, k, x, chunk, False)
            runs["cluster_sum_s"].append(round(t, 3))
            t, chk = on_cluster(client, k, x, chunk, True)
            runs["cluster_gather_s"].append(round(t, 3))
            assert abs(chk - ref) <= 1e-9 * abs(ref), (chk, ref)
    best = {key: min(v) for key, v in runs.items()}
    runs["cluster_sum_over_in_process"] = round(best["cluster_sum_s"] / best["in_process_s"], 2)
    runs["cluster_gather_over_in_process"] = round(best["cluster_gather_s"] / best["in_process_s"], 2)
    return runs


def call_overhead(k, rng, reps=1000, rounds=5):
    """Five rounds, alternating the Rust process (``reps`` calls) and as many calls from
    Python on points of the same shape; the overhead is the median over rounds of the
    difference of the medians."""
    xs = rng.standard_normal((64, 16))
    exe = ROOT / "target/release/examples/call_time"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "--example", "call_time"], cwd=ROOT, check=True)
    for _ in range(20):
        k.nngp(xs)
    out = []
    for _ in range(rounds):
        cmd = [str(exe), "64", "16", str(reps)]
        rs = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        times = sorted(timeit.repeat(lambda: k.nngp(xs), number=1, repeat=reps))
        out.append({"rust_median_us": rs["median_us"], "python_median_us": round(times[reps // 2] * 1e6, 2)})
    diffs = sorted(r["python_median_us"] - r["rust_median_us"] for r in out)
    ratios = sorted(r["python_median_us"] / r["rust_median_us"] for r in out)
    return {
        "call_rounds": out,
        "python_overhead_us_median": round(diffs[len(diffs) // 2], 2),
        "python_over_rust_range": [round(ratios[0], 3), round(ratios[-1], 3)],
    }


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 20000
    chunk = int(args[1]) if len(args) > 1 else 2500
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_start": os.getloadavg(),
        "archconv": archconv.__version__,
    }
    rng = np.random.default_rng(0)
    k = archconv.KernelFn(archconv.Dag.paper(3))
    if "--calls-only" not in sys.argv:
        out.update({"n": n, "chunk": chunk})
        out.update(cluster_runs(k, rng.standard_normal((n, 32)), chunk))
    out.update(call_overhead(k, rng))
    out["load_average_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
