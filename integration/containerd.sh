#!/usr/bin/env bash
# Drives the Berth shim through a private, real containerd (Debian's 1.6) with `ctr`.
# Usage: integration/containerd.sh [DIR holding containerd-shim-berth-v2]
# Prints "N passed, N failed"; exits non-zero on any failure. Needs root.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CTR_SHIM_DIR=$(realpath "${1:-$here/../target/debug}")
[ -x "$CTR_SHIM_DIR/containerd-shim-berth-v2" ] || { echo "no shim in $CTR_SHIM_DIR" >&2; exit 2; }
command -v containerd >/dev/null || { echo "containerd not installed" >&2; exit 2; }
# shellcheck source=integration/containerd-lib.sh
source "$here/containerd-lib.sh"
trap ct_cleanup EXIT

R=(--runtime io.containerd.berth.v2)
IMG=docker.io/library/busybox:latest
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

ct_start || exit 1
ct_import_busybox || exit 1

run_output() { [ "$(t run --rm "${R[@]}" $IMG c-echo echo hi)" = hi ]; }
check "run --rm prints output" run_output

run_exit() { t run --rm "${R[@]}" $IMG c-exit sh -c 'exit 7'; [ $? -eq 7 ]; }
check "run --rm returns the exit code" run_exit

run_stderr() { [ "$(t run --rm "${R[@]}" $IMG c-err sh -c 'echo oops >&2' 2>&1)" = oops ]; }
check "stderr reaches the client" run_stderr

t run -d "${R[@]}" $IMG c-long sh -c 'trap "exit 42" USR1; while true; do sleep 0.1; done' >/dev/null
check "run -d leaves it running" wait_status c-long RUNNING

exec_out() { [ "$(t task exec --exec-id e1 c-long sh -c 'echo in-exec')" = in-exec ]; }
check "task exec output" exec_out
exec_code() { t task exec --exec-id e2 c-long sh -c 'exit 3'; [ $? -eq 3 ]; }
check "task exec exit code" exec_code
exec_user() { [ "$(t task exec --user 1:1 --exec-id e3 c-long id -u)" = 1 ]; }
check "task exec --user uid:gid" exec_user
ps_lists() { t task ps c-long | grep -q "$(t task ls | awk '$1=="c-long"{print $2}')"; }
check "task ps lists the init" ps_lists

pause_resume() {
    t task pause c-long && wait_status c-long PAUSED && t task resume c-long && wait_status c-long RUNNING
}
check "pause and resume" pause_resume

tty_run() {
    local out
    out=$(script -qec "stty cols 80 rows 24; ctr -a $CT_SOCK run --rm -t ${R[*]} $IMG c-tty sh -c 'sleep 0.3; tty; stty size'" /dev/null)
    grep -q /dev/pts/0 <<<"$out" && grep -q "24 80" <<<"$out"
}
check "run -t gives a sized terminal" tty_run
tty_exec() {
    script -qec "ctr -a $CT_SOCK task exec -t --exec-id et c-long tty" /dev/null | grep -q /dev/pts/
}
check "task exec -t" tty_exec

# Idle cost of one shim serving one container (report only): RSS, PSS, threads.
report_idle() {
    local pid
    pid=$(cat "$CT_DIR"/state/io.containerd.runtime.v2.task/default/c-long/shim.pid)
    echo "idle shim: $(grep -E '^(VmRSS|Threads)' /proc/"$pid"/status | tr -s ' \t\n' ' ')" \
        "$(grep -E '^Pss:' /proc/"$pid"/smaps_rollup | tr -s ' ')"
}
report_idle

restart() {
    ct_stop && ct_start && wait_status c-long RUNNING &&
        [ "$(t task exec --exec-id e4 c-long echo after-restart)" = after-restart ]
}
check "containerd restart keeps the container" restart

kill_seen() {
    t task kill -s SIGUSR1 c-long && wait_status c-long STOPPED &&
        t task delete c-long 2>&1 | grep -q 42 ||
        [ "$(t task ls | awk '$1=="c-long"')" = "" ]
}
check "kill with a signal the process handles" kill_seen
t container rm c-long >/dev/null 2>&1

wait_code() { # attached run gets the status of a kill sent from elsewhere
    (t run "${R[@]}" $IMG c-wait sh -c 'trap "exit 42" USR1; while true; do sleep 0.1; done'; echo $? >"$CT_DIR/c-wait.code") &
    local runner=$!
    wait_status c-wait RUNNING && t task kill -s SIGUSR1 c-wait && wait "$runner" &&
        [ "$(cat "$CT_DIR/c-wait.code")" = 42 ]
}
check "an attached run gets the exit status" wait_code
t container rm c-wait >/dev/null 2>&1

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
