#!/usr/bin/env bash
# Fetch the front-end libraries from the npm registry into static/vendor/.
# The result is committed, so `make run` needs neither npm nor a network for them.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENDOR="$ROOT/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# package@version  file-in-package  destination-name
PACKAGES=(
  "htmx.org@2.0.11 dist/htmx.min.js htmx.min.js"
  "htmx-ext-ws@2.0.4 dist/ws.min.js htmx-ext-ws.min.js"
  "@picocss/pico@2.1.1 css/pico.min.css pico.min.css"
  "lightweight-charts@5.2.1 dist/lightweight-charts.standalone.production.js lightweight-charts.standalone.production.js"
  "uplot@1.6.32 dist/uPlot.iife.min.js uPlot.iife.min.js"
  "uplot@1.6.32 dist/uPlot.min.css uPlot.min.css"
)

mkdir -p "$VENDOR"
: > "$WORK/versions.txt"
for entry in "${PACKAGES[@]}"; do
  read -r spec source destination <<<"$entry"
  tarball_dir="$WORK/$(echo "$spec" | tr '/@' '__')"
  mkdir -p "$tarball_dir"
  if [ ! -f "$tarball_dir/package/package.json" ]; then
    (cd "$tarball_dir" && npm pack --silent "$spec" >/dev/null 2>&1 && tar -xzf ./*.tgz)
  fi
  cp "$tarball_dir/package/$source" "$VENDOR/$destination"
  echo "$spec $destination $(sha256sum "$VENDOR/$destination" | cut -d' ' -f1)" >> "$WORK/versions.txt"
done
sort -u "$WORK/versions.txt" > "$VENDOR/VERSIONS.txt"
echo "vendored into $VENDOR:"
cat "$VENDOR/VERSIONS.txt"
