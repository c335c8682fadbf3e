#!/usr/bin/env bash
# Build plugins/collab/static/yjs.mjs: yjs and y-protocols' awareness as one ES module for
# the browser, so the console's shared editor needs no CDN and no build step of the user's.
#
# Reproducible: the packages and esbuild are those pinned in tests/node/package-lock.json
# (scripts/setup-node.sh installs them); the same lock gives the same bytes.
# `--check` builds to a temporary file and fails if it differs from the committed one.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
node_dir="$root/tests/node"
static="$root/plugins/collab/static"
out="$static/yjs.mjs"
[ "${1:-}" = "--check" ] && out="$(mktemp --suffix=.mjs)"

version() { node -p "require('$node_dir/node_modules/$1/package.json').version"; }
banner="// yjs $(version yjs), y-protocols $(version y-protocols), lib0 $(version lib0): MIT licences in yjs-LICENSE.txt. Built by scripts/build-collab-bundle.sh with esbuild $(version esbuild)."

cd "$node_dir"
printf '%s\n' 'export * from "yjs";' 'export * as awarenessProtocol from "y-protocols/awareness";' \
    | node_modules/.bin/esbuild --bundle --format=esm --minify --legal-comments=none --log-level=warning \
        --sourcefile=collab-bundle-entry.mjs --banner:js="$banner" --outfile="$out"

if [ "${1:-}" = "--check" ]; then
    if ! cmp -s "$out" "$static/yjs.mjs"; then
        echo "plugins/collab/static/yjs.mjs is not what the pinned packages build: run scripts/build-collab-bundle.sh" >&2
        rm -f "$out"
        exit 1
    fi
    rm -f "$out"
    echo "yjs.mjs is up to date"
    exit 0
fi

{
    for package in yjs y-protocols lib0; do
        echo "== $package $(version $package) =="
        cat "node_modules/$package/LICENSE"
        echo
    done
} > "$static/yjs-LICENSE.txt"
echo "wrote $out ($(wc -c < "$out") bytes)"
