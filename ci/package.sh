#!/usr/bin/env bash
# The package as a stranger gets it: build the sdist and the wheel, check their metadata, install
# only the wheel into a fresh venv and run the README's two quick starts against it, so a file
# missing from the wheel fails here. A setuptools deprecation warning in the build fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
out=build/package
rm -rf "$out"
mkdir -p "$out"
.venv/bin/python -m build --outdir "$out/dist" . >"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
if grep -qi "deprecat" "$out/build.log"; then
  grep -i -B2 -A8 "deprecat" "$out/build.log"
  echo "== package: the build warned about a deprecation"
  exit 1
fi
.venv/bin/python -m twine check --strict "$out"/dist/*
.venv/bin/python -m venv "$out/venv"
wheel=$(ls "$out"/dist/*.whl)
"$out/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel[pytest]"
# the quick starts away from the checkout: only the installed wheel is importable, and no
# configuration of ours applies
venv=$(pwd)/$out/venv
try=$(mktemp -d)
trap 'rm -rf "$try"' EXIT
cp examples/pytest/test_example_basic.py examples/quickstart/subscriber.py "$try/"
cd "$try"
"$venv/bin/python" -m pytest -p no:cacheprovider -q --mqtt-broker=embedded test_example_basic.py
"$venv/bin/python" subscriber.py
echo "== package: sdist and wheel built and checked; the quick starts pass on the installed wheel"
