#!/usr/bin/env bash
# influxdb.sh - a throwaway InfluxDB 1.8.10 with Flux enabled, for development,
# the demo and the tests. It serves the v2 write and Flux API the server uses:
# org "-", bucket "DB/autogen", token "" (auth is off; loopback only).
#
# Usage:
#   scripts/influxdb.sh install   build influxd once (go install, ~1 min cold) or reuse the
#                                 cached one; print the binary's path on stdout
#   scripts/influxdb.sh start     install if needed, start, wait for /ping, create the
#                                 database; print the URL on stdout
#   scripts/influxdb.sh stop      stop the influxd this script started (pid file), nothing else
#   scripts/influxdb.sh status    print the URL and exit 0 if our instance answers, else exit 1
#
# Environment (all optional):
#   INFLUX_PORT          HTTP port on 127.0.0.1                   (default 18086)
#   INFLUX_DB            database to create                       (default jagadesa)
#   INFLUX_DATA_DIR      data/meta/wal, config, log and pid file  (default ${TMPDIR:-/tmp}/jagadesa-influxdb-$INFLUX_PORT)
#   INFLUX_CACHE_DIR     where influxd is installed               (default ${XDG_CACHE_HOME:-$HOME/.cache}/jagadesa/influxdb)
#                        the binary is $INFLUX_CACHE_DIR/v1.8.10/bin/influxd
#   INFLUXD              use this influxd binary instead of the cached/built one
#   INFLUX_START_TIMEOUT seconds to wait for /ping                (default 60; Flux start-up takes ~3.5 s on 2 cores)
#   INFLUX_STOP_TIMEOUT  seconds after SIGTERM before SIGKILL     (default 20)
#
# Diagnostics go to stderr; stdout carries only the result, so
#   URL=$(scripts/influxdb.sh start)   and   INFLUXD=$(scripts/influxdb.sh install)   work.
# Needs bash, curl, and Go (only to build influxd the first time).

set -euo pipefail

INFLUX_VERSION=v1.8.10
INFLUX_PKG=github.com/influxdata/influxdb/cmd/influxd
PORT=${INFLUX_PORT:-18086}
DB=${INFLUX_DB:-jagadesa}
DATA_DIR=${INFLUX_DATA_DIR:-${TMPDIR:-/tmp}/jagadesa-influxdb-$PORT}
CACHE_DIR=${INFLUX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jagadesa/influxdb}
START_TIMEOUT=${INFLUX_START_TIMEOUT:-60}
STOP_TIMEOUT=${INFLUX_STOP_TIMEOUT:-20}
BUILD_LOCK_TIMEOUT=900 # another process building influxd: wait at most this long for it
URL="http://127.0.0.1:$PORT"

