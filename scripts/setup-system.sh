#!/usr/bin/env bash
# Install the system packages some plugins use: Tesseract OCR and poppler (doc_processing's
# built-in OCR processor). Idempotent: does nothing when they are present.
#
# Only as root and with apt-get (Debian, Ubuntu, the CI machine); otherwise it says what
# is missing and exits 0 (the OCR tests then skip, and the hub's OCR jobs fail with
# "tesseract is not installed"), unless HUB_REQUIRE_OCR=1, when that is an error.
set -euo pipefail

packages=(tesseract-ocr tesseract-ocr-eng poppler-utils)

if command -v tesseract >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 \
    && tesseract --list-langs 2>/dev/null | grep -qx eng; then
    exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    message="setup-system: tesseract or pdftoppm missing; install ${packages[*]} (needs root and apt-get)"
    if [ "${HUB_REQUIRE_OCR:-}" = "1" ]; then
        echo "$message (HUB_REQUIRE_OCR=1)" >&2
        exit 1
    fi
    echo "$message; the OCR tests will be skipped" >&2
    exit 0
fi

echo "setup-system: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
