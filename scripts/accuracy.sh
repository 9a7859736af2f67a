#!/usr/bin/env bash
# accuracy.sh - holds the probe's measurements against ground truth in a lab
# of two network namespaces (cmd/internal/netlab, docs/accuracy.md) and
# prints the result table:
#   - ICMP: a userspace responder answers after exactly 50 ms and drops a
#     seeded 5%, recording which; the probe (200 pings at 20 ms) and fping
#     measure it. Targets: median RTT within 0.5 ms of 50 ms, loss equal to
#     the responder's drops and inside the binomial 95% interval.
#   - Throughput: the veth shaped by tbf to 100 Mbit/s; iperf3 and the
#     probe's speed test against the real server handler. Target: within 5%.
# The namespaces (jd-a-<pid>-1, jd-b-<pid>-1) hold the only addresses used
# (10.200.0.1 and .2) and are removed afterwards, also when the test fails.
#
# Run as root (namespaces, raw sockets). Takes about a minute.
# Usage: scripts/accuracy.sh [extra go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'accuracy.sh: %s\n' "$*" >&2; }

command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
if [[ $(id -u) != 0 ]]; then
  log "run as root: the lab creates network namespaces and opens raw ICMP sockets"
  exit 1
fi
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v fping >/dev/null || need+=(fping)
command -v iperf3 >/dev/null || need+=(iperf3)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

report=$(mktemp "${TMPDIR:-/tmp}/jagadesa-accuracy.XXXXXX")
trap 'rm -f "$report"' EXIT

status=0
JAGADESA_ACCURACY_REPORT=$report go test -count=1 -v -timeout 10m -run '^TestAccuracy$' "$@" ./cmd/internal/netlab || status=$?

echo
echo "Accuracy, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r):"
echo
if [[ -s $report ]]; then
  cat "$report"
else
  echo "(no table: the test stopped before measuring; see its output above)"
fi
if ((status != 0)); then
  log "FAILED: a target was missed or the lab could not be built (see above)"
fi
exit "$status"
