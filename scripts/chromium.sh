#!/usr/bin/env bash
# Prints the path of a headless-capable Chromium for the trace explorer's
# browser tests, installing Debian's chromium package when run as root.
# AGENTOBS_CHROMIUM overrides. apt-get waits for the dpkg lock (another
# install by scripts/stack.sh or the Fluent Bit build may hold it) instead of
# failing on it. Exits 1 when no Chromium can be found or installed.
set -euo pipefail
log() { printf '[chromium] %s\n' "$*" >&2; }
works() { [ -x "$1" ] && "$1" --headless --no-sandbox --version >/dev/null 2>&1; }

if [ -n "${AGENTOBS_CHROMIUM:-}" ]; then
  works "$AGENTOBS_CHROMIUM" || { log "AGENTOBS_CHROMIUM=$AGENTOBS_CHROMIUM does not run"; exit 1; }
  echo "$AGENTOBS_CHROMIUM"; exit 0
fi
for c in chromium chromium-browser google-chrome; do
  if p=$(command -v "$c" 2>/dev/null) && works "$p"; then echo "$p"; exit 0; fi
done
[ "$(id -u)" = 0 ] || { log "no chromium on PATH (run: sudo apt-get install chromium)"; exit 1; }
log "installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null || log "apt-get update failed; trying the install anyway"
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
p=$(command -v chromium) && works "$p" || { log "chromium installed but does not run"; exit 1; }
echo "$p"
