#!/usr/bin/env bash
# Drives berth through a private, real containerd (Debian's 1.6) with `ctr`:
#  1. `ctr run --runc-binary <berth> --runc-root <dir>` under containerd's own runc-v2
#     shim (io.containerd.runc.v2), which calls berth with runc's command line;
#  2. HOOK: `ctr run --runtime io.containerd.berth.v2` (our shim, containerd-shim-berth-v2
#     found on containerd's PATH): the same scenarios, skipped with the reason while the
#     shim cannot run a container;
#  3. Kubernetes CRI with a `berth` RuntimeClass handler: integration/cri.sh (its own
#     containerd with the CRI plugin, driven by integration/cri-client), skipped with the
#     reason while the shim cannot run a container.
#
# Usage: integration/ctr.sh          BERTH=/abs/berth: another binary; SHIM_DIR=dir holding
#        containerd-shim-berth-v2 (default: berth's dir); IT_ONLY=REGEX; IT_RUNTIME=runc:
#        part 1 under Debian's runc (reference run).
# Prints PASS/FAIL/SKIP per scenario and "N passed, N failed"; exits 1 on any failure.
# Needs root, containerd, busybox-static.
source "$(dirname "$0")/lib.sh"

# One private mount namespace with every cgroup hierarchy mounted (see in_cgroup_ns):
# the runc-v2 shim's metrics and OOM events need them.
if [ -z "${IT_IN_NS:-}" ]; then
    in_cgroup_ns env IT_IN_NS=1 bash "$0" "$@"
    exit $?
fi
it_init ctr
for b in containerd ctr containerd-shim-runc-v2; do
    command -v $b >/dev/null || { echo "missing $b: apt-get install containerd" >&2; exit 2; }
done

C=$IT_DIR
SOCK=$C/containerd.sock
NS=berth-it
IMG=docker.io/library/busybox:it
RUNTIME=${IT_RUNTIME:-berth}
[ "$RUNTIME" = berth ] && RT_PATH=$BERTH || RT_PATH=$(command -v runc)
SHIM_DIR=$(realpath -m "${SHIM_DIR:-$(dirname "$BERTH")}")
# The runc-v2 shim runs the runtime with --root <runc-root>/<namespace>.
RTROOT=$C/runc-root
RTROOT_NS=$RTROOT/$NS
# How `ctr run` / `ctr task` pick the runtime in the current part; PART names it.
R=()
PART=

# --- the daemon -------------------------------------------------------------------------
start_containerd() {
    mkdir -p "$C/root" "$C/state" "$C/opt"
    cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$C/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"
EOF
    PATH="$SHIM_DIR:$PATH" containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
    CT_PID=$!
    on_exit stop_containerd
    local i
    for ((i = 0; i < 100; i++)); do
        ctr -a "$SOCK" version >/dev/null 2>&1 && return 0
        kill -0 "$CT_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "containerd did not come up; its log:" >&2
    tail -20 "$C/containerd.log" >&2
    return 1
}
stop_containerd() {
    local id
    for id in $(timeout 10 ctr -a "$SOCK" -n $NS task ls -q 2>/dev/null); do
        timeout 10 ctr -a "$SOCK" -n $NS task kill -s SIGKILL "$id" >/dev/null 2>&1
        timeout 10 ctr -a "$SOCK" -n $NS task delete -f "$id" >/dev/null 2>&1
    done
    for id in $(timeout 10 ctr -a "$SOCK" -n $NS container ls -q 2>/dev/null); do
        timeout 10 ctr -a "$SOCK" -n $NS container rm "$id" >/dev/null 2>&1
    done
    stop_pid "$CT_PID" 20
    # Shims left behind: by the pid they wrote; their sockets (under /run/containerd/s).
    local f a
    for f in "$C"/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
        a=$(dirname "$f")/address
        [ -f "$a" ] && rm -f "$(sed 's|^unix://||' "$a")"
    done
    return 0
}

