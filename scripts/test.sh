#!/usr/bin/env bash
# test.sh - everything CI checks: formatting, vet, and every test, including
# the integration tests against a real InfluxDB 1.8 that the tests start
# themselves (installed by scripts/influxdb.sh when missing). Run as root:
# the probe's ICMP tests open raw sockets.
#
# Usage: scripts/test.sh [extra go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
# Real peers the tests use, from Debian: curl (InfluxDB script), qemu-user
# (router builds), iproute2 (network namespaces), fping and iperf3 (ground
# truth for the probe's measurements), chromium (the dashboard's browser
# tests), gdal-bin (ogrinfo, an independent reader of our GeoJSON and
# vector tiles), prometheus-alertmanager (a real receiver for alerts) and
# openssl and jq (verify a stored signed batch knowing nothing of JagaDesa),
# poppler-utils (pdfinfo, pdftotext, pdftoppm: the PDF reports as a reader
# sees them).
need=()
command -v curl >/dev/null || need+=(curl)
command -v qemu-mipsel-static >/dev/null || need+=(qemu-user-static)
command -v ip >/dev/null || need+=(iproute2)
command -v fping >/dev/null || need+=(fping)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v chromium >/dev/null || need+=(chromium)
command -v ogrinfo >/dev/null || need+=(gdal-bin)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v openssl >/dev/null || need+=(openssl) # checks stored evidence as an ISP would
command -v jq >/dev/null || need+=(jq)
command -v pdftotext >/dev/null || need+=(poppler-utils) # reads back and renders the PDF reports
command -v nginx >/dev/null || need+=(nginx) # runs deploy/nginx/jagadesa.conf in front of two stand-in servers
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Build (or reuse the cached) influxd before the tests, so its first-time
# build does not count against a test package's timeout.
INFLUXD=$(scripts/influxdb.sh install)
export INFLUXD
log "influxd: $INFLUXD"
# PostgreSQL from Debian for the metadata store's tests (internal/pgtest
# starts a throwaway cluster from these binaries).
PGBIN=$(scripts/postgres.sh install)
export PGBIN
log "postgres: $PGBIN"

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n $unformatted ]]; then
  log "gofmt would change: $unformatted"
  exit 1
fi
log "go vet"
go vet ./...
# Screenshots and other things worth a look after a run.
export JAGADESA_ARTIFACTS=${JAGADESA_ARTIFACTS:-$PWD/artifacts}
mkdir -p "$JAGADESA_ARTIFACTS"
log "go test (artifacts in $JAGADESA_ARTIFACTS)"
# The accuracy lab measures latency to a tenth of a millisecond against a
# userspace responder, so it runs alone, after the rest: next to the
# browser tests and the simulated fleet, scheduling delays on two cores
# showed up in its numbers (a 0.6 ms bias instead of 0.3 ms).
go test -count=1 -timeout 20m "$@" $(go list ./... | grep -v /cmd/internal/netlab)
log "go test (accuracy lab, alone)"
go test -count=1 -timeout 10m "$@" ./cmd/internal/netlab
# Every fuzz target for a bounded time (seed corpora also run in go test
# above); a finding fails CI and leaves its input under testdata/fuzz.
log "fuzz (each target ${FUZZTIME:-10s})"
FUZZTIME=${FUZZTIME:-10s} scripts/fuzz.sh
