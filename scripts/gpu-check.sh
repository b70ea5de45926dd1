#!/usr/bin/env bash
# GPU check of the CUDA Monte Carlo backend (issue 4), about 5 minutes on one GPU.
#
# Build on a machine without a GPU (the CUDA libraries are loaded at run time):
#   cargo build --release --features cuda
#   cargo test --release --features cuda --test montecarlo_cuda --no-run --message-format=json \
#     | python3 -c 'import sys,json;[print(j["executable"]) for j in map(json.loads,sys.stdin) if j.get("executable")]' \
#     | xargs -I{} cp {} .gpu-bin/montecarlo_cuda
#   mkdir -p .gpu-bin && cp target/release/archconv .gpu-bin/
# (or simply: scripts/gpu-check.sh --build). .gpu-bin/ is git-ignored.
# Then on the GPU machine, from the repository root: scripts/gpu-check.sh
#
# Steps: (1) probe + correctness tests (GPU vs CPU sampler z-tests, GPU vs exact kernel,
# reproducibility); (2) CLI end-to-end check against the exact kernel; (3) benchmark at
# m = 2^14..2^20, N = 256..4096 (m N <= 2^28 so that DAG#3's buffers fit): seconds per
# network, achieved TFLOP/s (16 m N^2 flops per DAG#3 network: four E L^T products and
# four Grams), cuBLAS SGEMM TFLOP/s of the same shape, and speed-up over the CPU
# conditional sampler at the smallest sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.gpu-bin

if [[ "${1:-}" == "--build" ]]; then
  mkdir -p "$BIN"
  cargo build --release --features cuda
  cp target/release/archconv "$BIN/"
  exe=$(cargo test --release --features cuda --test montecarlo_cuda --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import sys,json
for l in sys.stdin:
    j=json.loads(l)
    if j.get("executable"): print(j["executable"])' | tail -1)
  cp "$exe" "$BIN/montecarlo_cuda"
  echo "built $BIN/archconv and $BIN/montecarlo_cuda"
  exit 0
fi

[[ -x $BIN/archconv && -x $BIN/montecarlo_cuda ]] || { echo "missing $BIN binaries: run scripts/gpu-check.sh --build first" >&2; exit 2; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
DAG=2_21_112
json_field() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }

echo "== 1. correctness tests (GPU vs CPU, vs exact kernel, reproducibility)"
timeout 150 "$BIN/montecarlo_cuda" --nocapture --test-threads 1

echo "== 2. CLI end to end: relative Frobenius error to the exact kernel at m = 2^16, N = 64"
out=$(timeout 60 "$BIN/archconv" mc $DAG --device cuda --width 65536 --seeds 4 -n 64 --json)
err=$(echo "$out" | json_field '[c for c in d["result"]["comparisons"] if c["kind"]=="exact"][0]["rel_frobenius"]["mean"]')
ps=$(echo "$out" | json_field '[c for c in d["result"]["comparisons"] if c["kind"]=="path-sum"][0]["rel_frobenius"]["mean"]')
echo "error vs exact $err, vs path-sum $ps"
python3 -c "import sys; e=float('$err'); sys.exit(0 if e < 0.05 else 1)" || { echo "FAIL: GPU Gram too far from the exact kernel"; exit 1; }

echo "== 3. benchmark (DAG#3, conditional sampler, f32)"
printf "%8s %6s %12s %10s %12s %14s\n" m N "s/network" "TFLOP/s" "SGEMM TF/s" "vs CPU cond."
for lm in 14 16 18 20; do
  m=$((1 << lm))
  for N in 256 1024 4096; do
    (( m * N <= (1 << 28) )) || continue
    out=$(timeout 120 "$BIN/archconv" mc $DAG --device cuda --width $m -n $N --seeds 2 --json) || { echo "m=$m N=$N failed"; continue; }
    spn=$(echo "$out" | json_field 'd["result"]["seconds_per_network"]')
    tf=$(python3 -c "print(f'{16*$m*$N*$N/$spn/1e12:.2f}')")
    peak=$(timeout 30 "$BIN/archconv" mc $DAG --device cuda --gemm-peak $m,$N,$N | awk '{print $(NF-1)}')
    speed="-"
    if (( m * N * N <= (1 << 32) )); then
      cpu=$(timeout 120 "$BIN/archconv" mc $DAG --width $m -n $N --seeds 2 --json | json_field 'd["result"]["seconds_per_network"]')
      speed=$(python3 -c "print(f'{$cpu/$spn:.1f}x')")
    fi
    printf "%8d %6d %12.4f %10s %12s %14s\n" $m $N "$spn" "$tf" "$peak" "$speed"
  done
done
echo "== done"
