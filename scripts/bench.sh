#!/usr/bin/env bash
# make bench: the benchmark suite against the real local stack (bench/README.md).
# Starts the stack if needed (never stops it), then runs bench/main.go.
#   scripts/bench.sh                 full run (~12 min on 2 cores)
#   scripts/bench.sh -quick          ~3 min, for iteration
#   BENCH_FLAGS="-only R1 -records 50000" scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/stack.sh up
exec go run ./bench -out bench/results -readme bench/README.md ${BENCH_FLAGS:-} "$@"
