#!/usr/bin/env bash
# Print one closing line for a `go test` log: how many test functions passed,
# failed and were skipped (and the skipped ones, which must not hide
# integration tests under CI).
set -euo pipefail
log=${1:-.test-output.log}
pass=$(grep -cE '^\s*--- PASS' "$log" || true)
fail=$(grep -cE '^\s*--- FAIL' "$log" || true)
skip=$(grep -cE '^\s*--- SKIP' "$log" || true)
pkgs_ok=$(grep -cE '^ok\s' "$log" || true)
pkgs_fail=$(grep -cE '^(FAIL|---)\s.*\[(build|setup) failed\]|^FAIL\s' "$log" || true)
echo "packages: $pkgs_ok ok, $pkgs_fail failed"
echo "tests: $pass passed, $fail failed, $skip skipped"
