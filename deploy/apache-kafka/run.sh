#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) assembled from Maven Central.
#
#   deploy/apache-kafka/run.sh [start|stop|restart|status|reset|logs]   (default: start)
#
# start   resolve the jars with Maven (first time only), write server.properties, format the
#         storage (first time only), start the broker in the background and wait until it
#         answers a metadata request. Idempotent: returns at once when it is already up.
#         Prints KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$PORT on success.
# stop    stop the broker started by this script on $PORT (TERM, then KILL after a timeout).
# status  exit 0 and print the bootstrap address when running and healthy, exit 3 otherwise.
# reset   stop, then delete this port's data (topics, offsets, cluster id); jars are kept.
# logs    print the path of the broker log.
#
# Environment:
#   PORT                  PLAINTEXT listener port              (default 29092)
#   CONTROLLER_PORT       KRaft controller listener port       (default PORT+1)
#   KAFKA_VERSION         org.apache.kafka:kafka_2.13 version  (default 4.1.1)
#   COBRANZA_KAFKA_HOME   cache dir for jars and data          (default ~/.cache/cobranza/apache-kafka)
#   KAFKA_HEAP_OPTS       JVM heap flags                       (default -Xms256m -Xmx1g)
#   KAFKA_JVM_OPTS        extra JVM flags                      (default empty)
#   KAFKA_START_TIMEOUT   seconds to wait for readiness        (default 90)
#   JAVA                  java binary (Java 17+)               (default: java on PATH)
#   MVN                   maven binary                         (default: mvn on PATH)
#   PYTHON                interpreter with confluent_kafka for the metadata probe
#                         (default: <repo>/.venv/bin/python, else python3; skipped if it lacks confluent_kafka)
# Extra broker settings: put them in $INSTANCE_DIR/server.override.properties (appended verbatim).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

PORT="${PORT:-29092}"
CONTROLLER_PORT="${CONTROLLER_PORT:-$((PORT + 1))}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HOME_DIR="${COBRANZA_KAFKA_HOME:-$HOME/.cache/cobranza/apache-kafka}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
HOST=127.0.0.1

LIB_DIR="$KAFKA_HOME_DIR/lib-$KAFKA_VERSION"
INSTANCE_DIR="$KAFKA_HOME_DIR/instances/$PORT"
DATA_DIR="$INSTANCE_DIR/kraft-logs"
CONFIG="$INSTANCE_DIR/server.properties"
LOG4J_CONFIG="$INSTANCE_DIR/log4j2.properties"
PID_FILE="$INSTANCE_DIR/kafka.pid"
LOG_FILE="$INSTANCE_DIR/kafka.log"
CLUSTER_ID_FILE="$INSTANCE_DIR/cluster.id"
BOOTSTRAP="$HOST:$PORT"

log() { printf '[apache-kafka] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

pick_python() {
  if [[ -n "${PYTHON:-}" ]]; then
    echo "$PYTHON"
  elif [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
    echo "$REPO_ROOT/.venv/bin/python"
  elif command -v python3 >/dev/null 2>&1; then
    command -v python3
  fi
}
PY="$(pick_python || true)"
HAVE_CK=0
if [[ -n "$PY" ]] && "$PY" -c 'import confluent_kafka' >/dev/null 2>&1; then HAVE_CK=1; fi

# ---------------------------------------------------------------- process helpers
read_pid() { [[ -f "$PID_FILE" ]] && tr -dc '0-9' <"$PID_FILE" || true; }

# Our broker is alive: the pid from the pid file exists and is a kafka.Kafka JVM for this config.
pid_alive() {
  local pid="$1"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $CONFIG" || return 1
  fi
  return 0
}

# Process exists and is not a zombie (a child that died before we reaped it still answers kill -0).
proc_running() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ ! -r "/proc/$1/stat" ]] || ! awk '{exit ($3 == "Z") ? 0 : 1}' "/proc/$1/stat" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# A metadata request answered by a broker that lists itself (needs confluent_kafka);
# without it, the log line the KRaft server prints once it is fully started.
probe_ready() {
  port_open "$PORT" || return 1
  if [[ "$HAVE_CK" == 1 ]]; then
    "$PY" - "$BOOTSTRAP" <<'PY' >/dev/null 2>&1
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "socket.timeout.ms": 3000}).list_topics(timeout=3)
sys.exit(0 if md.brokers else 1)
PY
  else
    grep -q "Kafka Server started" "$LOG_FILE" 2>/dev/null
  fi
}

