# Sourced by the podman recipes (hack/build-image.sh, the image test): a containers.conf that works on
# machines like CI's — runc (crun fails on hybrid cgroups), cgroupfs, file events — and ulimits the
# runtime may set. Podman's defaults (nofile 1048576, nproc unlimited) exceed this machine's hard limits
# and runc refuses them; nproc is capped lower still, as runc is refused even at `ulimit -Hu` here.
CACHE="${GPULEASE_CACHE:-$HOME/.cache/gpulease}"
cap() { local hard="$1" max="$2"; if [[ "$hard" == unlimited || "$hard" -gt "$max" ]]; then echo "$max"; else echo "$hard"; fi; }
PODMAN_NOFILE="$(cap "$(ulimit -Hn)" 65536)"
PODMAN_NPROC="$(cap "$(ulimit -Hu)" 32768)"
mkdir -p "$CACHE/podman"
cat >"$CACHE/podman/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$PODMAN_NOFILE:$PODMAN_NOFILE", "nproc=$PODMAN_NPROC:$PODMAN_NPROC"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$CACHE/podman/containers.conf"
# `podman build` ignores default_ulimits: its RUN steps get the same limits through these flags.
PODMAN_ULIMITS=(--ulimit "nofile=$PODMAN_NOFILE:$PODMAN_NOFILE" --ulimit "nproc=$PODMAN_NPROC:$PODMAN_NPROC")
