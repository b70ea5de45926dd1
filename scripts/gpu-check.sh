#!/usr/bin/env bash
# GPU check of the CUDA Monte Carlo backend (issues 4 and 19): one command, under 10
# minutes, for a GPU machine lent for a few minutes.
#
#   scripts/gpu-check.sh --build       build .gpu-bin/{archconv,montecarlo_cuda} (release,
#                                      --features cuda) on a machine without a GPU; carry
#                                      .gpu-bin (git-ignored) to the GPU machine
#   scripts/gpu-check.sh --build-dev   the same from the test profile (CI's dry run)
#   scripts/gpu-check.sh               on the GPU machine, from the repository root
#   scripts/gpu-check.sh --dry-run     without a GPU: runs every command line of the real
#                                      run; each must fail only because no GPU is there
#                                      ("CUDA backend unavailable") or, for the CPU runs,
#                                      because of a 1 MiB memory cap. A usage error (exit 2)
#                                      or any other failure fails the dry run. CI runs it.
#
# Results go to $OUT (or ./gpu-check-out): gpu-check.log (everything printed), one file
# per step (probe.json, tests.log, e2e.json, bench-*.json, cpu-*.json, gemm-*.txt), and
# summary.json / summary.md. Every step has its own time limit, and the limits sum to
# 550 s; a step is also cut to what is left of BUDGET seconds (default 560), so the whole
# command stays under 600 s. A step that times out or fails is recorded and the script goes on; it exits 1 if
# the probe, the tests or the end-to-end check failed. On a machine that should have a GPU
# (the default mode), a failing probe stops the script at once with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${GPU_BIN:-.gpu-bin}
MODE=run
case "${1:-}" in
  --build|--build-dev)
    mkdir -p "$BIN"
    if [[ $1 == --build ]]; then prof=(--release); else prof=(); fi
    # One build gives both: the test binary and the CLI it runs (same profile, features).
    exes=$(cargo test "${prof[@]}" --features cuda --test montecarlo_cuda --no-run --message-format=json 2>/dev/null \
      | python3 -c 'import sys,json
for l in sys.stdin:
    j=json.loads(l)
    t=j.get("target") or {}
    if j.get("executable") and t.get("name") in ("montecarlo_cuda", "archconv") and t.get("kind") in (["test"], ["bin"]):
        print(t["name"], j["executable"])')
    for name in archconv montecarlo_cuda; do
      exe=$(awk -v n=$name '$1 == n {print $2}' <<<"$exes" | tail -1)
      [[ -n $exe ]] || { echo "cannot find the $name binary in cargo's output" >&2; exit 1; }
      cp "$exe" "$BIN/$name" || exit 1
    done
    echo "built $BIN/archconv and $BIN/montecarlo_cuda (${prof[*]:-test profile})"
    exit 0 ;;
  --dry-run) MODE=dry ;;
  "") ;;
  *) echo "usage: scripts/gpu-check.sh [--build | --build-dev | --dry-run]" >&2; exit 2 ;;
esac

OUTDIR=${OUT:-gpu-check-out}
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu-check.log"
: >"$LOG"
say() { echo "$*" | tee -a "$LOG"; }
BUDGET=${BUDGET:-560}
T0=$SECONDS
FAILED=()
declare -A STATUS

[[ -x $BIN/archconv && -x $BIN/montecarlo_cuda ]] || { say "missing $BIN binaries: run scripts/gpu-check.sh --build first"; exit 2; }

# cudarc opens libcuda, libnvrtc, libcublas, libcurand and libcusolver by name: put every
# folder that holds CUDA 13 libraries on the loader path (a Python wheel's nvidia/cu13/lib,
# /usr/local/cuda*/lib64, the driver's folder).
libdirs=()
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64; do
  [[ -d $d ]] && libdirs+=("$d")
done
if command -v python3 >/dev/null; then
  while IFS= read -r d; do [[ -n $d ]] && libdirs+=("$d"); done < <(python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = set(site.getsitepackages() + [site.getusersitepackages()] + sys.path)
for r in sorted(p for p in roots if p and os.path.isdir(p)):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "cu13", "lib")) + glob.glob(os.path.join(r, "nvidia", "*", "lib"))):
        print(d)
