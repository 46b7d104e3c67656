#!/usr/bin/env bash
# ruff (lint and format) and mypy --strict on src/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
