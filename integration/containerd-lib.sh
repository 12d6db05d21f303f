# Sourced by integration/containerd*.sh: a private containerd (own root, state, grpc and
# ttrpc sockets under a temp dir, CRI disabled) with the Berth shim first on its PATH.
# Needs: CTR_SHIM_DIR (directory holding containerd-shim-berth-v2).

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
}

ctr_() { ctr -a "$CT_SOCK" "$@"; }

ct_import_busybox() {
    "$(dirname "${BASH_SOURCE[0]}")/busybox-oci.sh" "$CT_DIR/busybox.tar"
    ctr_ images import "$CT_DIR/busybox.tar" >/dev/null
}