PY
)
fi
for d in "${libdirs[@]}"; do
  compgen -G "$d/lib*.so*" >/dev/null && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
say "== gpu-check ($MODE), $(date -u +%FT%TZ), budget ${BUDGET}s"
say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
for lib in libcuda.so.1 libnvrtc.so.13 libcublas.so.13 libcurand.so.10 libcusolver.so.12; do
  where=$( (IFS=:; for d in $LD_LIBRARY_PATH; do [[ -e $d/$lib ]] && { echo "$d/$lib"; break; }; done) )
  [[ -z $where ]] && where=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l {print $NF; exit}')
  say "  $lib: ${where:-not found}"
done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG"

# step NAME LIMIT KIND FILE CMD...: runs CMD with a time limit (cut to what is left of the
# budget), stdout to $OUTDIR/FILE, stderr to the log. KIND: gpu (dry run: must fail only
# for want of a GPU), cpu (dry run: gets a 1 MiB memory cap, must be refused by it), any
# (dry run: must pass). Sets STATUS[NAME] to ok, failed (rc), timeout, refused or skipped.
step() {
  local name=$1 limit=$2 kind=$3 file=$4; shift 4
  local left=$((BUDGET - (SECONDS - T0)))
  if (( left < 5 )); then STATUS[$name]=skipped; say "-- $name: skipped (budget spent)"; return 1; fi
  (( limit > left )) && limit=$left
  local cmd=("$@")
  [[ $MODE == dry && $kind == cpu ]] && cmd+=(--memory-limit-mib 1)
  say "-- $name (limit ${limit}s): ${cmd[*]}"
  local err="$OUTDIR/.stderr" t=$SECONDS rc
  timeout "$limit" "${cmd[@]}" >"$OUTDIR/$file" 2>"$err"; rc=$?
  cat "$err" >>"$LOG"
  local took=$((SECONDS - t))
  if [[ $MODE == dry ]]; then
    local expected=0
    case "$kind:$rc" in
      any:0) expected=1 ;;
      # Unavailable for want of a GPU; a build without the feature is a failure.
      gpu:1) grep -q "CUDA backend unavailable" "$err" && ! grep -q "lacks the .cuda. feature" "$err" && expected=1 ;;
      cpu:1) grep -Eq "but the (memory )?cap is" "$err" && expected=1 ;;
    esac
    if [[ $expected == 1 ]]; then
      STATUS[$name]=ok; say "   ok (dry: rc $rc as expected, ${took}s)"; return 0
    fi
    STATUS[$name]="failed ($rc)"; FAILED+=("$name"); say "   DRY RUN FAILURE: rc $rc: $(tail -3 "$err")"; return 1
  fi
  if [[ $rc == 0 ]]; then STATUS[$name]=ok; say "   ok (${took}s)"; return 0; fi
  if [[ $rc == 124 ]]; then STATUS[$name]=timeout; say "   TIMEOUT after ${limit}s"; return 1; fi
  if grep -Eq "but the (memory )?cap is" "$err"; then STATUS[$name]=refused; say "   does not fit: $(grep -Em1 "but the (memory )?cap is" "$err")"; return 1; fi
  STATUS[$name]="failed ($rc)"; say "   FAILED rc $rc: $(tail -3 "$err")"; return 1
}
A="$BIN/archconv"
DAG=2_21_112

say "== 1. probe"
if ! step probe 20 gpu probe.json "$A" mc $DAG --device cuda --probe --json; then
  if [[ $MODE == run ]]; then
    say "FAIL: this machine should have a GPU, but the probe failed (see above); nothing else can run"
    exit 1
  fi
fi
cat "$OUTDIR/probe.json" >>"$LOG"

say "== 2. correctness tests (GPU vs CPU z-tests, exact kernel, ranks, memory, reproducibility)"
if [[ $MODE == dry ]]; then
  step tests-list 20 any tests-list.txt "$BIN/montecarlo_cuda" --include-ignored --list
  step tests 60 any tests.log "$BIN/montecarlo_cuda" --test-threads 1
else
  step tests 120 any tests.log "$BIN/montecarlo_cuda" --include-ignored --nocapture --test-threads 1 || FAILED+=(tests)
