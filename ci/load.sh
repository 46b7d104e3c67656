#!/usr/bin/env bash
# The main job: the three Locust load tests against the embedded broker, headless, each failing
# the run when one of its checks fails. Extra arguments go to every locust run
# (e.g. ci/load.sh --mqtt-broker mosquitto). Verdicts: benchmarks/results/load-*.json
set -uo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh || exit 1
root=$(pwd)
mkdir -p benchmarks/results
cd locustfiles  # locust.conf here holds the short headless defaults
status=0
for name in throughput drop_oldest graceful_shutdown; do
  echo "== locust -f locustfiles/$name.py $*"
  if ! MQTT_SURGE_VERDICT_JSON="$root/benchmarks/results/load-$name.json" \
      "$root/.venv/bin/locust" -f "$name.py" "$@"; then
    echo "== $name: FAILED"
    status=1
  fi
done
[ "$status" = 0 ] && echo "== load suite: every check passed" || echo "== load suite: FAILED"
exit "$status"