# ---------------------------------------------------------------- assembly
ensure_jars() {
  if [[ -f "$LIB_DIR/.complete" ]]; then return 0; fi
  mkdir -p "$KAFKA_HOME_DIR"
  # Shared by every port's instance: one download at a time.
  exec 8>"$KAFKA_HOME_DIR/.jars.lock"
  flock -w 600 8 || die "timed out waiting for another run.sh to fetch the jars"
  if [[ -f "$LIB_DIR/.complete" ]]; then exec 8>&-; return 0; fi
  command -v "$MVN" >/dev/null 2>&1 || die "maven ($MVN) not found; it is needed once to fetch Kafka $KAFKA_VERSION"
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central into $LIB_DIR"
  local tmp="$LIB_DIR.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  local mvn_log="$KAFKA_HOME_DIR/maven.log"
  if ! "$MVN" -B -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" \
      -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    grep -E 'ERROR|FAIL' "$mvn_log" | head -n 20 >&2 || true
    die "maven could not resolve Kafka $KAFKA_VERSION (full output: $mvn_log)"
  fi
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after resolution"; }
  touch "$tmp/.complete"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  log "$(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $LIB_DIR"
  exec 8>&-
}

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java ($JAVA) not found; Kafka $KAFKA_VERSION needs Java 17+"
  local v
  v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  [[ -n "$v" && "$v" -ge 17 ]] || die "Java 17+ required, found: $("$JAVA" -version 2>&1 | head -1)"
}

write_config() {
  mkdir -p "$INSTANCE_DIR" "$DATA_DIR"
  cat >"$CONFIG" <<EOF
# Generated by deploy/apache-kafka/run.sh on every start; edits are lost.
# Put extra settings in server.override.properties next to this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$DATA_DIR
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=168
log.segment.bytes=268435456
EOF
  if [[ -f "$INSTANCE_DIR/server.override.properties" ]]; then
    { echo "# --- server.override.properties"; cat "$INSTANCE_DIR/server.override.properties"; } >>"$CONFIG"
  fi
  cat >"$LOG4J_CONFIG" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $LOG_FILE
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
EOF
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then return 0; fi
  local cid
  if [[ -s "$CLUSTER_ID_FILE" ]]; then
    cid="$(cat "$CLUSTER_ID_FILE")"
  else
    cid="$("$JAVA" -cp "$LIB_DIR/*" -Dlog4j2.configurationFile="$LOG4J_CONFIG" kafka.tools.StorageTool random-uuid | tail -1)"
    echo "$cid" >"$CLUSTER_ID_FILE"
  fi
  log "formatting $DATA_DIR (cluster id $cid)"
  "$JAVA" -cp "$LIB_DIR/*" -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
    kafka.tools.StorageTool format -t "$cid" -c "$CONFIG" --ignore-formatted >&2
}

# ---------------------------------------------------------------- commands
wait_ready() {
  local pid="$1" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    # proc_running, not pid_alive: right after the fork the child may not have exec'd java yet.
    if ! proc_running "$pid"; then
      log "broker exited during startup; last log lines ($LOG_FILE):"
      tail -n 30 "$LOG_FILE" >&2 2>/dev/null || true
      rm -f "$PID_FILE"
      return 1
    fi
    if probe_ready; then return 0; fi
    sleep 0.5
  done
  log "broker not ready after ${KAFKA_START_TIMEOUT}s; see $LOG_FILE"
  return 1
}

cmd_start() {
  mkdir -p "$INSTANCE_DIR"
  # One start at a time per port (parallel test runners may race here).
  exec 9>"$INSTANCE_DIR/.lock"
  flock -w "$((KAFKA_START_TIMEOUT + 120))" 9 || die "timed out waiting for another run.sh on port $PORT"

  local pid
  pid="$(read_pid)"
  if pid_alive "$pid"; then
    if probe_ready || wait_ready "$pid"; then
      echo "KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP"
      return 0
    fi
    die "broker pid $pid is running but not healthy; try: $0 restart"
  fi
  rm -f "$PID_FILE"
  if port_open "$PORT" || port_open "$CONTROLLER_PORT"; then
    die "port $PORT or $CONTROLLER_PORT is already in use by another process (set PORT=...)"
  fi

  check_java
  ensure_jars
  write_config
  format_storage

  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  log "starting Kafka $KAFKA_VERSION on $BOOTSTRAP (controller $HOST:$CONTROLLER_PORT), log: $LOG_FILE"
  # setsid: the broker outlives the calling shell and its process group.
  # shellcheck disable=SC2086
  setsid nohup "$JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$INSTANCE_DIR" $KAFKA_JVM_OPTS \
    -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG" \
    >"$INSTANCE_DIR/kafka.stdout" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  if wait_ready "$pid"; then
    log "ready (pid $pid)"
    echo "KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP"
  else
    exit 1
  fi
}

cmd_stop() {
  local pid
  pid="$(read_pid)"
  if ! pid_alive "$pid"; then
    rm -f "$PID_FILE"
    log "not running on port $PORT"
    return 0
  fi
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after 30s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  pid="$(read_pid)"
  if pid_alive "$pid" && probe_ready; then
    echo "running pid=$pid version=$KAFKA_VERSION"
    echo "KAFKA_BOOTSTRAP_SERVERS=$BOOTSTRAP"
    return 0
  elif pid_alive "$pid"; then
    echo "starting-or-unhealthy pid=$pid (see $LOG_FILE)"
    return 3
  fi
  echo "stopped"
  return 3
}

cmd_reset() {
  cmd_stop
  log "deleting $DATA_DIR and cluster id"
  rm -rf "$DATA_DIR" "$CLUSTER_ID_FILE"
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  logs) echo "$LOG_FILE" ;;
  -h|--help|help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$1' (start|stop|restart|status|reset|logs)" ;;
esac
