#!/usr/bin/env bash
# Compiles src/montecarlo/cuda/kernels.cu with NVRTC from the PyPI wheel of CUDA 13.0 (the
# version cudarc's `cuda-13000` feature binds) and checks that every kernel the Rust code
# loads is an entry point of the PTX, and that there are no others. No GPU needed: NVRTC
# is a compiler library. CI runs this; the wheel lives in the git-ignored .venv-nvrtc.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-nvrtc
WHEEL="nvidia-cuda-nvrtc==13.0.88"
lib() { compgen -G "$VENV/lib/python3*/site-packages/nvidia/cu13/lib" | head -1; }
if [[ -z "$(lib)" || ! -e "$(lib)/libnvrtc.so.13" ]]; then
  echo "== installing $WHEEL into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "$WHEEL"
fi
dir=$(lib)
echo "== NVRTC from $dir"
out=$(LD_LIBRARY_PATH="$dir" cargo test --features cuda --test montecarlo_cuda -- --ignored nvrtc_ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E "^test |test result"
# The filter must have selected the check itself: one test, passed.
grep -q "test result: ok. 1 passed" <<<"$out" || { echo "nvrtc-check: the NVRTC test did not run"; exit 1; }
