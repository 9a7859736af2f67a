#!/usr/bin/env bash
# footprint.sh - the probe's footprint on a router: binary sizes for the
# routers' architectures, and memory and CPU while it runs its default
# schedule (10 pings a round, a round every 60 s, a report uploaded after
# each round). Targets: linux/mipsle binary ≤ 6 MB, max RSS ≤ 8 MB, CPU ≤ 0.5%
# of one core. Figures are recorded in docs/performance.md.
#
# The run happens in a fresh network namespace (unshare -n) that has only
# loopback: the ping target, the HTTP check and the report sink are all
# 127.0.0.1, the DNS check resolves "localhost" from /etc/hosts, and nothing
# can leave the machine. The sink is a small python3 HTTP server that
# answers 200 and counts what the probe reports.
#
# Run as root (namespace, raw ICMP sockets).
# Environment (optional): FOOTPRINT_SECONDS (amd64 run, default 180),
# FOOTPRINT_QEMU_SECONDS (mipsle run under qemu-mipsel-static, default 125;
# 0 skips it), FOOTPRINT_DIR (build output, default
# ${TMPDIR:-/tmp}/jagadesa-footprint).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'footprint.sh: %s\n' "$*" >&2; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# --- inside the namespace: run one measurement --------------------------
# footprint.sh __inside OUTDIR SECONDS COMMAND...
if [[ ${1:-} == __inside ]]; then
  out=$2 secs=$3
  shift 3
  ip link set lo up
  port=18181
  python3 - "$port" "$out/sink.json" <<'PY' &
import gzip, http.server, json, signal, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
stats = {"reports": 0, "bytes": 0, "samples": {}, "icmp_sent": 0, "icmp_received": 0, "get": 0}
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):  # the probe's HTTP check
        with lock: stats["get"] += 1
        body = b"ok\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_POST(self):  # /api/v1/reports
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            stats["reports"] += 1; stats["bytes"] += len(raw)
            try:
                rep = json.loads(gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw)
                for s in rep.get("samples") or []:
                    k = s.get("kind", "?"); stats["samples"][k] = stats["samples"].get(k, 0) + 1
                    if s.get("icmp"):
                        stats["icmp_sent"] += s["icmp"].get("sent", 0); stats["icmp_received"] += s["icmp"].get("received", 0)
            except Exception as e:
                stats["decode_error"] = str(e)
        body = b"{}"
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
def stop(*_):
    with lock: json.dump(stats, open(path, "w"))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
srv.serve_forever()
PY
  sink=$!
  for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
  done
  mkdir -p "$out/spool"
  status=0
  /usr/bin/time -v -o "$out/time.txt" timeout -s TERM "$secs" "$@" \
    --server "http://127.0.0.1:$port" --token footprint-token --village 33.06.08.2005 \
    --spool "$out/spool" --interval 60s --count 10 --ping-interval 1s --privileged \
    --target 127.0.0.1 --dns-name localhost --dns-reference= --http-url "http://127.0.0.1:$port/" \
    --speedtest-budget 0 2>"$out/probe.log" &
  tpid=$!
  # Every 5 s: the probe's (time → timeout → probe) resident memory, to
  # tell the start-up peak from the steady state.
  (
    probe=
    for _ in $(seq $((secs * 10))); do
      kid=$(cat /proc/$tpid/task/*/children 2>/dev/null | awk '{print $1}')
      [[ -n $kid ]] && probe=$(cat /proc/$kid/task/*/children 2>/dev/null | awk '{print $1}')
      [[ -n $probe ]] && break
      sleep 0.1
    done
    [[ -n $probe ]] || exit 0
    t=0
    while [[ -r /proc/$probe/status ]]; do
      # "t VmHWM VmRSS RssAnon RssFile", in KiB.
      awk -v t=$t '/^(VmHWM|VmRSS|RssAnon|RssFile):/ {v[$1]=$2}
        END {if (v["VmRSS:"] != "") print t, v["VmHWM:"], v["VmRSS:"], v["RssAnon:"], v["RssFile:"]}' \
        /proc/$probe/status >>"$out/rss.log" 2>/dev/null || true
      sleep 5
      t=$((t + 5))
    done
  ) &
  sampler=$!
  wait "$tpid" || status=$?
  wait "$sampler" 2>/dev/null || true
  kill -TERM "$sink" 2>/dev/null || true
  wait "$sink" 2>/dev/null || true
  # timeout's 124 is the planned end of the run.
  [[ $status == 0 || $status == 124 ]] || { echo "probe exited $status" >&2; tail -5 "$out/probe.log" >&2; }
  exit 0
