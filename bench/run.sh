#!/usr/bin/env bash
# Berth vs runc vs crun, measured in one run with A/B interleaving (see docs/performance.md).
#
#   bench/run.sh                 build release binaries, measure, write bench/results/<date>.md
#   RUNS=40 BATCH=50 bench/run.sh
#   NO_BUILD=1 BERTH=path bench/run.sh   measure an existing binary
#   NO_CONTAINERD=1 bench/run.sh         skip the containerd (ctr run --rm) part
#   NO_CRI=1 bench/run.sh                skip Kubernetes pods through containerd's CRI
#   DENSITY=N bench/run.sh               containers in the CRI density part (100; 0 skips)
#   NO_SECCOMP=1 bench/run.sh            skip the seccomp run-time cost part (bench/seccomp)
#   NO_DOCKER_DEFAULT=1 bench/run.sh     skip the run on Docker's default config (bench/fixtures)
#   NO_VM=1 bench/run.sh                 skip cgroup v2 in the modern-host VM (VM_BENCH_RUNS=15,
#                                        VM_BENCH_OLD=path adds an older build there)
#   EXTRA="old=/tmp/berth-old" bench/run.sh   also measure other binaries (before/after A/B)
#
# Needs root, busybox-static, runc, crun, strace, python3. crun refuses this kind of hybrid
# cgroup layout (v1 controllers + cgroup2 holding controllers such as hugetlb): for the
# duration of the run the controllers that live only on cgroup2 and are not enabled there
# are mounted as v1 hierarchies under /sys/fs/cgroup/<name>, and unmounted afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cargo=${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}
runs=${RUNS:-20}
triple=${RELEASE_TARGET:-x86_64-unknown-linux-gnu}
batch=${BATCH:-50}
results=$here/results
mkdir -p "$results"
out=${OUT:-$results/$(date +%Y-%m-%d-%H%M).md}

[ "$(id -u)" = 0 ] || { echo "bench: must run as root" >&2; exit 1; }
for t in runc crun strace python3 unshare; do
    command -v "$t" >/dev/null || { echo "bench: $t missing (make bench installs it)" >&2; exit 1; }
done

if [ -z "${NO_BUILD:-}" ]; then
    # As `make release`: static glibc, the workspace's release profile.
    echo "bench: building release binaries (make release)" >&2
    RUSTFLAGS=$(make -s --no-print-directory -C "$repo" release-rustflags)
    export RUSTFLAGS
    (cd "$repo" && "$cargo" build --release --target "$triple" -p berth -q)
    strip "$repo/target/$triple/release/berth"
    if [ -z "${NO_CONTAINERD:-}" ]; then
        if (cd "$repo" && "$cargo" build --release --target "$triple" -p containerd-shim-berth-v2 -q); then
            strip "$repo/target/$triple/release/containerd-shim-berth-v2"
        else
            echo "bench: shim does not build; containerd part will be skipped" >&2
        fi
    fi
    unset RUSTFLAGS
    if [ -z "${NO_CRI:-}" ]; then
        # The test-only CRI client (tonic; its build needs protoc), as integration/cri.sh builds it.
        (cd "$repo" && "$cargo" build -q -p berth-cri-client) ||
            echo "bench: berth-cri-client does not build; CRI part will be skipped" >&2
    fi
