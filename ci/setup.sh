#!/usr/bin/env bash
# Everything a fresh Debian machine needs: mosquitto and openssl (apt), a venv with mqtt-surge[test].
# Idempotent: a second run only checks. Used by test.sh, load.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=""
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need="$need mosquitto"
command -v openssl >/dev/null 2>&1 || need="$need openssl"  # the TLS test makes a certificate
if [ -n "$need" ]; then
  echo "ci/setup.sh: installing$need with apt-get" >&2
  # our fixtures start their own mosquitto on a free port: keep apt from starting the system
  # service on 1883 (policy-rc.d exit 101 = "do not start services")
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    added_policy=1
  fi
  as_root apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  if [ "$added_policy" = 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
fi
# if a system mosquitto service runs anyway, stop it: tests must not depend on it
if command -v service >/dev/null 2>&1; then as_root service mosquitto stop >/dev/null 2>&1 || true; fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,docs]"
