#!/usr/bin/env bash
# national-load.sh - the national load run of issue 15, on one machine:
# its own influxd, `jagadesa serve` with the synthetic national registry
# (83,763 villages in 514 regencies) and `jagadesa sim` in a second process,
# then a measuring window. It prints, for the server, the simulator and
# influxd separately: CPU (cores, from /proc), RSS, the reports accepted and
# refused, the ingest latency quantiles (from the server's own histogram),
# and the time of villages GeoJSON per province and of vector tiles while
# the fleet reports. Everything it starts is stopped on exit.
#
# Usage: scripts/national-load.sh [VILLAGES [WINDOW_SECONDS]]   (default 83763 180)
#
# Environment (optional): SERVER_GOMEMLIMIT, the Go runtime's soft memory
# limit for the server alone (e.g. 800MiB; influxd and the simulator are Go
# programs too and keep their defaults),
# JAGADESA_IDLE_TIMEOUT, NATIONAL_PORT (default 18380), SIM_ARGS (more
# flags for the simulator), KEEP=1 keeps the work directory, PROFILE=DIR saves
# the server's heap and CPU profiles (and its binary) there.
set -euo pipefail
cd "$(dirname "$0")/.."

villages=${1:-83763}
window=${2:-180}
port=${NATIONAL_PORT:-18380}
iport=$((port + 1))
work=$(mktemp -d "${TMPDIR:-/tmp}/jagadesa-national.XXXXXX")
token="national-load-admin-token-$RANDOM$RANDOM"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    INFLUX_PORT=$iport INFLUX_DATA_DIR=$work/influx scripts/influxdb.sh stop >/dev/null 2>&1 || true
    [ "${KEEP:-}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

echo "national-load: building jagadesa" >&2
go build -o "$work/jagadesa" ./cmd/jagadesa
influx=$(INFLUX_PORT=$iport INFLUX_DATA_DIR=$work/influx INFLUX_DB=national scripts/influxdb.sh start)

# The server may hold a descriptor per connection: raise the soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
env ${SERVER_GOMEMLIMIT:+GOMEMLIMIT=$SERVER_GOMEMLIMIT} JAGADESA_ADMIN_TOKEN=$token "$work/jagadesa" serve --provinces national-synthetic --programme all \
    --listen "127.0.0.1:$port" --data-dir "$work/data" --influx-url "$influx" --influx-bucket national/autogen \
    --debug-listen "127.0.0.1:$((port + 2))" --log-level warn >"$work/serve.log" 2>&1 &
server=$!
pids+=("$server")
for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.2
done
echo "national-load: server up; starting $villages simulated probes" >&2
# shellcheck disable=SC2086
JAGADESA_ADMIN_TOKEN=$token "$work/jagadesa" sim --server "http://127.0.0.1:$port" --villages "$villages" \
    --outage-every 10000h --regional-cut-for 0 --memory-spools yes ${SIM_ARGS:-} >"$work/sim.log" 2>&1 &
sim=$!
pids+=("$sim")

metric() { # metric NAME_REGEX: the sum of the matching samples of /metrics
    curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" |
        awk -v re="$1" '$0 !~ /^#/ && $1 ~ re {s += $2} END {printf "%.0f\n", s}'
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# Enrollment of the fleet comes first; the window starts once every probe
# has reported at least once in a minute (reports/s near villages/60).
t0=$(date +%s)
prev=$(metric '^jagadesa_reports_total')
while :; do
    sleep 10
    kill -0 "$sim" 2>/dev/null || { tail -20 "$work/sim.log" >&2; exit 1; }
    now=$(metric '^jagadesa_reports_total')
    rate=$(( (now - prev) / 10 ))
    prev=$now
    echo "national-load: $(( $(date +%s) - t0 )) s, $rate reports/s, server RSS $(rss "$server") MB, sim RSS $(rss "$sim") MB" >&2
    if [ "$rate" -ge $(( villages * 90 / 100 / 60 )) ] || [ $(( $(date +%s) - t0 )) -gt 600 ]; then break; fi
done
# One more minute so that every probe is in its rhythm.
sleep 60

ipid=$(cat "$work/influx/influxd.pid" 2>/dev/null || pgrep -f "$work/influx" | head -1)
hist() { # the /api/v1/reports histogram's cumulative buckets: "le count" lines
    curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" |
        awk '/^jagadesa_http_request_duration_seconds_bucket/ && /route="\/api\/v1\/reports"/ {
            match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n[le] += $2 }
            END { for (k in n) print k, n[k] }' | sort -g
}
results() { curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" | awk '/^jagadesa_reports_total\{/ {print $1, $2}' | sort; }
r0=$(results)
ok0=$(echo "$r0" | awk '$1 ~ /result="ok"/ {s += $2} END {printf "%.0f", s}')
all0=$(echo "$r0" | awk '{s += $2} END {printf "%.0f", s}')
h0=$(hist)
s0=$(ticks "$server"); m0=$(ticks "$sim"); i0=$(ticks "$ipid"); w0=$(date +%s.%N)
maxrss=0
# Maps while the fleet reports: GeoJSON of a few provinces and tiles.
geo_times=()
tile_times=()
provinces=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/provinces" 2>/dev/null |
    grep -o '"code":"[0-9][0-9]"' | cut -d'"' -f4 | head -6 || true)
[ -n "$provinces" ] || provinces="11 32 33 35 52 94"
end=$(( $(date +%s) + window ))
while [ "$(date +%s)" -lt "$end" ]; do
    r=$(rss "$server"); [ "$r" -gt "$maxrss" ] && maxrss=$r
    for p in $provinces; do
        geo_times+=("$(curl -sS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" \
            -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/api/v1/map/villages.geojson?province=$p")")
    done
    for t in 0/0/0 4/12/8 5/25/16 6/51/33 8/206/133 10/825/532; do
        tile_times+=("$(curl -sS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" \
            "http://127.0.0.1:$port/api/v1/tiles/$t")")
    done
    sleep 5
done
s1=$(ticks "$server"); m1=$(ticks "$sim"); i1=$(ticks "$ipid"); w1=$(date +%s.%N)
h1=$(hist)
r1=$(results)
ok1=$(echo "$r1" | awk '$1 ~ /result="ok"/ {s += $2} END {printf "%.0f", s}')
all1=$(echo "$r1" | awk '{s += $2} END {printf "%.0f", s}')
if [ -n "${PROFILE:-}" ]; then # the server's heap and 20 s of its CPU, at the end of the window
    mkdir -p "$PROFILE"
    curl -fsS "http://127.0.0.1:$((port + 2))/debug/pprof/heap" >"$PROFILE/heap.prof"
    curl -fsS "http://127.0.0.1:$((port + 2))/debug/pprof/profile?seconds=20" >"$PROFILE/cpu.prof"
    cp "$work/jagadesa" "$PROFILE/jagadesa"
fi

el=$(echo "$w1 - $w0" | bc -l)
quantile() { # quantile Q: the upper bound of the bucket holding quantile Q of the window
    join <(echo "$h0") <(echo "$h1") | awk -v q="$1" '{le[NR] = $1; d[NR] = $3 - $2} END {
        tot = d[NR]; for (i = 1; i <= NR; i++) if (d[i] >= q * tot) { print le[i]; exit } }'
}
stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {printf "p50 %.1f ms, p95 %.1f ms, max %.1f ms (%d requests)", a[int(NR*0.5)+1]*1000, a[int(NR*0.95)+1]*1000, a[NR]*1000, NR}'; }
cat <<EOF
national load, $villages simulated probes, window ${window} s ($(nproc) cores, $(uname -r))${SERVER_GOMEMLIMIT:+, server GOMEMLIMIT=$SERVER_GOMEMLIMIT}
reports accepted: $(( ok1 - ok0 )) ($(echo "($ok1 - $ok0) / $el" | bc -l | xargs printf '%.0f') /s of $(echo "$villages / 60" | bc -l | xargs printf '%.0f') offered), refused or failed: $(( (all1 - all0) - (ok1 - ok0) ))
by result: $(join -a2 -e0 -o 0,1.2,2.2 <(echo "$r0") <(echo "$r1") | awk '{printf "%s %d; ", $1, $3 - $2}' | sed 's/jagadesa_reports_total//g')
ingest latency (histogram buckets, upper bounds): p50 <= $(quantile 0.5) s, p99 <= $(quantile 0.99) s
server:   $(echo "($s1 - $s0) / 100 / $el" | bc -l | xargs printf '%.2f') cores, RSS $(rss "$server") MB now, max $maxrss MB in the window, peak $(hwm "$server") MB
simulator: $(echo "($m1 - $m0) / 100 / $el" | bc -l | xargs printf '%.2f') cores, RSS $(rss "$sim") MB
influxd:  $(echo "($i1 - $i0) / 100 / $el" | bc -l | xargs printf '%.2f') cores, RSS $(rss "$ipid") MB
connections now: $(metric '^jagadesa_http_connections$') open, $(metric '^jagadesa_http_connections_idle$') idle
villages GeoJSON per province (gzip): $(stats "${geo_times[@]}")
vector tiles z0-z10: $(stats "${tile_times[@]}")
EOF
