"""archconv.dask on a real dask.distributed.LocalCluster with two worker processes.

The tiled kernel is checked against the one-process kernel (the stored-state recursion,
another algorithm) to 1e-12 relative of the largest diagonal entry, as test_kernels.py.
"""

import os
import signal
import time

import numpy as np
import pytest

import archconv

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")
ad = pytest.importorskip("archconv.dask")

REL = 1e-12


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit="2GiB",
        env={"RAYON_NUM_THREADS": "1"},
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def rel_err(a, b):
    return np.abs(a - b).max() / np.abs(np.diag(b)).max()


@pytest.mark.parametrize("what", ["nngp", "ntk"])
def test_tiled_kernel_equals_the_in_process_kernel(client, rng, what):
    x = rng.standard_normal((530, 7))
    k = archconv.KernelFn(archconv.Dag.paper(3), lift="relu-stem")
    K = ad.kernel(k, x, chunks=128, what=what)
    assert K.chunks == ((128, 128, 128, 128, 18),) * 2
    want = k.ntk(x) if what == "ntk" else k.nngp(x)
    assert rel_err(K.compute(), want) <= REL
    # Uneven explicit chunks, and a dask array as input.
    xd = da.from_array(x, chunks=(100, 7))
    K2 = ad.kernel(k, xd, chunks=[200, 30, 300], what=what)
    assert rel_err(K2.compute(), want) <= REL


def test_the_per_point_terms_are_computed_once(client, rng):
    x = rng.standard_normal((300, 5))
    K = ad.kernel(archconv.KernelFn(archconv.Dag.paper(2)), x, chunks=50)
    keys = [str(k) for k in dict(K.__dask_graph__()).keys()]
    assert sum(k.startswith("archconv-terms-") for k in keys) == 1
    assert sum(k.startswith("archconv-select-") for k in keys) == 6
    assert sum(k.startswith("archconv-tile-") for k in keys) == 6 * 7 // 2


def test_dask_linear_algebra_solves_nngp_regression(client, rng):
    x = rng.standard_normal((400, 6))
    y = rng.standard_normal((400, 2))
    k = archconv.KernelFn(archconv.Dag.paper(3))
    K = ad.kernel(k, x, chunks=100) + 1e-3 * da.eye(400, chunks=100)
    L = da.linalg.cholesky(K, lower=True)
    z = da.linalg.solve_triangular(L, da.from_array(y, chunks=(100, 2)), lower=True)
    alpha = da.linalg.solve_triangular(L.T, z, lower=False).compute()
    want = np.linalg.solve(k.nngp(x) + 1e-3 * np.eye(400), y)
    assert np.abs(alpha - want).max() <= 1e-8 * np.abs(want).max()


def test_a_chunking_that_does_not_tile_is_refused():
    x = np.zeros((10, 3)) + 1.0
    k = archconv.KernelFn(archconv.Dag.paper(3))
    with pytest.raises(ValueError, match=r"chunks: the block sizes \(4, 4\) do not tile the 10 points"):
        ad.kernel(k, x, chunks=[4, 4])
    with pytest.raises(ValueError, match=r"chunks: expected a positive block size, got 0"):
        ad.kernel(k, x, chunks=0)
    with pytest.raises(ValueError, match=r"chunks: the block sizes \(12, -2\)"):
        ad.kernel(k, x, chunks=[12, -2])
    with pytest.raises(TypeError, match=r"x: expected dtype float64, got int64"):
        ad.kernel(k, x.astype(np.int64), chunks=5)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"x: entry \[3, 1\] is nan"):
        ad.kernel(k, bad, chunks=5)
    with pytest.raises(archconv.KernelError, match="path-sum"):
        ad.kernel(archconv.KernelFn(archconv.Dag.paper(3), kind="path-sum"), x, chunks=5)


