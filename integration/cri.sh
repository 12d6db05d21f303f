#!/usr/bin/env bash
# Kubernetes RuntimeClass end to end, without a kubelet: a private, real containerd
# (Debian's 1.6) with its CRI plugin enabled and a `berth` runtime handler
# (runtime_type = "io.containerd.berth.v2": our shim, containerd-shim-berth-v2 on
# containerd's PATH), driven over the CRI gRPC API by integration/cri-client (no crictl on
# Debian 12): RunPodSandbox (host network, a locally built pause image), CreateContainer
# (busybox), StartContainer, ExecSync, StopContainer, RemoveContainer, StopPodSandbox,
# RemovePodSandbox. Then proves that containerd-shim-berth-v2 served the pod and the
# container and that berth (libcontainer) kept their state records.
#
# Usage: integration/cri.sh       BERTH=/abs/berth (its dir holds the shim, default
#        target/debug); SHIM_DIR=dir holding containerd-shim-berth-v2; CRI_CLIENT=/abs/bin
#        (default: `cargo build -p berth-cri-client`, which needs protoc: Debian's
#        protobuf-compiler); IT_LOGS=DIR keeps containerd's log.
# Prints PASS/FAIL/SKIP per step and "N passed, N failed"; exits 1 on any failure.
# Needs root, containerd, busybox-static. No CNI plugin or config: the pod uses the host
# network (NamespaceMode NODE), for which containerd 1.6 never calls CNI. No network
# traffic: nothing is pulled (sandbox_image is the imported local pause image), the CRI
# streaming server listens on 127.0.0.1 only.
source "$(dirname "$0")/lib.sh"

# A private mount namespace with every cgroup hierarchy mounted (see in_cgroup_ns).
if [ -z "${IT_IN_NS:-}" ]; then
    in_cgroup_ns env IT_IN_NS=1 bash "$0" "$@"
    exit $?
fi
it_init cri
for b in containerd ctr; do
    command -v $b >/dev/null || { echo "missing $b: apt-get install containerd" >&2; exit 2; }
done

C=$IT_DIR
SOCK=$C/containerd.sock
NS=k8s.io
IMG=docker.io/library/busybox:it
PAUSE=docker.io/library/berth-pause:it
SHIM_DIR=$(realpath -m "${SHIM_DIR:-$(dirname "$BERTH")}")
# The shim's libcontainer state roots (docs/shim.md): <namespace> for containerd's
# default address, <namespace>-<hash of the address> for ours; container ids are unique.
BERTH_ROOTS="/run/containerd/berth/$NS /run/containerd/berth/$NS-*"

