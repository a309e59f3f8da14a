#!/usr/bin/env bash
# Finds the real Fluent Bit that tests, benchmarks and the demo load the
# plugin into, and prints the binary's path on stdout (everything else goes
# to stderr, so `FLB=$(scripts/fluent-bit.sh)` works).
#
#   scripts/fluent-bit.sh              find it, or build it once (cached; ~10 min on 2 cores)
#   scripts/fluent-bit.sh --no-build   find it only; exit 1 when there is none
#
# Order: $AGENTOBS_FLUENT_BIT (must work when set), `fluent-bit` on PATH, the
# cached build of ../shared/fluent-bit/build.sh (beside the repo clone;
# AGENTOBS_FLUENT_BIT_SRC overrides that directory), else that script builds it.
# Under CI=true a Fluent Bit that cannot be found or built is an error.
#
# The build installs its Debian build dependencies with apt-get when run as
# root. Another apt-get at the same moment (scripts/stack.sh installs
# packages too) makes it fail on the dpkg lock, so `make test` runs this
# after stack-up, and a failed build is retried after a pause.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${AGENTOBS_FLUENT_BIT_SRC:-$REPO/../shared/fluent-bit}
if [ "$(id -u)" = 0 ]; then CACHE=${AGENTOBS_CACHE:-/var/cache/agentobs}; else CACHE=${AGENTOBS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentobs}; fi
build=1
[ "${1:-}" = "--no-build" ] && build=0

log() { printf '[fluent-bit] %s\n' "$*" >&2; }
works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if [ -n "${AGENTOBS_FLUENT_BIT:-}" ]; then
  works "$AGENTOBS_FLUENT_BIT" || { log "AGENTOBS_FLUENT_BIT=$AGENTOBS_FLUENT_BIT does not run (--version failed)"; exit 1; }
  echo "$AGENTOBS_FLUENT_BIT"; exit 0
fi
if p=$(command -v fluent-bit 2>/dev/null) && works "$p"; then echo "$p"; exit 0; fi
cached="$CACHE/fluent-bit-5.1.1/build/bin/fluent-bit"
if works "$cached"; then echo "$cached"; exit 0; fi

if [ "$build" = 0 ] || [ ! -x "$SRC/build.sh" ]; then
  [ "$build" = 1 ] && log "no Fluent Bit: not on PATH, AGENTOBS_FLUENT_BIT unset, and no $SRC/build.sh to build one"
  exit 1
fi
for attempt in 1 2 3; do
  log "building Fluent Bit with $SRC/build.sh (attempt $attempt; about 10 minutes the first time)"
  if out=$("$SRC/build.sh" "$CACHE/fluent-bit-5.1.1") && works "$out"; then echo "$out"; exit 0; fi
  # The usual cause of a failure here is another apt-get holding the dpkg lock.
  [ "$attempt" -lt 3 ] && sleep 30
done
log "could not build Fluent Bit (see $CACHE/fluent-bit-5.1.1/build.log)"
exit 1
