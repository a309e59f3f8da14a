#!/usr/bin/env bash
# Run every fuzz target in the module briefly: `go test -fuzz` takes one
# target per run, so list them and run each for $1 (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
n=0
while IFS=: read -r file line; do
  pkg=./$(dirname "${file#./}")
  name=$(sed -n "${line}p" "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/')
  echo "fuzz $pkg $name for $t"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$pkg" 2>&1 | tail -3
  n=$((n + 1))
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | cut -d: -f1,2)
echo "fuzz targets run: $n"
