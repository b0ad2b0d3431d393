#!/usr/bin/env bash
# scripts/kafka.sh up|down|status|stop|start|restart
#
# Real Apache Kafka 4.x for tests: one KRaft node (broker and controller) on
# loopback only, at 127.0.0.1:${TROUPE_KAFKA_PORT:-19092} (the controller on
# the next port). The broker's jars come from Maven Central through Maven
# (scripts/kafka/pom.xml) into .cache/, reused when present. `up` formats a
# fresh storage directory, starts the broker in the background and waits until
# it answers a metadata request; `down` stops only the process it started (by
# pid) and removes its data. A stale broker left by a killed run is stopped
# by the next `up`. `stop` and `start` stop and restart the broker keeping
# its data (for outage tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(repo_root)
PORT=${TROUPE_KAFKA_PORT:-19092}
CONTROLLER_PORT=$((PORT + 1))
HOST=127.0.0.1
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/kafka/pom.xml")
CACHE=${TROUPE_CACHE_DIR:-$ROOT/.cache}/kafka-$VERSION
LIBS=$CACHE/libs
RUN=$ROOT/.run/kafka-$PORT
PIDFILE=$RUN/kafka.pid
# The marker that identifies our broker process in /proc/<pid>/cmdline.
MARKER=$RUN/server.properties

fetch() {
  [ -f "$CACHE/.complete" ] && return 0
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install -y maven)"
  command -v java >/dev/null || die "java not found: install a JDK 17+ (apt-get install -y openjdk-17-jdk-headless)"
  log "fetching Apache Kafka $VERSION jars into $LIBS"
  rm -rf "$CACHE"
  mkdir -p "$LIBS"
  mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" package -Djars.dir="$LIBS" >&2
  mkdir -p "$CACHE/ready"
  javac -nowarn -cp "$LIBS/*" -d "$CACHE/ready" "$ROOT/scripts/kafka/Ready.java"
  touch "$CACHE/.complete"
}

write_config() {
  mkdir -p "$RUN/data"
  cat >"$RUN/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$RUN/data
num.partitions=6
auto.create.topics.enable=true
log.retention.ms=-1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
}

up() {
  if pid_alive "$PIDFILE" "$MARKER"; then
    log "stopping a stale broker (pid $(cat "$PIDFILE")) left by an earlier run"
  fi
  stop_pid "$PIDFILE" "$MARKER"
  rm -rf "$RUN"
  if port_in_use "$HOST" "$PORT" || port_in_use "$HOST" "$CONTROLLER_PORT"; then
    die "port $HOST:$PORT or $CONTROLLER_PORT is taken by another process; free it or set TROUPE_KAFKA_PORT"
  fi
  fetch
  write_config
  # A KRaft cluster id is 16 random bytes, URL-safe base64 without padding.
  local cluster_id
  cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  java -cp "$LIBS/*" -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties" \
    -Dkafka.logs.dir="$RUN" kafka.tools.StorageTool format --cluster-id="$cluster_id" \
    -c "$RUN/server.properties" >"$RUN/format.log" 2>&1 ||
    { cat "$RUN/format.log" >&2; die "formatting the storage failed"; }
  start_broker
}

# start_broker starts the broker on the formatted storage in $RUN and waits
# until it answers a metadata request.
start_broker() {
  setsid java -Xms256m -Xmx1g -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties" -Dkafka.logs.dir="$RUN" \
    -cp "$LIBS/*" kafka.Kafka "$RUN/server.properties" >"$RUN/stdout.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  if ! java -cp "$LIBS/*:$CACHE/ready" -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties" \
    -Dkafka.logs.dir="$RUN/ready" Ready "$HOST:$PORT" 90 >&2; then
    tail -n 30 "$RUN/server.log" "$RUN/stdout.log" >&2 2>/dev/null || true
    stop_pid "$PIDFILE" "$MARKER"
    die "the broker did not start"
  fi
  log "Apache Kafka $VERSION up at $HOST:$PORT (pid $(cat "$PIDFILE"), logs in $RUN)"
}

stop() {
  [ -f "$RUN/server.properties" ] || die "no broker data in $RUN: run up first"
  stop_pid "$PIDFILE" "$MARKER"
  log "Kafka on $HOST:$PORT stopped (data kept in $RUN)"
}

start() {
  [ -f "$RUN/server.properties" ] || die "no broker data in $RUN: run up first"
  if pid_alive "$PIDFILE" "$MARKER"; then
    log "Kafka on $HOST:$PORT already running"
    return 0
  fi
  start_broker
}

down() {
  stop_pid "$PIDFILE" "$MARKER"
  rm -rf "$RUN"
  log "Kafka on $HOST:$PORT stopped"
}

status() {
  if pid_alive "$PIDFILE" "$MARKER"; then
    echo "kafka $VERSION running at $HOST:$PORT (pid $(cat "$PIDFILE"))"
  else
    echo "kafka not running (port $PORT)"
    return 3
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  stop) stop ;;
  start) start ;;
  restart) stop && start ;;
  *) echo "usage: $0 up|down|status|stop|start|restart" >&2; exit 2 ;;
esac
