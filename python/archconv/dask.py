"""Kernels and sweeps on Dask, for studies that outgrow one machine.

``kernel(k, x, chunks)`` returns the output kernel of the points ``x`` as a
``dask.array``, one task per tile: the per-point terms of all ``N`` points (every node's
diagonal and mean, and the log-scales of the whole set; ``O(N)`` per node) are computed
once, in one task, selected once per row block, and shared by every tile of that block;
each tile ``(I, J)`` with ``I <= J`` is one call of ``KernelFn.tile`` and the blocks below
the diagonal are its transposes. Tiles equal the one-process kernel to rounding, so the
array works with dask's linear algebra (``dask.array.linalg.cholesky``, ``solve``, ...).

``map(fn, items, seed=...)`` runs ``fn(item, seed_i)`` for every item as Dask tasks, with
``seed_i`` drawn from ``numpy.random.SeedSequence(seed).spawn(len(items))``: the same
numbers on any cluster, any number of workers, and after any retry.
``monte_carlo_grid`` and ``proxy_sweep`` are two such sweeps.

The same code runs on a laptop and on a cluster; only the client changes:

>>> from dask.distributed import Client, LocalCluster          # doctest: +SKIP
>>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
>>> K = archconv.dask.kernel(archconv.KernelFn(archconv.Dag.paper(3)), x, chunks=2000)  # doctest: +SKIP
>>> alpha = dask.array.linalg.solve(K + 1e-6 * da.eye(len(x), chunks=2000), y)  # doctest: +SKIP
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _archconv as _ac

__all__ = ["kernel", "tile_bounds", "tile_budget", "seeds", "map", "monte_carlo_grid", "proxy_sweep"]


def _require_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as e:  # pragma: no cover - exercised only without dask
        raise ImportError(
            "archconv.dask needs dask: pip install 'dask[array]' distributed"
        ) from e
    return dask, da


def tile_bounds(n: int, chunks: Union[int, Sequence[int]]) -> List[Tuple[int, int]]:
    """The row ranges ``[(start, stop), ...]`` of ``chunks`` over ``n`` points: an int
    (blocks of that many rows, the last one shorter) or a sequence of positive block
    sizes summing to ``n``. Anything else raises ValueError naming ``chunks``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"x: expected at least one point, got {n!r}")
    if isinstance(chunks, numbers.Integral) and not isinstance(chunks, bool):
        c = int(chunks)
        if c < 1:
            raise ValueError(f"chunks: expected a positive block size, got {chunks!r}")
        sizes = [c] * (n // c) + ([n % c] if n % c else [])
    else:
        try:
            sizes = [int(s) for s in chunks]  # type: ignore[union-attr]
        except TypeError:
            raise ValueError(
                f"chunks: expected an int or a sequence of ints, got {chunks!r}"
            ) from None
        if any(s < 1 for s in sizes) or sum(sizes) != n:
            raise ValueError(
                f"chunks: the block sizes {tuple(sizes)} do not tile the {n} points "
                f"(each must be positive and they must sum to {n})"
            )
    out, start = [], 0
    for s in sizes:
        out.append((start, start + s))
        start += s
    return out


def tile_budget(k: "_ac.KernelFn", chunks: int, what: str = "nngp") -> int:
    """The estimated peak bytes of one tile task of ``chunks x chunks`` entries (the
    result and the strips Rust computes at once, with this process's threads)."""
    return k.tile_bytes(int(chunks), int(chunks), what)


def _terms(k, x):
    return k.point_terms(x)


def _select(terms, start, stop):
    return terms.select(start, stop)


def _tile(k, xi, ti, xj, tj, what, variant):
    if xj is None:
        return k.tile(xi, ti, what=what, variant=variant)
    return k.tile(xi, ti, xj, tj, what=what, variant=variant)


def _check_points(x, name="x"):
    """A 2-D float64 array (numpy or dask), or TypeError / ValueError naming ``name``."""
    dask, da = _require_dask()
    if isinstance(x, da.Array):
        arr = x
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        raise TypeError(
            f"{name}: expected a 2-D numpy.ndarray or dask.array of float64, got {type(x).__name__}"
        )
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array (points x features), got {arr.ndim}-D with shape {arr.shape}"
        )
    if arr.dtype != np.float64:
        raise TypeError(
            f"{name}: expected dtype float64, got {arr.dtype}; convert with {name}.astype(numpy.float64)"
        )
    if any(np.isnan(s) for s in arr.shape):
        raise ValueError(f"{name}: the number of points must be known, got shape {arr.shape}")
    if isinstance(arr, np.ndarray) and not np.isfinite(arr).all():
        i, j = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name}: entry [{i}, {j}] is {arr[i, j]}; every entry must be finite")
    return arr


