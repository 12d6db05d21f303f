# Sourced by integration/{docker,podman,ctr}.sh: scenario bookkeeping, cleanup on exit
# or interrupt, the busybox-static rootfs, iptables bookkeeping and the "berth really
# ran it" proof. Needs root. Never stops anything by name: only PIDs we started or PIDs
# whose command line names our private temp dir.

set -uo pipefail

IT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=integration/leftovers-lib.sh
source "$IT_HERE/leftovers-lib.sh"
BERTH=$(realpath -m "${BERTH:-$IT_HERE/../target/debug/berth}")
# Seconds any single client command may take before it counts as hung.
IT_TIMEOUT=${IT_TIMEOUT:-60}

it_pass=0 it_fail=0 it_skip=0
it_cleanups=()

# it_init NAME: private temp dir $IT_DIR, traps for cleanup.
it_init() {
    [ "$(id -u)" = 0 ] || { echo "integration/$1: must run as root" >&2; exit 2; }
    [ -x "$BERTH" ] || { echo "integration/$1: no berth at $BERTH (cargo build -p berth)" >&2; exit 2; }
    IT_DIR=$(mktemp -d "/tmp/berth-it-$1.XXXXXX")
    chmod 755 "$IT_DIR"
    trap it_cleanup EXIT
    trap 'echo "interrupted" >&2; exit 130' INT TERM HUP
    # netavark (podman's bridge networks) turns on IPv4 forwarding: put it back.
    local fwd
    fwd=$(cat /proc/sys/net/ipv4/ip_forward)
    on_exit "echo $fwd >/proc/sys/net/ipv4/ip_forward"
    # What the clients leave behind goes again at exit (leftovers-lib.sh).
    it_record_host
}


# on_exit CMD...: run CMD (one string, eval'd) at exit, last registered first.
on_exit() { it_cleanups+=("$1"); }

