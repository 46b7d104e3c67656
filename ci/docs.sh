#!/usr/bin/env bash
# The docs site: mkdocs (Material) with the API reference from docstrings, code included from
# examples/. --strict: a broken link or a missing included file fails the build.
# Output: build/site/ (ignored). To read it while editing: .venv/bin/mkdocs serve
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet
echo "== docs: built into build/site/"
