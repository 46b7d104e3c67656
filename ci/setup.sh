#!/usr/bin/env bash
# Everything a fresh Debian machine needs: mosquitto (apt) and a venv with mqtt-surge[test].
# Idempotent: a second run only checks. Used by test.sh, load.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  echo "ci/setup.sh: installing mosquitto with apt-get" >&2
  # our fixtures start their own mosquitto on a free port: keep apt from starting the system
  # service on 1883 (policy-rc.d exit 101 = "do not start services")
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    added_policy=1
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
  [ "$added_policy" = 1 ] && as_root rm -f /usr/sbin/policy-rc.d
fi
# if a system mosquitto service runs anyway, stop it: tests must not depend on it
if command -v service >/dev/null 2>&1; then as_root service mosquitto stop >/dev/null 2>&1 || true; fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
