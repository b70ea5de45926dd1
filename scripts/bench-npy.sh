#!/usr/bin/env bash
# Tiled `.npy` kernel against the in-memory recursion at the same N (issue 14, item 2):
# DAG#3, exact NNGP, dense lift, d = 64, f64. Alternates the two in one session (these
# machines are noisy) and prints each pair's ratio (.npy over in-memory) and the median.
#   scripts/bench-npy.sh [N] [PAIRS]      defaults: N = 12000, 7 pairs
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-12000}
pairs=${2:-7}
cargo build --release --quiet --bin archconv --example kernel_once
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ratios=()
for p in $(seq 1 "$pairs"); do
  mem_ms=$(target/release/examples/kernel_once "$n" exact 1 | awk '/^exact/ {print $2}')
  rm -f "$out/K.npy"
  # The CLI reports the kernel's own time ("in 2.87 s" or "in 102 ms"), as kernel_once does.
  npy_ms=$(target/release/archconv kernel 2_21_112 -n "$n" --dim 64 --out "$out/K.npy" 2>/dev/null \
          | grep -oE 'in [0-9.]+ m?s:' | awk '{print ($3 == "ms:") ? $2 : $2 * 1000}')
  r=$(awk -v a="$npy_ms" -v b="$mem_ms" 'BEGIN {printf "%.3f", a / b}')
  echo "pair $p: in-memory $mem_ms ms, .npy $npy_ms ms, ratio $r"
  ratios+=("$r")
done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "N = %d: median ratio %.3f (range %.3f-%.3f over %d pairs)\n", '"$n"', m, v[1], v[NR], NR}'
