#!/usr/bin/env bash
# The local stack: the real servers agentobs talks to, as plain processes on
# loopback, for every integration test, benchmark and the demo.
#
#   scripts/stack.sh install   fetch what is missing (Debian packages, Maven jars, Elasticsearch zip)
#   scripts/stack.sh up        install, then start Kafka, Elasticsearch, Prometheus, Alertmanager (idempotent)
#   scripts/stack.sh down      stop them all and remove the ephemeral data
#   scripts/stack.sh status    one line per server
#   scripts/stack.sh logs NAME tail a server's log (kafka, elasticsearch, prometheus, alertmanager)
#   scripts/stack.sh env       print the addresses as shell variables
#
# Environment (all optional):
#   AGENTOBS_STACK_DIR   ephemeral data, logs and pid files   (default /tmp/agentobs-stack)
#   AGENTOBS_CACHE       unpacked downloads kept between runs  (default /var/cache/agentobs as root, else ~/.cache/agentobs)
#   KAFKA_PORT (9092) KAFKA_CONTROLLER_PORT (9094) ES_PORT (9200) ES_TRANSPORT_PORT (9300)
#   PROM_PORT (9090) AM_PORT (9093) INDEXER_PORT (9400, the Alertmanager webhook target)
#   ES_WARM_ROUNDS (20: bulk rounds of 2000 documents into a throwaway index after a fresh start; 0 skips)
#   ES_HEAP (1g) KAFKA_HEAP (1g)  ES_USER (agentobs-es: the unprivileged user Elasticsearch runs as when we are root)
#   JAVA17_HOME          JDK for Kafka and Elasticsearch (default: the machine's Java 17)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${AGENTOBS_STACK_DIR:-/tmp/agentobs-stack}
if [ "$(id -u)" = 0 ]; then CACHE=${AGENTOBS_CACHE:-/var/cache/agentobs}; else CACHE=${AGENTOBS_CACHE:-$HOME/.cache/agentobs}; fi
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9094}
ES_PORT=${ES_PORT:-9200}
ES_TRANSPORT_PORT=${ES_TRANSPORT_PORT:-9300}
PROM_PORT=${PROM_PORT:-9090}
AM_PORT=${AM_PORT:-9093}
INDEXER_PORT=${INDEXER_PORT:-9400}
ES_HEAP=${ES_HEAP:-1g}
ES_WARM_ROUNDS=${ES_WARM_ROUNDS:-20}
es_started=0
KAFKA_HEAP=${KAFKA_HEAP:-1g}
ES_USER=${ES_USER:-agentobs-es}
ES_VERSION=8.19.7
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO/stack/kafka/pom.xml")

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

find_java17() {
  if [ -n "${JAVA17_HOME:-}" ]; then echo "$JAVA17_HOME"; return; fi
  for d in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64 /usr/lib/jvm/java-17-openjdk /usr/lib/jvm/temurin-17*; do
    [ -x "$d/bin/java" ] && { echo "$d"; return; }
  done
  local j; j=$(readlink -f "$(command -v java)" 2>/dev/null || true)
  [ -n "$j" ] && { dirname "$(dirname "$j")"; return; }
  die "no Java 17 found: install openjdk-17-jdk-headless or set JAVA17_HOME"
}

# shellcheck source=scripts/apt.sh
source "$REPO/scripts/apt.sh"

install_kafka() {
  local dir="$CACHE/kafka-$KAFKA_VERSION"
  [ -f "$dir/.complete" ] && return 0
  command -v mvn >/dev/null || apt_install maven
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central"
  rm -rf "$dir"; mkdir -p "$dir/libs"
  mvn -q -B -f "$REPO/stack/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$dir/libs" >"$dir/mvn.log" 2>&1 \
    || { tail -30 "$dir/mvn.log" >&2; die "maven could not fetch the Kafka jars"; }
  touch "$dir/.complete"
}

