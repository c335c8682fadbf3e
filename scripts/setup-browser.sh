#!/usr/bin/env bash
# Install Debian's Chromium for the web console's browser tests (tests/browser), which
# Playwright for Python drives with executable_path=/usr/bin/chromium: Playwright cannot
# download its own browser here. Playwright itself comes with the dev extra (pip).
#
# Idempotent: does nothing when /usr/bin/chromium is there. Only as root and with apt-get;
# otherwise it says what is missing and exits 0 (the browser tests then skip), unless
# HUB_REQUIRE_BROWSER=1, when that is an error.
set -euo pipefail

chromium="${HUB_TEST_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$chromium" ]; then
    exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    message="setup-browser: $chromium missing; install the Debian package chromium (needs root and apt-get)"
    if [ "${HUB_REQUIRE_BROWSER:-}" = "1" ]; then
        echo "$message (HUB_REQUIRE_BROWSER=1)" >&2
        exit 1
    fi
    echo "$message; the browser tests will be skipped" >&2
    exit 0
fi

echo "setup-browser: installing chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
