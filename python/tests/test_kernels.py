"""Kernels, spectra and predictions against closed forms, NumPy, and the Rust API's
command-line tool.

Tolerances: the closed forms below run the same arithmetic in another order (NumPy), so
they agree to a few hundred ulps of the largest diagonal entry: 1e-12 relative. The
.npy file the command-line tool writes is computed by the streamed algorithm, a second
route through the Rust code: also 1e-12.
"""

import json
import subprocess
import threading
import time

import numpy as np
import pytest

import archconv

REL = 1e-12


def close(a, b, rel=REL):
    scale = max(np.abs(np.diag(b)).max(), 1e-300)
    assert a.shape == b.shape
    err = np.abs(a - b).max() / scale
    assert err <= rel, f"max relative error {err:.3e} > {rel:.1e}"


def normalized(x):
    """Rows scaled to ||x_i||^2 = d, as archconv does by default."""
    d = x.shape[1]
    return x / np.linalg.norm(x, axis=1, keepdims=True) * np.sqrt(d)


def relu_chain(x, depth, sw2=2.0):
    """The NNGP and NTK of a chain of `depth` ReLU layers with the dense lift, by the
    arc-cosine recursion (Cho & Saul 2009; Jacot et al. 2018): with the lift trained,
    Theta^0 = K^0, then Theta^{l+1} = sw2 E[phi'phi'] (K^l + Theta^l) ... written as
    (pi - theta)/(2 pi) * sw2 * (K^l + Theta^l); the network's NTK is K^L + Theta^L."""
    xn = normalized(x)
    k = xn @ xn.T / x.shape[1]
    theta = k.copy()
    for _ in range(depth):
        dg = np.sqrt(np.diag(k))
        c = np.clip(k / np.outer(dg, dg), -1.0, 1.0)
        t = np.arccos(c)
        k_next = sw2 / (2 * np.pi) * np.outer(dg, dg) * (np.sin(t) + (np.pi - t) * c)
        kdot = sw2 * (np.pi - t) / (2 * np.pi)
        theta = kdot * (k + theta)
        k = k_next
    return k, k + theta


@pytest.mark.parametrize("kind", ["exact", "independent-branch", "path-sum"])
@pytest.mark.parametrize("depth", [1, 3])
def test_chain_nngp_is_the_arc_cosine_recursion(rng, kind, depth):
    x = rng.standard_normal((9, 4))
    k_ref, ntk_ref = relu_chain(x, depth)
    k = archconv.KernelFn(archconv.Dag.chain(depth), kind=kind)
    close(k.nngp(x), k_ref)
    if kind != "path-sum":
        close(k.ntk(x), ntk_ref)


def test_cross_blocks_are_blocks_of_the_joint_kernel(rng):
    x1, x2 = rng.standard_normal((7, 5)), rng.standard_normal((4, 5))
    k = archconv.KernelFn(archconv.Dag.paper(3), lift="relu-stem")
    joint = k.nngp(np.vstack([x1, x2]))
    cross = k.nngp(x1, x2)
    assert np.abs(cross - joint[:7, 7:]).max() <= REL * np.diag(joint).max()
    tj = k.ntk(np.vstack([x1, x2]))
    assert np.abs(k.ntk(x1, x2) - tj[:7, 7:]).max() <= REL * np.diag(tj).max()
    nodes = k.nodes(x1, x2)
    assert len(nodes) == archconv.Dag.paper(3).num_nodes
    np.testing.assert_allclose(nodes[-1]["gram"], cross, rtol=0, atol=REL * np.diag(joint).max())
    np.testing.assert_allclose(k.nngp_diag(x1), np.diag(joint)[:7], rtol=1e-13)


