#!/usr/bin/env bash
# Seccomp's run-time cost in containers run by berth, runc and crun with Docker's default
# config (bench/fixtures/docker-default.json, captured from dockerd by
# bench/capture-docker-config.sh) and with the same config without its seccomp profile:
# ns per call of getppid and socket (allowed outright) and personality (filtered on an
# argument), medians over interleaved rounds; then each runtime's loaded filter: length,
# first load, how many syscalls get a cached ALLOW, instructions run per measured call.
#   bench/seccomp/run.sh BERTH [OUT.md]     (ROUNDS=5 CALLS=200000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
berth=$(realpath "${1:?berth binary}")
out=${2:-}
# Standard output unless a file is named: reopening /dev/stdout with ">" would truncate
# the file the caller appends this section to.
if [ -n "$out" ]; then exec >"$out"; fi
rounds=${ROUNDS:-5}
calls=${CALLS:-200000}
tmp=$(mktemp -d /tmp/berth-seccomp-bench.XXXXXX)
trap 'for r in berth runc crun; do for id in $(ls "$tmp/state-$r" 2>/dev/null); do rt_cmd $r delete -f "$id" >/dev/null 2>&1; done; done; rm -rf "$tmp"' EXIT
rt_cmd() {
    local rt=$1; shift
    case $rt in
    berth) "$berth" --root "$tmp/state-berth" "$@" ;;
    runc) runc --root "$tmp/state-runc" "$@" ;;
    # crun refuses a hybrid cgroup layout (as on this host); it runs without cgroups
    # and sees a pure cgroup2 /sys/fs/cgroup in a mount namespace of its own (what is
    # measured here does not touch cgroups).
    crun) unshare -m --propagation private sh -c \
        'mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled "$@"' \
        crun --root "$tmp/state-crun" "$@" ;;
    esac
}
gcc -O2 -static -o "$tmp/syscall_cost" "$here/syscall_cost.c"
gcc -O2 -o "$tmp/dump_filter" "$here/dump_filter.c"
rootfs=$tmp/rootfs
mkdir -p "$rootfs"/{bin,proc,sys,dev,etc,tmp}
cp /bin/busybox "$rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"; done
cp "$tmp/syscall_cost" "$rootfs/syscall_cost"
bundle() { # bundle NAME JQ
    mkdir -p "$tmp/$1"
    ln -s "$rootfs" "$tmp/$1/rootfs"
    jq "$2" "$here/../fixtures/docker-default.json" >"$tmp/$1/config.json"
}
bundle docker ".process.args = [\"/syscall_cost\", \"$calls\"] | .root.readonly = false"
bundle none ".process.args = [\"/syscall_cost\", \"$calls\"] | .root.readonly = false | del(.linux.seccomp)"
bundle sleeper '.process.args = ["sleep", "30"] | .root.readonly = false'
for d in docker none sleeper; do rm "$tmp/$d/rootfs"; cp -a "$rootfs" "$tmp/$d/rootfs"; done

# Time the hypervisor gave to others (steal) while the rounds ran, printed with the
# figures: one full bench run had crun's columns 20-60 ns high in every round (never seen
# when run again), and the overheads compared here are ~50 ns.
steal() { awk '/^cpu / { print $9 }' /proc/stat; }
steal0=$(steal)
n=0
for round in $(seq "$rounds"); do
    for profile in docker none; do
        for rt in berth runc crun; do
            n=$((n + 1))
            rt_cmd $rt run --bundle "$tmp/$profile" "sc$n" </dev/null 2>"$tmp/err" |
                sed "s/^/$rt $profile /" >>"$tmp/raw" || { cat "$tmp/err" >&2; exit 1; }
        done
    done
done
stolen_ms=$(( ($(steal) - steal0) * 1000 / $(getconf CLK_TCK) ))
for rt in berth runc crun; do
    rt_cmd $rt create --bundle "$tmp/sleeper" "dump-$rt" </dev/null >/dev/null
    pid=$(rt_cmd $rt state "dump-$rt" | jq .pid)
    "$tmp/dump_filter" "$pid" >"$tmp/filter-$rt"
    rt_cmd $rt delete -f "dump-$rt" >/dev/null
done
python3 - "$tmp/raw" "$rounds" "$calls" "$stolen_ms" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rt, profile, name, ns = line.split()
    rows.setdefault((rt, profile, name), []).append(float(ns))
med = {k: statistics.median(v) for k, v in rows.items()}
print(f"Seccomp run-time cost: ns per call, medians of {sys.argv[2]} interleaved rounds "
      f"(each the best of 5 loops of {sys.argv[3]} calls), Docker's default config with its "
      f"profile and without it. CPU time the hypervisor gave to others meanwhile (steal): "
      f"{sys.argv[4]} ms.\n")
print("| call | berth none | berth docker | runc none | runc docker | crun none | crun docker | overhead berth / runc / crun | berth ÷ crun overhead |")
print("|---|---|---|---|---|---|---|---|---|")
for name in ("getppid", "personality", "socket"):
    cells, over = [], {}
    for rt in ("berth", "runc", "crun"):
        n, d = med[(rt, "none", name)], med[(rt, "docker", name)]
        cells += [f"{n:.0f}", f"{d:.0f}"]
        over[rt] = d - n
    ratio = over["berth"] / over["crun"] if abs(over["crun"]) > 1 else float("nan")
    print(f"| {name} | " + " | ".join(cells) +
          f" | {over['berth']:.0f} / {over['runc']:.0f} / {over['crun']:.0f} | {ratio:.2f} |")
PY
{
    echo
    echo "Loaded filters (bench/seccomp/shape.py over PTRACE_SECCOMP_GET_FILTER dumps):"
    echo
    for rt in berth runc crun; do
        echo "- $rt: $(python3 "$here/shape.py" "$tmp/filter-$rt")"
    done
}
