#!/bin/sh
# Imports the agentobs saved objects (data views, saved searches,
# visualizations, dashboard) into Kibana through the saved objects import
# API, overwriting earlier versions by id. Used by compose (a one-shot
# container) and the Helm chart (a post-install Job); safe to re-run.
#
#   KIBANA_URL   default http://localhost:5601
#   KIBANA_AUTH  optional user:password for basic auth
#   KIBANA_WAIT  seconds to wait for Kibana to become available (default 300)
#   EXPLORER_URL base URL of the trace explorer that trace.id links open
#                (default http://localhost:9400, the one in agentobs.ndjson)
set -eu

url="${KIBANA_URL:-http://localhost:5601}"
wait="${KIBANA_WAIT:-300}"
file="$(dirname "$0")/agentobs.ndjson"
auth=""
if [ -n "${KIBANA_AUTH:-}" ]; then auth="-u ${KIBANA_AUTH}"; fi

# Kibana answers 503 while it starts; the import needs it "available".
i=0
until curl -fsS $auth "$url/api/status" 2>/dev/null | grep -q '"level":"available"'; do
	i=$((i + 5))
	if [ "$i" -ge "$wait" ]; then
		echo "kibana at $url not available after ${wait}s" >&2
		exit 1
	fi
	sleep 5
done

# trace.id links point at the explorer: rewrite its base when set.
explorer="${EXPLORER_URL:-http://localhost:9400}"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
sed "s#http://localhost:9400/ui/traces/#${explorer%/}/ui/traces/#g" "$file" >"$tmp"

out="$(curl -fsS $auth -X POST "$url/api/saved_objects/_import?overwrite=true" \
	-H 'kbn-xsrf: true' --form "file=@$tmp;filename=agentobs.ndjson")"
echo "$out"
# The API answers 200 even when single objects fail: check success.
echo "$out" | grep -q '"success":true' || { echo "kibana import failed" >&2; exit 1; }
