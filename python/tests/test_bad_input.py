"""Bad input: Python exceptions naming the argument and the value, never a crash; Rust's
errors keep the Rust message."""

import pickle

import numpy as np
import pytest

import archconv


@pytest.fixture
def k():
    return archconv.KernelFn(archconv.Dag.paper(3))


@pytest.fixture
def x(rng):
    return rng.standard_normal((6, 4))


def test_wrong_dtypes_name_the_argument_and_the_dtype(k, x):
    with pytest.raises(TypeError, match=r"x1: expected dtype float64, got int64"):
        k.nngp(x.astype(np.int64))
    with pytest.raises(TypeError, match=r"x2: expected dtype float64, got float32"):
        k.nngp(x, x.astype(np.float32))
    with pytest.raises(TypeError, match=r"x1: expected a 2-D numpy.ndarray of float64, got list"):
        k.nngp(x.tolist())
    with pytest.raises(TypeError, match=r"k: expected dtype float64, got complex128"):
        archconv.lambda_min(np.eye(3, dtype=complex))


def test_wrong_dimensions_name_the_shape(k, x):
    with pytest.raises(ValueError, match=r"x1: expected a 2-D array .* got 1-D with shape \[6\]"):
        k.nngp(x[:, 0].copy())
    with pytest.raises(ValueError, match=r"x: expected a 2-D array .* got 3-D"):
        k.point_terms(x[None])
    with pytest.raises(ValueError, match=r"k: expected a non-empty square matrix, got shape \(6, 4\)"):
        archconv.lambda_min(x)


def test_nan_entries_name_the_entry(k, x):
    x = x.copy()
    x[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"x1: entry \[2, 3\] is NaN"):
        k.nngp(x)
    x[2, 3] = np.inf
    with pytest.raises(ValueError, match=r"x: entry \[2, 3\] is inf"):
        k.ntk_standard(x, 64)


def test_non_contiguous_and_reversed_views_are_read_without_error(k, x, rng):
    wide = rng.standard_normal((6, 8))
    view = wide[:, ::2]
    assert not view.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(k.nngp(view), k.nngp(np.ascontiguousarray(view)))
    np.testing.assert_array_equal(k.nngp(x[::-1]), k.nngp(x[::-1].copy()))
    np.testing.assert_array_equal(k.nngp(np.asfortranarray(x)), k.nngp(x))


def test_rust_errors_keep_their_messages(k, x):
    with pytest.raises(archconv.KernelError, match=r"^the two point sets have different dimensions: x1 has 4 columns, x2 has 2$"):
        k.nngp(x, x[:, :2].copy())
    with pytest.raises(archconv.KernelError, match="defines no NTK"):
        archconv.KernelFn(archconv.Dag.paper(3), kind="path-sum").ntk(x)
    with pytest.raises(archconv.ParseError, match="cannot tell the architecture format"):
        archconv.Dag.parse("not a dag")
    with pytest.raises(archconv.KernelError, match="no path from its input"):
        archconv.KernelFn(archconv.Dag.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")).nngp(x)
    with pytest.raises(ValueError, match=r"k: not symmetric: k\[1, 0\] = 0 but k\[0, 1\] = 2"):
        archconv.lambda_min(np.array([[1.0, 2.0], [0.0, 1.0]]))
    assert issubclass(archconv.KernelError, archconv.ArchconvError)
    assert issubclass(archconv.ArchconvError, ValueError)


def test_bad_options_name_the_option(x):
    d = archconv.Dag.paper(3)
    with pytest.raises(ValueError, match=r"kind: expected one of"):
        archconv.KernelFn(d, kind="nope")
    with pytest.raises(ValueError, match=r"lift: expected 'dense' or 'relu-stem', got 'conv'"):
        archconv.KernelFn(d, lift="conv")
    with pytest.raises(ValueError, match=r"variant: expected"):
        archconv.KernelFn(d).ntk(x, variant="half")
    with pytest.raises(ValueError, match=r"activation:"):
        d.with_params("sigmoidish", 1.0)
    with pytest.raises(ValueError, match=r"which: the paper has DAG#1, #2 and #3, not 7"):
        archconv.Dag.paper(7)
    with pytest.raises(ValueError, match=r"labels: entry 1 is 5, outside 0..3"):
        archconv.one_hot([0, 5], 3)


def test_memory_budget_refuses_before_allocating(k, rng):
    old = archconv.memory_limit()
    try:
        archconv.set_memory_limit(1 << 20)
        with pytest.raises(archconv.MemoryBudgetError, match="MiB"):
            k.nngp(rng.standard_normal((3000, 4)))
    finally:
        archconv.set_memory_limit(old)


def test_tiles_refuse_terms_of_another_function(k, x):
    other = archconv.KernelFn(archconv.Dag.paper(2))
    with pytest.raises(archconv.KernelError, match=r"terms `t1` do not fit: they were computed by another kernel function"):
        k.tile(x, other.point_terms(x))
    t = k.point_terms(x)
    with pytest.raises(ValueError, match="x2 and t2: give both"):
        k.tile(x, t, x)
    with pytest.raises(archconv.KernelError, match=r"points 4..9 selected from terms of 6 points"):
        t.select(4, 9)


def test_objects_pickle_and_compare(k, x):
    k2 = pickle.loads(pickle.dumps(k))
    assert repr(k2) == repr(k)
    np.testing.assert_array_equal(k2.nngp(x), k.nngp(x))
    d = archconv.Dag.paper(1).with_params("tanh", 1.2, 0.05)
    assert pickle.loads(pickle.dumps(d)) == d
    t = k.point_terms(x)
    np.testing.assert_array_equal(k.tile(x, pickle.loads(pickle.dumps(t))), k.tile(x, t))
