#!/usr/bin/env bash
# Churn through the Berth shim under a private containerd: SHIM_CHURN containers (default 20)
# run, exec'd into, killed and deleted, 2 at a time, all in one pod group so one
# long-running shim serves them all (an anchor container keeps it alive). Before and
# after (after a warm-up container): the shim's open fds, threads and children, and, for
# this run only, mounts, cgroup dirs, live container processes, libcontainer state
# entries and bundles must be equal; the shim's RSS and MemAvailable are reported.
# Usage: SHIM_CHURN=1000 integration/containerd-churn.sh [DIR holding containerd-shim-berth-v2]
# Prints "N passed, N failed"; exits non-zero on any failure. Needs root.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=integration/containerd-lib.sh
source "$here/containerd-lib.sh" "${1:-$here/../target/debug}"

CHURN=${SHIM_CHURN:-20}
GROUP=pod-churn-$S
ANN=(--annotation io.kubernetes.cri.sandbox-id=$GROUP)
ANCHOR=c-anchor-$S

# One container's life; prints a line on stderr for each step that failed.
life() { # id
    local id=$1 out
    t run -d "${ANN[@]}" "${R[@]}" $IMG "$id" sleep 1000 >/dev/null || echo "$id: run failed" >&2
    out=$(t task exec --exec-id e "$id" echo hi 2>&1)
    [ "$out" = hi ] || echo "$id: exec printed '$out'" >&2
    t task kill -s SIGKILL "$id" || echo "$id: kill failed" >&2
    for _ in $(seq 100); do t task rm "$id" >/dev/null 2>&1 && break; sleep 0.05; done
    t container rm "$id" >/dev/null 2>&1 || echo "$id: rm failed" >&2
}

worker() { # first last step
    local i
    for ((i = $1; i <= $2; i += $3)); do life c-ch-$S-$i; done
}

shim_pid() { cat "$(ct_bundle $ANCHOR)/shim.pid"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# Counts that must not move, as "name=value" words.
footprint() {
    local pid f procs=0
    pid=$(shim_pid)
    for f in /proc/[0-9]*/cgroup; do
        grep -q ":/default/c-ch-$S-" "$f" 2>/dev/null || continue
        f=${f%/cgroup}
        grep -q '^State:.*Z' "$f/status" 2>/dev/null || procs=$((procs + 1))
    done
    echo "shim_fds=$(ls /proc/"$pid"/fd | wc -l)" \
        "shim_threads=$(status_kb "$pid" Threads)" \
        "shim_children=$(grep -l "^PPid:[[:space:]]*$pid\$" /proc/[0-9]*/status 2>/dev/null | wc -l)" \
        "mounts=$(grep -c "$CT_DIR" /proc/self/mountinfo)" \
        "cgroup_dirs=$(ls -d /sys/fs/cgroup/*/default/c-ch-$S-* 2>/dev/null | wc -l)" \
        "processes=$procs" \
        "state_entries=$(ls "$(ct_state_root)" | wc -l)" \
        "bundles=$(ls "$(ct_bundle '')" | wc -l)"
}
memory() { # shim RSS (anonymous: heap, stacks; file: binary and libc pages) and the machine's MemAvailable, in KiB
    local pid
    pid=$(shim_pid)
    echo "shim_rss=$(status_kb "$pid" VmRSS) shim_rss_anon=$(status_kb "$pid" RssAnon)" \
        "shim_rss_file=$(status_kb "$pid" RssFile) mem_available=$(awk '$1 == "MemAvailable:" {print $2}' /proc/meminfo)"
}

ct_start || exit 1
ct_import_busybox || exit 1
t run -d "${ANN[@]}" "${R[@]}" $IMG $ANCHOR sleep 100000 >/dev/null || exit 1
life c-ch-$S-0 2>/dev/null # warm-up: the shim's heap and caches settle
before=$(footprint) mem_before=$(memory)
publishing() { grep -qs "^PPid:[[:space:]]*$(shim_pid)\$" $(grep -ls '^Name:[[:space:]]*containerd$' /proc/[0-9]*/status 2>/dev/null) /dev/null; }
# SHIM_CHURN_ROUNDS (default 1) repeats the churn with fresh ids, reporting memory after
# each: growth that stops after the first round is a high-water mark, not a leak.
for ((round = 1; round <= ${SHIM_CHURN_ROUNDS:-1}; round++)); do
    started=$SECONDS
    worker $((1 + (round - 1) * CHURN)) $((round * CHURN)) 2 2>>"$CT_DIR/errors.1" &
    w1=$!
    worker $((2 + (round - 1) * CHURN)) $((round * CHURN)) 2 2>>"$CT_DIR/errors.2" &
    w2=$!
    wait $w1 $w2
    took=$((SECONDS - started))
    # Events go out through one `containerd publish` child at a time: wait until the
    # queue has drained (no publisher for a second) before counting.
    drain_started=$SECONDS quiet=0
    while [ $quiet -lt 10 ] && [ $((SECONDS - drain_started)) -lt 600 ]; do
        if publishing; then quiet=0; else quiet=$((quiet + 1)); fi
        sleep 0.1
    done
    drained=$((SECONDS - drain_started))
    # Events are published by short-lived children of the shim: let the last ones finish.
    for _ in $(seq 50); do
        after=$(footprint)
        [ "$after" = "$before" ] && break
        sleep 0.1
    done
    mem_after=$(memory)
    echo "churn: $CHURN containers through one shim in $took s, 2 at a time; its event queue drained $drained s later; $mem_after"
done
echo " before: $before $mem_before"
echo " after:  $after $mem_after"

no_errors() {
    cat "$CT_DIR"/errors.* >&2
    ! [ -s "$CT_DIR/errors.1" ] && ! [ -s "$CT_DIR/errors.2" ]
}
check "every container ran, exec'd, was killed and deleted" no_errors
check "counts equal before and after (shim fds, threads, children, mounts, cgroups, processes, state, bundles)" \
    [ "$before" = "$after" ]
same_shim() { [ "$(t task exec --exec-id last $ANCHOR echo alive)" = alive ]; }
check "the shim still serves its anchor" same_shim

shim=$(shim_pid)
t task kill -s SIGKILL $ANCHOR >/dev/null
for _ in $(seq 100); do t task rm $ANCHOR >/dev/null 2>&1 && break; sleep 0.05; done
t container rm $ANCHOR >/dev/null 2>&1
gone() {
    local left
    for _ in $(seq 50); do
        left=$(ct_leftovers $ANCHOR $GROUP)
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    echo "$left" >&2
    return 1
}
check "the last container's delete ends the shim and leaves nothing" gone
# The shim exits once it has published its queued events (one publisher process at a time).
shim_exits() {
    local t0=$SECONDS
    for _ in $(seq 1200); do
        kill -0 "$shim" 2>/dev/null || { echo "shim exited $((SECONDS - t0)) s after its last task was deleted"; return 0; }
        sleep 0.1
    done
    return 1
}
check "the shim exits" shim_exits

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
