#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --only=1,2,2b,3,4] [-- --no-profile]
# Builds the CLI, then runs bench/bench.mjs; results land in bench/results/. Never part of npm test.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in radicale xandikos vdirsyncer hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install radicale xandikos vdirsyncer hyperfine time)" >&2; exit 2; }
done
npm run --silent build >/dev/null
exec node bench/bench.mjs "$@"
