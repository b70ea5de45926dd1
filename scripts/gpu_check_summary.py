#!/usr/bin/env python3
"""Summary of a scripts/gpu-check.sh run: reads the JSON and text files it wrote into
OUTDIR and prints Markdown tables (the README's GPU figures come from this output).
Missing or unreadable files (a step that was skipped, timed out or did not fit, or the
dry run) are reported as such, never fatal."""
import json
import os
import re
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "gpu-check-out"


def load(name):
    p = os.path.join(out, name)
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def text(name):
    try:
        with open(os.path.join(out, name)) as f:
            return f.read()
    except OSError:
        return ""


def tflops(name):
    m = re.search(r"([0-9.]+) TFLOP/s", text(name))
    return float(m.group(1)) if m else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


summary = load("summary.json") or {}
steps = summary.get("steps", {})
print(f"# GPU check ({summary.get('mode', '?')}, {summary.get('date', '?')}, {summary.get('seconds', '?')} s)\n")
probe = load("probe.json")
if probe:
    dev = probe["device"]
    print(f"GPU: {dev['name']} (compute {dev['compute_capability'][0]}.{dev['compute_capability'][1]}), "
          f"{dev['total_bytes'] / 2**30:.1f} GiB, {probe['free_bytes'] / 2**30:.1f} GiB free; "
          f"roots on {'the device' if probe['cusolver_missing'] is None else 'the host: ' + probe['cusolver_missing']}\n")
    print("| N | largest width (DAG#3, conditional, f32) | largest power of two |")
    print("|---|---|---|")
    for f in probe["fits"]:
        print(f"| {f['points']} | {f['largest_width']} | {f['largest_power_of_two']} |")
    print()
else:
    print(f"probe: {steps.get('probe', 'no result')}\n")


def result(name):
    d = load(name)
    return d["result"] if d and "result" in d else None


cpu = {k: result(f"cpu-{k}.json") for k in ("14-256", "20-1024")}
print("## Conditional sampler, f32, DAG#3 (2 networks)\n")
print("| m | N | s / network | GEMM TFLOP/s | peak / estimated device GiB | roots device / host | CPU s / network | GPU speed-up |")
print("|---|---|---|---|---|---|---|---|")
for lm in (14, 16, 18, 20):
    for n in (256, 1024, 4096):
        key = f"cond-{lm}-{n}"
        r = result(f"bench-{key}.json")
        if r is None:
            print(f"| 2^{lm} | {n} | {steps.get(key, 'no result')} | | | | | |")
            continue
        spn = r["seconds_per_network"]
        g = r.get("gpu") or {}
        tf = g.get("gemm_flops_per_network", 0) / spn / 1e12 if spn > 0 else None
        c = cpu.get(f"{lm}-{n}")
        cs = c["seconds_per_network"] if c else None
        print(f"| 2^{lm} | {n} | {spn:.4f} | {fmt(tf, '.1f')} | "
              f"{g.get('peak_device_bytes', 0) / 2**30:.2f} / {g.get('estimated_device_bytes', 0) / 2**30:.2f} | "
              f"{g.get('roots_on_device', '-')} / {g.get('roots_on_host', '-')} | {fmt(cs, '.3f')} | "
              f"{fmt(cs / spn if cs else None, '.1f')}{'x' if cs else ''} |")
peak = tflops("gemm-cond-20-1024.txt")
print(f"\ncuBLAS SGEMM 2^20 x 1024 x 1024: {fmt(peak, '.1f')} TFLOP/s\n")

print("## Explicit sampler, f32, DAG#3 (1 network) against cuBLAS SGEMM of its product's shape\n")
print("| m | N | s / network | GEMM TFLOP/s | SGEMM TFLOP/s (m x N x b) | fraction |")
print("|---|---|---|---|---|---|")
for lm, n in ((14, 1024), (16, 1024)):
    key = f"expl-{lm}-{n}"
    r = result(f"bench-{key}.json")
    pk = tflops(f"gemm-{lm}-{n}.txt")
    if r is None:
        print(f"| 2^{lm} | {n} | {steps.get(key, 'no result')} | | {fmt(pk, '.1f')} | |")
        continue
    spn = r["seconds_per_network"]
    g = r.get("gpu") or {}
    tf = g.get("gemm_flops_per_network", 0) / spn / 1e12 if spn > 0 else None
    frac = tf / pk if (tf and pk) else None
    print(f"| 2^{lm} | {n} | {spn:.4f} | {fmt(tf, '.1f')} | {fmt(pk, '.1f')} | {fmt(frac, '.0%')} |")

e2e = result("e2e.json")
if e2e:
    err = {c["kind"]: c["rel_frobenius_of_mean"] for c in e2e["comparisons"]}
    print(f"\nEnd to end (m = 2^16, N = 64, 4 networks): relative error of the mean Gram "
          f"{err.get('exact', float('nan')):.4f} vs the exact kernel, "
          f"{err.get('path-sum', float('nan')):.4f} vs the path-sum kernel")
tests = text("tests.log")
m = re.findall(r"test result: .*", tests)
print(f"\nTests: {m[-1] if m else steps.get('tests', 'no result')}")
print("\nSteps: " + ", ".join(f"{k} {v}" for k, v in sorted(steps.items())))
