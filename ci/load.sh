#!/usr/bin/env bash
# The main job: a load run against the embedded broker.
# Until the Locust suite lands (issue 5), this is the broker benchmark: start-to-ready times and
# end-to-end QoS 0 throughput of the embedded broker against amqtt's default configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
exec .venv/bin/python benchmarks/brokers.py "$@"
