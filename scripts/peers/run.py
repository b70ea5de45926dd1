#!/usr/bin/env python3
"""Peer harness (issue 15): archconv against neural-tangents, NumPy and SciPy, in one run.

Run it through scripts/peers/run.sh, which creates the pinned environment, builds the Rust
side (examples/peers.rs) and starts this script with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset (for this command only), so that NumPy and SciPy run the BLAS
kernel the CPU supports.

Each workload runs ROUNDS times, alternating: archconv (a fresh process: one warm-up
call, then REPS timed calls) and then each peer in this process (one warm-up call, then
REPS timed calls; jit-compiled functions for neural-tangents). Ratios are peer / archconv
medians of the same round. Agreement is checked as the run goes: where the math is the
same, the matrices must agree to 1e-12 relative to their largest entry, and lambda_min to
1e-12 relative to lambda_max. The table is printed as Markdown and everything is written to
OUT/peers.json.
"""
import json
import os
import platform
import subprocess
import sys
import time

REPS = int(os.environ.get("PEERS_REPS", "5"))
ROUNDS = int(os.environ.get("PEERS_ROUNDS", "2"))
D = 32
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target", "peers")
exe = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "target", "release", "examples", "peers")
os.makedirs(out, exist_ok=True)

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg  # noqa: E402
import threadpoolctl  # noqa: E402
import warnings  # noqa: E402
import jax  # noqa: E402

warnings.filterwarnings("ignore", message=".*FanIn. layers assume independent inputs.*")

jax.config.update("jax_enable_x64", True)
import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402

load_start = os.getloadavg()


def rust(args):
    p = subprocess.run([exe] + args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"archconv side failed: {' '.join(args)}\n{p.stderr}")
    return p.stdout


def dag_file(name):
    return os.path.join(out, f"{name}.json")


rust(["dags", out])
dags = {k: json.load(open(dag_file(k))) for k in ("DAG1", "DAG2", "DAG3")}
codes = {k: v["code"] for k, v in dags.items()}


def inputs(n):
    path = os.path.join(out, f"x{n}.npy")
    if not os.path.exists(path):
        rust(["inputs", str(n), str(D), "0", path])
    x = np.load(path)
    # archconv scales every row to ||x_i||^2 = d (Inputs::from_data).
    return x * np.sqrt(D) / np.linalg.norm(x, axis=1, keepdims=True)


def fan_in_sum_forced():
    """stax.FanInSum that accepts post-ReLU (non-Gaussian) branches: it marks each
    branch's kernel Gaussian and adds them, the independent-branch rule (neural-tangents
    refuses FanInSum of non-Gaussian inputs otherwise)."""
    init_fn, apply_fn, kernel_fn = stax.FanInSum()

    def kf(ks, **kwargs):
        return kernel_fn([k.replace(is_gaussian=True) for k in ks], **kwargs)

    kf.__dict__.update(kernel_fn.__dict__)
    return init_fn, apply_fn, kf


def stax_dag(dag, width=512, readout=False):
    """The DAG as a stax network: dense lift (W_std 1), linear edges Dense(W_std sqrt 2) +
    Relu, skip edges Identity, a node = FanInSum over its in-edges. Shared sub-DAGs are
    repeated (stax is a tree), which neural-tangents' kernels do not mind (the same
    kernel, computed again); branches get independent weights, so this is our
    independent-branch network."""
    ins = {}
    for f, t, op in dag["edges"]:
        if op != "zero":
            ins.setdefault(t, []).append((f, op))

    def node(t):
        if t in dag["inputs"]:
            return stax.Identity()
        branches = []
        for f, op in ins.get(t, []):
            edge = stax.serial(stax.Dense(width, W_std=np.sqrt(2.0), b_std=None), stax.Relu()) if op == "linear" else stax.Identity()
            branches.append(stax.serial(node(f), edge))
        if len(branches) == 1:
            return branches[0]
        return stax.serial(stax.FanOut(len(branches)), stax.parallel(*branches), fan_in_sum_forced())

    layers = [stax.Dense(width, W_std=1.0, b_std=None), node(dag["output"])]
    if readout:
        layers.append(stax.Dense(1, W_std=1.0, b_std=None))
    return stax.serial(*layers)


def timed(f, reps=REPS):
    t = time.perf_counter()
    r = f()
    first = time.perf_counter() - t
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        r = f()
        times.append(time.perf_counter() - t)
    return first, times, r


