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
  if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" -fuzzminimizetime=2s "$pkg" >"$out" 2>&1; then
    tail -40 "$out"
    echo "fuzz target $name in $pkg FAILED (a failing input, if any, is in $pkg/testdata/fuzz/$name)"
    status=1
  else
    tail -2 "$out"
  fi
  n=$((n + 1))
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | cut -d: -f1,2)
echo "fuzz targets run: $n"
exit "$status"