install_es() {
  local dir="$CACHE/elasticsearch-$ES_VERSION"
  [ -f "$dir/.complete" ] && return 0
  command -v mvn >/dev/null || apt_install maven
  command -v unzip >/dev/null || apt_install unzip
  log "fetching Elasticsearch $ES_VERSION (integ-test-zip) from Maven Central"
  mkdir -p "$CACHE/dl"
  local zip="$CACHE/dl/elasticsearch-$ES_VERSION.zip"
  if [ ! -f "$zip" ]; then
    # dependency:copy resolves through Maven's local repository (the cache between runs) and copies the zip out.
    mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" \
      -DoutputDirectory="$CACHE/dl" >"$CACHE/es-mvn.log" 2>&1 \
      || { tail -30 "$CACHE/es-mvn.log" >&2; die "maven could not fetch Elasticsearch $ES_VERSION"; }
  fi
  rm -rf "$dir" "$dir.tmp"; mkdir -p "$dir.tmp"
  unzip -q "$zip" -d "$dir.tmp"
  mv "$dir.tmp/elasticsearch-$ES_VERSION" "$dir"; rm -rf "$dir.tmp"
  touch "$dir/.complete"
}

cmd_install() {
  mkdir -p "$CACHE"; chmod 755 "$CACHE"
  apt_install prometheus prometheus-alertmanager curl unzip
  find_java17 >/dev/null
  install_kafka
  install_es
}

