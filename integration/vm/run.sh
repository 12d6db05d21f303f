#!/usr/bin/env bash
# The modern-host tests: boots the forky VM (systemd, pure cgroup v2, Docker, containerd
# 2, podman 5, runc 1.3) and runs integration/vm/scenarios.sh in it against the berth and
# shim binaries of BIN_DIR. Ends with the guest's "N passed, N failed".
# Usage: integration/vm/run.sh [BIN_DIR]   (default target/debug)
# VM_ONLY=REGEX runs only the scenarios whose name matches (e.g. VM_ONLY='^docker').
# VM_BENCH_RUNS=N rounds of the cgroup v2 timing scenario (6); VM_BENCH_OLD=/path/to/berth
# an older build measured beside it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath -m "${1:-$HERE/../../target/debug}")
for b in berth containerd-shim-berth-v2; do
    [ -x "$bin/$b" ] || { echo "vm/run.sh: no $bin/$b (make build)"; echo "0 passed, 1 failed"; exit 1; }
done
work=$(mktemp -d /tmp/berth-vm-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/payload/bin"
cp "$bin/berth" "$bin/containerd-shim-berth-v2" "$work/payload/bin/"
cp "$HERE/scenarios.sh" "$work/payload/run.sh"
# The release builds, when there are, for the timing scenario (the debug build is ~3x
# slower per run under emulation, which would hide what the D-Bus round trips cost):
# `make release`'s (static, hot functions first: what `make install` and the package
# ship; integration/install.sh makes it before this script runs in `make test`), else
# cargo's plain release build. Under emulation the dynamic build's start-up (ld.so
# relocating a 4 MiB PIE) costs ~2/3 of a `run`'s cpu, so the two are far apart.
# The CRI client integration/ctr.sh builds, for the Kubernetes scenario.
client=$(realpath -m "$HERE/../../target/debug/berth-cri-client")
[ -x "$client" ] && cp "$client" "$work/payload/bin/"
for b in berth containerd-shim-berth-v2; do
    release=$(realpath -m "$HERE/../../target/${RELEASE_TARGET:-x86_64-unknown-linux-gnu}/release/$b")
    [ -x "$release" ] || release=$(realpath -m "$HERE/../../target/release/$b")
    if [ -x "$release" ]; then
        mkdir -p "$work/payload/release" && cp "$release" "$work/payload/release/$b"
    fi
done
if [ -n "${VM_BENCH_OLD:-}" ]; then
    mkdir -p "$work/payload/release" && cp "$VM_BENCH_OLD" "$work/payload/release/berth-old"
fi
# The Debian package integration/install.sh made (make deb), for the package scenario.
deb=$(ls "$HERE"/../../target/deb/berth_*.deb 2>/dev/null | head -n1 || true)
if [ -n "$deb" ]; then
    mkdir -p "$work/payload/deb" && cp "$deb" "$work/payload/deb/"
fi
[ -n "${VM_ONLY:-}" ] && echo "$VM_ONLY" >"$work/payload/only"
[ -n "${VM_BENCH_RUNS:-}" ] && echo "$VM_BENCH_RUNS" >"$work/payload/bench-runs"
[ -n "${VM_DOCKER_CGROUPDRIVER:-}" ] && echo "$VM_DOCKER_CGROUPDRIVER" >"$work/payload/docker-cgroupdriver"
t0=$SECONDS
# boot PAYLOAD: one guest run; its console also goes to $work/console.
boot() {
    rm -rf "$work/out"
    "$HERE/boot.sh" "$work/payload" "$work/out" 2>&1 | tee "$work/console"
    return "${PIPESTATUS[0]}"
}
rc=0
boot || rc=$?
log=$work/out/out/log
# Under multi-threaded TCG the guest kernel can die of the emulator's cross-modifying-code
# race (an int3 Oops at a jump label being rewritten). scenarios.sh keeps the key CRIU
# used to switch (perf_sched_events) on for the whole run; should another one still do
# it, that says nothing of berth, so such a run is made once more.
panicked() { ! grep -qE '^[0-9]+ passed, [0-9]+ failed' "$log" 2>/dev/null && grep -q 'Kernel panic - not syncing' "$work/console"; }
if panicked; then
    echo "vm/run.sh: the guest kernel panicked (emulation); booting once more"
    rc=0
    boot || rc=$?
fi
if [ "$rc" -ne 0 ]; then
    echo "0 passed, 1 failed: the modern-host VM run did not complete"
    exit 1
fi
booted=$(sed -n 's/^payload: booted in \([0-9.]*\) s$/\1/p' "$log" | head -n1)
echo "vm/run.sh: guest booted in ${booted:-?} s (guest clock), whole run $((SECONDS - t0)) s on the host"
# (|| true: under pipefail a log without one would end the script here, saying nothing.)
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1 || true)
if [ -z "$summary" ]; then
    panicked && echo "0 passed, 1 failed: the guest kernel panicked again" || echo "0 passed, 1 failed: the scenarios printed no summary"
    exit 1
fi
echo "$summary"
# The console can drop long lines: the failures again, from the guest's own log.
grep -qE '^[0-9]+ passed, 0 failed' <<<"$summary" || grep -A 20 '^FAIL' "$log" | cut -c1-400 | sed 's/^/vm-log| /'
grep -qE '^[0-9]+ passed, 0 failed' <<<"$summary"
