#!/usr/bin/env bash
# Builds the release tools the tests use, from the Go module proxy, once: helm (v4; the chart stays
# v3-compatible, apiVersion v2) and promtool. Binaries land in $GPULEASE_CACHE/bin/<tool>-<version>/
# (default ~/.cache/gpulease) and a second run is a no-op.
#
# Usage: hack/build-tools.sh [helm] [promtool]   (default: both)
# Prints `HELM=<path>` and/or `PROMTOOL=<path>` on stdout; progress goes to stderr.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.2}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}" # the Go module version of Prometheus 3.16
CACHE="${GPULEASE_CACHE:-$HOME/.cache/gpulease}"

log() { printf '[build-tools] %s\n' "$*" >&2; }

# build <name> <module package>@<version> <dir> [go build tags]
build() {
  local name="$1" package="$2" dir="$3" tags="${4:-}"
  if [[ ! -x "$dir/$name" ]]; then
    command -v go >/dev/null || { log "go is required to build $name"; exit 1; }
    log "building $package (a few minutes, once)"
    local started; started=$(date +%s)
    mkdir -p "$dir.partial"
    CGO_ENABLED=0 GOBIN="$dir.partial" GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath" \
      go install -ldflags="-s -w" -tags="$tags" "$package" >&2
    rm -rf "$dir" && mv "$dir.partial" "$dir"
    log "built $name in $(($(date +%s) - started)) s"
  fi
  echo "$(echo "$name" | tr '[:lower:]' '[:upper:]')=$dir/$name"
}

tools=("$@")
((${#tools[@]})) || tools=(helm promtool)
for tool in "${tools[@]}"; do
  case "$tool" in
    helm) build helm "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" "$CACHE/bin/helm-$HELM_VERSION" ;;
    promtool)
      # remove_all_sd (Prometheus's own build tag) leaves out the service discoveries and their cloud
      # SDKs: checking and unit-testing rules needs none (54 MB instead of 88 MB; 5 min cold here).
      build promtool "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" \
        "$CACHE/bin/promtool-$PROMETHEUS_VERSION-nosd" remove_all_sd
      ;;
    *) log "unknown tool $tool (helm, promtool)"; exit 2 ;;
  esac
done
