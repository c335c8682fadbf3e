#!/usr/bin/env bash
# Install the npm packages of tests/node (socket.io-client), which the Node tests use.
#
# Idempotent and quick: does nothing when node_modules already matches the lock
# file. Without npm it says so and exits 0 (the Node tests then skip), unless
# HUB_REQUIRE_NODE=1, when a missing Node.js is an error.
set -euo pipefail

cd "$(dirname "$0")/../tests/node"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "${HUB_REQUIRE_NODE:-}" = "1" ]; then
        echo "setup-node: node and npm are required (HUB_REQUIRE_NODE=1) but not found" >&2
        exit 1
    fi
    echo "setup-node: node or npm not found; the Node tests will be skipped" >&2
    exit 0
fi

# npm writes node_modules/.package-lock.json after every install; when it is
# newer than both manifests, the install is current.
marker=node_modules/.package-lock.json
if [ -f "$marker" ] && [ -f node_modules/socket.io-client/package.json ] \
    && [ "$marker" -nt package.json ] && { [ ! -f package-lock.json ] || [ "$marker" -nt package-lock.json ]; }; then
    echo "setup-node: tests/node packages already installed"
    exit 0
fi

if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund
else
    npm install --no-audit --no-fund
fi
