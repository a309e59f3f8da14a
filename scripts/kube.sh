#!/usr/bin/env bash
# A throwaway Kubernetes control plane on loopback for the Helm chart's tests:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake
# nodes, so Deployments get Pods, ReplicaSets roll and PDBs have something to
# count). No kubelet and no container runtime: nothing is pulled or run.
#
#   scripts/kube.sh build    build and cache the binaries (once per machine; ~6-10 min, ~3 GB RAM)
#   scripts/kube.sh up       build if needed, start everything, write a kubeconfig (idempotent)
#   scripts/kube.sh down     stop what `up` started and remove its data
#   scripts/kube.sh status   one line per process
#   scripts/kube.sh env      print KUBECONFIG and AGENTOBS_KUBE_BIN as shell variables
#
# The binaries come from the Go module proxy: kube-apiserver, -controller-manager
# and -scheduler from k8s.io/kubernetes (through a wrapper module that replaces
# its ./staging modules by the published ones) and kwok from sigs.k8s.io/kwok;
# etcd is Debian's etcd-server (apt-get as root). The chart tests drive Helm through its Go SDK.
#
# Environment (all optional):
#   AGENTOBS_KUBE_DIR    certs, tokens, etcd data, logs, pid files, kubeconfig (default /tmp/agentobs-kube)
#   AGENTOBS_CACHE       built binaries kept between runs (default /var/cache/agentobs as root, else ~/.cache/agentobs)
#   KUBE_APISERVER_PORT (6443) ETCD_PORT (2379) ETCD_PEER_PORT (2380)
#   KUBE_NODES (2)       fake nodes kwok manages
#   AGENTOBS_KUBE_NO_BUILD=1  `up` exits 3 instead of building or installing what is missing (the tests use it)
# Under CI=true every failure to build or start is an error (the tests then fail, never skip).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${AGENTOBS_KUBE_DIR:-/tmp/agentobs-kube}
if [ "$(id -u)" = 0 ]; then CACHE=${AGENTOBS_CACHE:-/var/cache/agentobs}; else CACHE=${AGENTOBS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentobs}; fi
K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
KWOK_VERSION=v0.8.0
BIN="$CACHE/kube-$K8S_VERSION/bin"
APISERVER_PORT=${KUBE_APISERVER_PORT:-6443}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
NODES=${KUBE_NODES:-2}

log() { printf '[kube] %s\n' "$*" >&2; }
die() { printf '[kube] ERROR: %s\n' "$*" >&2; exit 1; }

# build_k8s builds the three control-plane binaries from one wrapper module.
# The version ldflags matter: without them the server says v0.0.0 and the
# chart's kubeVersion constraint refuses it.
build_k8s() {
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && [ -x "$BIN/kube-scheduler" ] && return 0
  local w="$CACHE/kube-$K8S_VERSION/wrapper"
  mkdir -p "$BIN" "$w"
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION from the Go module proxy (once per machine; ~6-10 min, ~3 GB RAM)"
  (
    cd "$w"
    rm -f go.mod go.sum
    go mod init agentobs.local/kubebuild >/dev/null 2>&1
    go mod download k8s.io/kubernetes@$K8S_VERSION
    local k; k=$(go env GOMODCACHE)/k8s.io/kubernetes@$K8S_VERSION
    # Every ./staging module becomes its published twin; the two sample-* ones
    # are not served by the proxy and not needed.
    { echo "require k8s.io/kubernetes $K8S_VERSION"; echo 'replace ('
      grep '=> ./staging' "$k/go.mod" | awk '{print $1}' | grep -v sample- | while read -r m; do
        printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
      echo ')'; } >> go.mod
    printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"\n\t_ "k8s.io/kubernetes/cmd/kube-scheduler"\n)\n' > tools.go
    go mod tidy
    local ldf="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
    ldf="$ldf -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
    nice -n 15 go build -trimpath -ldflags "-s -w $ldf" -o "$BIN/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
  ) > "$CACHE/kube-$K8S_VERSION/build.log" 2>&1 || { tail -30 "$CACHE/kube-$K8S_VERSION/build.log" >&2; die "building Kubernetes $K8S_VERSION failed (log: $CACHE/kube-$K8S_VERSION/build.log)"; }
}