# --- the CRI client -----------------------------------------------------------------------
# Built here, not by `cargo build` of the workspace (it is not a default member: tokio,
# tonic and prost stay out of the normal build).
client_reason=
if [ -z "${CRI_CLIENT:-}" ]; then
    if ! command -v protoc >/dev/null; then
        client_reason="no protoc to build integration/cri-client (apt-get install protobuf-compiler)"
    elif ! (cd "$IT_HERE/.." && cargo build -q -p berth-cri-client >"$C/cri-client-build.log" 2>&1); then
        client_reason="cargo build -p berth-cri-client failed: $(tail -3 "$C/cri-client-build.log" | tr '\n' ' ')"
    else
        CRI_CLIENT=$(cd "$IT_HERE/.." && cargo metadata --format-version 1 --no-deps 2>/dev/null |
            sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/berth-cri-client
    fi
fi

# --- the daemon -------------------------------------------------------------------------
start_containerd() {
    mkdir -p "$C/root" "$C/state" "$C/opt" "$C/cni/bin" "$C/cni/conf" "$C/pods"
    sed -e "s|@DIR@|$C|g" -e "s|@PAUSE@|$PAUSE|g" "$IT_HERE/cri-containerd.toml" >"$C/config.toml"
    # Its own session: a terminal's ^C reaches the script only, which then cleans up
    # through a containerd still up.
    PATH="$SHIM_DIR:$PATH" setsid containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
    CT_PID=$!
    on_exit stop_containerd
    local i
    for ((i = 0; i < 100; i++)); do
        ctr -a "$SOCK" version >/dev/null 2>&1 && break
        kill -0 "$CT_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! ctr -a "$SOCK" plugins ls 2>/dev/null | grep -E 'io.containerd.grpc.v1 +cri ' | grep -qw ok; then
        echo "containerd (with the CRI plugin) did not come up; its log:" >&2
        tail -20 "$C/containerd.log" >&2
        return 1
    fi
}
stop_containerd() {
    local id f a r
    # Whatever a failed run left: tasks killed and deleted, containers removed (when
    # containerd is still up: an interrupt from the terminal reaches it too).
    if kill -0 "$CT_PID" 2>/dev/null; then
        for id in $(timeout 10 ctr -a "$SOCK" -n $NS task ls -q 2>/dev/null); do
            timeout 10 ctr -a "$SOCK" -n $NS task kill -s SIGKILL "$id" >/dev/null 2>&1
            timeout 10 ctr -a "$SOCK" -n $NS task delete -f "$id" >/dev/null 2>&1
        done
        for id in $(timeout 10 ctr -a "$SOCK" -n $NS container ls -q 2>/dev/null); do
            timeout 10 ctr -a "$SOCK" -n $NS container rm "$id" >/dev/null 2>&1
        done
    fi
    stop_pid "$CT_PID" 20
    for f in "$C"/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    for a in "$C"/state/io.containerd.runtime.v2.task/*/*/address; do
        rm -f "$(sed 's|^unix://||' "$a")"
    done
    # Containers whose shim is gone: berth (same libcontainer state) kills and deletes them.
    for f in "$IT_DIR"/seen/*.json; do
        [ -e "$f" ] || continue
        id=$(basename "$f" .json)
        for r in $BERTH_ROOTS; do
            [ -d "$r/$id" ] || continue
            timeout 10 "$BERTH" --root "$r" delete --force "$id" >/dev/null 2>&1
            rm -rf "${r:?}/${id:?}"
        done
    done
    return 0
}

# Records, for every task directory that appears, its shim's address and, where the
# directory has a shim.pid, the shim's executable. The pod's containers join the pod's
# shim (grouped by the sandbox id): like runc-v2's, our shim's `start` then writes only
# `address` (the pod's) into the container's directory, no shim.pid.
watch_shims() {
    mkdir -p "$IT_DIR/shims"
    (
        shopt -s nullglob
        while kill -0 $$ 2>/dev/null; do
            for a in "$C"/state/io.containerd.runtime.v2.task/$NS/*/address; do
                d=$(dirname "$a")
                id=$(basename "$d")
                [ -e "$IT_DIR/shims/$id.address" ] || cp "$a" "$IT_DIR/shims/$id.address" 2>/dev/null
                [ -e "$IT_DIR/shims/$id" ] && continue
                exe=$(readlink "/proc/$(cat "$d/shim.pid" 2>/dev/null)/exe" 2>/dev/null) || continue
                basename "$exe" >"$IT_DIR/shims/$id"
            done
            sleep 0.02
        done
    ) &
    on_exit "kill $!"
}

# pause_oci_tar OUT NAME: a pause image from busybox-static: /bin/busybox and /bin/sleep,
# entrypoint `sleep 2147483647` (the CRI plugin SIGKILLs it on StopPodSandbox).
pause_oci_tar() {
    local out=$1 name=$2 w
    w=$(mktemp -d "$IT_DIR/pause.XXXXXX")
    mkdir -p "$w/rootfs/bin" "$w/rootfs/dev" "$w/rootfs/proc" "$w/rootfs/sys"
    cp /bin/busybox "$w/rootfs/bin/busybox"
    ln -s busybox "$w/rootfs/bin/sleep"
    tar --numeric-owner -C "$w/rootfs" -cf "$w/layer.tar" .
    oci_image_tar "$out" "$name" "$w/layer.tar" '{"Entrypoint":["/bin/sleep","2147483647"],"WorkingDir":"/"}'
    rm -rf "$w"
}

