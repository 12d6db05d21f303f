#!/usr/bin/env bash
# Drives berth through a real dockerd (Debian's docker.io 20.10) started by hand:
# private --data-root/--exec-root/--pidfile/--host, a --config-file naming berth by
# `path` as the default runtime, cgroupfs driver, a bridge this script creates and
# iptables on. dockerd runs its own containerd, whose runc-v2 shim calls berth with
# `--root <exec-root>/runtime-runc/moby`.
#
# Usage: integration/docker.sh       BERTH=/abs/berth: another binary; IT_ONLY=REGEX: only
#        the scenarios whose names match; IT_RUNTIME=runc: reference run under runc.
# Prints PASS/FAIL/SKIP per scenario and "N passed, N failed"; exits 1 on any failure.
# Needs root, docker.io, iptables, busybox-static.
source "$(dirname "$0")/lib.sh"
it_init docker

for b in dockerd /usr/bin/docker iptables; do
    command -v "$b" >/dev/null || { echo "missing $b: apt-get install docker.io iptables" >&2; exit 2; }
done

DK=$IT_DIR
SOCK=$DK/docker.sock
BR=berth-dk$(($$ % 1000))
BR_NET=10.213.$(($$ % 200 + 20))
RTROOT=$DK/exec/runtime-runc/moby
# IT_RUNTIME=runc: a reference run of the same scenarios under Debian's runc (dockerd's
# built-in "runc" runtime), to check that the expectations are runc's.
RUNTIME=${IT_RUNTIME:-berth}
IMG=berth-busybox:it
export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$DK/cli
d() { timeout "$IT_TIMEOUT" /usr/bin/docker "$@"; }

# --- the daemon -------------------------------------------------------------------------
start_dockerd() {
    mkdir -p "$DK/data" "$DK/exec" "$DK/cli"
    ip link add "$BR" type bridge || return 1
    on_exit "ip link del $BR"
    ip addr add "$BR_NET.1/24" dev "$BR" && ip link set "$BR" up || return 1
    iptables_snapshot "$DK"
    on_exit "iptables_restore_snapshot $DK"
    cat >"$DK/daemon.json" <<JSON
{
  "runtimes": {"berth": {"path": "$BERTH"}},
  "default-runtime": "$RUNTIME",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "bridge": "$BR",
  "iptables": true,
  "ip-forward": false,
  "ip-masq": false,
  "storage-driver": "overlay2",
  "log-level": "info"
}
JSON
    in_cgroup_ns dockerd --config-file "$DK/daemon.json" --data-root "$DK/data" --exec-root "$DK/exec" \
        --pidfile "$DK/docker.pid" --host "unix://$SOCK" >"$DK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    on_exit "stop_dockerd"
    local i
    for ((i = 0; i < 300; i++)); do
        d version >/dev/null 2>&1 && return 0
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "dockerd did not come up; its log:" >&2
    tail -20 "$DK/dockerd.log" >&2
    return 1
}

stop_dockerd() {
    # Containers first, while the daemon can still ask berth to delete them.
    local ids
    ids=$(timeout 20 /usr/bin/docker ps -aq 2>/dev/null)
    [ -n "$ids" ] && timeout 60 /usr/bin/docker rm -f $ids >/dev/null 2>&1
    stop_pid "$DOCKERD_PID" 30
}

