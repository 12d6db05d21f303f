#!/usr/bin/env bash
# Drives the Berth shim through a private, real containerd (Debian's 1.6) with `ctr`.
# Usage: integration/containerd.sh [DIR holding containerd-shim-berth-v2]
# Prints "N passed, N failed"; exits non-zero on any failure. Needs root.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=integration/containerd-lib.sh
source "$here/containerd-lib.sh" "${1:-$here/../target/debug}"

LONG=c-long-$S

ct_start || exit 1
ct_import_busybox || exit 1

run_output() { [ "$(t run --rm "${R[@]}" $IMG c-echo-$S echo hi)" = hi ]; }
check "run --rm prints output" run_output

run_exit() { t run --rm "${R[@]}" $IMG c-exit-$S sh -c 'exit 7'; [ $? -eq 7 ]; }
check "run --rm returns the exit code" run_exit

run_stderr() { [ "$(t run --rm "${R[@]}" $IMG c-err-$S sh -c 'echo oops >&2' 2>&1)" = oops ]; }
check "stderr reaches the client" run_stderr

# containerd's logging-binary protocol: stdout/stderr on fds 3/4, ready on fd 5.
cat >"$CT_DIR/logger.sh" <<'LOGGER'
#!/bin/sh
out=$2
exec 5>&-
{ echo "id=$CONTAINER_ID ns=$CONTAINER_NAMESPACE"; cat <&3; } >"$out" &
cat <&4 >"$out.err"
wait
LOGGER
chmod +x "$CT_DIR/logger.sh"
run_log_binary() {
    t run --rm "${R[@]}" --log-uri "binary://$CT_DIR/logger.sh?out=$CT_DIR/log.out" $IMG c-log-$S \
        sh -c 'echo to-out; echo to-err >&2' || return 1
    for _ in $(seq 50); do [ -s "$CT_DIR/log.out.err" ] && break; sleep 0.1; done
    [ "$(cat "$CT_DIR/log.out")" = "$(printf 'id=c-log-%s ns=default\nto-out' "$S")" ] &&
        [ "$(cat "$CT_DIR/log.out.err")" = to-err ]
}
check "binary:// log URI gets stdout, stderr, id and namespace" run_log_binary

t run -d "${R[@]}" $IMG $LONG sh -c 'trap "exit 42" USR1; while true; do sleep 0.1; done' >/dev/null
check "run -d leaves it running" wait_status $LONG RUNNING

exec_out() { [ "$(t task exec --exec-id e1 $LONG sh -c 'echo in-exec')" = in-exec ]; }
check "task exec output" exec_out
exec_code() { t task exec --exec-id e2 $LONG sh -c 'exit 3'; [ $? -eq 3 ]; }
check "task exec exit code" exec_code
exec_user() { [ "$(t task exec --user 1:1 --exec-id e3 $LONG id -u)" = 1 ]; }
check "task exec --user uid:gid" exec_user
ps_lists() { t task ps $LONG | grep -q "$(t task ls | awk -v id="$LONG" '$1==id {print $2}')"; }
check "task ps lists the init" ps_lists

pause_resume() {
    t task pause $LONG && wait_status $LONG PAUSED && t task resume $LONG && wait_status $LONG RUNNING
}
check "pause and resume" pause_resume

tty_run() {
    local out
    out=$(script -qec "stty cols 80 rows 24; ctr -a $CT_SOCK run --rm -t ${R[*]} $IMG c-tty-$S sh -c 'sleep 0.3; tty; stty size'" /dev/null)
    grep -q /dev/pts/0 <<<"$out" && grep -q "24 80" <<<"$out"
}
check "run -t gives a sized terminal" tty_run
tty_exec() {
    script -qec "ctr -a $CT_SOCK task exec -t --exec-id et $LONG tty" /dev/null | grep -q /dev/pts/
}
check "task exec -t" tty_exec

metric() { t task metrics $LONG | awk -v k="$1" '$1 == k {print $2}'; }
metrics_real() {
    local usage pids
    usage=$(metric memory.usage_in_bytes) pids=$(metric pids.current)
    [ "${usage:-0}" -gt 0 ] && [ "${pids:-0}" -ge 1 ] && [ "$(metric cpuacct.usage)" -gt 0 ]
}
check "task metrics prints real numbers" metrics_real
update_limit() { # ctr 1.6 has no `task update`: send the Update request to the shim
    local addr
    addr=$(cat "$CT_DIR"/state/io.containerd.runtime.v2.task/default/$LONG/address)
    "$CTR_SHIM_DIR/berth-shim-update" "$addr" $LONG '{"memory":{"limit":67108864}}' &&
        [ "$(metric memory.limit_in_bytes)" = 67108864 ] &&
        ! "$CTR_SHIM_DIR/berth-shim-update" "$addr" $LONG '{"memory":' 2>/dev/null
}
check "Update applies a memory limit" update_limit