log() { printf 'influxdb.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { die "usage: $0 install|start|stop|status"; }

if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then die "INFLUX_PORT must be a port number, got '$PORT'"; fi
[[ $DB =~ ^[A-Za-z0-9_-]+$ ]] || die "INFLUX_DB must match [A-Za-z0-9_-]+, got '$DB'"
[[ $START_TIMEOUT =~ ^[0-9]+$ && $STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "INFLUX_START_TIMEOUT and INFLUX_STOP_TIMEOUT must be whole seconds"

[[ $DATA_DIR == /* ]] || DATA_DIR="$PWD/$DATA_DIR"    # absolute, so the pid-file/cmdline check is stable
[[ $CACHE_DIR == /* ]] || CACHE_DIR="$PWD/$CACHE_DIR"
CONF="$DATA_DIR/influxdb.conf"
PIDFILE="$DATA_DIR/influxd.pid"
LOGFILE="$DATA_DIR/influxd.log"

need_curl() { command -v curl >/dev/null || die "curl is required (apt-get install curl)"; }

# Prints the pid from the pid file if that process is alive AND is influxd running our config.
our_pid() {
  local pid
  [[ -f $PIDFILE ]] || return 1
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against a recycled pid: the command line must name our config file
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-config $CONF" || return 1
  echo "$pid"
}

# SIGTERM, bounded wait, then SIGKILL - only ever for a pid this script started.
terminate() {
  local pid=$1 deadline=$((SECONDS + STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "pid $pid still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.2
  done
}

ping_ok() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/ping" 2>/dev/null) == 204 ]]; }

# Sets BIN to a usable influxd: $INFLUXD, else the cached build, else builds it.
install_influxd() {
  if [[ -n ${INFLUXD:-} ]]; then
    [[ -f $INFLUXD && -x $INFLUXD ]] || die "INFLUXD=$INFLUXD is not an executable file"
    BIN=$INFLUXD
    return
  fi
  BIN="$CACHE_DIR/$INFLUX_VERSION/bin/influxd"
  if [[ -x $BIN ]]; then
    log "using cached $BIN"
    return
  fi
  mkdir -p "$CACHE_DIR/$INFLUX_VERSION"
  # Parallel callers (e.g. several test packages on a fresh machine) build once: the first
  # takes the lock and builds, the others wait for it and then find the binary.
  if command -v flock >/dev/null; then
    exec 9>"$CACHE_DIR/$INFLUX_VERSION/.build.lock"
    if ! flock -n 9; then
      log "another process is building influxd; waiting up to ${BUILD_LOCK_TIMEOUT}s"
      flock -w "$BUILD_LOCK_TIMEOUT" 9 || die "timed out waiting for the influxd build lock $CACHE_DIR/$INFLUX_VERSION/.build.lock"
    fi
    if [[ -x $BIN ]]; then
      log "using $BIN (built by another process)"
      return
    fi
  fi
  command -v go >/dev/null || die "go is required to build influxd $INFLUX_VERSION (or set INFLUXD=/path/to/influxd)"
  local tmpbin
  tmpbin=$(mktemp -d "$CACHE_DIR/$INFLUX_VERSION/build.XXXXXX")
  log "building influxd $INFLUX_VERSION with $(go version | cut -d' ' -f3) (about a minute, more with a cold module cache)..."
  # Build from a neutral dir with workspace, flags and cross-compilation settings neutralised,
  # so the caller's go.mod/go.work/GOFLAGS/GOOS/GOARCH cannot interfere.
  if ! (cd "$tmpbin" && env -u GOOS -u GOARCH -u GOARM -u GOMIPS -u GOAMD64 \
        GOBIN="$tmpbin" GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
        go install -trimpath -ldflags="-s -w -X main.version=${INFLUX_VERSION#v}" "$INFLUX_PKG@$INFLUX_VERSION" >&2); then
    rm -rf "$tmpbin"
    die "go install $INFLUX_PKG@$INFLUX_VERSION failed (see above)"
  fi
  mkdir -p "$(dirname "$BIN")"
  mv -f "$tmpbin/influxd" "$BIN"   # atomic within the same filesystem
  rm -rf "$tmpbin"
  log "installed $BIN"
}

write_config() {
  cat >"$CONF" <<CONF
# generated by scripts/influxdb.sh
reporting-disabled = true
# RPC/backup service: loopback, kernel-chosen port so parallel instances never clash
bind-address = "127.0.0.1:0"

[meta]
  dir = "$DATA_DIR/meta"

[data]
  dir = "$DATA_DIR/data"
  wal-dir = "$DATA_DIR/wal"
  query-log-enabled = false
  # A national fleet tags 83,763 villages and as many probes, and every
  # re-enrolled probe adds one: the default limit of 100,000 values a tag
  # would refuse new series (the server then answers 503 and probes wait).
  max-values-per-tag = 0

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$PORT"
  auth-enabled = false
  flux-enabled = true
  log-enabled = false
CONF
}

create_db() {
  local out code
  out=$(curl -s --max-time 10 -w '\n%{http_code}' -XPOST "$URL/query" --data-urlencode "q=CREATE DATABASE \"$DB\"") ||
    die "CREATE DATABASE request to $URL failed"
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  [[ $code == 200 && $out != *'"error"'* ]] || die "CREATE DATABASE $DB failed: HTTP $code $out"
  log "database '$DB' ready (bucket \"$DB/autogen\", org \"-\", token \"\")"
}

cmd_install() {
  install_influxd
  echo "$BIN"
}

cmd_start() {
  need_curl
  local pid
  if pid=$(our_pid); then
    ping_ok || die "influxd pid $pid (ours) is running but $URL/ping does not answer; see $LOGFILE"
    log "already running (pid $pid)"
    create_db
    echo "$URL"
    return
  fi
  mkdir -p "$DATA_DIR"
  rm -f "$PIDFILE"
  if ping_ok || curl -s -o /dev/null --max-time 2 "$URL/" 2>/dev/null; then
    die "something else is already listening on 127.0.0.1:$PORT (not started by this script); choose another INFLUX_PORT"
  fi
  install_influxd
  write_config
  if [[ -f $LOGFILE ]]; then mv -f "$LOGFILE" "$LOGFILE.prev"; fi
  log "starting $BIN on $URL, data in $DATA_DIR, log $LOGFILE"
  # nohup execs influxd, so $! is influxd's own pid; stdio is detached so callers reading our
  # stdout don't hang, and the build lock (fd 9) is not inherited.
  nohup "$BIN" -config "$CONF" >>"$LOGFILE" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"

  local t0=$SECONDS deadline=$((SECONDS + START_TIMEOUT))
  until ping_ok; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      log "last lines of $LOGFILE:"
      tail -n 20 "$LOGFILE" >&2 || true
      die "influxd (pid $pid) exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      log "last lines of $LOGFILE:"
      tail -n 20 "$LOGFILE" >&2 || true
      terminate "$pid"
      rm -f "$PIDFILE"
      die "influxd did not answer $URL/ping within ${START_TIMEOUT}s (raise INFLUX_START_TIMEOUT?); stopped pid $pid"
    fi
    sleep 0.2
  done
  log "up (pid $pid) after ~$((SECONDS - t0))s"
  create_db
  echo "$URL"
}

cmd_stop() {
  local pid
  if ! pid=$(our_pid); then
    if [[ -f $PIDFILE ]]; then
      log "stale pid file $PIDFILE (process gone or not ours); removing"
      rm -f "$PIDFILE"
    fi
    log "not running"
    return 0
  fi
  log "stopping influxd pid $pid"
  terminate "$pid"
  rm -f "$PIDFILE"
  log "stopped"
}

cmd_status() {
  need_curl
  local pid
  if pid=$(our_pid) && ping_ok; then
    log "running (pid $pid)"
    echo "$URL"
  else
    log "not running"
    return 1
  fi
}

[[ $# -eq 1 ]] || usage
case "$1" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) usage ;;
esac