# --- process helpers -------------------------------------------------------
pidfile() { echo "$STATE/$1.pid"; }
alive() { local p; p=$(cat "$(pidfile "$1")" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name timeout-seconds logfile command...
  local name=$1 timeout=$2 logf=$3; shift 3
  local i=0
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      log "$name exited during start-up; last lines of $logf:"; tail -40 "$logf" >&2 || true
      die "$name did not start"
    fi
    i=$((i + 1))
    if [ $i -ge $((timeout * 2)) ]; then
      log "$name not ready after ${timeout}s; last lines of $logf:"; tail -40 "$logf" >&2 || true
      die "$name did not become ready"
    fi
    sleep 0.5
  done
  log "$name ready"
}

render() { # template -> stdout
  sed -e "s|@STATE@|$STATE|g" -e "s|@REPO@|$REPO|g" -e "s|@PORT@|$2|g" \
      -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" -e "s|@TRANSPORT_PORT@|$ES_TRANSPORT_PORT|g" \
      -e "s|@PROM_PORT@|$PROM_PORT|g" -e "s|@AM_PORT@|$AM_PORT|g" -e "s|@INDEXER_PORT@|$INDEXER_PORT|g" "$1"
}

start_kafka() {
  if alive kafka; then log "kafka already running"; return; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process"
  local home="$CACHE/kafka-$KAFKA_VERSION" java; java="$(find_java17)/bin/java"
  mkdir -p "$STATE/kafka/logs"
  render "$REPO/stack/kafka/server.properties" "$KAFKA_PORT" > "$STATE/kafka/server.properties"
  if [ ! -f "$STATE/kafka/data/meta.properties" ]; then
    local id; id=$("$java" -cp "$home/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    "$java" -cp "$home/libs/*" -Dlog4j2.configurationFile="$REPO/stack/kafka/log4j2.properties" -Dkafka.logs.dir="$STATE/kafka/logs" \
      kafka.tools.StorageTool format --cluster-id="$id" -c "$STATE/kafka/server.properties" >"$STATE/kafka/logs/format.log" 2>&1 \
      || { cat "$STATE/kafka/logs/format.log" >&2; die "kafka storage format failed"; }
  fi
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  nohup "$java" -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$REPO/stack/kafka/log4j2.properties" -Dkafka.logs.dir="$STATE/kafka/logs" \
    -cp "$home/libs/*" kafka.Kafka "$STATE/kafka/server.properties" >"$STATE/kafka/logs/stdout.log" 2>&1 &
  echo $! > "$(pidfile kafka)"
}

start_es() {
  if alive elasticsearch; then log "elasticsearch already running"; return; fi
  port_open "$ES_PORT" && die "port $ES_PORT is taken by another process"
  local home="$CACHE/elasticsearch-$ES_VERSION" conf="$STATE/elasticsearch/config"
  mkdir -p "$STATE/elasticsearch/data" "$STATE/elasticsearch/logs" "$conf"
  cp -r "$home/config/." "$conf/"
  render "$REPO/stack/elasticsearch/elasticsearch.yml" "$ES_PORT" > "$conf/elasticsearch.yml"
  printf -- '-Xms%s\n-Xmx%s\n' "$ES_HEAP" "$ES_HEAP" > "$conf/jvm.options.d/heap.options"
  local runas=()
  if [ "$(id -u)" = 0 ]; then
    # Elasticsearch refuses to run as root: run it as an unprivileged system user.
    id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    chown -R "$ES_USER" "$STATE/elasticsearch"
    runas=(setpriv --reuid="$ES_USER" --regid="$(id -g "$ES_USER")" --init-groups)
  fi
  log "starting Elasticsearch $ES_VERSION on 127.0.0.1:$ES_PORT"
  ES_JAVA_HOME="$(find_java17)" ES_PATH_CONF="$conf" nohup "${runas[@]}" "$home/bin/elasticsearch" \
    >"$STATE/elasticsearch/logs/stdout.log" 2>&1 &
  echo $! > "$(pidfile elasticsearch)"
  es_started=1
}

start_prometheus() {
  if alive prometheus; then log "prometheus already running"; return; fi
  port_open "$PROM_PORT" && die "port $PROM_PORT is taken by another process"
  mkdir -p "$STATE/prometheus/data" "$STATE/prometheus/targets"
  render "$REPO/stack/prometheus/prometheus.yml" "$PROM_PORT" > "$STATE/prometheus/prometheus.yml"
  log "starting Prometheus on 127.0.0.1:$PROM_PORT"
  nohup prometheus --config.file="$STATE/prometheus/prometheus.yml" --storage.tsdb.path="$STATE/prometheus/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-lifecycle --web.enable-admin-api \
    --enable-feature=exemplar-storage >"$STATE/prometheus/prometheus.log" 2>&1 &
  echo $! > "$(pidfile prometheus)"
}

start_alertmanager() {
  if alive alertmanager; then log "alertmanager already running"; return; fi
  port_open "$AM_PORT" && die "port $AM_PORT is taken by another process"
  mkdir -p "$STATE/alertmanager/data"
  render "$REPO/stack/prometheus/alertmanager.yml" "$AM_PORT" > "$STATE/alertmanager/alertmanager.yml"
  log "starting Alertmanager on 127.0.0.1:$AM_PORT"
  nohup prometheus-alertmanager --config.file="$STATE/alertmanager/alertmanager.yml" --storage.path="$STATE/alertmanager/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address="" \
    >"$STATE/alertmanager/alertmanager.log" 2>&1 &
  echo $! > "$(pidfile alertmanager)"
}

es_ready() { curl -fsS "http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" | grep -q '"status":"\(green\|yellow\)"'; }
# es_warm indexes a throwaway index in bulk, then deletes it, so a freshly
# started Elasticsearch has compiled its indexing path before real traffic.
# The documents carry their own ids ("create" with _id), as the indexer's do:
# that path looks each id up before writing, and warming only the append-only
# path of generated ids left it cold. Measured on 2 cores: a cold JVM's C2
# compiler takes about a core for 40-60 s, and the first `make demo` after a
# start fell up to 29 000 records behind. The rounds' times are logged.
es_warm() {
  local url="http://127.0.0.1:$ES_PORT" idx=agentobs-stack-warmup body="$STATE/elasticsearch/warmup.ndjson"
  local round t0 times=()
  for round in $(seq 1 "$ES_WARM_ROUNDS"); do
    awk -v r="$round" 'BEGIN {
      for (i = 0; i < 2000; i++) {
        printf "{\"create\":{\"_id\":\"%08x%024x\"}}\n", r * 2654435761 % 4294967296, i * 40503
        printf "{\"@timestamp\":\"2026-01-01T00:%02d:%02d.%09dZ\",\"message\":\"warm-up record %d\",\"log.level\":\"info\",\"service.name\":\"warmup-%d\",\"trace.id\":\"%032x\",\"span.id\":\"%016x\",\"event.id\":\"%08x%024x\",\"agent.step\":%d,\"agentobs.producer.id\":\"warmup/%d\",\"agentobs.producer.seq\":%d,\"decision.action\":\"a%d\",\"gen_ai.agent.id\":\"warmup-%d\"}\n", r, i % 60, i, i, i % 7, r * 100000 + i / 3, i + 1, r * 2654435761 % 4294967296, i * 40503, i % 5, i % 3, i, i % 4, i % 9
      } }' > "$body"
    t0=$(date +%s%N)
    curl -fsS -o /dev/null -H 'Content-Type: application/x-ndjson' --data-binary "@$body" \
      "$url/$idx/_bulk" || { log "elasticsearch warm-up: a bulk request failed; going on cold"; break; }
    times+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
    curl -fsS -o /dev/null -X POST "$url/$idx/_refresh" || true
    curl -fsS -o /dev/null "$url/$idx/_search?q=service.name:warmup-1&size=10" || true
  done
  curl -fsS -o /dev/null -X DELETE "$url/$idx" || true
  log "elasticsearch warmed: $ES_WARM_ROUNDS bulk rounds of 2000 documents, milliseconds each: ${times[*]}"
}

kafka_ready() { port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$STATE/kafka/logs/server.log"; }

cmd_up() {
  cmd_install
  mkdir -p "$STATE"; chmod 755 "$STATE"
  start_es; start_kafka; start_prometheus; start_alertmanager
  wait_for kafka 120 "$STATE/kafka/logs/server.log" kafka_ready
  wait_for prometheus 60 "$STATE/prometheus/prometheus.log" curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready"
  wait_for alertmanager 60 "$STATE/alertmanager/alertmanager.log" curl -fsS "http://127.0.0.1:$AM_PORT/-/ready"
  wait_for elasticsearch 180 "$STATE/elasticsearch/logs/agentobs-local.log" es_ready
  [ "$es_started" = 1 ] && [ "$ES_WARM_ROUNDS" -gt 0 ] && es_warm
  cmd_status
}

stop_one() {
  local name=$1 p
  p=$(cat "$(pidfile "$name")" 2>/dev/null || true)
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    log "stopping $name (pid $p)"
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$p" 2>/dev/null && { log "$name did not stop in 30s; killing"; kill -KILL "$p" 2>/dev/null || true; }
  fi
  rm -f "$(pidfile "$name")"
}

cmd_down() {
  for s in alertmanager prometheus elasticsearch kafka; do stop_one "$s"; done
  # Anything started from this state dir that outlived its pid file (a crashed script, a test's restart).
  pkill -KILL -f -- "$STATE/" 2>/dev/null || true
  pkill -KILL -f -- "ES_PATH_CONF=$STATE" 2>/dev/null || true
  rm -rf "$STATE"
  log "stack down"
}

cmd_status() {
  local s
  for s in kafka elasticsearch prometheus alertmanager; do
    if alive "$s"; then printf '%-14s running (pid %s)\n' "$s" "$(cat "$(pidfile "$s")")"; else printf '%-14s stopped\n' "$s"; fi
  done
  printf 'kafka          127.0.0.1:%s\nelasticsearch  http://127.0.0.1:%s\nprometheus     http://127.0.0.1:%s\nalertmanager   http://127.0.0.1:%s\n' \
    "$KAFKA_PORT" "$ES_PORT" "$PROM_PORT" "$AM_PORT"
}

cmd_env() {
  cat <<EOF
AGENTOBS_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
AGENTOBS_ES_URL=http://127.0.0.1:$ES_PORT
AGENTOBS_PROMETHEUS_URL=http://127.0.0.1:$PROM_PORT
AGENTOBS_ALERTMANAGER_URL=http://127.0.0.1:$AM_PORT
AGENTOBS_STACK_DIR=$STATE
AGENTOBS_KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
AGENTOBS_ES_HOME=$CACHE/elasticsearch-$ES_VERSION
EOF
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  logs)
    case "${2:-}" in
      kafka) tail -n 100 "$STATE/kafka/logs/server.log" ;;
      elasticsearch) tail -n 100 "$STATE/elasticsearch/logs/agentobs-local.log" ;;
      prometheus) tail -n 100 "$STATE/prometheus/prometheus.log" ;;
      alertmanager) tail -n 100 "$STATE/alertmanager/alertmanager.log" ;;
      *) die "usage: $0 logs kafka|elasticsearch|prometheus|alertmanager" ;;
    esac ;;
  *) echo "usage: $0 install|up|down|status|logs NAME|env" >&2; exit 2 ;;
esac
