# Sourced by integration/containerd*.sh: a private containerd (own root, state, grpc and
# ttrpc sockets under a temp dir, CRI disabled) with the Berth shim first on its PATH.
# Source it with the directory holding containerd-shim-berth-v2 as $1; it exits 2 when
# that shim or containerd is missing, and cleans up (ct_cleanup) when the script exits.

export CTR_SHIM_DIR
CTR_SHIM_DIR=$(realpath "$1")
[ -x "$CTR_SHIM_DIR/containerd-shim-berth-v2" ] || { echo "no shim in $CTR_SHIM_DIR" >&2; exit 2; }
command -v containerd >/dev/null || { echo "containerd not installed" >&2; exit 2; }

# shellcheck source=integration/leftovers-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/leftovers-lib.sh"
it_record_host

CT_DIR=$(mktemp -d /tmp/berth-containerd.XXXXXX)
CT_SOCK=$CT_DIR/containerd.sock
CT_PID=
CT_SNAPSHOTTER=${CT_SNAPSHOTTER:-overlayfs}

ct_config() {
    cat >"$CT_DIR/config.toml" <<TOML
version = 2
root = "$CT_DIR/root"
state = "$CT_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CT_SOCK"
[ttrpc]
  address = "$CT_SOCK.ttrpc"
TOML
}

ct_start() {
    [ -f "$CT_DIR/config.toml" ] || ct_config
    PATH="$CTR_SHIM_DIR:$PATH" containerd --config "$CT_DIR/config.toml" \
        >>"$CT_DIR/containerd.log" 2>&1 &
    CT_PID=$!
    for _ in $(seq 100); do
        ctr -a "$CT_SOCK" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "containerd did not come up; log:" >&2
    tail -20 "$CT_DIR/containerd.log" >&2
    return 1
}

ct_stop() {
    if [ -n "$CT_PID" ]; then
        kill "$CT_PID" 2>/dev/null || true
        wait "$CT_PID" 2>/dev/null || true
        CT_PID=
    fi
}

ct_cleanup() {
    ct_stop
    # Shims we started (their sockets name this containerd's address): stop by pid.
    for f in "$CT_DIR"/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
        a=$(dirname "$f")/address
        [ -f "$a" ] && rm -f "$(sed 's|^unix://||' "$a")"
    done
    grep -o "$CT_DIR[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$CT_DIR"
    it_remove_leftovers
}

ctr_() { ctr -a "$CT_SOCK" "$@"; }

# What the scenario scripts share: the runtime flag, the image, a per-run suffix for
# container ids (libcontainer state and ctr's cgroups are shared by every containerd on
# the host), the pass/fail tally and `check NAME CMD...`, and `t` (ctr with a timeout;
# a script may redefine it) with the task status helpers built on it.
R=(--runtime io.containerd.berth.v2)
IMG=docker.io/library/busybox:latest
S=$$
pass=0 fail=0
check() { # name, then a command that must succeed
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}
t() { timeout 30 ctr -a "$CT_SOCK" "$@"; }
status_of() { t task ls | awk -v id="$1" '$1 == id {print $3}'; }
wait_status() { # id status
    for _ in $(seq 50); do [ "$(status_of "$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}

ct_import_busybox() {
    "$(dirname "${BASH_SOURCE[0]}")/busybox-oci.sh" "$CT_DIR/busybox.tar"
    ctr_ images import "$CT_DIR/busybox.tar" >/dev/null
}

# FNV-1a 64 over the parts, each followed by a NUL, as 16 hex digits: the shim's
# stable_hash (shim/src/start.rs), to name its socket and state root from a script.
ct_hash() {
    local h=$((0xcbf29ce484222325)) p i c
    for p in "$@"; do
        for ((i = 0; i < ${#p}; i++)); do
            printf -v c '%d' "'${p:i:1}"
            h=$(((h ^ c) * 0x100000001b3))
        done
        h=$((h * 0x100000001b3))
    done
    printf '%016x' "$h"
}

# The shim's libcontainer state root and the socket of a group (default namespace).
ct_state_root() { echo "/run/containerd/berth/default-$(ct_hash "$CT_SOCK")"; }
ct_socket() { echo "/run/containerd/s/berth-$(ct_hash "$CT_SOCK" default "$1")"; }
ct_bundle() { echo "$CT_DIR/state/io.containerd.runtime.v2.task/default/$1"; }

# Live (not zombie) processes in a cgroup named /default/ID in any hierarchy.
ct_procs_of() {
    local f pid
    for f in /proc/[0-9]*/cgroup; do
        grep -q ":/default/$1\$" "$f" 2>/dev/null || continue
        pid=${f#/proc/}; pid=${pid%/cgroup}
        grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null || echo "$pid"
    done
}

# Prints what container ID (served in GROUP, default ID) left behind: rootfs mount,
# cgroup dirs, live processes, libcontainer state, bundle, the group's socket file.
ct_leftovers() {
    local id=$1 group=${2:-$1} bundle p
    bundle=$(ct_bundle "$id")
    grep -q " $bundle/rootfs " /proc/self/mountinfo && echo "mount $bundle/rootfs"
    for p in /sys/fs/cgroup/*/default/"$id"; do [ -d "$p" ] && echo "cgroup $p"; done
    for p in $(ct_procs_of "$id"); do echo "process $p $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)"; done
    [ -e "$(ct_state_root)/$id" ] && echo "state $(ct_state_root)/$id"
    [ -e "$bundle" ] && echo "bundle $bundle"
    [ -e "$(ct_socket "$group")" ] && echo "socket $(ct_socket "$group")"
    return 0
}

trap ct_cleanup EXIT
