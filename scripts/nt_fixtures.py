#!/usr/bin/env python3
"""Writes tests/fixtures/neural_tangents.json: NNGP and NTK values computed by
neural-tangents for small DAG networks, so that the Rust tests compare archconv's
closed forms with an independent implementation without needing Python.

Run with the peer environment (scripts/peers/run.sh creates it):
    .venv-peers/bin/python scripts/nt_fixtures.py

Network model (archconv's, issue 13): a dense lift `x0 = sqrt(sw2_lift / d) W0 x +
sqrt(sb2_lift) b0` (no activation), then for every node the sum over its in-edges of
`phi(sqrt(sw2 / m) W x^s + sqrt(sb2) b)` (linear edge) or `x^s` (skip edge); the NTK adds
a readout `v . x^H / sqrt(m)` (no bias) and trains every weight and bias (NTK
parameterisation). neural-tangents builds the DAG as a stax tree (shared sub-DAGs
repeated) with FanInSum forced on post-activation branches: its kernels are archconv's
independent-branch kernels, and equal the exact ones on chains. Inputs are stored already
scaled to ||x_i||^2 = d, as archconv's `Inputs::from_data` scales them.
"""
import datetime
import json
import os
import sys
import warnings

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402

warnings.filterwarnings("ignore", message=".*FanIn. layers assume independent inputs.*")
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The paper's DAGs #1-#3 as archconv's MLP codes (node 0 is the input).
DAGS = ["2_02_002", "1_01_222", "2_21_112"]


def mlp_code_edges(code):
    """archconv's MLP code: groups of digits per target node t = 1, 2, 3; digit s of
    group t-1 is the op of edge s -> t (0 zero, 1 skip, 2 linear)."""
    ops = {"0": "zero", "1": "skip", "2": "linear"}
    edges = []
    for t, group in enumerate(code.split("_"), start=1):
        for s, ch in enumerate(group):
            if ops[ch] != "zero":
                edges.append((s, t, ops[ch]))
    return edges


ACTIVATIONS = {
    "relu": (lambda: stax.Relu(), {}),
    "leaky_relu": (lambda: stax.LeakyRelu(0.1), {"alpha": 0.1}),
    "abrelu": (lambda: stax.ABRelu(-0.5, 1.5), {"a": -0.5, "b": 1.5}),
    "abs": (lambda: stax.Abs(), {}),
    "erf": (lambda: stax.Erf(), {"a": 1.0, "b": 1.0, "c": 0.0}),
    "gelu": (lambda: stax.Gelu(approximate=False), {}),
}


def fan_in_sum_forced():
    init_fn, apply_fn, kernel_fn = stax.FanInSum()

    def kf(ks, **kwargs):
        return kernel_fn([k.replace(is_gaussian=True) for k in ks], **kwargs)

    kf.__dict__.update(kernel_fn.__dict__)
    return init_fn, apply_fn, kf


def network(edges, act, sw2, sb2, sw2_lift, sb2_lift, width=512):
    ins = {}
    for f, t, op in edges:
        ins.setdefault(t, []).append((f, op))
    out = max(t for _, t, _ in edges)
    bstd = lambda v: None if v == 0 else float(np.sqrt(v))  # noqa: E731

    def node(t):
        if t == 0:
            return stax.Identity()
        branches = []
        for f, op in ins[t]:
            edge = stax.serial(stax.Dense(width, W_std=float(np.sqrt(sw2)), b_std=bstd(sb2)), ACTIVATIONS[act][0]()) \
                if op == "linear" else stax.Identity()
            branches.append(stax.serial(node(f), edge))
        if len(branches) == 1:
            return branches[0]
        return stax.serial(stax.FanOut(len(branches)), stax.parallel(*branches), fan_in_sum_forced())

    return stax.serial(stax.Dense(width, W_std=float(np.sqrt(sw2_lift)), b_std=bstd(sb2_lift)), node(out),
                       stax.Dense(1, W_std=1.0, b_std=None))


def main():
    rng = np.random.default_rng(20261201)
    n, d = 6, 5
    x = rng.standard_normal((n, d))
    x = x * np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    # Two nearly parallel points make the kernels' arc-cosine maps work near C = 1.
    x[5] = x[4] + 1e-3 * rng.standard_normal(d)
    x[5] *= np.sqrt(d) / np.linalg.norm(x[5])
    cases = []
    settings = [(2.0, 0.0, 1.0, 0.0), (1.5, 0.1, 1.0, 0.05)]
    for code in DAGS:
        edges = mlp_code_edges(code)
        for act in ACTIVATIONS:
            for sw2, sb2, sw2_lift, sb2_lift in settings:
                # With the readout Dense(1, W_std 1, no bias), neural-tangents' NNGP is the
                # output node's kernel and its NTK includes the readout term.
                _, _, kf = network(edges, act, sw2, sb2, sw2_lift, sb2_lift)
                full = kf(x, None, ("nngp", "ntk"))
                cases.append({
                    "dag": code,
                    "chain": all(op == "linear" for _, _, op in edges) and len(edges) == max(t for _, t, _ in edges),
                    "activation": act,
                    "activation_params": ACTIVATIONS[act][1],
                    "sw2": sw2, "sb2": sb2, "lift": "dense", "sw2_lift": sw2_lift, "sb2_lift": sb2_lift,
                    "nngp": np.asarray(full.nngp).tolist(),
                    "ntk": np.asarray(full.ntk).tolist(),
                })
    meta = {
        "generator": "scripts/nt_fixtures.py",
        "date": datetime.date.today().isoformat(),
        "versions": {"neural-tangents": nt.__version__ if hasattr(nt, "__version__") else "0.6.5",
                     "jax": jax.__version__, "numpy": np.__version__, "python": sys.version.split()[0]},
        "x64": True,
        "model": "see scripts/nt_fixtures.py: dense lift, phi(sqrt(sw2/m) W x + sqrt(sb2) b) per linear edge, "
                 "skip = identity, node = FanInSum (forced), readout Dense(1, W_std 1, no bias); "
                 "nngp/ntk are of the readout output (NNGP = output node's kernel)",
        "notes": "neural-tangents keeps the arc-cosine angle of the diagonal near sqrt(eps), "
                 "so its ReLU-family NTK diagonals are low by about 1e-8 relative",
    }
    path = os.path.join(root, "tests", "fixtures", "neural_tangents.json")
    with open(path, "w") as f:
        json.dump({"meta": meta, "x": x.tolist(), "cases": cases}, f, indent=0)
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
