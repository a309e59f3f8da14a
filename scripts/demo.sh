#!/usr/bin/env bash
# `make demo`: bring up the local stack, then run the whole pipeline with
# live progress and a closing report (bin/demo; see cmd/demo). Arguments go
# to bin/demo, e.g. `make demo DEMO_ARGS="-duration 2m -rate 5000"`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/stack.sh up
eval "$(scripts/stack.sh env | sed 's/^/export /')"
# The plugin runs inside real Fluent Bit when one is found (never built here:
# `make fluent-bit` builds it); else through the flbhost stand-in.
FLB=$(scripts/fluent-bit.sh --no-build 2>/dev/null || true)
exec bin/demo -stack-dir "$AGENTOBS_STACK_DIR" -fluent-bit "$FLB" "$@"