def kernel(
    k: "_ac.KernelFn",
    x: Any,
    chunks: Union[int, Sequence[int]],
    what: str = "nngp",
    variant: str = "full",
):
    """The output kernel (``what``: ``"nngp"`` or ``"ntk"`` with ``variant``) of the points
    ``x`` (``N x d`` float64, a NumPy or dask array) as an ``N x N`` ``dask.array`` tiled in
    ``chunks`` (an int block size, or the row block sizes). One task computes the
    per-point terms, one per row block selects them, one per tile ``I <= J`` computes it.

    Raises ValueError when ``chunks`` does not tile the points, TypeError / ValueError for
    a bad ``x``; Rust's errors (ArchconvError subclasses) surface when computing.
    """
    dask, da = _require_dask()
    if what not in ("nngp", "ntk"):
        raise ValueError(f"what: expected 'nngp' or 'ntk', got {what!r}")
    if variant not in ("full", "frozen-lift", "readout-only"):
        raise ValueError(
            f"variant: expected 'full', 'frozen-lift' or 'readout-only', got {variant!r}"
        )
    if k.kind == "path-sum":
        raise _ac.KernelError(
            "the path-sum rule has no streamed form (tiles, per-point terms); use the exact or independent-branch rule"
        )
    x = _check_points(x)
    n, d = x.shape
    bounds = tile_bounds(n, chunks)
    sizes = tuple(b - a for a, b in bounds)
    xd = x if isinstance(x, da.Array) else da.from_array(x, chunks=(sizes, d), asarray=True)
    xd = xd.rechunk((sizes, d))
    blocks = [b[0] for b in xd.to_delayed()]
    token = dask.base.tokenize(repr(k), k.dag.to_json(), xd.name, sizes, what, variant)
    delayed = dask.delayed
    x_all = delayed(np.concatenate, pure=True)(blocks) if len(blocks) > 1 else blocks[0]
    terms = delayed(_terms, pure=True)(k, x_all, dask_key_name=f"archconv-terms-{token}")
    sel = [
        delayed(_select, pure=True)(terms, a, b, dask_key_name=f"archconv-select-{token}-{i}")
        for i, (a, b) in enumerate(bounds)
    ]
    grid: List[List[Any]] = [[None] * len(bounds) for _ in bounds]
    for i, (a, b) in enumerate(bounds):
        for j in range(i, len(bounds)):
            c, e = bounds[j]
            key = f"archconv-tile-{token}-{i}-{j}"
            if i == j:
                args = (k, blocks[i], sel[i], None, None, what, variant)
            else:
                args = (k, blocks[i], sel[i], blocks[j], sel[j], what, variant)
            t = delayed(_tile, pure=True)(*args, dask_key_name=key)
            arr = da.from_delayed(t, shape=(b - a, e - c), dtype=np.float64)
            grid[i][j] = arr
            if i != j:
                grid[j][i] = arr.T
    return da.block(grid)


def seeds(seed: int, count: int) -> List[int]:
    """``count`` independent 63-bit seeds from ``numpy.random.SeedSequence(seed)``
    (``spawn``): the seeds ``map`` gives its tasks, in order."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(int(count))
    return [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]


def map(
    fn: Callable[[Any, int], Any],
    items: Iterable[Any],
    seed: int = 0,
    client: Optional[Any] = None,
) -> List[Any]:
    """``[fn(item, seed_i) for item, seed_i in zip(items, seeds(seed, len(items)))]``, one
    Dask task per item, on ``client`` (a ``dask.distributed.Client``) or, without one, on
    dask's local scheduler. Task keys are derived from ``fn``, the item and its seed, so
    a retried task (a lost worker) recomputes the same value. ``fn`` must be picklable (a
    module-level function)."""
    dask, _ = _require_dask()
    items = list(items)
    ss = seeds(seed, len(items))
    if client is not None:
        keys = [
            f"archconv-map-{dask.base.tokenize(fn, item, s)}" for item, s in zip(items, ss)
        ]
        futures = client.map(fn, items, ss, key=keys, pure=True)
        return client.gather(futures)
    tasks = [dask.delayed(fn, pure=True)(item, s) for item, s in zip(items, ss)]
    return list(dask.compute(*tasks))


def _mc_task(item, seed):
    dag_text, x, width, networks, sampler = item
    dag = _ac.Dag.parse(dag_text)
    r = _ac.monte_carlo(dag, x, width=width, seeds=networks, seed=seed, sampler=sampler)
    return {
        "dag": dag_text,
        "width": width,
        "seed": seed,
        "lambda_min": r["lambda_min"]["mean"],
        "lambda_min_se": r["lambda_min"]["se"],
        "rel_frobenius": {k: v["rel_frobenius_of_mean"] for k, v in r["comparisons"].items()},
    }


def monte_carlo_grid(
    dags: Sequence[Union[str, "_ac.Dag"]],
    widths: Sequence[int],
    repeats: int,
    x: np.ndarray,
    networks: int = 4,
    seed: int = 0,
    sampler: str = "conditional",
    client: Optional[Any] = None,
) -> List[dict]:
    """Monte Carlo over DAGs x widths x ``repeats``: each task samples ``networks``
    networks of one DAG at one width from its own seed (``map``) and returns the mean
    ``lambda_min``, its standard error and the relative Frobenius distance of the mean
    Gram to each closed-form rule."""
    x = _check_points(x)
    texts = [d.to_json() if isinstance(d, _ac.Dag) else str(d) for d in dags]
    items = [
        (t, x, int(w), int(networks), sampler) for t in texts for w in widths for _ in range(repeats)
    ]
    return map(_mc_task, items, seed=seed, client=client)


def _proxy_task(item, seed):
    arch, x, kind = item
    dag = _ac.Dag.parse(arch)
    stats = dag.path_stats()
    try:
        lam = _ac.lambda_min(_ac.KernelFn(dag, kind=kind, lift="relu-stem").nngp(x))
    except _ac.KernelError:
        lam = None  # no input-output path: the kernel is zero
    return {
        "arch": arch,
        "effective_depth": stats.effective_depth,
        "effective_width": stats.effective_width,
        "lambda_min": lam,
    }


def proxy_sweep(
    cells: Sequence[str],
    x: np.ndarray,
    kind: str = "exact",
    client: Optional[Any] = None,
) -> List[dict]:
    """The exact-kernel proxy over a search space: for each cell (any format
    ``Dag.parse`` reads, e.g. ``archconv.nb201_cells()``) its effective depth and width
    and ``lambda_min`` of its NNGP on ``x`` (ReLU stem), one task per cell; ``None`` where
    undefined (no input-output path)."""
    x = _check_points(x)
    return map(_proxy_task, [(c, x, kind) for c in cells], seed=0, client=client)
