#!/usr/bin/env bash
# Builds Kueue's manager from the Go module proxy, once, for the tests that run gpulease against real
# Kueue, and copies Kueue's CRDs and webhook manifests from the same module's source beside it.
#
# Lands in $GPULEASE_CACHE/bin/kueue-<version>/ (default ~/.cache/gpulease): `kueue` (the manager),
# `crds/*.yaml` (config/components/crd/bases) and `webhook-manifests.yaml`
# (config/components/webhook/manifests.yaml). A second run is a no-op.
#
# Prints `KUEUE_DIR=<dir>` on stdout; progress goes to stderr.
set -euo pipefail

KUEUE_VERSION="${KUEUE_VERSION:-v0.17.0}"
CACHE="${GPULEASE_CACHE:-$HOME/.cache/gpulease}"
OUT="$CACHE/bin/kueue-$KUEUE_VERSION"

log() { printf '[build-kueue] %s\n' "$*" >&2; }

complete() { [[ -x "$1/kueue" && -s "$1/webhook-manifests.yaml" ]] && compgen -G "$1/crds/*.yaml" >/dev/null; }

if complete "$OUT"; then log "cached: $OUT"; echo "KUEUE_DIR=$OUT"; exit 0; fi

command -v go >/dev/null || { log "go is required to build Kueue"; exit 1; }
started=$(date +%s)
mkdir -p "$OUT.partial/crds"

# The module's source (from GOMODCACHE, fetched through the proxy) holds the manifests; Kueue's go.mod
# has no replace lines, so `go install pkg@version` builds it as it is.
dir="$(cd "$CACHE" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" |
  sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
[[ -d "$dir/config/components/crd/bases" ]] || { log "no CRDs in $dir"; exit 1; }
cp "$dir"/config/components/crd/bases/*.yaml "$OUT.partial/crds/"
cp "$dir/config/components/webhook/manifests.yaml" "$OUT.partial/webhook-manifests.yaml"

if [[ ! -x "$OUT.partial/kueue" ]]; then
  log "building sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION (several minutes on 2 cores, once)"
  CGO_ENABLED=0 GOBIN="$OUT.partial" GOFLAGS="-mod=mod -buildvcs=false -trimpath" \
    nice go install -ldflags="-s -w" "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION" >&2
fi
complete "$OUT.partial" || { log "build incomplete in $OUT.partial"; exit 1; }
chmod -R u+w "$OUT.partial"
rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
log "built in $(($(date +%s) - started)) s: $OUT"
echo "KUEUE_DIR=$OUT"
