#!/usr/bin/env bash
# `make demo`: the main job. Placeholder until the end-to-end demo lands:
# it brings up the local stack and says what is not built yet.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/stack.sh up
echo
echo "The local stack is up. The full demo (agents → shipper + plugin → Kafka → indexer → Elasticsearch) is not built yet."
