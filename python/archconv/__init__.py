"""archconv: exact kernels of DAG networks (Chen et al., "Deep Architecture Connectivity
Matters for Its Convergence", NeurIPS 2022), computed by the archconv Rust crate.

Describe an architecture, get its path statistics, its exact NNGP and NTK on any two
point sets, their spectra, finite-width Monte Carlo checks and kernel predictions:

>>> import numpy as np, archconv
>>> dag = archconv.Dag.paper(3)
>>> dag.path_stats().num_paths
4
>>> k = archconv.KernelFn(dag, kind="exact")
>>> x = np.random.default_rng(0).standard_normal((8, 5))
>>> K = k.nngp(x)                      # 8 x 8, float64
>>> bool(archconv.lambda_min(K) > 0)
True

NumPy arrays go in without a copy (any strides) and come out owning Rust's buffers;
the GIL is released while Rust computes. Every Rust error is raised as a subclass of
``ArchconvError`` (itself a ``ValueError``) with the Rust message; bad arguments (wrong
dtype, wrong number of dimensions, NaN) raise ``TypeError`` / ``ValueError`` naming the
argument. ``archconv.dask`` builds kernels tile by tile on a Dask cluster.
"""

from ._archconv import (  # noqa: F401
    ArchconvError,
    Dag,
    KernelError,
    KernelFn,
    MemoryBudgetError,
    MonteCarloError,
    NasError,
    NtkDynamics,
    ParseError,
    PathStats,
    PointTerms,
    PredictError,
    SpectrumError,
    __version__,
    eigenvalues,
    lambda_max,
    lambda_min,
    linalg_backend,
    memory_limit,
    monte_carlo,
    nb201_accuracies,
    nb201_cells,
    nb201_filter,
    nb201_points,
    nngp_posterior,
    one_hot,
    set_memory_limit,
    spectrum_summary,
)

__all__ = [
    "ArchconvError",
    "Dag",
    "KernelError",
    "KernelFn",
    "MemoryBudgetError",
    "MonteCarloError",
    "NasError",
    "NtkDynamics",
    "ParseError",
    "PathStats",
    "PointTerms",
    "PredictError",
    "SpectrumError",
    "__version__",
    "eigenvalues",
    "lambda_max",
    "lambda_min",
    "linalg_backend",
    "memory_limit",
    "monte_carlo",
    "nb201_accuracies",
    "nb201_cells",
    "nb201_filter",
    "nb201_points",
    "nngp_posterior",
    "one_hot",
    "set_memory_limit",
    "spectrum_summary",
]
