#!/usr/bin/env bash
# Builds the local control plane used by tests and the demo: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok, all from the Go module proxy.
#
# Binaries land in $GPULEASE_CACHE/bin/<versions>/ (default ~/.cache/gpulease) and a second run is a
# no-op. When KUBEBUILDER_ASSETS (or GPULEASE_ASSETS) names a directory that already holds the
# binaries, nothing is built and that directory is printed instead.
#
# Also writes the kwok Stage configuration (node heartbeat with leases, pods to Running, completion,
# deletion) of the same kwok version, read from kwok's module, to $GPULEASE_CACHE/kwok-stages-<v>.yaml.
#
# Prints `BIN_DIR=<dir>` and `KWOK_STAGES=<file>` on stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE="${GPULEASE_CACHE:-$HOME/.cache/gpulease}"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { printf '[build-controlplane] %s\n' "$*" >&2; }
STAGES="$CACHE/kwok-stages-$KWOK_VERSION.yaml"

# kwok ships its default stages as YAML inside its module; concatenate the ones a kubelet stand-in needs.
write_kwok_stages() {
  [[ -s "$STAGES" ]] && return 0
  command -v go >/dev/null || { log "go is required to read kwok's stage configuration"; exit 1; }
  local dir
  mkdir -p "$CACHE"
  dir="$(cd "$CACHE" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  local f out="$STAGES.partial"
  : >"$out"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    { echo "---"; sed '/^---$/d' "$dir/kustomize/stage/$f"; } >>"$out"
  done
  mv "$out" "$STAGES"
}

finish() { write_kwok_stages; echo "BIN_DIR=$1"; echo "KWOK_STAGES=$STAGES"; exit 0; }

has_all() {
  local dir="$1" b
  for b in "${BINARIES[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

for var in GPULEASE_ASSETS KUBEBUILDER_ASSETS; do
  dir="${!var:-}"
  if [[ -n "$dir" ]]; then
    if has_all "$dir"; then log "using prebuilt binaries from \$$var=$dir"; finish "$dir"; fi
    log "\$$var=$dir lacks some of: ${BINARIES[*]} — building instead"
  fi
done

OUT="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
if has_all "$OUT"; then log "cached: $OUT"; finish "$OUT"; fi

command -v go >/dev/null || { log "go is required to build the control plane"; exit 1; }
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath"
WORK="$CACHE/build"
mkdir -p "$WORK" "$OUT.partial"
start=$(date +%s)

proxy="${GOPROXY:-https://proxy.golang.org}"; proxy="${proxy%%,*}"

# --- Kubernetes: a wrapper module whose replace lines come from k8s.io/kubernetes's own go.mod ----
build_kubernetes() {
  local mod="$WORK/kubernetes-$K8S_VERSION" minor staging_version
  mkdir -p "$mod"
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  staging_version="v0.${K8S_VERSION#v1.}"
  log "fetching k8s.io/kubernetes@$K8S_VERSION go.mod"
  (cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >"$mod/download.json")
  local upstream_mod
  upstream_mod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' "$mod/download.json")"
  {
    echo "module gpulease.local/controlplane-kubernetes"
    echo
    grep -E '^go [0-9]' "$upstream_mod"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    # Every staging module that k8s.io/kubernetes requires at v0.0.0 is pinned to the matching
    # published version (v0.<minor>.<patch>); staging modules it does not require are left out.
    grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/src/' "$upstream_mod" | awk '{print $1}' | while read -r m; do
      if grep -qE "^\s+$m v0\.0\.0\$" "$upstream_mod"; then echo "	$m => $m $staging_version"; fi
    done
    echo ")"
  } >"$mod/go.mod"
  log "wrapper go.mod written with $(grep -c '=>' "$mod/go.mod") replace lines (Kubernetes 1.$minor)"
  local pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
  (cd "$mod" && go get "${pkgs[@]/%/@$K8S_VERSION}" >&2)
  local date ldflags="" pkg
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  # The same stamps upstream's hack/lib/version.sh sets, so `--version` prints the real version.
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  log "compiling kube-apiserver, kube-controller-manager, kube-scheduler (several minutes on 2 cores)"
  (cd "$mod" && go build -ldflags "-s -w $ldflags" -o "$OUT.partial/" "${pkgs[@]}")
}

# --- etcd: the server module's own replace lines point at its repository, so wrap it too ----------
build_etcd() {
  local mod="$WORK/etcd-$ETCD_VERSION"
  mkdir -p "$mod"
  printf 'module gpulease.local/controlplane-etcd\n\ngo 1.26.0\n' >"$mod/go.mod"
  log "building etcd $ETCD_VERSION"
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 &&
    go build -ldflags "-s -w" -o "$OUT.partial/etcd" go.etcd.io/etcd/server/v3)
}

# --- kwok: no replace lines, but built the same way for a uniform cache -------------------------
build_kwok() {
  local mod="$WORK/kwok-$KWOK_VERSION"
  mkdir -p "$mod"
  printf 'module gpulease.local/controlplane-kwok\n\ngo 1.26.0\n' >"$mod/go.mod"
  log "building kwok $KWOK_VERSION"
  (cd "$mod" && go get "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2 &&
    go build -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" -o "$OUT.partial/kwok" sigs.k8s.io/kwok/cmd/kwok)
}

[[ -x "$OUT.partial/etcd" ]] || build_etcd
[[ -x "$OUT.partial/kwok" ]] || build_kwok
[[ -x "$OUT.partial/kube-apiserver" && -x "$OUT.partial/kube-controller-manager" && -x "$OUT.partial/kube-scheduler" ]] || build_kubernetes

has_all "$OUT.partial" || { log "build incomplete in $OUT.partial"; exit 1; }
rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
log "built in $(( $(date +%s) - start ))s: $OUT"
"$OUT/kube-apiserver" --version >&2
"$OUT/etcd" --version | head -1 >&2
finish "$OUT"
