#!/usr/bin/env bash
# Writes the release of package.json's version to dist/: install.yaml (the kustomize bundle), the
# packaged Helm chart, and the image as a tarball (`docker load` / `podman load` reads it), built
# first with hack/build-image.sh. Refuses when the chart's version, the CHANGELOG's newest release
# or the manifests' image tag disagree with package.json.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[release] %s\n' "$*" >&2; }
VERSION="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)"
IMG="${IMG:-ghcr.io/gpulease/gpulease:$VERSION}"

grep -q "^version: $VERSION$" charts/gpulease/Chart.yaml || { log "charts/gpulease/Chart.yaml is not at $VERSION"; exit 1; }
grep -q "^appVersion: \"$VERSION\"$" charts/gpulease/Chart.yaml || { log "the chart's appVersion is not $VERSION"; exit 1; }
grep -m1 '^## \[' CHANGELOG.md | grep -q "^## \[$VERSION\]" || { log "CHANGELOG.md does not start with $VERSION"; exit 1; }
grep -q "image: ghcr.io/gpulease/gpulease:$VERSION$" config/manager/manager.yaml ||
  { log "config/manager/manager.yaml does not run ghcr.io/gpulease/gpulease:$VERSION"; exit 1; }

mkdir -p dist
kubectl kustomize config/default >dist/install.yaml
log "dist/install.yaml"
helm="$(bash hack/build-tools.sh helm | sed -n 's/^HELM=//p')"
"$helm" package charts/gpulease --destination dist >&2
engine="$(IMG="$IMG" bash hack/build-image.sh | sed -n 's/^ENGINE=//p')"
tarball="dist/gpulease-image-$VERSION.tar"
rm -f "$tarball"
if [[ "$engine" == docker ]]; then
  docker save -o "$tarball" "$IMG"
else
  # shellcheck source=hack/podman-env.sh
  source hack/podman-env.sh
  podman save --format docker-archive -o "$tarball" "$IMG"
fi
log "$tarball ($IMG)"
ls -l dist >&2
