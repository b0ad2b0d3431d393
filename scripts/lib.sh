# Shared helpers for scripts/kafka.sh and scripts/redis.sh. Sourced, not run.

# repo_root is the repository's top directory (the parent of scripts/).
repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "$*"; exit 1; }

# pid_alive PIDFILE MARKER: true when the pid in PIDFILE is a live process
# whose command line contains MARKER (so a recycled pid is never taken for ours).
pid_alive() {
  local pidfile=$1 marker=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# stop_pid PIDFILE MARKER: stops the process we started (TERM, then KILL after
# 10 s) and removes the pid file. Does nothing to any other process.
stop_pid() {
  local pidfile=$1 marker=$2 pid i
  if pid_alive "$pidfile" "$marker"; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      pid_alive "$pidfile" "$marker" || break
      sleep 0.1
    done
    if pid_alive "$pidfile" "$marker"; then
      log "pid $pid did not stop on TERM within 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$pidfile"
}

# port_in_use HOST PORT: true when something accepts TCP connections there.
port_in_use() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
