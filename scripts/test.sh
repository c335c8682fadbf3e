#!/usr/bin/env bash
# Set up everything the test suite needs, then run it: `./scripts/test.sh [pytest args]`.
# Idempotent: a second run reuses the virtual environment and node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# Pinned to the tested versions (constraints.txt): the test environment is reproducible.
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'

# socket.io-client for the Node tests (skipped with a reason when Node is absent).
if command -v npm >/dev/null 2>&1 && [ -x scripts/setup-node.sh ]; then
    scripts/setup-node.sh
fi

# Tesseract and poppler for the doc_processing OCR tests (installed as root with apt-get, else skipped).
if [ -x scripts/setup-system.sh ]; then
    scripts/setup-system.sh
fi

# Chromium for the web console's browser tests (installed as root with apt-get, else skipped).
if [ -x scripts/setup-browser.sh ]; then scripts/setup-browser.sh; fi

exec .venv/bin/python -m pytest "$@"
