#!/usr/bin/env bash
# Run every fuzz target in the module briefly: `go test -fuzz` takes one
# target per run, so list them and run each for $1 (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
n=0
status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
while IFS=: read -r file line; do
  pkg=./$(dirname "${file#./}")
  name=$(sed -n "${line}p" "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/')
  echo "fuzz $pkg $name for $t"
  # Bounded minimisation: the default (60 s per new input) can outlast the
  # whole brief run and stall a worker on one large input.
  run() { go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" -fuzzminimizetime=2s "$pkg" >"$out" 2>&1; }
  corpus="$pkg/testdata/fuzz/$name"
  inputs() { if [ -d "$corpus" ]; then find "$corpus" -type f | wc -l; else echo 0; fi; }
  before=$(inputs)
  ok=0
  if run; then
    ok=1
  elif grep -q 'context deadline exceeded' "$out" && [ "$(inputs)" = "$before" ]; then
    # Go's fuzz coordinator (go1.26; golang/go#75804, fixed in 1.27) can
    # report its own -fuzztime deadline as a failure, with no failing input
    # written. Such a run found nothing: run the target once more. A run
    # that writes a failing input fails at once.
    echo "fuzz target $name: 'context deadline exceeded' with no failing input (Go's fuzz coordinator); running it again"
    run && ok=1
  fi
  if [ "$ok" = 1 ]; then
    tail -2 "$out"
  else
    tail -40 "$out"
    echo "fuzz target $name in $pkg FAILED (a failing input, if any, is in $corpus)"
    status=1
  fi
  n=$((n + 1))
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | cut -d: -f1,2)
echo "fuzz targets run: $n"
exit "$status"
