#!/usr/bin/env bash
# Issue 13's speed targets, measured in one run:
#   1. each activation's cost per kernel entry as a ratio to the paper's ReLU
#      (`cargo bench --bench model`: the exact NNGP of DAG#3 and one edge's map, N = 1000);
#   2. the paper's ReLU default before and after the network model: the `kernel_dag3`
#      benches of `benches/core.rs` built from BASE (default: the commit before the
#      model, 06f752b) and from the working tree, run alternately, twice each;
#   3. the same comparison in instructions executed (valgrind's callgrind, one thread,
#      `examples/kernel_once.rs` built in both trees): deterministic where wall-clock
#      times at N = 4000 vary by tens of percent between runs on this VM. The count of
#      one kernel is the run's count minus that of a run that only builds the inputs.
# Usage: scripts/bench-model.sh [BASE]
#   MODEL_FILTER=REGEX limits the model bench to matching groups (default: all of them;
#   groups not rerun keep their last results in target/criterion-model).
#   MODEL_PARTS=LIST picks parts 1-3 (`model,core,instructions`, the default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
base=${1:-06f752b}
parts=${MODEL_PARTS:-model,core,instructions}
has() { [[ ",$parts," == *",$1,"* ]]; }
uptime
wt=$(mktemp -d)/base
git worktree add -q --detach "$wt" "$base"
trap 'git worktree remove --force "$wt"' EXIT
if has model; then
export CRITERION_HOME="$root/target/criterion-model"
cargo bench --bench model -- --noplot ${MODEL_FILTER:+"$MODEL_FILTER"} >/dev/null 2>&1
python3 - "$CRITERION_HOME" <<'PY'
import json, os, sys
home = sys.argv[1]
for group in ("model_dag3_exact", "model_nngp_map"):
    rows = {}
    for name in sorted(os.listdir(os.path.join(home, group))):
        est = os.path.join(home, group, name, "1000", "new", "estimates.json")
        if os.path.exists(est):
            rows[name] = json.load(open(est))["median"]["point_estimate"] / 1e6
    ref = rows["paper-relu"]
    print(f"\n{group} (N = 1000, median ms, ratio to the paper's ReLU)")
    for name, ms in sorted(rows.items(), key=lambda kv: kv[1]):
        print(f"  {name:<12} {ms:9.2f} ms  {ms / ref:6.2f}x  {ms * 1e6 / 1000**2:7.1f} ns/entry")
PY
fi
# Old versus new build of the ReLU default.
if has core; then
(cd "$wt" && CARGO_TARGET_DIR="$root/target/bench-base" cargo bench --bench core --no-run >/dev/null 2>&1)
cargo bench --bench core --no-run >/dev/null 2>&1
for round in 1 2; do
  for side in base new; do
    if [ $side = base ]; then dir="$wt"; tgt="$root/target/bench-base"; else dir="$root"; tgt="$root/target"; fi
    (cd "$dir" && CRITERION_HOME="$root/target/criterion-$side-$round" CARGO_TARGET_DIR="$tgt" \
      cargo bench --bench core -- --noplot kernel_dag3 >/dev/null 2>&1)
  done
done
python3 - "$root/target" <<'PY'
import json, os, sys
t = sys.argv[1]
def med(side, rnd, name, n):
    p = os.path.join(t, f"criterion-{side}-{rnd}", "kernel_dag3", name, str(n), "new", "estimates.json")
    return json.load(open(p))["median"]["point_estimate"] / 1e6
print("\nkernel_dag3, paper's ReLU: base build vs this build (median ms; two alternating rounds)")
for name in ("path-sum", "independent-branch", "exact", "ntk-exact"):
    for n in (1000, 4000):
        b = [med("base", r, name, n) for r in (1, 2)]
        w = [med("new", r, name, n) for r in (1, 2)]
        print(f"  {name:<19} N={n:<5} base {min(b):8.1f} ms  new {min(w):8.1f} ms  new/base {min(w)/min(b):5.2f}")
PY
fi
if has instructions; then
  command -v valgrind >/dev/null || { echo "valgrind not found: part 3 skipped"; exit 0; }
  cp examples/kernel_once.rs "$wt/examples/kernel_once.rs"
  (cd "$wt" && CARGO_TARGET_DIR="$root/target/bench-base" cargo build -q --release --example kernel_once)
  cargo build -q --release --example kernel_once
  count() { # BINARY N KIND -> instructions executed (one thread)
    RAYON_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 1 2>&1 \
      >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  }
  echo
  echo "kernel_dag3, paper's ReLU: instructions executed (callgrind, one thread), base vs this build"
  for n in 1000 4000; do
    for side in base new; do
      if [ $side = base ]; then bin="$root/target/bench-base/release/examples/kernel_once"
      else bin="$root/target/release/examples/kernel_once"; fi
      setup=$(count "$bin" $n none)
      for kind in path-sum independent-branch exact ntk-exact; do
        echo "$side $n $kind $(( $(count "$bin" $n $kind) - setup ))"
      done
    done
  done | python3 -c '
import sys
c = {}
for line in sys.stdin:
    side, n, kind, ir = line.split()
    c[(side, int(n), kind)] = int(ir)
for kind in ("path-sum", "independent-branch", "exact", "ntk-exact"):
    for n in (1000, 4000):
        b, w = c[("base", n, kind)], c[("new", n, kind)]
        print(f"  {kind:<19} N={n:<5} base {b / 1e9:7.3f} G  new {w / 1e9:7.3f} G  new/base {w / b:6.3f}")
'
fi
uptime
