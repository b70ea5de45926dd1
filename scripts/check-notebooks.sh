#!/usr/bin/env bash
# Executes every notebook headlessly on the evcxr kernel and checks the outputs:
# no error output, no `panicked at`, and at least the number of figures the notebook's
# metadata (archconv.expected_figures) promises. Prints `N passed, N failed`.
#   scripts/check-notebooks.sh            execute into a temporary folder (CI)
#   scripts/check-notebooks.sh --inplace  execute and overwrite notebooks/*.ipynb (to commit)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
inplace=0
[ "${1:-}" = "--inplace" ] && inplace=1

if ! command -v evcxr_jupyter >/dev/null 2>&1; then
  echo "== installing evcxr_jupyter (first time: about 16 minutes on 2 cores)"
  cargo install evcxr_jupyter --locked >/dev/null 2>&1 || { echo "0 passed, 1 failed"; echo "cannot install evcxr_jupyter"; exit 1; }
fi
if [ ! -x .venv/bin/jupyter ]; then
  echo "== creating .venv with nbconvert and ipykernel"
  python3 -m venv .venv && .venv/bin/pip install -q nbconvert nbclient ipykernel jupyter_client nbformat >/dev/null \
    || { echo "0 passed, 1 failed"; echo "cannot create the Python venv"; exit 1; }
fi
export PATH="$root/.venv/bin:$PATH"
evcxr_jupyter --install >/dev/null 2>&1   # kernel spec "rust" in the user's Jupyter data dir
export EVCXR_CONFIG_DIR="$root/notebooks/evcxr"
export ARCHCONV_DATA="${ARCHCONV_DATA:-$(cd .. && pwd)/shared/datasets}"

out=$(mktemp -d)
pass=0; fail=0
for nb in notebooks/*.ipynb; do
  name=$(basename "$nb")
  target="$out/$name"
  log="$out/$name.log"
  echo "== $name"
  if ! .venv/bin/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=3600 \
       --ExecutePreprocessor.kernel_name=rust --output-dir "$out" "$nb" >"$log" 2>&1; then
    echo "   nbconvert failed:"; grep -v "^\s*File \|^\s*\^\|await \|return \|raise " "$log" | tail -40 | sed 's/^/   /'
    fail=$((fail+1)); continue
  fi
  if .venv/bin/python - "$target" "$log" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
log = open(sys.argv[2]).read()
problems, figures = [], 0
for i, c in enumerate(nb["cells"]):
    for o in c.get("outputs", []):
        t = o.get("output_type")
        if t == "error":
            problems.append(f"cell {i}: error output: {o.get('ename')}: {o.get('evalue')}"[:400])
        text = "".join(o.get("text", "")) if t == "stream" else ""
        if "panicked at" in text or (o.get("name") == "stderr" and "error[" in text):
            problems.append(f"cell {i}: {text.strip()[:400]}")
        data = o.get("data", {})
        html = "".join(data.get("text/html", ""))
        if "image/svg+xml" in data or "image/png" in data or "<svg" in html:
            figures += 1
if "panicked at" in log:
    problems.append("kernel log contains 'panicked at'")
want = nb["metadata"].get("archconv", {}).get("expected_figures", 0)
if figures < want:
    problems.append(f"expected at least {want} figures, found {figures}")
for p in problems:
    print("   " + p)
print(f"   {figures} figure(s)")
sys.exit(1 if problems else 0)
PY
  then
    pass=$((pass+1))
    [ $inplace -eq 1 ] && cp "$target" "$nb"
  else
    fail=$((fail+1))
  fi
done
echo "notebooks: $pass passed, $fail failed"
[ $fail -eq 0 ]