# build_tool NAME MODULE PKG VERSION LDFLAGS: go install of a module without
# replace directives (kwok), into $BIN.
build_tool() {
  local name=$1 pkg=$2 version=$3 ldflags=$4
  [ -x "$BIN/$name" ] && return 0
  mkdir -p "$BIN"
  log "building $name $version from the Go module proxy"
  GOBIN="$BIN" nice -n 15 go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version" \
    > "$CACHE/kube-$K8S_VERSION/$name-build.log" 2>&1 \
    || { tail -30 "$CACHE/kube-$K8S_VERSION/$name-build.log" >&2; die "building $name failed"; }
}

build() {
  command -v etcd >/dev/null || apt_install etcd-server
  command -v openssl >/dev/null || apt_install openssl
  command -v curl >/dev/null || apt_install curl
  mkdir -p "$CACHE/kube-$K8S_VERSION"
  build_k8s
  build_tool kwok sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
}

# shellcheck source=scripts/apt.sh
source "$REPO/scripts/apt.sh"

# kwok_config writes kwok's configuration: the stages that make fake nodes
# Ready (and keep them heartbeating) and walk Pods through Running to
# deletion, taken from the kwok module's own kustomize stages.
kwok_config() {
  local out="$STATE/kwok.yaml"
  local dir; dir=$(cd /tmp && GOFLAGS= go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  [ -d "$dir" ] || die "cannot download sigs.k8s.io/kwok@$KWOK_VERSION for its stages"
  {
    # Without them kwok 0.8 refuses to start ("playStageParallelism must be greater than 0").
    printf 'apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions:\n'
    printf '  %s: 4\n' podPlayStageParallelism nodePlayStageParallelism nodeLeaseParallelism podsOnNodeSyncParallelism
    for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo '---'; cat "$dir/kustomize/stage/$f"
    done
  } > "$out.tmp" && mv "$out.tmp" "$out"
  echo "$out"
}

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

# start NAME CMD...: runs CMD in the background with its log and pid file.
start() {
  local name=$1; shift
  alive "$name" && return 0
  "$@" > "$STATE/$name.log" 2>&1 &
  echo $! > "$STATE/$name.pid"
}

api() { curl -sk -H "Authorization: Bearer $(cat "$STATE/token")" "$@"; }

wait_for() { # wait_for WHAT SECONDS CMD... (asks 5 times a second)
  local what=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "$what not ready after ${secs}s (logs in $STATE)"
}

node_json() {
  cat <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"kubernetes.io/hostname":"$1","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok"}},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},"capacity":{"cpu":"32","memory":"256Gi","pods":"110"}}}
JSON
}

nodes_ready() {
  local n
  for n in $(seq "$NODES"); do
    # The server pretty-prints for curl: squeeze the blanks out before matching.
    api "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes/kwok-node-$n" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"' || return 1
  done
}

write_kubeconfig() {
  umask 077
  cat > "$STATE/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: agentobs-kube, cluster: {server: "https://127.0.0.1:$APISERVER_PORT", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$(cat "$STATE/token")"}}]
contexts: [{name: agentobs-kube, context: {cluster: agentobs-kube, user: admin}}]
current-context: agentobs-kube
KUBECONFIG
}

built() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kwok; do [ -x "$BIN/$b" ] || return 1; done
  command -v etcd >/dev/null && command -v openssl >/dev/null && command -v curl >/dev/null
}

