#!/usr/bin/env bash
# The README's test command: set up, then the whole suite against real brokers.
# Extra arguments go to pytest (e.g. ci/test.sh -k embedded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
exec .venv/bin/python -m pytest -p no:cacheprovider --durations=25 "$@"
