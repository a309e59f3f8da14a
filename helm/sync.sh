#!/usr/bin/env bash
# Refresh the chart's copies of files that live elsewhere in the repository.
# Helm cannot read files outside the chart, so helm/agentobs/files/ holds copies;
# helm/charttest fails when a copy differs from its source (one source of truth).
#
#   alerts/rules/*.yml                      → files/rules/         (PrometheusRule)
#   dashboards/grafana/*.json               → files/dashboards/    (Grafana sidecar ConfigMaps)
#   dashboards/provisioning/datasources/*.yaml → files/datasources/ (optional datasource ConfigMap)
# Not copied: files/fluent-bit/fluent-bit.yaml is the chart's own Kubernetes variant of
# collector/fluent-bit/fluent-bit.yaml (brokers, credentials and node identity come from
# the DaemonSet's environment); helm/charttest checks it against the collector's
# reference config and the plugin's property list.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=$REPO/helm/agentobs/files

# sync SRC_DIR GLOB DST_DIR: DST becomes exactly the files matching GLOB in SRC.
sync() {
  local src=$1 glob=$2 dst=$3
  mkdir -p "$dst"
  find "$dst" -maxdepth 1 -type f -name "$glob" -delete
  if [ -d "$src" ]; then
    find "$src" -maxdepth 1 -type f -name "$glob" -exec cp {} "$dst/" \;
  fi
  echo "helm-sync: $(find "$dst" -maxdepth 1 -type f -name "$glob" | wc -l) file(s) $src/$glob → ${dst#"$REPO"/}"
}

sync "$REPO/alerts/rules" '*.yml' "$FILES/rules"
sync "$REPO/dashboards/grafana" '*.json' "$FILES/dashboards"
sync "$REPO/dashboards/provisioning/datasources" '*.yaml' "$FILES/datasources"
