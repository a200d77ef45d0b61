#!/usr/bin/env bash
# Builds hack/lua-health: runs an Argo CD health check (config/argocd/gpulease-health.lua) against a
# GpuLease with github.com/yuin/gopher-lua, the Lua interpreter Argo CD embeds, at the version
# hack/lua-health/go.mod pins (the one Argo CD's go.mod requires). Used by the unit tests.
#
# The binary lands in $GPULEASE_CACHE/bin/lua-health-<gopher-lua version> (default ~/.cache/gpulease)
# and a second run is a no-op, unless hack/lua-health changed since (a stamp next to the binary
# records its sources). Takes seconds; the modules come from the Go module proxy the first time.
#
# Prints the binary's path on stdout; progress goes to stderr.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/lua-health" && pwd)"
CACHE="${GPULEASE_CACHE:-$HOME/.cache/gpulease}"

log() { printf '[build-lua-health] %s\n' "$*" >&2; }

LUA_VERSION="$(awk '$1 == "github.com/yuin/gopher-lua" { print $2 }' "$SRC/go.mod")"
[[ -n "$LUA_VERSION" ]] || { log "no github.com/yuin/gopher-lua requirement in $SRC/go.mod"; exit 1; }
OUT="$CACHE/bin/lua-health-$LUA_VERSION"
STAMP="$(cd "$SRC" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)"

if [[ -x "$OUT" && "$(cat "$OUT.sources" 2>/dev/null)" == "$STAMP" ]]; then
  log "cached: $OUT"
  echo "$OUT"
  exit 0
fi

command -v go >/dev/null || { log "go is required to build the Lua health check runner"; exit 1; }
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath"
mkdir -p "$CACHE/bin"
start=$(date +%s)
log "building lua-health with gopher-lua $LUA_VERSION"
# A private partial file per build, renamed into place: concurrent runs never see half a binary.
(cd "$SRC" && go build -ldflags "-s -w" -o "$OUT.partial.$$" .)
mv "$OUT.partial.$$" "$OUT"
echo "$STAMP" >"$OUT.sources"
log "built in $(($(date +%s) - start))s: $OUT"
echo "$OUT"
