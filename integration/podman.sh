#!/usr/bin/env bash
# Drives berth through Debian's podman 4.3 (conmon calls berth as its OCI runtime):
# private --root/--runroot/--tmpdir, a private containers.conf (runtime berth, cgroupfs,
# file events, default_ulimits this machine allows), a private storage.conf and network
# config dir, and a bridge network of our own (netavark) for the network scenarios.
#
# Usage: integration/podman.sh       BERTH=/abs/berth: another binary; IT_ONLY=REGEX: only
#        the scenarios whose names match; IT_RUNTIME=runc: reference run under runc.
# Prints PASS/FAIL/SKIP per scenario and "N passed, N failed"; exits 1 on any failure.
# Needs root, podman, uidmap, iptables, busybox-static.
source "$(dirname "$0")/lib.sh"

# The whole run lives in one private mount namespace with every cgroup hierarchy mounted
# (see in_cgroup_ns): podman's cgroup code has the same needs as containerd's.
if [ -z "${IT_IN_NS:-}" ]; then
    in_cgroup_ns env IT_IN_NS=1 bash "$0" "$@"
    exit $?
fi
it_init podman
command -v podman >/dev/null || { echo "missing podman: apt-get install podman uidmap" >&2; exit 2; }

P=$IT_DIR
RUNTIME=${IT_RUNTIME:-berth}
[ "$RUNTIME" = berth ] && RT_PATH=$BERTH || RT_PATH=$(command -v runc)
# Rootful podman passes no --root (the runtime's default, /run/berth, would be shared
# with everything else): `--runtime-flag root=...` gives the runtime a private one.
RTROOT=$P/rt-root
NET=berthnet
BR=berth-pd$(($$ % 1000))
BR_NET=10.214.$(($$ % 200 + 20))
IMG=localhost/berth-busybox:it

mkdir -p "$P/root" "$P/runroot" "$P/tmp" "$P/net" "$P/conf"
cat >"$P/conf/containers.conf" <<EOF
[containers]
# podman's defaults (nofile 1048576, nproc 4194304) exceed this machine's hard limits.
default_ulimits = ["nofile=1024:4096", "nproc=4096:4096"]
log_driver = "k8s-file"
[engine]
runtime = "berth"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
[engine.runtimes]
berth = ["$RT_PATH"]
[network]
network_backend = "netavark"
network_config_dir = "$P/net"
EOF
cat >"$P/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$P/root"
runroot = "$P/runroot"
EOF
echo 'unqualified-search-registries = []' >"$P/conf/registries.conf"
export CONTAINERS_CONF=$P/conf/containers.conf CONTAINERS_STORAGE_CONF=$P/conf/storage.conf \
    CONTAINERS_REGISTRIES_CONF=$P/conf/registries.conf XDG_CONFIG_HOME=$P/conf XDG_DATA_HOME=$P/conf
pm() {
    timeout "$IT_TIMEOUT" podman --root "$P/root" --runroot "$P/runroot" --tmpdir "$P/tmp" \
        --runtime "$RT_PATH" --runtime-flag "root=$RTROOT" --cgroup-manager cgroupfs --events-backend file "$@"
}
PM="podman --root $P/root --runroot $P/runroot --tmpdir $P/tmp --runtime $RT_PATH --runtime-flag root=$RTROOT --cgroup-manager cgroupfs --events-backend file"

stop_all() {
    timeout 60 $PM rm -af -t 0 >/dev/null 2>&1
    timeout 30 $PM network rm -f $NET >/dev/null 2>&1
}

# --- helpers ------------------------------------------------------------------------------
new_cid() { CID=$(mktemp -u "$P/cid.XXXXXX"); }
run_rm() {
    new_cid
    RUN_OUT=$(pm run --rm --pull never --network none --cidfile "$CID" "$@" 2>&1)
    RUN_RC=$?
    RUN_ID=$(cat "$CID" 2>/dev/null)
}
run_d() { pm run -d --pull never "$@"; }
pid_of() { pm inspect -f '{{.State.Pid}}' "$1"; }
berth_state() {
    "$BERTH" --root "$RTROOT" state "$1" | sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p"
}
berth_owns() {
    [ "$RUNTIME" = berth ] || return 0
    local st pid
    st=$(berth_state "$1" status) && pid=$(berth_state "$1" pid) || return 1
    want running "$st" "berth state status" && want "$(pid_of "$1")" "$pid" "berth state pid"
}
cgroup_file() {
    local p
    p=$(awk -F: -v s="$1" '{n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == s) print $3}' "/proc/$2/cgroup")
    cat "/sys/fs/cgroup/$1$p/$3"
}
wait_for() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
http_get() {
    printf 'GET %s HTTP/1.0\r\n\r\n' "$3" | timeout 5 busybox nc "$1" "$2" 2>/dev/null |
        sed '1,/^\r\{0,1\}$/d'
}