up() {
  if [ "${AGENTOBS_KUBE_NO_BUILD:-}" = 1 ]; then
    built || { log "not built: run scripts/kube.sh build (or make kube)"; exit 3; }
  else
    build
  fi
  mkdir -p "$STATE/pki" "$STATE/certs" "$STATE/etcd"
  chmod 700 "$STATE" "$STATE/etcd"
  local kwokcfg; kwokcfg=$(kwok_config)
  # A fresh admin token and service-account key per control plane: nothing
  # here is a long-lived secret, and none of it is ever printed.
  if [ ! -s "$STATE/token" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE/token")
    printf '%s,admin,admin-uid,"system:masters"\n' "$(cat "$STATE/token")" > "$STATE/pki/tokens.csv"
    openssl genrsa -out "$STATE/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$STATE/pki/sa.key" -pubout -out "$STATE/pki/sa.pub" 2>/dev/null
  fi
  write_kubeconfig

  # Debian's etcd is 3.4.23: the API server finds no RequestWatchProgress
  # (etcd >= 3.4.31 or 3.5.13), so its watch cache learns that it is current
  # only from events and etcd's periodic progress notifications (10 min by
  # default). Every second keeps the cache fresh: reads that must wait for it
  # (the object-count estimator lists each resource's keys this way) no longer
  # time out with "Too large resource version".
  start etcd etcd --data-dir "$STATE/etcd" --name default \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" \
    --experimental-watch-progress-notify-interval=1s
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

  # The advertise address must not be loopback ("may not be in the loopback
  # range"); with the endpoint reconciler off nothing ever dials it.
  # WatchList=false: without RequestWatchProgress from etcd the server ends
  # every streaming list ("watch stream ... RequestWatchProgress is
  # disabled") and kwok's client (client-go 0.36) retried it with backoff up
  # to 30 s instead of falling back to list+watch: Pods waited up to 45 s to
  # become Ready or to go, and `helm upgrade --wait` timed out. With the
  # feature off the server refuses the stream at once and every client lists.
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" --cert-dir="$STATE/certs" \
    --token-auth-file="$STATE/pki/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range=10.96.0.0/16 \
    --advertise-address=10.0.0.1 --endpoint-reconciler-type=none --feature-gates=WatchList=false
  wait_for kube-apiserver 120 api -f "https://127.0.0.1:$APISERVER_PORT/readyz"

  # The controllers the chart's objects need: deployments, replicasets, the
  # disruption controller (PDB status), garbage collection, service accounts.
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$STATE/kubeconfig" \
    --leader-elect=false --secure-port=0 --service-account-private-key-file="$STATE/pki/sa.key"
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$STATE/kubeconfig" --leader-elect=false --secure-port=0
  start kwok "$BIN/kwok" --kubeconfig="$STATE/kubeconfig" --config="$kwokcfg" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr=10.244.0.0/16 --node-ip=10.0.0.2
  local n
  for n in $(seq "$NODES"); do
    api "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes/kwok-node-$n" | tr -d ' \n' | grep -q '"kind":"Node"' && continue
    node_json "kwok-node-$n" | api -f -X POST -H 'Content-Type: application/json' --data-binary @- \
      "https://127.0.0.1:$APISERVER_PORT/api/v1/nodes" >/dev/null || die "cannot create node kwok-node-$n"
  done
  wait_for "kwok nodes" 60 nodes_ready
  for p in kube-controller-manager kube-scheduler kwok; do alive "$p" || die "$p exited (log: $STATE/$p.log)"; done
  log "control plane up in ${SECONDS}s: KUBECONFIG=$STATE/kubeconfig (Kubernetes $K8S_VERSION, $NODES kwok nodes)"
}

# stop NAME...: SIGTERM to all at once (one by one, each takes 1-3 s to
# exit), SIGKILL to whatever still runs after 10 s.
stop() {
  local p pids=() left
  for p in "$@"; do
    alive "$p" && pids+=("$(cat "$STATE/$p.pid")")
    rm -f "$STATE/$p.pid"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 100); do
    left=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}

down() {
  # etcd last: an API server whose etcd is gone takes over 10 s to stop.
  stop kwok kube-scheduler kube-controller-manager kube-apiserver
  stop etcd
  [ -d "$STATE" ] && rm -rf "$STATE"
  log "control plane stopped"
}

status() {
  local p
  for p in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    if alive "$p"; then echo "$p: running (pid $(cat "$STATE/$p.pid"))"; else echo "$p: stopped"; fi
  done
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  status) status ;;
  env) printf 'KUBECONFIG=%s\nAGENTOBS_KUBE_BIN=%s\n' "$STATE/kubeconfig" "$BIN" ;;
  *) die "usage: scripts/kube.sh build|up|down|status|env" ;;
esac
