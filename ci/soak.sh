#!/usr/bin/env bash
# Soak (minutes; not part of CI): a subscriber under a continuous flood on each client engine,
# RSS, fds and threads sampled; non-zero when memory grows or something is left behind.
# ci/soak.sh [minutes per engine, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
status=0
for engine in paho gmqtt; do
  .venv/bin/python benchmarks/soak.py --minutes "${1:-5}" --engine "$engine" || status=1
done
exit "$status"