# --- helpers ------------------------------------------------------------------------------
# A fresh --cidfile path in $CID (not in a subshell, so the count goes on).
new_cid() { CID=$(mktemp -u "$DK/cid.XXXXXX"); }
# Client noise we expect (we run with ip-forward off on purpose).
quiet() { grep -v '^WARNING: IPv4 forwarding is disabled'; }
# run_rm ARGS...: docker run --rm with a cidfile; sets RUN_OUT (stdout+stderr), RUN_RC,
# RUN_ID.
run_rm() {
    new_cid
    RUN_OUT=$(d run --rm --pull never --cidfile "$CID" "$@" 2>&1)
    RUN_RC=$?
    RUN_OUT=$(quiet <<<"$RUN_OUT")
    RUN_ID=$(cat "$CID" 2>/dev/null)
}
# run_d ARGS...: docker run -d; prints the id.
run_d() { d run -d --pull never "$@" 2> >(quiet >&2); }
pid_of() { d inspect -f '{{.State.Pid}}' "$1"; }
# berth_state ID FIELD: a field of `berth --root <dockerd's runtime root> state ID`.
berth_state() {
    "$BERTH" --root "$RTROOT" state "$1" | sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p"
}
# berth_owns ID: berth itself reports ID running with the pid dockerd knows.
berth_owns() {
    [ "$RUNTIME" = berth ] || return 0
    local st pid
    st=$(berth_state "$1" status) && pid=$(berth_state "$1" pid) || return 1
    want running "$st" "berth state status" && want "$(pid_of "$1")" "$pid" "berth state pid"
}
# cgroup_file SUBSYSTEM PID FILE: FILE of PID's cgroup in the v1 SUBSYSTEM hierarchy.
cgroup_file() {
    local p
    p=$(awk -F: -v s="$1" '{n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == s) print $3}' "/proc/$2/cgroup")
    cat "/sys/fs/cgroup/$1$p/$3"
}
wait_for() { # wait_for SECONDS CMD...
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
# http_get HOST PORT PATH: the body of one HTTP/1.0 GET (busybox nc; the static
# busybox's wget crashes on this host), bounded to 5 s.
http_get() {
    printf 'GET %s HTTP/1.0\r\n\r\n' "$3" | timeout 5 busybox nc "$1" "$2" 2>/dev/null |
        sed '1,/^\r\{0,1\}$/d'
}
state_is() { [ "$(d inspect -f '{{.State.Status}}' "$1" 2>/dev/null)" = "$2" ]; }

# --- scenarios ----------------------------------------------------------------------------
t_output() {
    run_rm $IMG echo hello from berth
    want 0 "$RUN_RC" "exit code" && want "hello from berth" "$RUN_OUT" "output" && berth_ran "$RUN_ID"
}
t_exit_code() {
    run_rm $IMG sh -c 'echo out; sleep 0.2; echo err >&2; exit 3'
    want 3 "$RUN_RC" "exit code" && want "out
err" "$RUN_OUT" "output" && berth_ran "$RUN_ID" || return 1
    new_cid
    want out "$(d run --rm --pull never --cidfile "$CID" $IMG sh -c 'echo out; echo err >&2' 2>/dev/null)" "stdout alone"
}
t_missing_binary() {
    run_rm $IMG /no/such/binary
    want 127 "$RUN_RC" "exit code" || { echo "$RUN_OUT"; return 1; }
    grep -q 'no such file or directory' <<<"$RUN_OUT" || die "message: $RUN_OUT"
    berth_ran "$RUN_ID"
}
t_not_executable() {
    run_rm $IMG /bin/not-executable
    want 126 "$RUN_RC" "exit code" || { echo "$RUN_OUT"; return 1; }
    grep -q 'permission denied' <<<"$RUN_OUT" || die "message: $RUN_OUT"
    berth_ran "$RUN_ID"
}
t_detach_exec() {
    local id out
    id=$(run_d $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    out=$(d exec "$id" sh -c 'echo in-exec; cat /proc/1/cmdline | tr "\0" " "')
    want "in-exec
sleep 1000 " "$out" "exec output" || return 1
    d exec "$id" sh -c 'exit 5'
    want 5 $? "exec exit code" || return 1
    want 1000 "$(d exec -u 1000 "$id" id -u)" "exec -u" || return 1
    out=$(d exec "$id" /no/such 2>&1) # docker 20.10 says 126 here, under runc too
    want 126 $? "exec of a missing binary" || { echo "$out"; return 1; }
    grep -q 'no such file or directory' <<<"$out" || die "exec of a missing binary: $out"
    out=$(d exec -d "$id" sh -c 'echo detached >/tmp/d') || return 1
    wait_for 5 d exec "$id" grep -q detached /tmp/d || die "exec -d did not run"
    d rm -f "$id" >/dev/null
}
t_stop_term() {
    local id
    id=$(run_d $IMG sh -c 'trap "echo got-term; exit 0" TERM; while :; do sleep 0.1; done') || return 1
    berth_owns "$id" || return 1
    d stop -t 10 "$id" >/dev/null || return 1
    want 0 "$(d inspect -f '{{.State.ExitCode}}' "$id")" "exit code after SIGTERM" &&
        want got-term "$(d logs "$id")" "logs"
    d rm "$id" >/dev/null
}
t_stop_kill() {
    local id start
    id=$(run_d $IMG sleep 1000) || return 1 # pid 1 without a handler ignores SIGTERM
    berth_owns "$id" || return 1
    start=$SECONDS
    d stop -t 1 "$id" >/dev/null || return 1
    want 137 "$(d inspect -f '{{.State.ExitCode}}' "$id")" "exit code after SIGKILL" || return 1
    [ $((SECONDS - start)) -lt 15 ] || die "stop took $((SECONDS - start)) s"
    d rm "$id" >/dev/null
}
t_kill_signal() {
    local id
    id=$(run_d $IMG sh -c 'trap "exit 42" USR1; while :; do sleep 0.1; done') || return 1
    berth_owns "$id" || return 1
    d kill -s USR1 "$id" >/dev/null || return 1
    want 42 "$(d wait "$id")" "exit code after SIGUSR1"
    d rm "$id" >/dev/null
}
t_tty() {
    local out
    new_cid
    out=$(timeout "$IT_TIMEOUT" script -qec "stty cols 100 rows 30; /usr/bin/docker run --rm -t --pull never --cidfile $CID $IMG sh -c 'tty; sleep 0.5; stty size; exit 4'" /dev/null)
    want 4 $? "exit code" || return 1
    grep -q '^/dev/pts/0' <<<"$out" || die "tty: $out"
    grep -q '^30 100' <<<"$out" || die "stty size: $out"
    berth_ran "$(cat "$CID")"
}
t_resources() {
    local id pid
    id=$(run_d --memory 64m --memory-swap 64m --pids-limit 50 --cpus 0.5 --cpu-shares 512 $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    pid=$(pid_of "$id")
    want 67108864 "$(cgroup_file memory "$pid" memory.limit_in_bytes)" "memory.limit_in_bytes" &&
        want 50 "$(cgroup_file pids "$pid" pids.max)" "pids.max" &&
        want 50000 "$(cgroup_file cpu "$pid" cpu.cfs_quota_us)" "cpu.cfs_quota_us" &&
        want 100000 "$(cgroup_file cpu "$pid" cpu.cfs_period_us)" "cpu.cfs_period_us" &&
        want 512 "$(cgroup_file cpu "$pid" cpu.shares)" "cpu.shares"
    local rc=$?
    d rm -f "$id" >/dev/null
    return $rc
}
t_update() { # docker update -> runc update --resources -
    local id pid out
    id=$(run_d --memory 64m --memory-swap 128m $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    pid=$(pid_of "$id")
    out=$(d update --memory 96m --pids-limit 40 "$id" 2>&1) || { d rm -f "$id" >/dev/null; die "docker update: $out"; return 1; }
    want 100663296 "$(cgroup_file memory "$pid" memory.limit_in_bytes)" "memory.limit_in_bytes" &&
        want 40 "$(cgroup_file pids "$pid" pids.max)" "pids.max"
    local rc=$?
    d rm -f "$id" >/dev/null
    return $rc
}
t_read_only() {
    run_rm --read-only $IMG sh -c 'touch /x 2>&1; echo rc=$?; touch /tmp/y 2>&1; echo rc=$?'
    berth_ran "$RUN_ID" || return 1
    grep -q 'Read-only file system' <<<"$RUN_OUT" && grep -q '^rc=1$' <<<"$RUN_OUT" ||
        die "root was writable: $RUN_OUT"
}
t_cap_drop_all() {
    run_rm $IMG grep CapEff /proc/self/status
    want "CapEff:	00000000a80425fb" "$RUN_OUT" "default capabilities" || return 1
    run_rm --cap-drop ALL $IMG sh -c 'grep -E "^Cap(Eff|Prm|Bnd)" /proc/self/status; chown 1 /tmp 2>&1'
    berth_ran "$RUN_ID" || return 1
    grep -q 'CapEff:	0000000000000000' <<<"$RUN_OUT" && grep -q 'CapBnd:	0000000000000000' <<<"$RUN_OUT" &&
        grep -q 'Operation not permitted' <<<"$RUN_OUT" || die "$RUN_OUT"
}
t_user() {
    run_rm --user 1000:1000 --group-add 2000 $IMG sh -c 'id -u; id -g; id -G; echo $HOME'
    berth_ran "$RUN_ID" && want "1000
1000
1000 2000
/home/user" "$RUN_OUT" "ids" || return 1
    run_rm --user user $IMG sh -c 'id -u; echo $HOME; pwd'
    want "1000
/home/user
/" "$RUN_OUT" "named user"
}
t_bind_mounts() {
    local h=$DK/vol
    mkdir -p "$h" "$DK/vol-ro" && echo from-host >"$h/in" && echo ro >"$DK/vol-ro/f"
    run_rm -v "$h:/data" -v "$DK/vol-ro:/ro:ro" $IMG sh -c 'cat /data/in; echo from-ctr >/data/out; cat /ro/f; echo x >/ro/f 2>&1 || echo ro-refused'
    berth_ran "$RUN_ID" || return 1
    grep -q from-host <<<"$RUN_OUT" && grep -q ro-refused <<<"$RUN_OUT" || die "$RUN_OUT"
    want from-ctr "$(cat "$h/out" 2>/dev/null)" "file written through the bind mount" &&
        want ro "$(cat "$DK/vol-ro/f")" "read-only mount untouched"
}
t_pause() {
    local id pid
    id=$(run_d $IMG sh -c 'while :; do date +%s%N >/tmp/tick; sleep 0.05; done') || return 1
    berth_owns "$id" || return 1
    pid=$(pid_of "$id")
    d pause "$id" >/dev/null || return 1
    want paused "$(d inspect -f '{{.State.Status}}' "$id")" "docker status" &&
        { [ "$RUNTIME" != berth ] || want paused "$(berth_state "$id" status)" "berth status"; } &&
        want FROZEN "$(cgroup_file freezer "$pid" freezer.state)" "freezer.state" || return 1
    d unpause "$id" >/dev/null || return 1
    want running "$(d inspect -f '{{.State.Status}}' "$id")" "docker status" &&
        { [ "$RUNTIME" != berth ] || want running "$(berth_state "$id" status)" "berth status"; } &&
        want THAWED "$(cgroup_file freezer "$pid" freezer.state)" "freezer.state"
    local rc=$?
    d rm -f "$id" >/dev/null
    return $rc
}
t_top() {
    local id out
    id=$(run_d $IMG sh -c 'sleep 1001 & sleep 1002') || return 1
    berth_owns "$id" || return 1
    wait_for 5 sh -c "/usr/bin/docker top $id | grep -q 'sleep 1001'"
    out=$(d top "$id") || return 1
    grep -q 'sleep 1001' <<<"$out" && grep -q 'sleep 1002' <<<"$out" && grep -q '^UID' <<<"$out" ||
        die "docker top: $out"
    d rm -f "$id" >/dev/null
}
t_stats() {
    local id out
    id=$(run_d $IMG sh -c 'sleep 1001 & sleep 1002') || return 1
    berth_owns "$id" || return 1
    out=$(d stats --no-stream --format '{{.MemUsage}}|{{.PIDs}}' "$id") || return 1
    d rm -f "$id" >/dev/null
    # Usage read from the container's own cgroup: non-zero, and its 2 or 3 processes.
    [[ $out =~ ^[1-9][0-9.]*[KMG]i?B\ /\ [0-9.]+[KMG]i?B\|[23]$ ]] || die "docker stats: $out"
}
t_network_none() {
    run_rm --network none $IMG sh -c 'ls /sys/class/net | tr "\n" " "'
    berth_ran "$RUN_ID" && want "lo " "$RUN_OUT" "interfaces"
}
t_bridge() {
    local id ip out
    id=$(run_d $IMG httpd -f -p 8080 -h /var/www) || return 1
    berth_owns "$id" || return 1
    ip=$(d inspect -f '{{.NetworkSettings.IPAddress}}' "$id")
    [[ $ip == "$BR_NET".* ]] || die "address $ip is not on $BR ($BR_NET.0/24)"
    # One request, to the container on the bridge this script made (this machine only).
    wait_for 5 sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | timeout 2 busybox nc $ip 8080 | grep -q 200"
    out=$(http_get "$ip" 8080 /index.html)
    want hello-from-berth "$out" "GET from the host over $BR" || {
        d exec "$id" sh -c 'ip addr; ip route; netstat -ltn'; ip route get "$ip"; ip addr show "$BR"
        bridge link 2>/dev/null; d rm -f "$id"; return 1
    }
    out=$(d exec "$id" sh -c 'ip route | grep default')
    grep -q "via $BR_NET.1" <<<"$out" || die "default route: $out"
    d rm -f "$id" >/dev/null
}
t_publish() {
    local id out port=$((20000 + $$ % 10000))
    id=$(run_d -p "127.0.0.1:$port:8080" $IMG httpd -f -p 8080 -h /var/www) || return 1
    berth_owns "$id" || return 1
    wait_for 5 sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | timeout 2 busybox nc 127.0.0.1 $port | grep -q 200"
    out=$(http_get 127.0.0.1 "$port" /index.html)
    want hello-from-berth "$out" "GET 127.0.0.1:$port" || return 1
    d port "$id" | grep -q "127.0.0.1:$port" || die "docker port: $(d port "$id")"
    d rm -f "$id" >/dev/null
}
t_restart() {
    local id p1 p2
    id=$(run_d $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    p1=$(pid_of "$id")
    d restart -t 1 "$id" >/dev/null || return 1
    p2=$(pid_of "$id")
    [ "$p1" != "$p2" ] || die "same pid after restart"
    berth_owns "$id" || return 1
    d rm -f "$id" >/dev/null
    # A restart policy: the container exits 1 twice and docker starts it again.
    id=$(run_d --restart on-failure:2 $IMG sh -c 'echo run; exit 1') || return 1
    wait_for 30 sh -c "[ \"\$(/usr/bin/docker inspect -f '{{.RestartCount}} {{.State.Status}}' $id)\" = '2 exited' ]" ||
        die "restart policy: $(d inspect -f '{{.RestartCount}} {{.State.Status}}' "$id")"
    want 3 "$(d logs "$id" | grep -c run)" "runs" || return 1
    berth_ran "$id"
    d rm -f "$id" >/dev/null
}
t_rm_force() {
    local id pid
    id=$(run_d $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    pid=$(pid_of "$id")
    d rm -f "$id" >/dev/null || return 1
    ! kill -0 "$pid" 2>/dev/null || die "container process $pid still alive"
    [ ! -e "$RTROOT/$id" ] || die "berth state dir $RTROOT/$id left behind"
    ! d inspect "$id" >/dev/null 2>&1 || die "container still known to docker"
}
t_oom() {
    local id pid lim
    # The hog waits for /tmp/go, so that it never runs without the limit in place.
    id=$(run_d --memory 32m --memory-swap 32m $IMG sh -c 'while [ ! -e /tmp/go ]; do sleep 0.1; done; x=a; while :; do x=$x$x; done') || return 1
    berth_owns "$id" || { d rm -f "$id" >/dev/null; return 1; }
    pid=$(pid_of "$id")
    lim=$(cgroup_file memory "$pid" memory.limit_in_bytes)
    [ "$lim" = 33554432 ] || { d rm -f "$id" >/dev/null; die "memory limit not applied ($lim): not starting the hog"; return 1; }
    d exec "$id" touch /tmp/go
    timeout 30 /usr/bin/docker wait "$id" >/dev/null
    want "true 137" "$(d inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' "$id")" "OOMKilled, exit code"
    local rc=$?
    d rm -f "$id" >/dev/null
    return $rc
}
t_seccomp() {
    run_rm $IMG sh -c 'grep ^Seccomp: /proc/self/status; unshare -U true 2>&1 || echo blocked'
    berth_ran "$RUN_ID" || return 1
    grep -q 'Seccomp:	2' <<<"$RUN_OUT" || die "default profile not applied: $RUN_OUT"
    grep -q blocked <<<"$RUN_OUT" || die "unshare was allowed: $RUN_OUT"
    run_rm --security-opt seccomp=unconfined $IMG grep ^Seccomp: /proc/self/status
    want "Seccomp:	0" "$RUN_OUT" "unconfined"
}
t_sysctl() {
    run_rm --sysctl kernel.shm_rmid_forced=1 --sysctl net.ipv4.ip_unprivileged_port_start=80 $IMG \
        sh -c 'cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_unprivileged_port_start'
    berth_ran "$RUN_ID" && want "1
80" "$RUN_OUT" "sysctls"
}
t_ulimit() {
    run_rm --ulimit nofile=1024:2048 --ulimit nproc=500 $IMG sh -c 'ulimit -n; ulimit -Hn; ulimit -u'
    berth_ran "$RUN_ID" && want "1024
2048
500" "$RUN_OUT" "ulimits"
}
t_env_workdir_hostname() {
    run_rm -e FOO=bar -w /tmp --hostname berth-box $IMG sh -c 'echo $FOO; pwd; hostname'
    berth_ran "$RUN_ID" && want "bar
/tmp
berth-box" "$RUN_OUT" "env, cwd, hostname"
}

# --- main -------------------------------------------------------------------------------
start_dockerd || { echo "0 passed, 1 failed"; exit 1; }
watch_roots "$RTROOT"
busybox_rootfs_tar "$DK/rootfs.tar" && d import "$DK/rootfs.tar" $IMG >/dev/null ||
    { echo "docker import failed"; echo "0 passed, 1 failed"; exit 1; }
[ "$RUNTIME" = "$(d info -f '{{.DefaultRuntime}}')" ] ||
    { echo "dockerd did not take berth as its default runtime"; echo "0 passed, 1 failed"; exit 1; }

scenario "run: output" t_output
scenario "run: exit code and stderr" t_exit_code
scenario "run: missing binary exits 127" t_missing_binary
scenario "run: non-executable binary exits 126" t_not_executable
scenario "run: env, workdir, hostname" t_env_workdir_hostname
scenario "run -d, exec (output, exit code, -u, -d, missing binary)" t_detach_exec
scenario "stop: SIGTERM handled" t_stop_term
scenario "stop: SIGKILL after the timeout" t_stop_kill
scenario "kill -s USR1" t_kill_signal
scenario "run -t (tty and size)" t_tty
scenario "--memory/--pids-limit/--cpus/--cpu-shares in the cgroup" t_resources
scenario "update --memory --pids-limit" t_update
scenario "--read-only" t_read_only
scenario "--cap-drop ALL" t_cap_drop_all
scenario "--user" t_user
scenario "-v bind mounts (rw and ro)" t_bind_mounts
scenario "pause/unpause" t_pause
scenario "top" t_top
scenario "stats" t_stats
scenario "--network none" t_network_none
scenario "bridge network reachable from the host" t_bridge
scenario "-p 127.0.0.1 published port" t_publish
scenario "restart and --restart on-failure" t_restart
scenario "rm -f of a running container" t_rm_force
scenario "OOM kill reported" t_oom
scenario "seccomp default profile" t_seccomp
scenario "--sysctl" t_sysctl
scenario "--ulimit" t_ulimit

[ -n "${IT_HOLD:-}" ] && { echo "holding: DOCKER_HOST=$DOCKER_HOST"; sleep "$IT_HOLD"; }
it_summary