@pytest.mark.parametrize("dag", ["2_21_112", "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"])
@pytest.mark.parametrize("ntk", [False, True])
def test_kernels_equal_the_rust_command_line_tool(tmp_path, archconv_bin, rng, dag, ntk):
    x = rng.standard_normal((30, 6))
    csv = tmp_path / "x.csv"
    np.savetxt(csv, x, delimiter=",", fmt="%.17g")
    out = tmp_path / "k.npy"
    cmd = [archconv_bin, "kernel", dag, "--csv", str(csv), "-n", "30", "--lift", "relu-stem", "--out", str(out)]
    if ntk:
        cmd.append("--ntk")
    subprocess.run(cmd, check=True, capture_output=True)
    want = np.load(out)
    k = archconv.KernelFn(archconv.Dag.parse(dag), lift="relu-stem")
    got = k.ntk(x) if ntk else k.nngp(x)
    close(got, want)


def test_activations_and_variances_change_the_kernel_as_documented(rng):
    x = rng.standard_normal((6, 3))
    dag = archconv.Dag.chain(1).with_params("erf", 1.5, 0.1)
    k = archconv.KernelFn(dag).nngp(x)
    # Closed form of one erf layer (Williams 1997): (2/pi) asin(2 S12 / sqrt((1+2 S11)(1+2 S22)))
    xn = normalized(x)
    s = 1.5 * xn @ xn.T / 3 + 0.1
    d = 1 + 2 * np.diag(s)
    ref = 2 / np.pi * np.arcsin(2 * s / np.sqrt(np.outer(d, d)))
    close(k, ref)


def test_spectra_equal_numpy(rng):
    k = archconv.KernelFn(archconv.Dag.paper(2)).nngp(rng.standard_normal((300, 8)))
    ev = np.linalg.eigvalsh(k)
    assert abs(archconv.lambda_min(k) - ev[0]) <= 1e-12 * ev[-1]
    assert abs(archconv.lambda_max(k) - ev[-1]) <= 1e-12 * ev[-1]
    np.testing.assert_allclose(archconv.eigenvalues(k), ev, rtol=0, atol=1e-12 * ev[-1])
    s = archconv.spectrum_summary(k)
    assert abs(s["lambda_min"] - ev[0]) <= 1e-12 * ev[-1]


def test_predictions_equal_the_linear_algebra(rng):
    x, xt = rng.standard_normal((40, 5)), rng.standard_normal((10, 5))
    y = archconv.one_hot(list(rng.integers(0, 3, 40)), 3)
    k = archconv.KernelFn(archconv.Dag.paper(3), lift="relu-stem")
    ktr, kte = k.nngp(x), k.nngp(xt, x)
    mean, var, jitter = archconv.nngp_posterior(ktr, y, kte, np.diag(k.nngp(xt)).copy(), noise=1e-3)
    a = np.linalg.solve(ktr + 1e-3 * np.eye(40), y)
    np.testing.assert_allclose(mean, kte @ a, rtol=1e-9, atol=1e-10)
    vref = np.diag(k.nngp(xt)) - np.einsum("ij,ji->i", kte, np.linalg.solve(ktr + 1e-3 * np.eye(40), kte.T))
    np.testing.assert_allclose(var, vref, rtol=1e-8, atol=1e-10)
    th, tht = k.ntk(x), k.ntk(xt, x)
    dyn = archconv.NtkDynamics(th, y)
    np.testing.assert_allclose(dyn.train_mean(), y, atol=1e-8)
    np.testing.assert_allclose(dyn.test_mean(tht), tht @ np.linalg.solve(th, y), rtol=1e-7, atol=1e-8)
    # Gradient flow df/dt = -Theta (f - y) from f_0 = 0: f_t = y - Q exp(-lambda t) Q^T y.
    lam, q = np.linalg.eigh(th)
    t = 0.05
    ref = y - q @ (np.exp(-t * lam)[:, None] * (q.T @ y))
    np.testing.assert_allclose(dyn.train_mean(t=t), ref, rtol=1e-9, atol=1e-10)
    assert dyn.max_stable_lr == pytest.approx(2 / lam[-1], rel=1e-10)
    r = y - ref
    assert dyn.loss_curve([t])[0] == pytest.approx(0.5 * float((r * r).sum()), rel=1e-9)