# --- scenarios ----------------------------------------------------------------------------
t_output() {
    run_rm $IMG echo hello from berth
    want 0 "$RUN_RC" "exit code" && want "hello from berth" "$RUN_OUT" "output" && berth_ran "$RUN_ID"
}
t_exit_code() {
    run_rm $IMG sh -c 'echo out; sleep 0.2; echo err >&2; exit 3'
    want 3 "$RUN_RC" "exit code" && want "out
err" "$RUN_OUT" "output" && berth_ran "$RUN_ID"
}
t_missing_binary() {
    run_rm $IMG /no/such/binary
    want 127 "$RUN_RC" "exit code" || { echo "$RUN_OUT"; return 1; }
    grep -q 'no such file or directory' <<<"$RUN_OUT" || die "message: $RUN_OUT"
}
t_not_executable() {
    run_rm $IMG /bin/not-executable
    want 126 "$RUN_RC" "exit code" || { echo "$RUN_OUT"; return 1; }
    grep -q 'permission denied' <<<"$RUN_OUT" || die "message: $RUN_OUT"
}
t_env_workdir_hostname() {
    run_rm -e FOO=bar -w /tmp --hostname berth-box $IMG sh -c 'echo $FOO; pwd; hostname'
    berth_ran "$RUN_ID" && want "bar
/tmp
berth-box" "$RUN_OUT" "env, cwd, hostname"
}
t_detach_exec() {
    local id out
    id=$(run_d --network none $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    out=$(pm exec "$id" sh -c 'echo in-exec; cat /proc/1/cmdline | tr "\0" " "')
    want "in-exec
sleep 1000 " "$out" "exec output" || return 1
    pm exec "$id" sh -c 'exit 5'
    want 5 $? "exec exit code" || return 1
    want 1000 "$(pm exec -u 1000 "$id" id -u)" "exec -u" || return 1
    out=$(pm exec "$id" /no/such 2>&1)
    want 127 $? "exec of a missing binary" || { echo "$out"; return 1; }
    pm exec -d "$id" sh -c 'echo detached >/tmp/d' >/dev/null || return 1
    wait_for 5 pm exec "$id" grep -q detached /tmp/d || die "exec -d did not run" || return 1
    out=$(timeout "$IT_TIMEOUT" script -qec "$PM exec -t $id tty" /dev/null)
    grep -q '^/dev/pts/' <<<"$out" || die "exec -t: $out" || return 1
    pm rm -f -t 0 "$id" >/dev/null
}
t_stop_term() {
    local id
    id=$(run_d --network none $IMG sh -c 'trap "echo got-term; exit 0" TERM; while :; do sleep 0.1; done') || return 1
    berth_owns "$id" || return 1
    pm stop -t 10 "$id" >/dev/null || return 1
    want 0 "$(pm inspect -f '{{.State.ExitCode}}' "$id")" "exit code after SIGTERM" &&
        want got-term "$(pm logs "$id")" "logs"
    pm rm "$id" >/dev/null
}
t_stop_kill() {
    local id start
    id=$(run_d --network none $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    start=$SECONDS
    pm stop -t 1 "$id" >/dev/null || return 1
    want 137 "$(pm inspect -f '{{.State.ExitCode}}' "$id")" "exit code after SIGKILL" || return 1
    [ $((SECONDS - start)) -lt 15 ] || die "stop took $((SECONDS - start)) s"
    pm rm "$id" >/dev/null
}
t_kill_signal() {
    local id
    id=$(run_d --network none $IMG sh -c 'trap "exit 42" USR1; while :; do sleep 0.1; done') || return 1
    berth_owns "$id" || return 1
    pm kill -s USR1 "$id" >/dev/null || return 1
    want 42 "$(pm wait "$id")" "exit code after SIGUSR1"
    pm rm "$id" >/dev/null
}
t_tty() {
    local out
    new_cid
    out=$(timeout "$IT_TIMEOUT" script -qec "stty cols 100 rows 30; $PM run --rm -t --pull never --network none --cidfile $CID $IMG sh -c 'tty; sleep 0.5; stty size; exit 4'" /dev/null)
    want 4 $? "exit code" || { echo "$out"; return 1; }
    grep -q '^/dev/pts/0' <<<"$out" || die "tty: $out" || return 1
    grep -q '^30 100' <<<"$out" || die "stty size: $out" || return 1
    berth_ran "$(cat "$CID")"
}
t_resources() {
    local id pid
    id=$(run_d --network none --memory 64m --memory-swap 64m --pids-limit 50 --cpus 0.5 --cpu-shares 512 $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    pid=$(pid_of "$id")
    want 67108864 "$(cgroup_file memory "$pid" memory.limit_in_bytes)" "memory.limit_in_bytes" &&
        want 50 "$(cgroup_file pids "$pid" pids.max)" "pids.max" &&
        want 50000 "$(cgroup_file cpu "$pid" cpu.cfs_quota_us)" "cpu.cfs_quota_us" &&
        want 512 "$(cgroup_file cpu "$pid" cpu.shares)" "cpu.shares"
    local rc=$?
    pm rm -f -t 0 "$id" >/dev/null
    return $rc
}
t_update() {
    local id pid out
    id=$(run_d --network none --memory 64m $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    pid=$(pid_of "$id")
    # podman 4.3's update has no --memory/--pids-limit: the CPU quota then.
    out=$(pm update --cpus 0.25 "$id" 2>&1) || { pm rm -f -t 0 "$id" >/dev/null; die "podman update: $out"; return 1; }
    want 25000 "$(cgroup_file cpu "$pid" cpu.cfs_quota_us)" "cpu.cfs_quota_us"
    local rc=$?
    pm rm -f -t 0 "$id" >/dev/null
    return $rc
}
t_read_only() {
    run_rm --read-only --read-only-tmpfs=false $IMG sh -c 'touch /x 2>&1; echo rc=$?'
    berth_ran "$RUN_ID" || return 1
    grep -q 'Read-only file system' <<<"$RUN_OUT" && grep -q '^rc=1$' <<<"$RUN_OUT" ||
        die "root was writable: $RUN_OUT"
}
t_cap_drop_all() {
    run_rm --cap-drop ALL $IMG sh -c 'grep -E "^Cap(Eff|Bnd)" /proc/self/status; chown 1 /tmp 2>&1'
    berth_ran "$RUN_ID" || return 1
    grep -q 'CapEff:	0000000000000000' <<<"$RUN_OUT" && grep -q 'CapBnd:	0000000000000000' <<<"$RUN_OUT" &&
        grep -q 'Operation not permitted' <<<"$RUN_OUT" || die "$RUN_OUT"
}
t_user() {
    run_rm --user 1000:1000 --group-add 2000 $IMG sh -c 'id -u; id -g; id -G'
    berth_ran "$RUN_ID" && want "1000
1000
1000 2000" "$RUN_OUT" "ids"
}
t_bind_mounts() {
    local h=$P/vol
    mkdir -p "$h" "$P/vol-ro" && echo from-host >"$h/in" && echo ro >"$P/vol-ro/f"
    run_rm -v "$h:/data" -v "$P/vol-ro:/ro:ro" $IMG sh -c 'cat /data/in; echo from-ctr >/data/out; cat /ro/f; echo x >/ro/f 2>&1 || echo ro-refused'
    berth_ran "$RUN_ID" || return 1
    grep -q from-host <<<"$RUN_OUT" && grep -q ro-refused <<<"$RUN_OUT" || die "$RUN_OUT" || return 1
    want from-ctr "$(cat "$h/out" 2>/dev/null)" "file written through the bind mount" &&
        want ro "$(cat "$P/vol-ro/f")" "read-only mount untouched"
}
t_pause() {
    local id pid
    id=$(run_d --network none $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    pid=$(pid_of "$id")
    pm pause "$id" >/dev/null || return 1
    want paused "$(pm inspect -f '{{.State.Status}}' "$id")" "podman status" &&
        { [ "$RUNTIME" != berth ] || want paused "$(berth_state "$id" status)" "berth status"; } &&
        want FROZEN "$(cgroup_file freezer "$pid" freezer.state)" "freezer.state" || return 1
    pm unpause "$id" >/dev/null || return 1
    want running "$(pm inspect -f '{{.State.Status}}' "$id")" "podman status" &&
        want THAWED "$(cgroup_file freezer "$pid" freezer.state)" "freezer.state"
    local rc=$?
    pm rm -f -t 0 "$id" >/dev/null
    return $rc
}
t_top() {
    local id out
    id=$(run_d --network none $IMG sh -c 'sleep 1001 & sleep 1002') || return 1
    berth_owns "$id" || return 1
    sleep 0.5
    out=$(pm top "$id") || return 1
    grep -q 'sleep 1001' <<<"$out" && grep -q 'sleep 1002' <<<"$out" || die "podman top: $out"
    local rc=$?
    pm rm -f -t 0 "$id" >/dev/null
    return $rc
}
t_stats() {
    local id out
    id=$(run_d --network none $IMG sh -c 'sleep 1001 & sleep 1002') || return 1
    berth_owns "$id" || return 1
    out=$(pm stats --no-stream --format '{{.MemUsage}}|{{.PIDs}}' "$id") || return 1
    pm rm -f -t 0 "$id" >/dev/null
    [[ $out =~ ^[1-9][0-9.]*[kKMG]i?B\ /\ [0-9.]+[kKMG]i?B\|[23]$ ]] || die "podman stats: $out"
}
t_network_none() {
    run_rm $IMG sh -c 'ls /sys/class/net | tr "\n" " "'
    berth_ran "$RUN_ID" && want "lo " "$RUN_OUT" "interfaces"
}
t_bridge() {
    local id ip out
    id=$(run_d --network $NET $IMG httpd -f -p 8080 -h /var/www) || return 1
    berth_owns "$id" || return 1
    ip=$(pm inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$id")
    [[ $ip == "$BR_NET".* ]] || die "address $ip is not on $BR_NET.0/24" || return 1
    wait_for 5 sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | timeout 2 busybox nc $ip 8080 | grep -q 200"
    out=$(http_get "$ip" 8080 /index.html)
    want hello-from-berth "$out" "GET from the host over $BR" || return 1
    pm rm -f -t 0 "$id" >/dev/null
}
t_publish() {
    local id out port=$((20000 + ($$ + 1) % 10000))
    id=$(run_d --network $NET -p "127.0.0.1:$port:8080" $IMG httpd -f -p 8080 -h /var/www) || return 1
    berth_owns "$id" || return 1
    wait_for 5 sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | timeout 2 busybox nc 127.0.0.1 $port | grep -q 200"
    out=$(http_get 127.0.0.1 "$port" /index.html)
    want hello-from-berth "$out" "GET 127.0.0.1:$port" || return 1
    pm rm -f -t 0 "$id" >/dev/null
}
# wait_gone PATH: true once PATH no longer exists (10 s at most).
wait_gone() {
    for _ in $(seq 100); do [ -e "$1" ] || return 0; sleep 0.1; done
    return 1
}
t_restart() {
    local id p1 p2
    # podman 4.3 with this private setup never runs its exit cleanup (conmon's exit
    # command), so the runtime's `delete` of the stopped container races the next
    # `create` ("container with given ID already exists"): it fails under runc too (4 of
    # 6 runs here). Set IT_PODMAN_RACY=1 to run it anyway.
    [ -n "${IT_PODMAN_RACY:-}" ] || skip "podman 4.3 cleanup races its own restart here (fails under runc too)"
    id=$(run_d --network none $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    p1=$(pid_of "$id")
    pm restart -t 1 "$id" >/dev/null || return 1
    p2=$(pid_of "$id")
    [ "$p1" != "$p2" ] || die "same pid after restart" || return 1
    berth_owns "$id" || return 1
    pm rm -f -t 0 "$id" >/dev/null
}
t_rm_force() {
    local id pid
    # Same podman race as t_restart: the runtime `delete` is not always done when
    # `rm -f` returns (3 of 6 runs failed under runc here).
    [ -n "${IT_PODMAN_RACY:-}" ] || skip "podman 4.3 rm -f returns before its runtime delete here (fails under runc too)"
    id=$(run_d --network none $IMG sleep 1000) || return 1
    berth_owns "$id" || return 1
    pid=$(pid_of "$id")
    pm rm -f -t 0 "$id" >/dev/null || return 1
    ! kill -0 "$pid" 2>/dev/null || die "container process $pid still alive" || return 1
    # The runtime's `delete` runs in podman's asynchronous cleanup (as under runc).
    wait_gone "$RTROOT/$id" || die "berth state dir $RTROOT/$id left behind" || return 1
    ! pm container exists "$id" || die "container still known to podman"
}
t_oom() {
    local id pid lim
    id=$(run_d --network none --memory 32m --memory-swap 32m $IMG sh -c 'while [ ! -e /tmp/go ]; do sleep 0.1; done; x=a; while :; do x=$x$x; done') || return 1
    berth_owns "$id" || { pm rm -f -t 0 "$id" >/dev/null; return 1; }
    pid=$(pid_of "$id")
    lim=$(cgroup_file memory "$pid" memory.limit_in_bytes)
    [ "$lim" = 33554432 ] || { pm rm -f -t 0 "$id" >/dev/null; die "memory limit not applied ($lim): not starting the hog"; return 1; }
    pm exec "$id" touch /tmp/go
    want 137 "$(timeout 30 $PM wait "$id")" "exit code"
    # podman 4.3 + conmon leave .State.OOMKilled false on cgroup v1 (under runc too); the
    # kernel's OOM kill is what we check: 137 while under the limit.
    local rc=$?
    pm rm -f -t 0 "$id" >/dev/null
    return $rc
}
t_seccomp() {
    # podman's default profile allows unshare(2): only the filter mode is checked.
    run_rm $IMG grep ^Seccomp: /proc/self/status
    berth_ran "$RUN_ID" || return 1
    grep -q 'Seccomp:	2' <<<"$RUN_OUT" || die "default profile not applied: $RUN_OUT" || return 1
    run_rm --security-opt seccomp=unconfined $IMG grep ^Seccomp: /proc/self/status
    want "Seccomp:	0" "$RUN_OUT" "unconfined"
}
t_sysctl() {
    run_rm --sysctl kernel.shm_rmid_forced=1 $IMG cat /proc/sys/kernel/shm_rmid_forced
    berth_ran "$RUN_ID" && want 1 "$RUN_OUT" "sysctl"
}
t_ulimit() {
    run_rm --ulimit nofile=1024:2048 --ulimit nproc=500 $IMG sh -c 'ulimit -n; ulimit -Hn; ulimit -u'
    berth_ran "$RUN_ID" && want "1024
2048
500" "$RUN_OUT" "ulimits"
}

# --- main -------------------------------------------------------------------------------
on_exit stop_all
iptables_snapshot "$P"
on_exit "iptables_restore_snapshot $P"
watch_roots "$RTROOT"
busybox_rootfs_tar "$P/rootfs.tar" && pm import -q "$P/rootfs.tar" $IMG >/dev/null ||
    { echo "podman import failed"; echo "0 passed, 1 failed"; exit 1; }
on_exit "ip link del $BR"
# podman 4.3 cannot name the bridge (`--interface-name` came in 4.4): write netavark's
# network file ourselves, with our own bridge name and subnet, into our config dir.
cat >"$P/net/$NET.json" <<EOF
{"name": "$NET", "id": "$(printf '%064x' $$)", "driver": "bridge", "network_interface": "$BR",
 "created": "2026-01-01T00:00:00Z",
 "subnets": [{"subnet": "$BR_NET.0/24", "gateway": "$BR_NET.1"}],
 "ipv6_enabled": false, "internal": false, "dns_enabled": false,
 "ipam_options": {"driver": "host-local"}}
EOF
pm network inspect $NET >/dev/null || echo "podman does not take $P/net/$NET.json: the network scenarios will fail" >&2

scenario "run: output" t_output
scenario "run: exit code and stderr" t_exit_code
scenario "run: missing binary exits 127" t_missing_binary
scenario "run: non-executable binary exits 126" t_not_executable
scenario "run: env, workdir, hostname" t_env_workdir_hostname
scenario "run -d, exec (output, exit code, -u, -d, -t, missing binary)" t_detach_exec
scenario "stop: SIGTERM handled" t_stop_term
scenario "stop: SIGKILL after the timeout" t_stop_kill
scenario "kill -s USR1" t_kill_signal
scenario "run -t (tty and size)" t_tty
scenario "--memory/--pids-limit/--cpus/--cpu-shares in the cgroup" t_resources
scenario "update --cpus" t_update
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
scenario "restart" t_restart
scenario "rm -f of a running container" t_rm_force
scenario "OOM kill reported" t_oom
scenario "seccomp default profile" t_seccomp
scenario "--sysctl" t_sysctl
scenario "--ulimit" t_ulimit

[ -n "${IT_HOLD:-}" ] && { echo "holding"; run_d --network none $IMG sleep 1000; sleep "$IT_HOLD"; }
it_summary
