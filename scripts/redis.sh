#!/usr/bin/env bash
# scripts/redis.sh up|down|status
#
# Real redis-server (Debian's package, installed when missing) for tests, on
# loopback at 127.0.0.1:${TROUPE_REDIS_PORT:-16379}, without persistence.
# `down` stops only the process it started (by pid). A stale server left by a
# killed run is stopped by the next `up`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(repo_root)
PORT=${TROUPE_REDIS_PORT:-16379}
HOST=127.0.0.1
RUN=$ROOT/.run/redis-$PORT
PIDFILE=$RUN/redis.pid
MARKER=":$PORT"

install() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
  log "redis-server not found: installing Debian's redis-server"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >&2
}

up() {
  if pid_alive "$PIDFILE" "$MARKER"; then
    log "stopping a stale redis-server (pid $(cat "$PIDFILE")) left by an earlier run"
  fi
  stop_pid "$PIDFILE" "$MARKER"
  rm -rf "$RUN"
  port_in_use "$HOST" "$PORT" &&
    die "port $HOST:$PORT is taken by another process; free it or set TROUPE_REDIS_PORT"
  install
  mkdir -p "$RUN"
  redis-server --bind "$HOST" --port "$PORT" --save '' --appendonly no \
    --daemonize yes --pidfile "$PIDFILE" --logfile "$RUN/redis.log" --dir "$RUN" \
    --protected-mode yes
  local i
  for i in $(seq 1 100); do
    if [ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null)" = PONG ] && [ -s "$PIDFILE" ]; then
      log "$(redis-server --version | cut -d' ' -f1-3) up at $HOST:$PORT (pid $(cat "$PIDFILE"))"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$RUN/redis.log" >&2 2>/dev/null || true
  die "redis-server did not answer PING on $HOST:$PORT within 10 s"
}

down() {
  stop_pid "$PIDFILE" "$MARKER"
  rm -rf "$RUN"
  log "Redis on $HOST:$PORT stopped"
}

status() {
  if pid_alive "$PIDFILE" "$MARKER"; then
    echo "redis running at $HOST:$PORT (pid $(cat "$PIDFILE"))"
  else
    echo "redis not running (port $PORT)"
    return 3
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
