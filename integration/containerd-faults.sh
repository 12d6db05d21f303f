#!/usr/bin/env bash
# The Berth shim SIGKILLed mid-operation, under a private containerd: at each step of
# Create (libcontainer's and the shim's own), in Start, Exec, Kill and Delete. After
# containerd's own recovery (it runs the shim binary's `delete`, publishes TaskExit) and
# `ctr task rm -f` + `ctr c rm`, nothing may remain: no rootfs mount, cgroup dir,
# container process, libcontainer state, bundle, or shim socket file; and a new task
# with the same id must run. The step comes from $BERTH_FAULT_FILE (libcontainer/src/
# fault.rs), read at each point, so one containerd and its shims serve every case.
# Usage: integration/containerd-faults.sh [DIR holding containerd-shim-berth-v2]
# Prints "N passed, N failed"; exits non-zero on any failure. Needs root.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=integration/containerd-lib.sh
source "$here/containerd-lib.sh" "${1:-$here/../target/debug}"

export BERTH_FAULT_FILE=$CT_DIR/fault-step
exec 9>&2 # FAULT_DEBUG=1: each ctr call with its time, past any redirection
t() { local s=$SECONDS; timeout 30 ctr -a "$CT_SOCK" "$@"; local r=$?; [ -n "${FAULT_DEBUG:-}" ] && echo "  [$((SECONDS - s))s rc=$r] ctr $*" >&9; return $r; }
arm() { echo "$1" >"$BERTH_FAULT_FILE"; }
disarm() { rm -f "$BERTH_FAULT_FILE"; }

# Runs a detached container ID (in GROUP) that sleeps.
run_sleeper() { # id group
    t run -d "${R[@]}" --annotation io.kubernetes.cri.sandbox-id="$2" $IMG "$1" sleep 1000 >/dev/null &&
        wait_status "$1" RUNNING
}

# The operation during which the shim dies; its failure is expected (the reply never
# comes), so only a setup failure counts.
operate() { # step id group
    local step=$1 id=$2 group=$3
    case $step in
        shim-exec-before | shim-exec-after)
            run_sleeper "$id" "$group" || return 1
            arm "$step"
            t task exec --exec-id ex "$id" sleep 1000 >/dev/null 2>&1
            ;;
        shim-killed)
            run_sleeper "$id" "$group" || return 1
            arm "$step"
            t task kill -s SIGKILL "$id" >/dev/null 2>&1
            ;;
        shim-deleted)
            run_sleeper "$id" "$group" || return 1
            t task kill -s SIGKILL "$id" && wait_status "$id" STOPPED || return 1
            arm "$step"
            t task rm "$id" >/dev/null 2>&1
            ;;
        *) # a step of create or start: `ctr run` fails
            arm "$step"
            t run -d "${R[@]}" --annotation io.kubernetes.cri.sandbox-id="$group" $IMG "$id" sleep 1000 >/dev/null 2>&1 &&
                echo "ctr run succeeded despite the fault" >&2
            ;;
    esac
    return 0
}

# After the fault: what a client does, then nothing may remain of IDS (group GROUP).
recover_clean() { # group ids...
    local group=$1 id left
    shift
    for id in "$@"; do
        t task rm -f "$id" >/dev/null 2>&1
        t container rm "$id" >/dev/null 2>&1
    done
    for _ in $(seq 200); do # generous: a loaded machine reaps slowly
        left=$(for id in "$@"; do ct_leftovers "$id" "$group"; done)
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    # Only the dead shim's socket file: containerd did not get to run the shim's `delete`
    # (seen twice, under load average 13, after a death inside Create; suspected: its
    # Create error path removes the bundle, the `delete` run for the closed connection
    # then has no working directory). Not fatal here: the next `start` of the group
    # removes it, which the caller checks.
    if [ -n "${SOCKET_LENIENT:-}" ] && ! grep -qv '^socket ' <<<"$left" &&
        ! pgrep -f -- "-socket unix://${left#socket }" >/dev/null; then # no shim serves it
        echo "    note: $left left after containerd's recovery" >&2
        return 0
    fi
    echo "$left" | sed 's/^/    left: /' >&2
    for id in "$@"; do grep -F "$id" "$CT_DIR/containerd.log" | grep -E 'level=(warn|error)' | tail -4 | cut -c1-400 | sed 's/^/    containerd: /' >&2; done
    return 1
}

fault_case() { # step
    local step=$1 id=c-f-$1-$S
    disarm
    operate "$step" "$id" "$id" || { disarm; return 1; }
    disarm
    SOCKET_LENIENT=1 recover_clean "$id" "$id" || return 1
    case $step in # a task containerd knew of: it publishes the exit for the dead shim
        shim-started | shim-exec-* | shim-killed)
            grep -q "/tasks/exit .*\"$id\"" "$CT_DIR/events.log" || {
                echo "    no /tasks/exit event for $id" >&2
                return 1
            } ;;
    esac
    [ "$(t run --rm "${R[@]}" $IMG "$id" echo again 2>&1)" = again ] || {
        echo "    a new task $id does not run" >&2
        return 1
    }
    recover_clean "$id" "$id"
}

ct_start || exit 1
ct_import_busybox || exit 1
ctr -a "$CT_SOCK" events >"$CT_DIR/events.log" 2>&1 &
events=$!

started=$SECONDS
for step in ${STEPS:-shim-mounted reserved state cgroup spawned ready written shim-created \
    shim-started shim-exec-before shim-exec-after shim-killed shim-deleted}; do
    if fault_case "$step"; then
        pass=$((pass + 1)); echo "ok   shim killed at $step"
    else
        fail=$((fail + 1)); echo "FAIL shim killed at $step"
    fi
done

pod_case() { # a shim serving two containers of one pod dies in an exec of the second
    local a=c-fp1-$S b=c-fp2-$S group=pod-f-$S
    disarm
    run_sleeper $a $group || return 1
    # The detector sees each kind of remains while the container lives.
    local seen
    seen=$(ct_leftovers $a $group | awk '{print $1}' | sort -u | tr '\n' ' ')
    [ "$seen" = "bundle cgroup mount process socket state " ] || {
        echo "    ct_leftovers of a live container: $seen" >&2
        return 1
    }
    operate shim-exec-before $b $group || { disarm; return 1; }
    disarm
    recover_clean $group $a $b || return 1
    run_sleeper $a $group && [ "$(t task exec --exec-id e2 $a echo again)" = again ] || return 1
    t task kill -s SIGKILL $a >/dev/null && wait_status $a STOPPED
    recover_clean $group $a
}
if pod_case; then
    pass=$((pass + 1)); echo "ok   shim of a pod killed: both containers cleaned"
else
    fail=$((fail + 1)); echo "FAIL shim of a pod killed: both containers cleaned"
fi

kill $events 2>/dev/null
wait $events 2>/dev/null
echo "$pass passed, $fail failed in $((SECONDS - started)) s"
[ "$fail" -eq 0 ]
