#!/usr/bin/env bash
# Flake check: run the README's pytest examples RUNS times (default 200) with -n 2 while another
# process keeps one core busy. Prints the failure count; non-zero if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
runs=${1:-200}
logs=$(mktemp -d)
.venv/bin/python -c "while True: pass" &
burner=$!
trap 'kill $burner 2>/dev/null' EXIT
failures=0
started=$(date +%s)
for i in $(seq 1 "$runs"); do
  if ! .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 examples/pytest >"$logs/run-$i.log" 2>&1; then
    failures=$((failures + 1))
    echo "run $i failed: $logs/run-$i.log"
    tail -5 "$logs/run-$i.log"
  fi
done
echo "flake check: $runs runs of examples/pytest with -n 2 and one core busy: $failures failed ($(( $(date +%s) - started )) s)"
[ "$failures" = 0 ]