tty_clean() { # nothing before the program's output (stdin kept open: `script` sends a
    # NUL into the terminal when its own stdin ends, which the container's pty echoes as ^@)
    local out
    out=$( (sleep 3; true) | script -qec "ctr -a $CT_SOCK run --rm -t ${R[*]} $IMG c-tty2-$S sh -c 'sleep 0.2; echo first'" /dev/null)
    [ "${out:0:5}" = first ]
}
check "run -t output starts with the program's" tty_clean
exec_missing() { # the texts Docker and the CRI turn into exit status 127
    local out
    out=$(t task exec --exec-id e5 $LONG /nonexistent 2>&1) && return 1
    grep -q 'OCI runtime exec failed: .*no such file or directory' <<<"$out" || return 1
    out=$(t task exec --exec-id e6 $LONG nosuchcmd 2>&1) && return 1
    grep -q 'executable file not found in $PATH' <<<"$out" &&
        [ "$(t task exec --exec-id e5 $LONG echo still-serving)" = still-serving ]
}
check "exec of a missing command fails with runc's text" exec_missing
run_missing() {
    local out
    out=$(t run --rm "${R[@]}" $IMG c-miss-$S /nonexistent 2>&1) && return 1
    t container rm c-miss-$S >/dev/null 2>&1
    grep -q 'OCI runtime create failed: .*no such file or directory' <<<"$out"
}
check "run of a missing command fails with runc's text" run_missing

# Idle cost of one shim serving one container (report only): RSS, PSS, threads.
report_idle() {
    local pid
    pid=$(cat "$CT_DIR"/state/io.containerd.runtime.v2.task/default/$LONG/shim.pid)
    echo "idle shim: $(grep -E '^(VmRSS|Threads)' /proc/"$pid"/status | tr -s ' \t\n' ' ')" \
        "$(grep -E '^Pss:' /proc/"$pid"/smaps_rollup | tr -s ' ')"
}
report_idle

restart() {
    ct_stop && ct_start && wait_status $LONG RUNNING &&
        [ "$(t task exec --exec-id e4 $LONG echo after-restart)" = after-restart ]
}
check "containerd restart keeps the container" restart

kill_seen() {
    t task kill -s SIGUSR1 $LONG && wait_status $LONG STOPPED &&
        t task delete $LONG 2>&1 | grep -q 42 ||
        [ "$(t task ls | awk -v id="$LONG" '$1==id')" = "" ]
}
check "kill with a signal the process handles" kill_seen
t container rm $LONG >/dev/null 2>&1

wait_code() { # attached run gets the status of a kill sent from elsewhere
    (t run "${R[@]}" $IMG c-wait-$S sh -c 'trap "exit 42" USR1; while true; do sleep 0.1; done'; echo $? >"$CT_DIR/c-wait.code") &
    local runner=$!
    wait_status c-wait-$S RUNNING && t task kill -s SIGUSR1 c-wait-$S && wait "$runner" &&
        [ "$(cat "$CT_DIR/c-wait.code")" = 42 ]
}
check "an attached run gets the exit status" wait_code
t container rm c-wait-$S >/dev/null 2>&1

kill_paused() { # SIGKILL reaches a frozen init; afterwards the shim's socket is gone
    local id=c-paused-$S addr
    t run -d "${R[@]}" $IMG $id sleep 1000 >/dev/null && wait_status $id RUNNING || return 1
    addr=$(sed 's|^unix://||' "$CT_DIR/state/io.containerd.runtime.v2.task/default/$id/address")
    t task pause $id && wait_status $id PAUSED && t task kill -s SIGKILL $id &&
        wait_status $id STOPPED && t task delete $id >/dev/null && t container rm $id || return 1
    for _ in $(seq 30); do [ -e "$addr" ] || return 0; sleep 0.1; done
    echo "stale socket $addr" >&2
    return 1
}
check "kill while paused, no stale socket" kill_paused

pod_group() { # two containers of one pod (the CRI's sandbox annotation) share one shim
    local a=c-pod1-$S b=c-pod2-$S st="$CT_DIR/state/io.containerd.runtime.v2.task/default" ok=0
    local ann=(--annotation io.kubernetes.cri.sandbox-id=pod-$S)
    t run -d "${ann[@]}" "${R[@]}" $IMG $a sleep 1000 >/dev/null &&
        t run -d "${ann[@]}" "${R[@]}" $IMG $b sleep 1000 >/dev/null &&
        wait_status $a RUNNING && wait_status $b RUNNING &&
        [ "$(cat $st/$a/address)" = "$(cat $st/$b/address)" ] &&
        [ "$(t task exec --exec-id p1 $b echo pod)" = pod ] && ok=1
    for id in $a $b; do
        t task kill -s SIGKILL $id >/dev/null 2>&1; wait_status $id STOPPED
        t task delete $id >/dev/null 2>&1; t container rm $id >/dev/null 2>&1
    done
    [ $ok = 1 ]
}
check "pod containers share one shim" pod_group

oom_event() { # a memory-limited container that allocates until the kernel kills it
    ctr -a "$CT_SOCK" events >"$CT_DIR/events.log" 2>&1 &
    local events=$! code
    sleep 0.3
    t run --rm --memory-limit 16777216 "${R[@]}" $IMG c-oom-$S sh -c 'x=aaaaaaaa; while true; do x=$x$x; done'
    code=$?
    sleep 0.5
    kill "$events" 2>/dev/null; wait "$events" 2>/dev/null
    [ "$code" -eq 137 ] && grep -q "/tasks/oom .*c-oom-$S" "$CT_DIR/events.log"
}
check "an OOM kill is reported as /tasks/oom" oom_event

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
