#!/usr/bin/env bash
# `make lint`'s alert checks: promtool over the rule files, amtool over the
# Alertmanager config, and the Go rule lint (cmd/rulelint: names,
# labels, annotations, for, rate() over gauges, range windows, by() labels,
# runbook sections). promtool/amtool come from the Debian packages
# prometheus and prometheus-alertmanager (scripts/stack.sh install); without
# them the upstream checks are skipped with a warning, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
have() {
  command -v "$1" >/dev/null && return 0
  if [ "${CI:-}" = true ]; then echo "lint-alerts: $1 not found (scripts/stack.sh install)" >&2; status=1
  else echo "lint-alerts: WARNING: $1 not found, skipping its check (scripts/stack.sh install)" >&2; fi
  return 1
}
if have promtool; then
  promtool check rules alerts/rules/*.yml || status=1
  promtool test rules alerts/tests/*.yml || status=1
fi
if have amtool; then
  amtool check-config alerts/alertmanager.yml || status=1
fi
go run ./cmd/rulelint -runbooks alerts/runbooks.md alerts/rules/*.yml || status=1
exit $status