it_cleanup() {
    local rc=$? i
    trap - EXIT INT TERM HUP
    for ((i = ${#it_cleanups[@]} - 1; i >= 0; i--)); do
        eval "${it_cleanups[$i]}" >/dev/null 2>&1 || true
    done
    it_kill_ours
    it_remove_leftovers
    # IT_LOGS=DIR keeps the daemons' logs.
    [ -n "${IT_LOGS:-}" ] && mkdir -p "$IT_LOGS" && find "$IT_DIR" -maxdepth 1 -name '*.log' -exec cp {} "$IT_LOGS/" \;
    # Mounts under our dir (overlay, shm, netns, bind mounts), deepest first.
    awk -v d="$IT_DIR" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$IT_DIR" 2>/dev/null || { sleep 1; rm -rf "$IT_DIR" 2>/dev/null || true; }
    exit "$rc"
}

# Every process whose command line or cwd mentions $IT_DIR (daemons, shims, conmon,
# containers' inits left behind), SIGKILLed by pid.
it_kill_ours() {
    local p pids=()
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        if { tr "\0" " " <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$IT_DIR"; then
            pids+=("$p")
        fi
    done
    [ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2>/dev/null
    return 0
}

# stop_pid PID [SECONDS]: SIGTERM, wait, then SIGKILL.
stop_pid() {
    local pid=$1 t=${2:-20} i
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    return 0
}

# scenario NAME FUNC [ARGS...]: runs FUNC; PASS, FAIL or SKIP (FUNC returns 77 and
# prints the reason on stdout's last line). Output of a failing FUNC is shown indented.
scenario() {
    local name=$1 out rc t0=$SECONDS
    shift
    if [ -n "${IT_ONLY:-}" ] && ! grep -qE -- "$IT_ONLY" <<<"$name"; then return 0; fi
    out=$("$@" 2>&1)
    rc=$?
    [ $((SECONDS - t0)) -lt 10 ] || name="$name ($((SECONDS - t0)) s)"
    if [ $rc -eq 0 ]; then
        it_pass=$((it_pass + 1))
        echo "PASS $name"
    elif [ $rc -eq 77 ]; then
        it_skip=$((it_skip + 1))
        echo "SKIP $name: $(tail -n1 <<<"$out")"
    else
        it_fail=$((it_fail + 1))
        echo "FAIL $name"
        [ -n "$out" ] && tail -n 15 <<<"$out" | sed 's/^/    /'
    fi
    return 0
}

# Scenario functions run in a subshell (see `scenario`), so these end the scenario at
# once: the first wrong value fails it. What it leaves running, the script's final
# cleanup removes.
# skip REASON
skip() { echo "$1"; exit 77; }
# die MESSAGE
die() { echo "$*"; exit 1; }
# want EXPECTED GOT WHAT
want() {
    [ "$1" = "$2" ] || die "$3: expected [$1], got [$2]"
}

it_summary() {
    local line="$it_pass passed, $it_fail failed"
    [ "$it_skip" -gt 0 ] && line="$line, $it_skip skipped"
    echo "$line"
    [ "$it_fail" -eq 0 ]
}

# busybox_rootfs_tar OUT: Debian's busybox-static as a rootfs tar (/bin/busybox, one
# symlink per applet, /etc/passwd and /etc/group with root, nobody and user 1000).
busybox_rootfs_tar() {
    local out=$1 r
    command -v busybox >/dev/null && [ -x /bin/busybox ] || {
        echo "busybox-static is not installed" >&2
        return 1
    }
    r=$(mktemp -d "$IT_DIR/rootfs.XXXXXX")
    mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root" "$r/home/user" "$r/var/www" \
        "$r/proc" "$r/sys" "$r/dev"
    chmod 1777 "$r/tmp"
    cp /bin/busybox "$r/bin/busybox"
    local a
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
    done
    cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$r/etc/group" <<'EOF'
root:x:0:
user:x:1000:
nogroup:x:65534:
EOF
    chown 1000:1000 "$r/home/user"
    echo hello-from-berth >"$r/var/www/index.html"
    printf '#!/bin/sh\necho never\n' >"$r/bin/not-executable"
    chmod 644 "$r/bin/not-executable"
    tar --numeric-owner -C "$r" -cf "$out" .
    rm -rf "$r"
}

# --- a private mount namespace with every cgroup v1 hierarchy mounted -----------------
# containerd's cgroup library (used by the runc-v2 shim for stats, OOM events and by
# podman) fails with "cgroups: cannot find cgroup mount destination" when
# /proc/<pid>/cgroup names a v1 hierarchy that is not mounted. On this machine some
# exist unmounted at times (another process made them). So daemons run under
# `in_cgroup_ns CMD...`: a private mount namespace with a fresh tmpfs on /sys/fs/cgroup
# and every hierarchy of /proc/self/cgroup mounted on it. Nothing on the host changes;
# the mounts disappear with the namespace's last process.
in_cgroup_ns() {
    # shellcheck disable=SC2016
    unshare -m --propagation private -- sh -c '
        set -e
        mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
        while IFS=: read -r _ ctrls _; do
            case "$ctrls" in
            "") mkdir -p /sys/fs/cgroup/unified; mount -t cgroup2 none /sys/fs/cgroup/unified ;;
            name=*) d=${ctrls#name=}; mkdir -p "/sys/fs/cgroup/$d"; mount -t cgroup -o "none,$ctrls" cgroup "/sys/fs/cgroup/$d" ;;
            *) mkdir -p "/sys/fs/cgroup/$ctrls"; mount -t cgroup -o "$ctrls" cgroup "/sys/fs/cgroup/$ctrls"
               case "$ctrls" in *,*) for c in $(echo "$ctrls" | tr , " "); do ln -s "$ctrls" "/sys/fs/cgroup/$c"; done ;; esac ;;
            esac
        done </proc/self/cgroup
        exec "$@"' in_cgroup_ns "$@"
}

# --- iptables: remove exactly the rules and chains that appeared while we ran --------
IT_TABLES=(filter nat)
iptables_snapshot() { # DIR
    local t
    for t in "${IT_TABLES[@]}"; do iptables -w -t "$t" -S >"$1/iptables-$t.before" 2>/dev/null; done
}
iptables_restore_snapshot() { # DIR
    local t line chain
    for t in "${IT_TABLES[@]}"; do
        [ -f "$1/iptables-$t.before" ] || continue
        iptables -w -t "$t" -S >"$1/iptables-$t.after" 2>/dev/null || continue
        # Added rules, deleted last-first.
        grep -vxFf "$1/iptables-$t.before" "$1/iptables-$t.after" | grep '^-A ' | tac |
            while read -r line; do eval "iptables -w -t $t -D ${line#-A }" 2>/dev/null; done
        # Added chains: flush, then delete.
        grep -vxFf "$1/iptables-$t.before" "$1/iptables-$t.after" | grep '^-N ' |
            while read -r _ chain; do iptables -w -t "$t" -F "$chain" 2>/dev/null; done
        grep -vxFf "$1/iptables-$t.before" "$1/iptables-$t.after" | grep '^-N ' |
            while read -r _ chain; do iptables -w -t "$t" -X "$chain" 2>/dev/null; done
    done
}

# --- proof that berth ran a container ---------------------------------------------------
# A watcher copies the state.json of every container directory that appears under the
# runtime root(s) into $IT_DIR/seen/<id>.json. Berth's record (unlike runc's) carries
# "creator" and "version" keys, and berth keeps config.json beside it: so a copy with
# those proves that berth, not runc, created the container, even one that lived 50 ms.
watch_roots() { # ROOT... (globs allowed, e.g. /x/runtime-runc/*)
    mkdir -p "$IT_DIR/seen"
    (
        shopt -s nullglob
        while kill -0 $$ 2>/dev/null; do
            for d in $@; do
                for c in "$d"/*/; do
                    c=${c%/}
                    id=${c##*/}
                    [ -e "$IT_DIR/seen/$id.json" ] && continue
                    [ -e "$c/config.json" ] || continue
                    cp "$c/state.json" "$IT_DIR/seen/$id.json.tmp" 2>/dev/null &&
                        grep -q '"creator"' "$IT_DIR/seen/$id.json.tmp" &&
                        mv "$IT_DIR/seen/$id.json.tmp" "$IT_DIR/seen/$id.json"
                done
            done
            sleep 0.02
        done
    ) &
    IT_WATCHER=$!
    on_exit "kill $IT_WATCHER"
}

# berth_ran ID: the watcher saw berth's state record for ID (waits up to 3 s: the
# watcher may lag behind a container that is already gone). In a reference run
# (IT_RUNTIME=runc: the same scenarios under runc, to check the scripts' expectations)
# there is nothing to prove.
berth_ran() {
    local i
    [ "${IT_RUNTIME:-berth}" = berth ] || return 0
    for ((i = 0; i < 30; i++)); do
        [ -e "$IT_DIR/seen/$1.json" ] && return 0
        sleep 0.1
    done
    die "no berth state record was seen for container $1"
}

# oci_image_tar OUT NAME LAYER_TAR CONFIG: an OCI image layout tar named NAME (for
# `ctr images import`) with one layer and CONFIG as the image's "config" object.
oci_image_tar() {
    local out=$1 name=$2 layer=$3 config=$4 w ld ls cd cs md ms
    w=$(mktemp -d "$IT_DIR/oci.XXXXXX")
    mkdir -p "$w/layout/blobs/sha256"
    blob() { # FILE -> "digest size", moved into the blobs
        local dg sz
        dg=$(sha256sum "$1" | cut -d' ' -f1)
        sz=$(stat -c %s "$1")
        mv "$1" "$w/layout/blobs/sha256/$dg"
        echo "$dg $sz"
    }
    cp "$layer" "$w/layer.tar"
    read -r ld ls < <(blob "$w/layer.tar")
    printf '{"architecture":"amd64","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$config" "$ld" >"$w/config.json"
    read -r cd cs < <(blob "$w/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
        "$cd" "$cs" "$ld" "$ls" >"$w/manifest.json"
    read -r md ms < <(blob "$w/manifest.json")
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
        "$md" "$ms" "$name" "${name##*:}" >"$w/layout/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$w/layout/oci-layout"
    tar -C "$w/layout" -cf "$out" oci-layout index.json blobs
    rm -rf "$w"
}

# busybox_oci_tar OUT NAME: the busybox rootfs as an OCI image layout tar named NAME
# (e.g. docker.io/library/busybox:it), for `ctr images import`.
busybox_oci_tar() {
    local layer
    layer=$(mktemp "$IT_DIR/busybox-layer.XXXXXX")
    busybox_rootfs_tar "$layer" || return 1
    oci_image_tar "$1" "$2" "$layer" \
        '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}'
    rm -f "$layer"
}