fi

# --- outside: build, then measure ----------------------------------------
command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
[[ $(id -u) == 0 ]] || { log "run as root: the probe needs raw ICMP sockets and the run a network namespace"; exit 1; }
for tool in unshare python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { log "$tool is required (util-linux, python3, time)"; exit 1; }
done

SECS=${FOOTPRINT_SECONDS:-180}
QSECS=${FOOTPRINT_QEMU_SECONDS:-125}
OUT=${FOOTPRINT_DIR:-${TMPDIR:-/tmp}/jagadesa-footprint}
mkdir -p "$OUT"
version=$(git describe --always --dirty 2>/dev/null || echo dev)

echo "Probe binaries (CGO_ENABLED=0 -trimpath -ldflags '-s -w'), $version:"
printf '%-28s %12s %9s %9s\n' target bytes MB MiB
declare -A bin
for spec in mipsle:GOMIPS=softfloat mips:GOMIPS=softfloat arm:GOARM=7 arm64: amd64:; do
  arch=${spec%%:*} extra=${spec#*:}
  out="$OUT/jagadesa-probe-linux-$arch"
  env CGO_ENABLED=0 GOOS=linux GOARCH="$arch" ${extra:+"$extra"} \
    go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out" ./cmd/jagadesa-probe
  bin[$arch]=$out
  size=$(stat -c %s "$out")
  printf '%-28s %12d %9.2f %9.2f\n' "linux/$arch${extra:+ ($extra)}" "$size" "$(calc "$size/1000000" 6)" "$(calc "$size/1048576" 6)"
done
mips_size=$(stat -c %s "${bin[mipsle]}")
if ((mips_size <= 6000000)); then
  echo "target linux/mipsle ≤ 6 MB: met ($(calc "$mips_size/1000000") MB)"
else
  echo "target linux/mipsle ≤ 6 MB: MISSED ($(calc "$mips_size/1000000") MB, $(calc "$mips_size/1048576") MiB)"
fi

# measure LABEL SECONDS COMMAND...: one run in a fresh namespace, summarised.
measure() {
  local label=$1 secs=$2
  shift 2
  local dir
  dir=$(mktemp -d "$OUT/run-$label.XXXXXX")
  log "running $label for $secs s (interval 60 s, 10 pings at 1 s, loopback only)"
  unshare -n "$0" __inside "$dir" "$secs" "$@"
  local user sys wall rss
  user=$(awk -F': ' '/User time/ {print $2}' "$dir/time.txt")
  sys=$(awk -F': ' '/System time/ {print $2}' "$dir/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$dir/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
  echo
  echo "$label: $secs s run"
  printf '  max RSS            %d KiB (%.2f MiB)\n' "$rss" "$(calc "$rss/1024" 6)"
  printf '  CPU                user %.2f s + sys %.2f s over %.1f s wall = %.3f%% of one core\n' \
    "$user" "$sys" "$wall" "$(calc "100*($user+$sys)/$wall" 6)"
  if [[ -s $dir/rss.log ]]; then
    # Sampled every 5 s; the steady state is the last minute's.
    awk -v s="$secs" '
      NR == 1 {first = $3}
      $1 >= s - 60 {if ($3 > m) m = $3; if ($4 > a) a = $4; if ($5 > f) f = $5}
      {hwm = $2; last = $3}
      END {
        printf "  VmRSS samples      %d KiB at the start; in the last 60 s at most %d KiB (anonymous %d, file-backed %d); %d at the end\n", first, m, a, f, last
        printf "  VmHWM              %d KiB (sampled)\n", hwm
      }' "$dir/rss.log"
  fi
  printf '  sink               %s\n' "$(cat "$dir/sink.json" 2>/dev/null || echo 'no sink summary')"
  printf '  probe warnings     %d (%s)\n' "$(grep -c 'level=WARN\|level=ERROR' "$dir/probe.log" || true)" "$dir/probe.log"
}

measure amd64 "$SECS" "${bin[amd64]}"
if ((QSECS > 0)); then
  if command -v qemu-mipsel-static >/dev/null; then
    echo
    echo "Under qemu-mipsel-static the RSS is the emulator's (its own code and translation"
    echo "cache included) and the CPU is the host's time spent emulating; neither is the router's."
    measure mipsle-qemu "$QSECS" qemu-mipsel-static "${bin[mipsle]}"
  else
    log "qemu-mipsel-static missing (apt-get install qemu-user-static): mipsle run skipped"
  fi
fi
