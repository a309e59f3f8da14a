#!/usr/bin/env bash
# `make test`: the whole suite against the real local stack (started by the
# Makefile before this runs). Prints go test's own output (without the RUN
# noise), then the brief fuzz runs, then one closing summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
export AGENTOBS_REQUIRE_STACK=${AGENTOBS_REQUIRE_STACK:-1}
log=.test-output.log
go test -v ${TEST_FLAGS:--count=1 -p 1 -timeout 40m} ./... 2>&1 | tee "$log" | grep --line-buffered -vE '^=== (RUN|PAUSE|CONT|NAME)'
status=${PIPESTATUS[0]}
if [ "$status" = 0 ]; then
  scripts/fuzz.sh "${FUZZTIME:-10s}" || status=1
fi
scripts/test-summary.sh "$log"
exit "$status"