# proof_of WHAT ID [POD_ID]: the shim serving ID (a container: the pod's shim, at the
# address containerd recorded for it) was containerd-shim-berth-v2, and berth's state
# record for ID appeared under the shim's root.
proof_of() {
    local i sid=${3:-$2}
    for ((i = 0; i < 30; i++)); do
        [ -e "$IT_DIR/shims/$sid" ] && [ -e "$IT_DIR/shims/$2.address" ] && break
        sleep 0.1
    done
    [ -e "$IT_DIR/shims/$2.address" ] || die "containerd recorded no shim address for the $1 ($2)"
    [ -e "$IT_DIR/shims/$sid" ] || die "no shim process was seen for $sid"
    want "$(cat "$IT_DIR/shims/$sid.address")" "$(cat "$IT_DIR/shims/$2.address")" "the $1's shim address"
    want containerd-shim-berth-v2 "$(cat "$IT_DIR/shims/$sid")" "the shim serving the $1"
    berth_ran "$2"
}

# --- main -------------------------------------------------------------------------------
steps=("RunPodSandbox" "PodSandboxStatus" "CreateContainer" "StartContainer" "ContainerStatus"
    "ExecSync" "StopContainer" "RemoveContainer" "StopPodSandbox" "RemovePodSandbox")
skip_all() {
    local s
    for s in "${steps[@]}"; do scenario "cri: $s" skip "$1"; done
    it_summary
    exit $?
}
[ -n "$client_reason" ] && skip_all "$client_reason"
[ -x "$SHIM_DIR/containerd-shim-berth-v2" ] ||
    skip_all "no containerd-shim-berth-v2 in $SHIM_DIR (cargo build -p containerd-shim-berth-v2)"

# The shim makes a state root per containerd address: ours goes once empty (after
# stop_containerd: registered first, run last).
ls -d $BERTH_ROOTS >"$C/roots.before" 2>/dev/null
on_exit 'for r in $BERTH_ROOTS; do [ -d "$r" ] && ! grep -qxF "$r" "$C/roots.before" && rmdir "$r"; done'
start_containerd || { echo "0 passed, 1 failed"; exit 1; }
watch_roots "$BERTH_ROOTS"
watch_shims
busybox_oci_tar "$C/busybox.tar" $IMG && pause_oci_tar "$C/pause.tar" $PAUSE &&
    ctr -a "$SOCK" -n $NS images import "$C/busybox.tar" >/dev/null &&
    ctr -a "$SOCK" -n $NS images import "$C/pause.tar" >/dev/null ||
    { echo "ctr -n $NS images import failed"; echo "0 passed, 1 failed"; exit 1; }

# The client prints PASS/FAIL per CRI step (counted here), POD/CTR ids, and its own total.
timeout 300 "$CRI_CLIENT" --socket "$SOCK" --handler berth --image $IMG --pause-image $PAUSE \
    --log-dir "$C/pods" >"$C/client.out" 2>"$C/client.err"
rc=$?
POD_ID= CTR_ID=
while read -r word rest; do
    case "$word" in
    PASS) it_pass=$((it_pass + 1)); echo "PASS cri: $rest" ;;
    FAIL) it_fail=$((it_fail + 1)); echo "FAIL cri: $rest" ;;
    POD) POD_ID=$rest ;;
    CTR) CTR_ID=$rest ;;
    esac
done <"$C/client.out"
if [ $rc -ne 0 ] && ! grep -q '^FAIL' "$C/client.out"; then
    it_fail=$((it_fail + 1))
    echo "FAIL cri: berth-cri-client exited $rc: $(tail -3 "$C/client.err" | tr '\n' ' ')"
fi

if [ -n "$POD_ID" ]; then
    scenario "cri: the pod sandbox ran under containerd-shim-berth-v2 and berth" proof_of "pod sandbox" "$POD_ID"
else
    scenario "cri: the pod sandbox ran under containerd-shim-berth-v2 and berth" die "no pod was created"
fi
if [ -n "$CTR_ID" ]; then
    scenario "cri: the container ran under containerd-shim-berth-v2 and berth" proof_of container "$CTR_ID" "$POD_ID"
else
    scenario "cri: the container ran under containerd-shim-berth-v2 and berth" die "no container was created"
fi
it_summary
