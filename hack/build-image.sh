#!/usr/bin/env bash
# Builds the operator's container image from the project's Dockerfile, tagged $IMG.
#
# With a working Docker engine: `docker build`, which pulls the Dockerfile's base image as usual.
# Without one: podman (CONTAINER_ENGINE=podman forces it), with no base image pulled. The base the
# Dockerfile names (node:24-bookworm-slim) is made locally instead: a Debian bookworm root filesystem
# from mmdebstrap (read from the machine's apt sources), the Node 24 binary this project already
# installs (node_modules/node) and npm from the npm registry, with a `node` user 1000:1000 as in the
# official image. The root filesystem and npm are cached in $GPULEASE_CACHE/image (default
# ~/.cache/gpulease), podman's layer cache keeps the rest: a second run only rebuilds what changed.
#
# npm inside the build's RUN steps gets the machine's CA bundle through read-only mounts
# (`podman build -v`), so nothing of the build machine is baked into the image.
#
# Prints `IMAGE=<tag>` and `ENGINE=<docker|podman>` on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="$(node -p 'require("./package.json").version' 2>/dev/null || sed -n 's/^  "version": "\(.*\)",/\1/p' package.json)"
IMG="${IMG:-ghcr.io/gpulease/gpulease:$VERSION}"
CACHE="${GPULEASE_CACHE:-$HOME/.cache/gpulease}"
BASE_TAG="node:24-bookworm-slim" # the Dockerfile's FROM
NPM_VERSION="${NPM_VERSION:-11}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

log() { printf '[build-image] %s\n' "$*" >&2; }

engine="${CONTAINER_ENGINE:-}"
if [[ -z "$engine" ]]; then
  # A docker CLI without a reachable engine is common (no daemon here): ask the engine, not the PATH.
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker
  elif command -v podman >/dev/null; then engine=podman
  else log "neither a Docker engine nor podman: install podman (apt-get install podman runc mmdebstrap)"; exit 3
  fi
fi

if [[ "$engine" == docker ]]; then
  docker build -t "$IMG" . >&2
  echo "IMAGE=$IMG"; echo "ENGINE=docker"; exit 0
fi

# --- podman ------------------------------------------------------------------------------------------
# shellcheck source=hack/podman-env.sh
source hack/podman-env.sh

started=$(date +%s)
node_bin="node_modules/node/bin/node"
[[ -x "$node_bin" ]] || { log "$node_bin is missing: run npm ci first"; exit 1; }
node_version="$("$node_bin" --version)"

base_label() { podman image inspect --format '{{ index .Labels "io.gpulease.base" }}' "$BASE_TAG" 2>/dev/null || true; }
base_id="bookworm-minbase+node-$node_version+npm-$NPM_VERSION"

if [[ "$(base_label)" != "$base_id" ]]; then
  mkdir -p "$CACHE/image"
  rootfs="$CACHE/image/rootfs-bookworm-minbase.tar"
  if [[ ! -s "$rootfs" ]]; then
    command -v mmdebstrap >/dev/null || { log "mmdebstrap is missing (apt-get install mmdebstrap)"; exit 1; }
    log "making a Debian bookworm root filesystem (about 90 s, cached in $rootfs)"
    # ca-certificates: the trust store the official image has too (the operator talks TLS).
    mmdebstrap --quiet --variant=minbase --include=ca-certificates --format=tar bookworm "$rootfs.partial" >&2
    mv "$rootfs.partial" "$rootfs"
  fi
  npm_tgz="$(ls "$CACHE"/image/npm-"$NPM_VERSION".*.tgz 2>/dev/null | sort -V | tail -1 || true)"
  if [[ -z "$npm_tgz" ]]; then
    log "fetching npm@$NPM_VERSION"
    npm_tgz="$CACHE/image/$(cd "$CACHE/image" && npm pack --silent "npm@$NPM_VERSION")"
  fi
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' EXIT
  cp "$node_bin" "$context/node"
  cp "$npm_tgz" "$context/npm.tgz"
  cat >"$context/Containerfile" <<'EOF'
FROM localhost/gpulease-rootfs:bookworm
COPY node /usr/local/bin/node
ADD npm.tgz /usr/local/lib/node_modules/
RUN mv /usr/local/lib/node_modules/package /usr/local/lib/node_modules/npm \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
CMD ["node"]
EOF
  log "importing the root filesystem and adding Node $node_version and npm"
  podman import --quiet "$rootfs" localhost/gpulease-rootfs:bookworm >/dev/null
  podman build --quiet --pull=never --network=host "${PODMAN_ULIMITS[@]}" --label "io.gpulease.base=$base_id" \
    -t "$BASE_TAG" -t "docker.io/library/$BASE_TAG" "$context" >/dev/null
  podman rmi --force localhost/gpulease-rootfs:bookworm >/dev/null 2>&1 || true
fi

npmrc="$CACHE/image/npmrc"
mkdir -p "$CACHE/image"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\naudit=false\nfund=false\nupdate-notifier=false\n' >"$npmrc"
log "building $IMG"
podman build --pull=never --network=host --layers "${PODMAN_ULIMITS[@]}" \
  -v "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
  -v "$npmrc:/usr/local/etc/npmrc:ro" \
  -t "$IMG" . >&2
log "built $IMG in $(($(date +%s) - started)) s"
echo "IMAGE=$IMG"; echo "ENGINE=podman"
