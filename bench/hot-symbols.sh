#!/usr/bin/env bash
# Regenerates runtime/hot-symbols.txt, the order in which `make release` has the linker
# (lld, --symbol-ordering-file) lay out the functions: those a container's lifecycle runs
# come first, packed together, so that the kernel's 64 KiB fault-around maps few cold
# pages into `berth`'s RSS (docs/performance.md). Symbols missing from a build are
# ignored, so a stale list costs RSS, never correctness.
#
#   bench/hot-symbols.sh            build berth as `make release` does, but with every
#                                   function on a page of its own, and list what runs
#   BERTH=path bench/hot-symbols.sh use that non-stripped binary (built with the release
#                                   flags; the list is exact only if its functions are
#                                   page-aligned as below)
#
# How: the page cache records it. The binary is put on a small ext4 loop device of our own
# with read-ahead off and its cache empty, so a page of it comes into the cache only when
# a process faults on it (fault-around maps only pages already cached). After a run,
# create, state, start, kill, delete and list (the init too, up to its execve), and a run
# of Docker's default config, mincore() tells which text pages were read. The measured
# build aligns every function to 4 KiB (LLVM's -align-all-functions=12), so a page read
# is a function run: the list holds only functions that ran, not their neighbours on a
# shared page (that doubled the list, and the RSS, before). Symbol names do not depend on
# RUSTFLAGS (cargo leaves them out of -C metadata), so the aligned build's names are the
# release build's; the script checks. (callgrind would be exact per function, but
# valgrind lacks openat2, which the init needs.)
# Needs root, busybox-static, e2fsprogs, binutils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
triple=${RELEASE_TARGET:-x86_64-unknown-linux-gnu}
out=$repo/runtime/hot-symbols.txt
[ "$(id -u)" = 0 ] || { echo "hot-symbols: must run as root" >&2; exit 1; }

berth=${BERTH:-}
aligned_dir=$repo/target/hot-symbols
if [ -z "$berth" ]; then
    echo "hot-symbols: building berth with page-aligned functions in $aligned_dir" >&2
    (cd "$repo" && CARGO_TARGET_DIR=$aligned_dir \
        RUSTFLAGS="$(make -s --no-print-directory -C "$repo" release-rustflags) -C llvm-args=-align-all-functions=12" \
        cargo build --release --target "$triple" -p berth -q)
    berth=$aligned_dir/$triple/release/berth
fi

tmp=$(mktemp -d /tmp/berth-hot.XXXXXX)
loop=
cleanup() {
    set +e
    for id in hot1 hot2 hot3; do
        "$berth" --root "$tmp/state" delete --force $id >/dev/null 2>&1
    done
    mountpoint -q "$tmp/mnt" && umount "$tmp/mnt"
    [ -n "$loop" ] && losetup -d "$loop"
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

size=$(($(stat -c %s "$berth") / 1048576 + 16))
truncate -s "${size}M" "$tmp/fs.img"
mkfs.ext4 -q "$tmp/fs.img"
loop=$(losetup -f --show "$tmp/fs.img")
echo 0 >"/sys/block/${loop#/dev/}/queue/read_ahead_kb"
mkdir "$tmp/mnt"
mount "$loop" "$tmp/mnt"
cp "$berth" "$tmp/mnt/berth"
umount "$tmp/mnt" # drops the copy's pages from the cache
mount "$loop" "$tmp/mnt"
exe=$tmp/mnt/berth

"$repo/scripts/make-bundle.sh" "$tmp/bundle" runc >/dev/null
python3 "$here/hot-symbols.py" bundle "$tmp/bundle/config.json"
b() { "$exe" --root "$tmp/state" "$@" >/dev/null; }
b run -b "$tmp/bundle" hot1
b create -b "$tmp/bundle" hot2
b state hot2
b start hot2
b kill hot2 KILL || true
b delete --force hot2
b list
# Docker's default config too (its seccomp profile, masked paths, capabilities), as
# Docker and containerd's CRI run containers.
mkdir "$tmp/docker-bundle"
cp -a "$tmp/bundle/rootfs" "$tmp/docker-bundle/rootfs"
cp "$here/fixtures/docker-default.json" "$tmp/docker-bundle/config.json"
python3 "$here/hot-symbols.py" bundle "$tmp/docker-bundle/config.json"
b run -b "$tmp/docker-bundle" hot3

nm -n --defined-only -S "$berth" | awk '$3 ~ /^[tTwW]$/ {print $1, $2, $4}' >"$tmp/syms"
readelf -lW "$berth" >"$tmp/segments"
python3 "$here/hot-symbols.py" symbols "$exe" "$tmp/syms" "$tmp/segments" >"$out"
echo "hot-symbols: $(wc -l <"$out") symbols in $out" >&2
# The next `make release` must relink with the new list (cargo does not track the file).
touch "$repo/runtime/src/main.rs"
release=$repo/target/$triple/release/berth
if [ -z "${BERTH:-}" ] && [ -x "$release" ] && nm "$release" 2>/dev/null | grep -q .; then
    found=$(nm --defined-only "$release" | awk '{print $3}' | sort -u | comm -12 - <(sort -u "$out") | wc -l)
    echo "hot-symbols: $found of $(wc -l <"$out") listed functions are in $release (built before; rebuild to check anew)" >&2
fi
