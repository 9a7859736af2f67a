#!/usr/bin/env bash
# demo.sh - the main job on one machine: a real InfluxDB 1.8 (built and
# cached on first use), the JagaDesa server, and a simulated fleet of the
# programme's 599 villages reporting through the real probe code.
# Ctrl-C stops everything it started.
#
# Environment (optional): JAGADESA_LISTEN (default 127.0.0.1:8080),
# INFLUX_PORT (18086), JAGADESA_ADMIN_TOKEN (random), DEMO_VILLAGES (599),
# DEMO_INTERVAL (60s), DEMO_BACKFILL (24h of history written first, so the
# SLA, readiness and reports have a past; 0 to skip), DEMO_DIR (${TMPDIR:-/tmp}/jagadesa-demo),
# JAGADESA_PROVINCES (jateng,jambi).
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN=${JAGADESA_LISTEN:-127.0.0.1:8080}
export INFLUX_PORT=${INFLUX_PORT:-18086}
export INFLUX_DB=jagadesa
VILLAGES=${DEMO_VILLAGES:-599}
INTERVAL=${DEMO_INTERVAL:-60s}
BACKFILL=${DEMO_BACKFILL:-24h}
DIR=${DEMO_DIR:-${TMPDIR:-/tmp}/jagadesa-demo}
TOKEN=${JAGADESA_ADMIN_TOKEN:-demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}
URL="http://$LISTEN"

log() { printf 'demo: %s\n' "$*" >&2; }
command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
if ! command -v curl >/dev/null; then
  log "installing curl"
  apt-get update -qq && apt-get install -y -qq curl >/dev/null
fi

mkdir -p "$DIR" bin
pids=()
cleanup() {
  trap - EXIT INT TERM
  log "stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/influxdb.sh stop || true
}
trap cleanup EXIT INT TERM

INFLUX_URL=$(scripts/influxdb.sh start)
log "InfluxDB at $INFLUX_URL"

log "building jagadesa"
go build -o bin/jagadesa ./cmd/jagadesa

JAGADESA_ADMIN_TOKEN=$TOKEN bin/jagadesa serve --listen "$LISTEN" --influx-url "$INFLUX_URL" \
  --influx-bucket jagadesa/autogen --data-dir "$DIR/data" --provinces "${JAGADESA_PROVINCES:-jateng,jambi}" \
  --threat-feed server/threatfeed/example-feed.txt >"$DIR/server.out" 2>"$DIR/server.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "$URL/healthz" && break
  kill -0 "${pids[0]}" 2>/dev/null || { tail -n 20 "$DIR/server.log" >&2; log "server exited"; exit 1; }
  sleep 0.2
done
curl -fs -o /dev/null "$URL/healthz" || { tail -n 20 "$DIR/server.log" >&2; log "server did not become healthy"; exit 1; }

backfill=()
if [[ $BACKFILL != 0 ]]; then
  log "writing $BACKFILL of history for $VILLAGES villages first (a minute or two), then the fleet goes live"
  backfill=(--backfill "$BACKFILL" --live)
fi
JAGADESA_ADMIN_TOKEN=$TOKEN bin/jagadesa sim --server "$URL" --villages "$VILLAGES" --interval "$INTERVAL" \
  --dir "$DIR/sim" "${backfill[@]}" >"$DIR/sim.out" 2>"$DIR/sim.log" &
pids+=($!)

cat <<MSG

  JagaDesa demo is running.
    dashboard   $URL/   (Bahasa Indonesia; sign in with the admin token)
    server      $URL
    admin token $TOKEN
    InfluxDB    $INFLUX_URL  (bucket jagadesa/autogen, Flux on)
    logs        $DIR/server.log, $DIR/sim.log

  Try:
    curl -s -H 'Authorization: Bearer $TOKEN' '$URL/api/v1/villages?status=down'
    curl -s -H 'Authorization: Bearer $TOKEN' $URL/api/v1/villages/33.06.08.2007
    curl -s -H 'Authorization: Bearer $TOKEN' '$URL/api/v1/incidents?status=open'
    curl -s -H 'Authorization: Bearer $TOKEN' $URL/metrics | grep jagadesa_villages
    curl -s -H 'Authorization: Bearer $TOKEN' $URL/api/v1/sla/isps
    curl -s -H 'Authorization: Bearer $TOKEN' '$URL/api/v1/readiness?flag=digital'
    curl -s -H 'Authorization: Bearer $TOKEN' -o sla.pdf '$URL/api/v1/reports/monthly/sla?format=pdf'
    bin/jagadesa verify --data-dir $DIR/data      (every stored batch against its probe's key)

  The incident queue is at $URL/insiden; the simulated regional power cut
  (one kecamatan, five minutes in) becomes one regional incident, routed to
  its regency's CSIRT (demo directory: 21 SYNTHETIC regency teams).

  Ctrl-C stops everything.

MSG

start=$SECONDS
while sleep 15; do
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { tail -n 20 "$DIR/server.log" "$DIR/sim.log" >&2; log "a process exited"; exit 1; }
  done
  body=$(curl -fs -H "Authorization: Bearer $TOKEN" "$URL/api/v1/villages") || continue
  reporting=$(grep -o '"last_seen":"' <<<"$body" | wc -l)
  total=$(grep -o '"count":[0-9]*' <<<"$body" | head -n1 | cut -d: -f2)
  statuses=$(grep -o '"by_status":{[^}]*}' <<<"$body" | cut -d: -f2- | tr -d '"{}')
  incidents=$(curl -fs -H "Authorization: Bearer $TOKEN" "$URL/api/v1/incidents?status=open" | grep -o '"count":[0-9]*' | head -n1 | cut -d: -f2)
  log "$((SECONDS - start))s: $reporting of $total villages reporting ($statuses); ${incidents:-0} open incidents"
done