def median(v):
    return sorted(v)[len(v) // 2]


def nt_kernel(dag, get, readout=False):
    _, _, kf = stax_dag(dag, readout=readout)
    kf = jax.jit(kf, static_argnames="get")

    def run(x):
        return np.asarray(kf(x, None, get).block_until_ready())

    return run


def numpy_explicit_mc(dag, x, m, rng):
    """One finite network sampled the explicit way in NumPy (float32 like archconv's
    default): every m x m weight matrix drawn and multiplied. Returns the output Gram."""
    n, d = x.shape
    xs = {}
    z0 = (rng.standard_normal((m, d), dtype=np.float32) @ x.T.astype(np.float32)) / np.sqrt(d)
    ins = {}
    for f, t, op in dag["edges"]:
        if op != "zero":
            ins.setdefault(t, []).append((f, op))
    for t in range(dag["nodes"]):
        if t in dag["inputs"]:
            xs[t] = z0
            continue
        acc = np.zeros((m, n), dtype=np.float32)
        for f, op in ins.get(t, []):
            if op == "skip":
                acc += xs[f]
            else:
                w = rng.standard_normal((m, m), dtype=np.float32)
                acc += np.sqrt(np.float32(2.0)) * np.maximum(w @ xs[f] / np.sqrt(m), 0)
        xs[t] = acc
    h = xs[dag["output"]].astype(np.float64)
    return h.T @ h / m


def rel_max(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


rows = []


def record(name, ours, peers, agree=None):
    rows.append({"workload": name, "ours": ours, "peers": peers, "agreement": agree})
    r = rows[-1]
    print(f"  {name}: ours {[round(o['median_s'], 4) for o in ours]}, "
          + ", ".join(f"{p} {[round(v, 4) for v in t]}" for p, t in peers.items())
          + (f", agreement {agree}" if agree else ""), flush=True)
    return r


def ours(workload, code, n, path_out):
    line = rust([workload, code, os.path.join(out, f"x{n}.npy"), str(REPS), path_out])
    return json.loads(line)


def nngp_row(name, dag_key, n, agree_with):
    x = inputs(n)
    dag = dags[dag_key]
    peer = nt_kernel(dag, "nngp")
    ours_runs, peer_med, agree = [], [], {}
    for _ in range(ROUNDS):
        runs = {}
        for w in ("nngp-exact", "nngp-indep") if dag_key != "DAG1" else ("nngp-exact",):
            p = os.path.join(out, f"{w}-{dag_key}-{n}.npy")
            runs[w] = (ours(w, codes[dag_key], n, p), p)
        ours_runs.append({w: r[0] for w, r in runs.items()})
        first, times, k_nt = timed(lambda: peer(x))
        peer_med.append(median(times))
        for w, (_, p) in runs.items():
            if w == agree_with:
                agree[w] = rel_max(np.load(p), k_nt)
    ok = all(v <= 1e-12 for v in agree.values())
    # One row per rule of ours against the same neural-tangents times (agreement is
    # checked for the rule whose math is neural-tangents').
    for w in ours_runs[0]:
        flat = [{"median_s": r[w]["median_s"], "first_s": r[w]["first_s"], "peak_mib": r[w].get("peak_mib"), "all": r} for r in ours_runs]
        label = name if w == agree_with else name.split(" (")[0] + f" (ours {w.split('-')[1]})"
        row = record(label, flat, {"neural-tangents": peer_med},
                     {k: f"{v:.1e}" for k, v in agree.items()} if w == agree_with else None)
        if w == agree_with:
            row["agreement_ok"] = ok
    return row


print(f"# peer harness, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load_start}")
print(json.dumps(threadpoolctl.threadpool_info(), indent=1))
nngp_row("NNGP DAG#1, N = 4000 (exact = NT)", "DAG1", 4000, "nngp-exact")
nngp_row("NNGP DAG#3, N = 4000 (independent-branch = NT)", "DAG3", 4000, "nngp-indep")
nngp_row("NNGP DAG#3, N = 1000 (independent-branch = NT)", "DAG3", 1000, "nngp-indep")

for n in (1000, 4000):
    inputs(n)
    ours_runs, np_med, sp_med, agree = [], [], [], {}
    for _ in range(ROUNDS):
        p = os.path.join(out, f"lambda-min-{n}.npy")
        r = ours("lambda-min", codes["DAG3"], n, p)
        ours_runs.append(r)
        k = np.load(p)
        _, t, ev = timed(lambda: np.linalg.eigvalsh(k))
        np_med.append(median(t))
        if n == 4000:
            _, t, ev1 = timed(lambda: scipy.linalg.eigh(k, eigvals_only=True, subset_by_index=[0, 0]))
            sp_med.append(median(t))
        agree["numpy"] = abs(r["value"] - ev[0]) / ev[-1]
    peers = {"numpy eigvalsh": np_med}
    if sp_med:
        peers["scipy eigh subset [0, 0]"] = sp_med
    row = record(f"lambda_min, N = {n}", ours_runs, peers, {k: f"{v:.1e}" for k, v in agree.items()})
    row["agreement_ok"] = all(v <= 1e-12 for v in agree.values())

ours_runs, np_med, agree = [], [], {}
for _ in range(ROUNDS):
    p = os.path.join(out, "spectrum-4000.npy")
    r = ours("spectrum", codes["DAG3"], 4000, p)
    ours_runs.append(r)
    k = np.load(p)
    _, t, ev = timed(lambda: np.linalg.eigvalsh(k))
    np_med.append(median(t))
    agree["numpy"] = abs(r["value"] - ev[0]) / ev[-1]
row = record("full spectrum, N = 4000", ours_runs, {"numpy eigvalsh": np_med}, {k: f"{v:.1e}" for k, v in agree.items()})
row["agreement_ok"] = all(v <= 1e-12 for v in agree.values())

for n in (1000, 4000):
    x = inputs(n)
    peer = nt_kernel(dags["DAG1"], "ntk", readout=True)
    ours_runs, nt_med, agree = [], [], {}
    for _ in range(ROUNDS):
        p = os.path.join(out, f"ntk-{n}.npy")
        r = ours("ntk-exact", codes["DAG1"], n, p)
        ours_runs.append(r)
        _, t, th = timed(lambda: peer(x))
        nt_med.append(median(t))
        ours_th = np.load(p)
        off = ~np.eye(n, dtype=bool)
        scale = np.max(np.abs(th))
        agree["off-diagonal"] = float(np.max(np.abs(ours_th - th)[off]) / scale)
        # neural-tangents keeps the cosine of the ReLU's derivative map away from 1, so its
        # diagonal is low by about 1e-8 relative (ours: fdot(1) = 1 exactly).
        agree["diagonal"] = float(np.max(np.abs(np.diag(ours_th) - np.diag(th))) / scale)
    row = record(f"exact NTK DAG#1, N = {n}", ours_runs, {"neural-tangents": nt_med}, {k: f"{v:.1e}" for k, v in agree.items()})
    row["agreement_ok"] = agree["off-diagonal"] <= 1e-12 and agree["diagonal"] <= 1e-7

x = inputs(64)
rng = np.random.default_rng(0)
init_fn, apply_fn, _ = stax_dag(dags["DAG3"], width=4096)
mc_nt = nt.monte_carlo_kernel_fn(init_fn, apply_fn, jax.random.PRNGKey(0), n_samples=1, implementation=1)
ours_runs, np_med, nt_med = [], [], []
for _ in range(ROUNDS):
    ours_runs.append(ours("mc", codes["DAG3"], 64, os.path.join(out, "mc-64.npy")))
    _, t, _ = timed(lambda: numpy_explicit_mc(dags["DAG3"], x, 4096, rng))
    np_med.append(median(t))
    _, t, _ = timed(lambda: np.asarray(mc_nt(x, None, "nngp")))
    nt_med.append(median(t))
record("Monte Carlo DAG#3, N = 64, m = 4096, per network (ours: conditional f32)", ours_runs,
       {"NumPy explicit f32": np_med, "NT monte_carlo_kernel_fn": nt_med})

load_end = os.getloadavg()
print(f"\n## Peers, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.processor() or platform.machine()}, "
      f"{os.cpu_count()} cores, load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end")
print(f"numpy {np.__version__}, scipy {scipy.__version__}, jax {jax.__version__}, neural-tangents 0.6.5; "
      f"BLAS: " + "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} {i.get('num_threads')} threads" for i in threadpoolctl.threadpool_info()))
print(f"{ROUNDS} rounds, each: archconv then the peers, median of {REPS} calls after one warm-up.\n")
print("| workload | peer | peer median | archconv median | peer / archconv | archconv first call | archconv peak RSS | agreement |")
print("|---|---|---|---|---|---|---|---|")
fails = []
for r in rows:
    o = [v["median_s"] for v in r["ours"]]
    first = max(v["first_s"] for v in r["ours"])
    peaks = [v.get("peak_mib") for v in r["ours"] if v.get("peak_mib") is not None]
    peak = f"{max(peaks)} MiB" if peaks else "-"
    for p, t in r["peers"].items():
        ratios = [a / b for a, b in zip(t, o)]
        print(f"| {r['workload']} | {p} | {min(t) * 1e3:.1f}-{max(t) * 1e3:.1f} ms | {min(o) * 1e3:.1f}-{max(o) * 1e3:.1f} ms | "
              f"{min(ratios):.2f}-{max(ratios):.2f} | {first * 1e3:.0f} ms | {peak} | "
              f"{', '.join(f'{k} {v}' for k, v in (r['agreement'] or {}).items()) or '-'} |")
    if r.get("agreement_ok") is False:
        fails.append(r["workload"])
json.dump({"rows": rows, "load": [load_start, load_end], "threadpool": threadpoolctl.threadpool_info()},
          open(os.path.join(out, "peers.json"), "w"), indent=1)
if fails:
    sys.exit(f"agreement beyond 1e-12: {fails}")
