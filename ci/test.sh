#!/usr/bin/env bash
# The README's test command: set up, then the whole suite against real brokers.
# Extra arguments go to pytest as they are (e.g. ci/test.sh -k embedded), in one process.
#
# Without arguments the suite runs in two parts, so that CI stays under 15 minutes on two cores:
# the raw-socket conformance cases, the broker engines, the unit tests and the load suite's raw
# client and fleet reconnect cases on two xdist workers
# (every case there has brokers, ports, client ids and topics of its own, and the results files
# are merged under a lock), then everything else in one process (the subscriber's timing, the
# load suite's and the plugin's subprocesses, the reliability figures). Both parts always run;
# the exit status is the first failure's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
pytest=(.venv/bin/python -m pytest -p no:cacheprovider)
if [ "$#" -gt 0 ]; then
  exec "${pytest[@]}" --durations=25 "$@"
fi
parallel=(tests/conformance tests/brokers tests/unit tests/loadtest/test_raw_client.py
  tests/loadtest/test_fleet_reconnect.py)
"${pytest[@]}" --durations=10 -n 2 "${parallel[@]}" && status=0 || status=$?
ignore=()
for part in "${parallel[@]}"; do ignore+=(--ignore="$part"); done
"${pytest[@]}" --durations=25 "${ignore[@]}" && rest=0 || rest=$?
if [ "$status" -eq 0 ]; then status=$rest; fi
exit "$status"
