#!/usr/bin/env bash
# vendor-web.sh - fetch the dashboard's two browser libraries from npm at
# pinned versions, check them against recorded checksums, and copy the files
# the page loads into dashboards/web/assets/vendor/ (committed, so a build
# needs neither npm nor the internet, and the page works offline).
#
#   maplibre-gl 5.24.1  BSD-3-Clause  the map (last release with a plain UMD script)
#   uplot       1.6.32  MIT           the latency and loss charts
#
# Run it only to change a version: update the version and its sha256 below.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A SHA=(
  [maplibre-gl@5.24.1]=b84d7fdf7fba5922fd3fff9a92733936c7a03b99165afc6c84f41c311bdbfa9d
  [uplot@1.6.32]=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
)
command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=dashboards/web/assets/vendor
for pkg in "${!SHA[@]}"; do
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1)
  tgz=$(ls "$tmp"/"${pkg%@*}"-*.tgz)
  echo "${SHA[$pkg]}  $tgz" | sha256sum -c --quiet - || { echo "vendor-web: checksum mismatch for $pkg" >&2; exit 1; }
  mkdir -p "$tmp/${pkg%@*}" && tar -xzf "$tgz" -C "$tmp/${pkg%@*}"
done

mkdir -p "$dest/maplibre-gl-5.24.1" "$dest/uplot-1.6.32"
cp "$tmp/maplibre-gl/package/dist/maplibre-gl.js" "$tmp/maplibre-gl/package/dist/maplibre-gl.css" "$tmp/maplibre-gl/package/LICENSE.txt" "$dest/maplibre-gl-5.24.1/"
cp "$tmp/uplot/package/dist/uPlot.iife.min.js" "$tmp/uplot/package/dist/uPlot.min.css" "$tmp/uplot/package/LICENSE" "$dest/uplot-1.6.32/"
ls -la "$dest"/*
