#!/usr/bin/env bash
# scripts/stack.sh up|down|status|start <component>   (`make stack`, `make stack-down`)
#
# The distributed deployment as separate processes on this machine: real
# Kafka and Redis (scripts/kafka.sh, scripts/redis.sh), `troupe eventstore
# serve` standing in for KurrentDB, `troupe psp serve` standing in for the
# card gateway, one `troupe serve <component>` per component, and
# `troupe serve gateway`, the one public listener.
#
#   up      builds troupe into <dir>/bin, starts everything on a fresh data
#           dir, waits until every /readyz answers 200 and writes
#           <dir>/endpoints.json (http = the gateway) and <dir>/jwt.secret,
#           so `troupe load --data-dir <dir>` and the other tools find it.
#   down    stops exactly the processes `up` started (pid files checked
#           against /proc/<pid>/cmdline), then Kafka and Redis if it
#           started them. Logs stay in <dir>/logs.
#   status  lists the processes and whether each is alive.
#   start C starts component C again when it is not running (after a crash
#           or a kill -9), with the same settings, and waits for its /readyz.
#
# Settings (environment):
#   TROUPE_STACK_DIR    data, logs, pids, endpoints.json   (.run/stack)
#   TROUPE_HTTP_ADDR    the gateway                        (127.0.0.1:8080)
#   TROUPE_STACK_PORT   first of 8 consecutive loopback ports: event store,
#                       card gateway, catalog, ordering, payments,
#                       projections, loyalty, webhook      (18100)
#   TROUPE_KAFKA_PORT   Kafka started here                 (19192)
#   TROUPE_REDIS_PORT   Redis started here                 (16479)
#   TROUPE_KAFKA_BROKERS / TROUPE_REDIS_URL: use these instead of starting
#                       Kafka / Redis (then `down` leaves them alone)
#   TROUPE_RATE_LIMIT   the gateway's requests/s per subject (1000)
#   TROUPE_WEBHOOKS     JSON list of webhooks: also runs `troupe serve webhook`
#   TROUPE_BIN          a troupe binary to use instead of building one
set -eEuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(repo_root)
DIR=${TROUPE_STACK_DIR:-$ROOT/.run/stack}
case "$DIR" in /*) ;; *) DIR=$PWD/$DIR ;; esac
HOST=127.0.0.1

# Components in start order; `down` stops them in reverse.
COMPONENTS=(catalog ordering payments projections loyalty webhook)

port_of() {
  local base=$STACK_PORT
  case "$1" in
    eventstore) echo $((base)) ;;
    psp) echo $((base + 1)) ;;
    catalog) echo $((base + 2)) ;;
    ordering) echo $((base + 3)) ;;
    payments) echo $((base + 4)) ;;
    projections) echo $((base + 5)) ;;
    loyalty) echo $((base + 6)) ;;
    webhook) echo $((base + 7)) ;;
    *) return 1 ;;
  esac
}

# args_of NAME: the troupe command line of one process.
args_of() {
  local name=$1
  case "$name" in
    eventstore) echo "eventstore serve --addr $HOST:$(port_of eventstore) --data-dir $DIR/eventstore" ;;
    psp) echo "psp serve --addr $HOST:$(port_of psp)" ;;
    gateway)
      local a="serve gateway --http-addr $HTTP_ADDR" c
      for c in catalog ordering payments projections loyalty; do
        a="$a --$c-url http://$HOST:$(port_of "$c")"
      done
      [ "$WEBHOOK" = 1 ] && a="$a --webhook-url http://$HOST:$(port_of webhook)"
      echo "$a" ;;
    *) echo "serve $name --http-addr $HOST:$(port_of "$name")" ;;
  esac
}

# marker NAME: what identifies our process in /proc/<pid>/cmdline.
marker() { echo "$BIN $(args_of "$1" | cut -d' ' -f1-4)"; }

pidfile() { echo "$DIR/pids/$1.pid"; }

# enabled NAME: whether this stack runs NAME.
enabled() { [ "$1" != webhook ] || [ "$WEBHOOK" = 1 ]; }

load_env() {
  [ -f "$DIR/stack.env" ] || die "no stack in $DIR: run \`scripts/stack.sh up\` (or \`make stack\`) first"
  # shellcheck source=/dev/null
  source "$DIR/stack.env"
}

# launch NAME: starts one process in the background, detached from this
# shell's session, with the stack's settings in its environment.
launch() {
  local name=$1
  mkdir -p "$DIR/logs" "$DIR/pids"
  # shellcheck disable=SC2046
  (
    export TROUPE_EVENTSTORE_URL="esdb://$HOST:$(port_of eventstore)?tls=false"
    export TROUPE_KAFKA_BROKERS="$KAFKA_BROKERS" TROUPE_REDIS_URL="$REDIS_URL"
    export TROUPE_PSP_URL="http://$HOST:$(port_of psp)" TROUPE_RATE_LIMIT="$RATE_LIMIT"
    TROUPE_JWT_SECRET=$(cat "$DIR/jwt.secret")
    export TROUPE_JWT_SECRET
    exec setsid "$BIN" $(args_of "$name") >>"$DIR/logs/$name.log" 2>&1 </dev/null
  ) &
  local pid=$! i
  echo "$pid" >"$(pidfile "$name")"
  # Until the subshell has exec'd troupe its command line is this script's;
  # wait for that, so the pid check that follows does not take it for dead.
  for i in $(seq 1 100); do
    if pid_alive "$(pidfile "$name")" "$(marker "$name")" || [ ! -e "/proc/$pid" ]; then
      break
    fi
    sleep 0.05
  done
}

# ready_url NAME: the URL that answers 200 once NAME is ready (none for the
# event store, which is checked by its port).
ready_url() {
  case "$1" in
    eventstore) echo "" ;;
    psp) echo "http://$HOST:$(port_of psp)/_sim" ;;
    gateway) echo "http://$HTTP_ADDR/readyz" ;;
    *) echo "http://$HOST:$(port_of "$1")/readyz" ;;
  esac
}

# wait_ready SECONDS NAME...: waits until every NAME is ready; fails naming
# the first that died or did not get ready, with the end of its log.
wait_ready() {
  local limit=$1 name url deadline pending
  shift
  deadline=$(($(date +%s) + limit))
  pending=("$@")
  while [ ${#pending[@]} -gt 0 ]; do
    local still=()
    for name in "${pending[@]}"; do
      if ! pid_alive "$(pidfile "$name")" "$(marker "$name")"; then
        tail -n 30 "$DIR/logs/$name.log" >&2 2>/dev/null || true
        log "$name exited during start (log: $DIR/logs/$name.log)"
        return 1
      fi
      url=$(ready_url "$name")
      if [ -z "$url" ]; then
        port_in_use "$HOST" "$(port_of "$name")" || still+=("$name")
      elif [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$url" 2>/dev/null)" != 200 ]; then
        still+=("$name")
      fi
    done
    pending=("${still[@]+"${still[@]}"}")
    [ ${#pending[@]} -eq 0 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      for name in "${pending[@]}"; do tail -n 20 "$DIR/logs/$name.log" >&2 2>/dev/null || true; done
      log "not ready within ${limit}s: ${pending[*]} (logs in $DIR/logs)"
      return 1
    fi
    sleep 0.2
  done
}

any_alive() {
  local name
  for name in eventstore psp "${COMPONENTS[@]}" gateway; do
    pid_alive "$(pidfile "$name")" "$(marker "$name")" && return 0
  done
  return 1
}

up() {
  if [ -f "$DIR/stack.env" ]; then
    load_env
    any_alive && die "a stack is already running in $DIR: stop it with \`scripts/stack.sh down\` (or \`make stack-down\`)"
  fi
  command -v curl >/dev/null || die "curl not found: install it (apt-get install -y curl)"
  HTTP_ADDR=${TROUPE_HTTP_ADDR:-127.0.0.1:8080}
  STACK_PORT=${TROUPE_STACK_PORT:-18100}
  RATE_LIMIT=${TROUPE_RATE_LIMIT:-1000}
  WEBHOOK=0
  [ -n "${TROUPE_WEBHOOKS:-}" ] && WEBHOOK=1
  local name p
  for name in eventstore psp "${COMPONENTS[@]}"; do
    enabled "$name" || continue
    p=$(port_of "$name")
    port_in_use "$HOST" "$p" && die "port $HOST:$p ($name) is taken; free it or set TROUPE_STACK_PORT"
  done
  port_in_use "${HTTP_ADDR%:*}" "${HTTP_ADDR##*:}" && die "port $HTTP_ADDR (gateway) is taken; free it or set TROUPE_HTTP_ADDR"

  # A fresh start: the event store's data must match the fresh Kafka and
  # Redis (relay checkpoints, read-model offsets).
  rm -rf "$DIR/eventstore" "$DIR/logs" "$DIR/pids" "$DIR/endpoints.json" "$DIR/stack.env"
  mkdir -p "$DIR/bin" "$DIR/logs" "$DIR/pids"

  if [ -n "${TROUPE_BIN:-}" ]; then
    BIN=$TROUPE_BIN
  else
    BIN=$DIR/bin/troupe
    log "building troupe into $BIN"
    (cd "$ROOT/cmd/troupe" && go build -o "$BIN" .) || die "go build failed"
  fi

  STARTED_KAFKA_PORT="" STARTED_REDIS_PORT=""
  if [ -n "${TROUPE_KAFKA_BROKERS:-}" ]; then
    KAFKA_BROKERS=$TROUPE_KAFKA_BROKERS
  else
    STARTED_KAFKA_PORT=${TROUPE_KAFKA_PORT:-19192}
    TROUPE_KAFKA_PORT=$STARTED_KAFKA_PORT "$ROOT/scripts/kafka.sh" up
    KAFKA_BROKERS=$HOST:$STARTED_KAFKA_PORT
  fi
  if [ -n "${TROUPE_REDIS_URL:-}" ]; then
    REDIS_URL=$TROUPE_REDIS_URL
  else
    STARTED_REDIS_PORT=${TROUPE_REDIS_PORT:-16479}
    TROUPE_REDIS_PORT=$STARTED_REDIS_PORT "$ROOT/scripts/redis.sh" up
    REDIS_URL=redis://$HOST:$STARTED_REDIS_PORT/0
  fi

  umask 077
  head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$DIR/jwt.secret"
  umask 022
  cat >"$DIR/stack.env" <<ENV
BIN='$BIN'
HTTP_ADDR='$HTTP_ADDR'
STACK_PORT='$STACK_PORT'
RATE_LIMIT='$RATE_LIMIT'
WEBHOOK='$WEBHOOK'
KAFKA_BROKERS='$KAFKA_BROKERS'
REDIS_URL='$REDIS_URL'
STARTED_KAFKA_PORT='$STARTED_KAFKA_PORT'
STARTED_REDIS_PORT='$STARTED_REDIS_PORT'
ENV

  # From here on a failure stops whatever was started.
  trap 'log "start failed; stopping what was started"; down >&2' ERR
  launch eventstore
  launch psp
  wait_ready 60 eventstore psp
  local started=()
  for name in "${COMPONENTS[@]}"; do
    enabled "$name" || continue
    launch "$name"
    started+=("$name")
  done
  wait_ready 180 "${started[@]}"
  launch gateway
  wait_ready 60 gateway
  trap - ERR

  printf '{"http": "%s", "eventstore": "%s", "kafka": "%s", "redis": "%s", "pid": %s}\n' \
    "$HTTP_ADDR" "esdb://$HOST:$(port_of eventstore)?tls=false" "$KAFKA_BROKERS" "$REDIS_URL" \
    "$(cat "$(pidfile gateway)")" >"$DIR/endpoints.json"
  log "stack ready: gateway http://$HTTP_ADDR; data, logs and endpoints.json in $DIR"
  log "try: troupe load --data-dir $DIR --orders 500; stop: scripts/stack.sh down"
}

# stop NAME...: TERM to each at once, then waits (KILL after 10 s).
stop() {
  local name pids=()
  for name in "$@"; do
    stop_pid "$(pidfile "$name")" "$(marker "$name")" &
    pids+=($!)
  done
  # Only these: a bare wait would also wait for the processes up launched.
  wait "${pids[@]}"
}

down() {
  load_env
  stop gateway
  local rev=() i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do rev+=("${COMPONENTS[$i]}"); done
  stop "${rev[@]}"
  stop psp eventstore
  if [ -n "$STARTED_REDIS_PORT" ]; then
    TROUPE_REDIS_PORT=$STARTED_REDIS_PORT "$ROOT/scripts/redis.sh" down || true
  fi
  if [ -n "$STARTED_KAFKA_PORT" ]; then
    TROUPE_KAFKA_PORT=$STARTED_KAFKA_PORT "$ROOT/scripts/kafka.sh" down || true
  fi
  rm -f "$DIR/endpoints.json" "$DIR/stack.env"
  log "stack in $DIR stopped (logs kept in $DIR/logs)"
}

status() {
  load_env
  local name code=0 addr
  for name in eventstore psp "${COMPONENTS[@]}" gateway; do
    enabled "$name" || continue
    if [ "$name" = gateway ]; then addr=$HTTP_ADDR; else addr=$HOST:$(port_of "$name"); fi
    if pid_alive "$(pidfile "$name")" "$(marker "$name")"; then
      printf '%-12s running  %-22s pid %s\n' "$name" "$addr" "$(cat "$(pidfile "$name")")"
    else
      printf '%-12s stopped  %s\n' "$name" "$addr"
      code=3
    fi
  done
  echo "kafka        $KAFKA_BROKERS"
  echo "redis        $REDIS_URL"
  return $code
}

start() {
  local name=${1:-}
  load_env
  case " eventstore psp ${COMPONENTS[*]} gateway " in
    *" $name "*) ;;
    *) echo "usage: $0 start eventstore|psp|$(IFS='|'; echo "${COMPONENTS[*]}")|gateway" >&2; exit 2 ;;
  esac
  enabled "$name" || die "$name is not part of this stack (set TROUPE_WEBHOOKS at up)"
  if pid_alive "$(pidfile "$name")" "$(marker "$name")"; then
    log "$name already running (pid $(cat "$(pidfile "$name")"))"
    return 0
  fi
  launch "$name"
  wait_ready 120 "$name"
  log "$name started (pid $(cat "$(pidfile "$name")"))"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  start) start "${2:-}" ;;
  *) echo "usage: $0 up|down|status|start <component>" >&2; exit 2 ;;
esac