fi
berth=${BERTH:-$repo/target/$triple/release/berth}
[ -x "$berth" ] || { echo "bench: $berth missing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/berth-bench.XXXXXX)
mounted_cg=()
hugetlb_was_on=
cleanup() {
    set +e
    # Containers left by an interrupted run.
    for rt in berth runc crun; do
        bin=$rt; [ $rt = berth ] && bin=$berth
        if [ -d "$tmp/state/$rt" ]; then
            for id in $(ls "$tmp/state/$rt" 2>/dev/null); do
                "$bin" --root "$tmp/state/$rt" delete --force "$id" >/dev/null 2>&1
            done
        fi
    done
    mountpoint -q "$tmp/state" && umount "$tmp/state"
    for c in "${mounted_cg[@]}"; do
        # Other runtimes on the machine (tests running meanwhile) may have made cgroups in
        # these hierarchies too; while any is left, the v1 hierarchy outlives the umount
        # and keeps the controller away from cgroup2. Remove empty ones until it is gone.
        umount "/sys/fs/cgroup/$c"
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            [ "$(awk -v c="$c" '$1 == c {print $2}' /proc/cgroups)" = 0 ] && break
            mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" || break
            find "/sys/fs/cgroup/$c" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
            umount "/sys/fs/cgroup/$c"
            sleep 1  # the hierarchy dies after an RCU grace period, then an umount
        done
        rmdir "/sys/fs/cgroup/$c"
        [ "$(awk -v c="$c" '$1 == c {print $2}' /proc/cgroups)" = 0 ] ||
            echo "bench: $c is still a v1 hierarchy (cgroups with processes in it)" >&2
    done
    # Give hugetlb back to cgroup2 if it was enabled there before the bench.
    if [ -n "$hugetlb_was_on" ]; then
        echo "+hugetlb" >"$hugetlb_was_on" 2>/dev/null ||
            echo "bench: could not re-enable hugetlb in $hugetlb_was_on" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# State roots on tmpfs, as /run is on a normal host (here /run is on the root disk).
mkdir -p "$tmp/state"
mount -t tmpfs -o mode=0700 bench-state "$tmp/state"

# crun: give every cgroup2-only controller that cgroup2 does not use its own v1 hierarchy.
unified=/sys/fs/cgroup/unified
if mountpoint -q "$unified"; then
    used=$(cat "$unified/cgroup.subtree_control")
    if grep -qw hugetlb <<<"$used"; then
        echo "bench: disabling hugetlb in $unified/cgroup.subtree_control" >&2
        echo "-hugetlb" >"$unified/cgroup.subtree_control"
        hugetlb_was_on=$unified/cgroup.subtree_control
    fi
    # Read a snapshot: /proc/cgroups changes under us as we mount (hierarchy ids), and a
    # line-by-line read of the live file then resumes at shifted offsets.
    cgroups_list=$(cat /proc/cgroups)
    while read -r name hier _ enabled; do
        case $name in \#*) continue ;; esac
        [ "$hier" = 0 ] && [ "$enabled" = 1 ] || continue
        mountpoint -q "/sys/fs/cgroup/$name" && continue
        mkdir -p "/sys/fs/cgroup/$name"
        if mount -t cgroup -o "$name" cgroup "/sys/fs/cgroup/$name"; then
            mounted_cg+=("$name")
        else
            rmdir "/sys/fs/cgroup/$name"
            echo "bench: cannot mount $name as v1; crun may refuse (then rerun with CRUN_NO_CGROUP=1)" >&2
        fi
    done <<<"$cgroups_list"
    [ ${#mounted_cg[@]} -gt 0 ] && echo "bench: mounted v1 hierarchies for: ${mounted_cg[*]}" >&2
fi
crun_cmd=crun
if [ -n "${CRUN_NO_CGROUP:-}" ]; then
    printf '#!/bin/sh\nexec crun --cgroup-manager=disabled "$@"\n' >"$tmp/crun"
    chmod +x "$tmp/crun"
    crun_cmd=$tmp/crun
fi

"$repo/scripts/make-bundle.sh" "$tmp/bundle" runc >/dev/null
python3 - "$tmp/bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"), indent=2)
EOF

extra=$tmp/extra.md
{
    echo "Binaries: berth $(stat -c %s "$berth" | awk '{printf "%.2f MiB", $1/1048576}') (release: lto, codegen-units=1, panic=abort, strip);" \
        "runc $(runc --version | head -1 | awk '{print $3}') $(stat -c %s "$(command -v runc)" | awk '{printf "%.1f MiB", $1/1048576}');" \
        "crun $(crun --version | head -1 | awk '{print $3}') $(stat -c %s "$(command -v crun)" | awk '{printf "%.2f MiB", $1/1048576}')."
} >"$extra"

if [ -z "${NO_CONTAINERD:-}" ]; then
    if command -v containerd >/dev/null && command -v ctr >/dev/null; then
        echo "bench: containerd: ctr run --rm, runc-v2 shim vs berth shim" >&2
        python3 "$here/containerd.py" "$tmp" "$tmp/bundle/rootfs" "$(dirname "$berth")" "${CTR_RUNS:-10}" \
            >>"$extra" || echo "bench: containerd part failed (see above)" >&2
    else
        echo "bench: containerd/ctr not installed; containerd part skipped" >&2
    fi
fi

if [ -z "${NO_CRI:-}" ]; then
    client=${CRI_CLIENT:-$(cd "$repo" && "$cargo" metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/berth-cri-client}
    if ! command -v containerd >/dev/null; then
        echo "bench: containerd not installed; CRI part skipped" >&2
    elif [ ! -x "$client" ]; then
        echo "bench: no $client (cargo build -p berth-cri-client); CRI part skipped" >&2
    else
        echo "bench: Kubernetes pods through containerd's CRI, runc-v2 vs berth" >&2
        python3 "$here/cri.py" "$tmp" "$tmp/bundle/rootfs" "$(dirname "$berth")" "$client" \
            "${CRI_RUNS:-10}" >>"$extra" || echo "bench: CRI part failed (see above)" >&2
    fi
fi

python3 "$here/measure.py" --bundle "$tmp/bundle" --state "$tmp/state" --out "$out" \
    --runs "$runs" --batch "$batch" --extra "$extra" \
    "berth=$berth" runc=runc "crun=$crun_cmd" ${EXTRA:-}
if [ -z "${NO_DOCKER_DEFAULT:-}" ]; then
    # The same A/B run on the config dockerd writes for `docker run busybox true`
    # (bench/fixtures/docker-default.json: Docker's seccomp profile, capabilities,
    # masked and read-only paths, mounts), on the bench's rootfs.
    echo "bench: Docker's default container" >&2
    mkdir -p "$tmp/docker-bundle"
    cp -a "$tmp/bundle/rootfs" "$tmp/docker-bundle/rootfs"
    jq '.process.args = ["/bin/true"]' "$here/fixtures/docker-default.json" >"$tmp/docker-bundle/config.json"
    if python3 "$here/measure.py" --bundle "$tmp/docker-bundle" --state "$tmp/state" \
        --out "$tmp/docker.md" --runs "$runs" --batch "${DOCKER_BATCH:-10}" \
        "berth=$berth" runc=runc "crun=$crun_cmd"; then
        { echo; echo "## Docker's default container (bench/fixtures/docker-default.json)"; echo;
          sed 's/^# /### /' "$tmp/docker.md"; } >>"$out"
    else
        echo "bench: Docker default part failed (see above)" >&2
    fi
fi
if [ -z "${NO_SECCOMP:-}" ]; then
    echo "bench: seccomp run-time cost (Docker's default config)" >&2
    { echo; echo "## Seccomp run-time cost"; echo; "$here/seccomp/run.sh" "$berth"; } >>"$out" ||
        echo "bench: seccomp part failed (see above)" >&2
fi
if [ -z "${NO_VM:-}" ]; then
    # cgroup v2 under systemd, as on the modern host: the timing scenario of the modern-host
    # VM (integration/vm; it takes make release's binaries, built above), with runc 1.3 and
    # crun 1.28 side by side in one emulated run (ratios only). Its other scenarios need the
    # debug build `make test` uses, which carries the binaries into the VM.
    echo "bench: cgroup v2 in the modern-host VM (${VM_BENCH_RUNS:-15} rounds)" >&2
    vmlog=$tmp/vm.log
    if make -s --no-print-directory -C "$repo" build CARGO="$cargo" >"$vmlog" 2>&1 &&
        VM_ONLY='dockerd up|containerd up|cgroup v2:' VM_BENCH_RUNS=${VM_BENCH_RUNS:-15} \
            bash "$repo/integration/vm/run.sh" "$repo/target/debug" >>"$vmlog" 2>&1; then
        { echo; echo "## cgroup v2: the modern-host VM (emulated: ratios only)"; echo
          echo "\`VM_ONLY='dockerd up|containerd up|cgroup v2:' VM_BENCH_RUNS=${VM_BENCH_RUNS:-15} integration/vm/run.sh\`" \
               "(docs/performance.md, \"cgroup v2\"); cpu = rusage with reaped children for \`run\`," \
               "containerd.service's cpu.stat plus ctr's for \`ctr run --rm\`."
          echo; echo '```'; sed -n 's/.*payload.sh\[[0-9]*\]: bench: //p' "$vmlog"; echo '```'; } >>"$out"
    else
        tail -5 "$vmlog" >&2
        echo "bench: VM part failed or could not start (NO_VM=1 skips it)" >&2
    fi
fi
echo "bench: results in $out" >&2