fi
tail -5 "$OUTDIR/tests.log" | tee -a "$LOG"

say "== 3. CLI end to end: m = 2^16, N = 64 against the exact kernel"
step e2e 30 gpu e2e.json "$A" mc $DAG --device cuda --width 65536 --seeds 4 -n 64 --json || { [[ $MODE == run ]] && FAILED+=(e2e); }
if [[ $MODE == dry ]]; then
  # The same check on a small CPU run, so that the JSON it reads (and summary.md's) is
  # exercised without a GPU.
  step e2e-cpu 30 any e2e.json "$A" mc $DAG --width 4096 --seeds 4 -n 16 --json
fi

say "== 4. conditional sampler, f32, DAG#3: seconds per network"
for lm in 14 16 18 20; do
  for N in 256 1024 4096; do
    step "cond-$lm-$N" 15 gpu "bench-cond-$lm-$N.json" "$A" mc $DAG --device cuda --width $((1 << lm)) -n $N --seeds 2 --json
  done
done

say "== 5. explicit sampler against cuBLAS SGEMM of its shape"
for spec in "14 1024" "16 1024"; do
  read -r lm N <<<"$spec"; m=$((1 << lm)); b=$(( (1 << 28) / m )); (( b > m )) && b=$m
  step "expl-$lm-$N" 30 gpu "bench-expl-$lm-$N.json" "$A" mc $DAG --device cuda --sampler explicit --width $m -n $N --seeds 1 --json
  step "gemm-$lm-$N" 10 gpu "gemm-$lm-$N.txt" "$A" mc $DAG --device cuda --gemm-peak $m $N $b
done
step "gemm-cond-20-1024" 10 gpu "gemm-cond-20-1024.txt" "$A" mc $DAG --device cuda --gemm-peak $((1 << 20)) 1024 1024

say "== 6. CPU conditional sampler at the same sizes (this machine's cores)"
step cpu-14-256 20 cpu cpu-14-256.json "$A" mc $DAG --width $((1 << 14)) -n 256 --seeds 2 --json
step cpu-20-1024 90 cpu cpu-20-1024.json "$A" mc $DAG --width $((1 << 20)) -n 1024 --seeds 1 --json

say "== summary"
summ="$OUTDIR/summary.json"
{
  printf '{"mode": "%s", "date": "%s", "seconds": %d, "steps": {' "$MODE" "$(date -u +%FT%TZ)" $((SECONDS - T0))
  first=1
  for k in "${!STATUS[@]}"; do
    [[ $first == 1 ]] || printf ', '; first=0
    printf '"%s": "%s"' "$k" "${STATUS[$k]}"
  done
  printf '}, "failed": ['; first=1
  for k in "${FAILED[@]}"; do [[ $first == 1 ]] || printf ', '; first=0; printf '"%s"' "$k"; done
  printf ']}\n'
} >"$summ"
if command -v python3 >/dev/null; then
  python3 scripts/gpu_check_summary.py "$OUTDIR" 2>&1 | tee "$OUTDIR/summary.md" | tee -a "$LOG"
  # The end-to-end check: the GPU Gram converges to the exact kernel, not the path-sum one.
  if [[ -s $OUTDIR/e2e.json ]]; then
    python3 - "$OUTDIR/e2e.json" <<'PY' || { FAILED+=(e2e-accuracy); say "FAIL: GPU Gram too far from the exact kernel"; }
import json, sys
d = json.load(open(sys.argv[1]))["result"]["comparisons"]
err = {c["kind"]: c["rel_frobenius_of_mean"] for c in d}
print(f"e2e: error of the mean Gram vs exact {err['exact']:.4f}, vs path-sum {err['path-sum']:.4f}")
sys.exit(0 if err["exact"] < 0.05 and err["exact"] < err["path-sum"] else 1)
PY
  fi
else
  say "python3 not found: summary.md not written (the JSON files are in $OUTDIR)"
fi
rm -f "$OUTDIR/.stderr"
if (( ${#FAILED[@]} )); then say "== FAILED: ${FAILED[*]} ($((SECONDS - T0)) s)"; exit 1; fi
say "== done ($((SECONDS - T0)) s)"