# --- helpers ------------------------------------------------------------------------------
c() { timeout "$IT_TIMEOUT" ctr -a "$SOCK" -n $NS "$@"; }
status_of() { c task ls | awk -v id="$1" '$1 == id {print $3}'; }
pid_of() { c task ls | awk -v id="$1" '$1 == id {print $2}'; }
wait_status() { # ID STATUS
    local i
    for ((i = 0; i < 100; i++)); do [ "$(status_of "$1")" = "$2" ] && return 0; sleep 0.1; done
    die "$1: status $(status_of "$1"), expected $2"
}
cgroup_file() {
    local p
    p=$(awk -F: -v s="$1" '{n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == s) print $3}' "/proc/$2/cgroup")
    cat "/sys/fs/cgroup/$1$p/$3"
}
n=0
# A container id unique in this run (the scenario subshells cannot share a counter).
new_id() { echo "$1-$PART-$(mktemp -u XXXXXX | tr 'A-Z' 'a-z')"; }
# proof ID: part 1: berth's record was seen under --runc-root; part 2: the task's shim
# process (its shim.pid, recorded by watch_shims while the task existed) was
# containerd-shim-berth-v2.
proof() {
    if [ "$PART" = runc-v2 ]; then
        berth_ran "$1"
    else
        local i
        for ((i = 0; i < 30; i++)); do
            [ -e "$IT_DIR/shims/$1" ] && break
            sleep 0.1
        done
        [ -e "$IT_DIR/shims/$1" ] || die "no shim was seen for task $1"
        want containerd-shim-berth-v2 "$(cat "$IT_DIR/shims/$1")" "the shim serving $1"
    fi
}
# Records, for every task directory that appears, the executable of its shim.
watch_shims() {
    mkdir -p "$IT_DIR/shims"
    (
        shopt -s nullglob
        while kill -0 $$ 2>/dev/null; do
            for f in "$C"/state/io.containerd.runtime.v2.task/$NS/*/shim.pid; do
                id=$(basename "$(dirname "$f")")
                [ -e "$IT_DIR/shims/$id" ] && continue
                exe=$(readlink "/proc/$(cat "$f" 2>/dev/null)/exe" 2>/dev/null) || continue
                basename "$exe" >"$IT_DIR/shims/$id"
            done
            sleep 0.02
        done
    ) &
    on_exit "kill $!"
}
cleanup_task() { c task delete -f "$1" >/dev/null 2>&1; c container rm "$1" >/dev/null 2>&1; return 0; }

# --- scenarios (each runs in both parts) ------------------------------------------------
t_run_output() {
    local id out
    id=$(new_id out)
    out=$(c run --rm "${R[@]}" $IMG "$id" sh -c 'echo hello from berth; sleep 0.2')
    want "hello from berth" "$out" "output"
    proof "$id"
}
t_run_exit_code() {
    local id
    id=$(new_id exit)
    c run --rm "${R[@]}" $IMG "$id" sh -c 'sleep 0.2; exit 7'
    want 7 $? "exit code"
    proof "$id"
}
t_run_stderr() {
    local id
    id=$(new_id err)
    want oops "$(c run --rm "${R[@]}" $IMG "$id" sh -c 'echo oops >&2; sleep 0.2' 2>&1 >/dev/null)" "stderr"
}
t_missing_binary() {
    local id out
    id=$(new_id nobin)
    out=$(c run --rm "${R[@]}" $IMG "$id" /no/such/binary 2>&1)
    [ $? -ne 0 ] || die "ran a missing binary"
    grep -q 'no such file or directory' <<<"$out" || die "message: $out"
    cleanup_task "$id"
}
t_detach_exec() {
    local id out
    id=$(new_id exec)
    c run -d "${R[@]}" $IMG "$id" sleep 1000 >/dev/null || die "run -d failed"
    wait_status "$id" RUNNING
    proof "$id"
    out=$(c task exec --exec-id e1 "$id" sh -c 'echo in-exec; cat /proc/1/cmdline | tr "\0" " "')
    want "in-exec
sleep 1000 " "$out" "exec output"
    c task exec --exec-id e2 "$id" sh -c 'exit 3'
    want 3 $? "exec exit code"
    want "1 1" "$(c task exec --user 1:1 --exec-id e3 "$id" sh -c 'echo $(id -u) $(id -g)')" "exec --user"
    out=$(timeout "$IT_TIMEOUT" script -qec "ctr -a $SOCK -n $NS task exec -t --exec-id e4 $id tty" /dev/null)
    grep -q '/dev/pts/' <<<"$out" || die "exec -t: $out"
    cleanup_task "$id"
}
t_kill() {
    local id pid rc
    id=$(new_id kill)
    c run "${R[@]}" $IMG "$id" sh -c 'trap "exit 42" USR1; while :; do sleep 0.1; done' &
    pid=$!
    wait_status "$id" RUNNING
    proof "$id"
    c task kill -s SIGUSR1 "$id" || die "task kill failed"
    wait "$pid"
    rc=$?
    want 42 "$rc" "exit code of ctr run after SIGUSR1"
    cleanup_task "$id"
    # SIGKILL (the default of `ctr task kill` is SIGTERM, which pid 1 ignores here).
    id=$(new_id kill9)
    c run -d "${R[@]}" $IMG "$id" sleep 1000 >/dev/null
    wait_status "$id" RUNNING
    c task kill -s SIGKILL "$id" || die "task kill -s SIGKILL failed"
    wait_status "$id" STOPPED
    cleanup_task "$id"
}
t_pause_resume() {
    local id pid
    id=$(new_id pause)
    c run -d "${R[@]}" $IMG "$id" sleep 1000 >/dev/null || die "run -d failed"
    wait_status "$id" RUNNING
    proof "$id"
    pid=$(pid_of "$id")
    c task pause "$id" || die "task pause failed"
    wait_status "$id" PAUSED
    want FROZEN "$(cgroup_file freezer "$pid" freezer.state)" "freezer.state"
    c task resume "$id" || die "task resume failed"
    wait_status "$id" RUNNING
    want THAWED "$(cgroup_file freezer "$pid" freezer.state)" "freezer.state"
    cleanup_task "$id"
}
t_ps() {
    local id out pid
    id=$(new_id ps)
    c run -d "${R[@]}" $IMG "$id" sh -c 'sleep 1001 & sleep 1002' >/dev/null || die "run -d failed"
    wait_status "$id" RUNNING
    proof "$id"
    pid=$(pid_of "$id")
    sleep 0.3
    out=$(c task ps "$id") || die "task ps failed"
    grep -qw "$pid" <<<"$out" || die "task ps does not list the init $pid: $out"
    [ "$(grep -cE '^[0-9]+' <<<"$out")" -ge 2 ] || die "task ps lists fewer than 2 processes: $out"
    cleanup_task "$id"
}
t_metrics() {
    local id out
    id=$(new_id metrics)
    c run -d "${R[@]}" $IMG "$id" sh -c 'sleep 1001 & sleep 1002' >/dev/null || die "run -d failed"
    wait_status "$id" RUNNING
    proof "$id"
    sleep 0.3
    out=$(c task metrics "$id") || die "task metrics failed: $out"
    grep -qE 'memory.usage_in_bytes +[1-9]' <<<"$out" || die "no memory usage: $out"
    grep -qE 'pids.current +[23] *$' <<<"$out" || die "pids.current: $out"
    cleanup_task "$id"
}
t_tty() {
    local id out
    id=$(new_id tty)
    out=$(timeout "$IT_TIMEOUT" script -qec "stty cols 100 rows 30; ctr -a $SOCK -n $NS run --rm -t ${R[*]} $IMG $id sh -c 'sleep 0.3; tty; stty size'" /dev/null)
    grep -q '/dev/pts/0' <<<"$out" || die "tty: $out"
    grep -q '^30 100' <<<"$out" || die "stty size: $out"
    proof "$id"
}
# This host's CRIU cannot dump (docs/checkpoint.md): the checkpoint is refused with
# CRIU's reason and the task runs on. Where CRIU works, the images must be there.
t_checkpoint() {
    local id out rc
    id=$(new_id ck)
    c run -d "${R[@]}" $IMG "$id" sleep 1000 >/dev/null || die "run -d failed"
    wait_status "$id" RUNNING
    out=$(c task checkpoint --image-path "$C/ck-$id" --work-path "$C/ck-$id.work" "$id" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        [ -s "$C/ck-$id/inventory.img" ] || die "checkpoint said ok, no images: $(ls "$C/ck-$id")"
    else
        grep -q "criu failed" <<<"$out" || die "checkpoint error: $out"
        want RUNNING "$(c task ls | awk -v id="$id" '$1 == id { print $3 }')" "task after a failed checkpoint"
    fi
    cleanup_task "$id"
}

run_part() {
    scenario "$PART: run --rm output" t_run_output
    scenario "$PART: run --rm exit code" t_run_exit_code
    scenario "$PART: stderr" t_run_stderr
    scenario "$PART: missing binary is an error" t_missing_binary
    scenario "$PART: run -d, task exec (output, exit code, --user, -t)" t_detach_exec
    scenario "$PART: task kill -s" t_kill
    scenario "$PART: pause/resume" t_pause_resume
    scenario "$PART: task ps" t_ps
    scenario "$PART: task metrics" t_metrics
    scenario "$PART: run -t" t_tty
    scenario "$PART: task checkpoint (refused by this CRIU: the task runs on)" t_checkpoint
}

# --- main -------------------------------------------------------------------------------
start_containerd || { echo "0 passed, 1 failed"; exit 1; }
watch_roots "$RTROOT_NS"
watch_shims
busybox_oci_tar "$C/busybox.tar" $IMG && c images import "$C/busybox.tar" >/dev/null ||
    { echo "ctr images import failed"; echo "0 passed, 1 failed"; exit 1; }

# Part 1: containerd's runc-v2 shim with berth as its runc binary.
PART=runc-v2
R=(--runc-binary "$RT_PATH" --runc-root "$RTROOT")
run_part

# Part 2 (HOOK): our shim. Lights up once containerd-shim-berth-v2 can run a container.
PART=berth-shim
R=(--runtime io.containerd.berth.v2)
shim_reason=
if [ "$RUNTIME" != berth ]; then
    shim_reason="reference run (IT_RUNTIME=$RUNTIME)"
elif [ ! -x "$SHIM_DIR/containerd-shim-berth-v2" ]; then
    shim_reason="no containerd-shim-berth-v2 in $SHIM_DIR (cargo build -p containerd-shim-berth-v2)"
else
    probe=$(new_id probe)
    if ! probe_out=$(c run --rm "${R[@]}" $IMG "$probe" echo shim-ok 2>&1) || [ "$probe_out" != shim-ok ]; then
        shim_reason="containerd-shim-berth-v2 cannot run a container yet: $(tr '\n' ' ' <<<"$probe_out" | cut -c1-200)"
        cleanup_task "$probe"
    fi
fi
if [ -n "$shim_reason" ]; then
    for s in "run --rm output" "run --rm exit code" "stderr" "missing binary is an error" \
        "run -d, task exec (output, exit code, --user, -t)" "task kill -s" "pause/resume" \
        "task ps" "task metrics" "run -t"; do
        scenario "$PART: $s" skip "$shim_reason"
    done
else
    run_part
fi

# Part 3: Kubernetes. containerd's CRI plugin with a `berth` runtime handler
# (runtime_type = "io.containerd.berth.v2", see docs/clients.md), driven over the CRI
# gRPC API by integration/cri-client: integration/cri.sh, with a containerd of its own
# (CRI enabled, namespace k8s.io), run here in this mount namespace; its PASS/FAIL/SKIP
# lines and counts join ours. Needs the shim (part 2).
if [ -n "$shim_reason" ]; then
    scenario "cri: RuntimeClass berth pod lifecycle" skip "$shim_reason"
else
    while IFS= read -r line; do
        case "$line" in
        "PASS "*) it_pass=$((it_pass + 1)); echo "$line" ;;
        "FAIL "*) it_fail=$((it_fail + 1)); echo "$line" ;;
        "SKIP "*) it_skip=$((it_skip + 1)); echo "$line" ;;
        [0-9]*" passed, "*) ;;
        *) echo "$line" ;;
        esac
    done < <(BERTH="$BERTH" SHIM_DIR="$SHIM_DIR" bash "$IT_HERE/cri.sh" 2>&1)
fi

it_summary