def test_path_statistics_closed_forms():
    # dbar = sum_p d_p / P and mbar = #{p : d_p > 0} / dbar (PAPER.md section 3).
    # A chain: one path of depth L.
    s = archconv.Dag.chain(5).path_stats()
    assert (s.num_paths, s.effective_depth, s.effective_width) == (1, 5.0, 0.2)
    # DAG#3 (MLP code 2_21_112): paths of depth 0 (the skip 0 -> 3), 1, 2, 2:
    # dbar = 5/4, mbar = 3 / (5/4) = 12/5.
    s = archconv.Dag.paper(3).path_stats()
    assert s.num_paths == 4 and s.histogram == [1, 1, 2] and s.depth_sum == 5
    assert s.effective_depth_exact == (5, 4) and s.effective_width_exact == (12, 5)
    # The complete DAG on n nodes has 2^(n-2) paths: past u128 for n = 140, still exact.
    edges = [[i, j, "linear"] for i in range(140) for j in range(i + 1, 140)]
    big = archconv.Dag.parse(json.dumps({"nodes": 140, "edges": edges}))
    assert big.path_stats().num_paths == 2 ** 138
    # No path: depth and width are None, with a reason.
    none = archconv.Dag.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").path_stats()
    assert none.num_paths == 0 and none.effective_depth is None and "path" in none.undefined


def test_monte_carlo_converges_to_the_exact_kernel(rng):
    x = rng.standard_normal((12, 4))
    dag = archconv.Dag.paper(3)
    r = archconv.monte_carlo(dag, x, width=2048, seeds=8, seed=3)
    exact = archconv.KernelFn(dag).nngp(x)
    # Per entry, the mean Gram is within 6 standard errors of the exact kernel (Gaussian
    # tails: a false alarm on any of 78 entries has probability below 1e-6) plus the
    # 1/m bias of a finite width (entries are O(1); 4/m covers it).
    se = r["gram_se"]
    assert np.all(np.abs(r["gram"] - exact) <= 6 * se + 4 / 2048)
    # The exact rule is the closest of the three (the others differ at O(1)).
    c = r["comparisons"]
    assert c["exact"]["rel_frobenius_of_mean"] < min(c["path-sum"]["rel_frobenius_of_mean"], c["independent-branch"]["rel_frobenius_of_mean"])
    # Reproducible: the same seed, the same numbers.
    again = archconv.monte_carlo(dag, x, width=2048, seeds=8, seed=3)
    assert np.array_equal(again["gram"], r["gram"])


def test_nb201_helpers(data_dir):
    cells = archconv.nb201_cells()
    assert len(cells) == 15625 and len(set(cells)) == 15625
    pts = archconv.nb201_points()
    assert [p[0] for p in pts] == cells
    for arch, d, m in pts[:300]:
        s = archconv.Dag.parse(arch).path_stats()
        if d is None:  # undefined: no path, or zero depth (skip-only paths)
            assert s.undefined is not None
        else:
            assert d == s.effective_depth and m == s.effective_width
    (cd, cm), (rd, rm) = archconv.nb201_filter()
    assert rd > 0 and rm > 0
    acc = archconv.nb201_accuracies(str(data_dir))
    assert len(acc["arch"]) == len(acc["cifar10"]) > 1000
    assert all(0 <= a <= 100 for a in acc["cifar100"])


def test_the_gil_is_released_while_rust_computes(rng):
    k = archconv.KernelFn(archconv.Dag.paper(3))
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.01)
    # Larger sets until one call lasts long enough to tell (the output-only NTK of 2,500
    # points can take under 50 ms on a fast machine).
    for n in (2500, 5000, 8000):
        x = rng.standard_normal((n, 16))
        start = time.perf_counter()
        k.ntk(x)
        end = time.perf_counter()
        if end - start > 0.05:
            break
    stop.set()
    t.join()
    during = [s for s in ticks if start < s < end]
    # With the GIL held, the counting thread could not run during the call at all.
    assert end - start > 0.05, "the call was too short to tell"
    assert len(during) >= 5, f"{len(during)} ticks in a {end - start:.3f} s call"
