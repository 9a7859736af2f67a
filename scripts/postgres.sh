#!/usr/bin/env bash
# postgres.sh - the PostgreSQL server binaries the tests start throwaway
# clusters with (internal/pgtest), from Debian's postgresql package.
#
# Usage:
#   scripts/postgres.sh install   apt-get install postgresql unless its binaries
#                                 (initdb, pg_ctl, postgres) are already there;
#                                 print their bin directory on stdout
#
# Environment (optional):
#   PGBIN   use this bin directory instead of /usr/lib/postgresql/<newest>/bin
#
# Diagnostics go to stderr; stdout carries only the result, so
#   PGBIN=$(scripts/postgres.sh install)   works.
# Installing needs root (apt-get); the tests themselves run the server as
# the unprivileged "postgres" user when they run as root.

set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { die "usage: $0 install"; }

# complete DIR: DIR holds every binary the tests use.
complete() {
  local b
  for b in initdb pg_ctl postgres; do
    [[ -x $1/$b ]] || return 1
  done
}

# Prints the bin directory of the newest installed major version.
find_bin() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    complete "$d" || continue
    # version directories are plain numbers (15, 16, ...); keep the highest
    if [[ -z $best ]] || (($(basename "$(dirname "$d")") > $(basename "$(dirname "$best")"))); then
      best=$d
    fi
  done
  [[ -n $best ]] || return 1
  echo "$best"
}

cmd_install() {
  if [[ -n ${PGBIN:-} ]]; then
    complete "$PGBIN" || die "PGBIN=$PGBIN lacks initdb, pg_ctl or postgres"
    echo "$PGBIN"
    return
  fi
  local bin
  if bin=$(find_bin); then
    log "using $bin"
    echo "$bin"
    return
  fi
  command -v apt-get >/dev/null || die "no PostgreSQL server under /usr/lib/postgresql and no apt-get; install it or set PGBIN"
  ((EUID == 0)) || die "PostgreSQL is not installed; run as root so apt-get can install it, or set PGBIN"
  log "installing Debian's postgresql"
  apt-get update -qq >&2
  # The package's own cluster is not needed: the tests make their own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin=$(find_bin) || die "postgresql installed but no initdb/pg_ctl/postgres under /usr/lib/postgresql/*/bin"
  log "installed $bin"
  echo "$bin"
}

[[ $# -eq 1 ]] || usage
case "$1" in
  install) cmd_install ;;
  *) usage ;;
esac
