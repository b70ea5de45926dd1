#!/usr/bin/env bash
# Peer harness (issue 15): archconv against neural-tangents, NumPy and SciPy in one run.
# Creates the pinned environment .venv-peers (git-ignored) from requirements.txt, builds
# examples/peers.rs in release mode, and runs scripts/peers/run.py with OPENBLAS_CORETYPE
# and OPENBLAS_L2_SIZE unset for this command only (they slow a current NumPy's OpenBLAS
# here); run.py prints threadpoolctl's report. A benchmark, not a test: run it on a quiet
# machine. Usage: scripts/peers/run.sh [OUTDIR]   (default target/peers)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.venv-peers
if ! "$VENV/bin/python" -c "import neural_tangents, scipy, threadpoolctl" 2>/dev/null; then
  echo "== creating $VENV from scripts/peers/requirements.txt"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r scripts/peers/requirements.txt
fi
cargo build --release --example peers
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE TF_CPP_MIN_LOG_LEVEL=3 \
  "$VENV/bin/python" scripts/peers/run.py "${1:-target/peers}" target/release/examples/peers
