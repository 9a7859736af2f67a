#!/usr/bin/env bash
# fuzz.sh - runs every fuzz target for a bounded time, one after another, and
# fails if any of them finds an input that breaks it. Each target's seed
# corpus is checked in under its package's testdata/fuzz/<FuzzName>/ (plain
# `go test` runs those seeds too); what a run learns is kept in Go's fuzz
# cache ($(go env GOCACHE)/fuzz), so later runs start from there.
#
# A finding is written by go test to <package>/testdata/fuzz/<FuzzName>/<hash>
# and the output names the command that replays it. Fix the bug, keep the
# file as a seed.
#
# Usage: scripts/fuzz.sh [FuzzName ...]   (default: all targets)
#
# Environment:
#   FUZZTIME  how long each target runs: a duration (20s, 5m) or a number of
#             inputs (10000x); default 20s. Building each package's
#             instrumented test binary comes on top of it.
#
# The server and server/influx packages start a throwaway influxd for their
# tests (influxtest), in the fuzzing workers too; set INFLUXD as
# scripts/test.sh does to skip looking for or building it.
set -euo pipefail
export LC_ALL=C # ls and comm agree on the order of corpus files
cd "$(dirname "$0")/.."

log() { printf 'fuzz.sh: %s\n' "$*" >&2; }

FUZZTIME=${FUZZTIME:-20s}

# package  target
targets=(
  "./server/influx FuzzAppendReport"
  "./geo FuzzReadProgramme"
  "./server/route FuzzParseDirectory"
  "./probe FuzzParseUCI"
  "./server FuzzTilePath"
  "./server/ingest FuzzDecodeReport"
)

want=("$@")
failed=()
ran=0
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  if ((${#want[@]})); then
    match=0
    for w in "${want[@]}"; do [[ $w == "$name" ]] && match=1; done
    ((match)) || continue
  fi
  ran=$((ran + 1))
  log "$name ($pkg) for $FUZZTIME"
  corpus=$pkg/testdata/fuzz/$name
  before=$(ls "$corpus" 2>/dev/null || true)
  start=$SECONDS
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
    log "$name: nothing found ($((SECONDS - start))s with the build)"
    continue
  fi
  failed+=("$name")
  found=$(comm -13 <(printf '%s\n' "$before") <(ls "$corpus" 2>/dev/null || true))
  if [[ -n $found ]]; then
    log "$name: FOUND an input that breaks it: $corpus/$found"
  else
    log "$name: go test failed without a new input (a build error or a failing seed: see above)"
  fi
done

if ((${#want[@]})) && ((ran != ${#want[@]})); then
  log "unknown target among: ${want[*]} (have: $(printf '%s ' "${targets[@]##* }"))"
  exit 2
fi
if ((${#failed[@]})); then
  log "failed: ${failed[*]}"
  exit 1
fi
log "all $ran targets ran $FUZZTIME without a finding"