def test_a_killed_worker_is_retried_and_the_result_is_unchanged(client, rng):
    # A 200-node Watts-Strogatz graph: tiles slow enough (tens of ms each) to kill a
    # worker while the run is under way.
    k = archconv.KernelFn(archconv.Dag.parse("ws(nodes=200, k=4, p=0.75, seed=1)"))
    x = rng.standard_normal((1200, 6))
    want = k.tile(x, k.point_terms(x))
    K = ad.kernel(k, x, chunks=100)
    pids_before = client.run(os.getpid)
    fut = client.compute(K)
    victim = None
    deadline = time.time() + 120
    while time.time() < deadline:
        held = client.has_what()
        done = {w: sum(str(key).startswith("('from-value") or "archconv-tile" in str(key) for key in keys) for w, keys in held.items()}
        if fut.done():
            break
        busy = [w for w, n in done.items() if n >= 3]
        if busy:
            victim = busy[0]
            break
        time.sleep(0.02)
    assert victim is not None and not fut.done(), "the run ended before a worker could be killed"
    os.kill(pids_before[victim], signal.SIGKILL)
    got = fut.result(timeout=300)
    assert np.array_equal(got, got.T)
    assert rel_err(got, want) <= REL
    # The nanny restarted the worker: a new process.
    pids_after = client.run(os.getpid)
    assert set(pids_after.values()) != set(pids_before.values())


def _peak_rss():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_each_workers_peak_memory_stays_under_its_tile_budget(client, rng):
    n, chunk = 6000, 500
    x = rng.standard_normal((n, 8))
    k = archconv.KernelFn(archconv.Dag.paper(3))
    # Warm up: import and run one small tile on every worker, so the baseline peak holds
    # the library, dask's buffers and the thread pools.
    ad.kernel(k, x[:1000], chunks=chunk).sum().compute()
    base = client.run(_peak_rss)
    total = ad.kernel(k, x, chunks=chunk).sum().compute()
    peak = client.run(_peak_rss)
    # The budget of one worker (one thread): a tile task holds its result and the strips
    # in flight (tile_budget), dask serialises the result once (one more copy) and the
    # reduction may hold one more result: 3 x tile_budget; plus the per-point terms and the
    # data (N x (nodes x 2 + d) doubles), and 64 MiB for dask's own messages and bookkeeping.
    budget = 3 * ad.tile_budget(k, chunk) + n * (2 * 4 + 8) * 8 * 3 + (64 << 20)
    full = n * n * 8
    assert budget < full / 2, "the test would not tell a tiled run from an untiled one"
    for w in peak:
        grew = peak[w] - base[w]
        assert grew <= budget, f"worker {w}: peak grew by {grew / 2**20:.1f} MiB > budget {budget / 2**20:.1f} MiB"
    # And the numbers are right.
    assert abs(total - k.nngp(x).sum()) <= 1e-9 * abs(total)


def _square(item, seed):
    return item * item, seed


def test_map_is_deterministic_and_matches_the_local_scheduler(client):
    items = list(range(10))
    a = ad.map(_square, items, seed=11, client=client)
    b = ad.map(_square, items, seed=11)
    assert a == b
    assert [s for _, s in a] == ad.seeds(11, 10)
    assert len(set(ad.seeds(11, 10))) == 10
    assert [v for v, _ in a] == [i * i for i in items]


def test_monte_carlo_grid_and_proxy_sweep(client, rng):
    x = rng.standard_normal((10, 4))
    rows = ad.monte_carlo_grid(["2_21_112", "1_11_111"], widths=[256, 1024], repeats=2, x=x, networks=2, seed=4, client=client)
    assert len(rows) == 8
    again = ad.monte_carlo_grid(["2_21_112", "1_11_111"], widths=[256, 1024], repeats=2, x=x, networks=2, seed=4)
    assert rows == again
    # The same item with the seed its task was given, run here: the same numbers.
    direct = archconv.monte_carlo(archconv.Dag.parse("2_21_112"), x, width=256, seeds=2, seed=rows[0]["seed"])
    assert direct["lambda_min"]["mean"] == rows[0]["lambda_min"]
    cells = archconv.nb201_cells()[:40]
    res = ad.proxy_sweep(cells, x, client=client)
    for cell, r in zip(cells, res):
        s = archconv.Dag.parse(cell).path_stats()
        assert r["arch"] == cell and r["effective_depth"] == s.effective_depth
        if r["lambda_min"] is not None:
            lam = archconv.lambda_min(archconv.KernelFn(archconv.Dag.parse(cell), lift="relu-stem").nngp(x))
            assert r["lambda_min"] == lam
