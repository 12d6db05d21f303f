#!/usr/bin/env bash
# Regenerates runtime/hot-symbols.txt, the order in which `make release` has the linker
# (lld, --symbol-ordering-file) lay out the functions: those a container's lifecycle runs
# come first, packed together, so that the kernel's 64 KiB fault-around maps few cold
# pages into `berth`'s RSS (docs/performance.md). Symbols missing from a build are
# ignored, so a stale list costs RSS, never correctness.
#
#   bench/hot-symbols.sh            relink the release build as `make release` does (before
#                                   it strips), then `make release` links with the new list
#   BERTH=path bench/hot-symbols.sh use that non-stripped binary (built exactly as `make
#                                   release` builds, or the symbol names differ)
#
# How: the page cache records it. The binary is put on a small ext4 loop device of our own
# with read-ahead off and its cache empty, so a page of it comes into the cache only when
# a process faults on it (fault-around maps only pages already cached). After a run,
# create, state, start, kill, delete and list (the init too, up to its execve), mincore()
# tells which text pages were read; every function on them is listed, in link order.
# (callgrind would be exact per function, but valgrind lacks openat2, which the init needs.)
# Needs root, busybox-static, e2fsprogs, binutils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
triple=${RELEASE_TARGET:-x86_64-unknown-linux-gnu}
out=$repo/runtime/hot-symbols.txt
[ "$(id -u)" = 0 ] || { echo "hot-symbols: must run as root" >&2; exit 1; }

berth=${BERTH:-}
relink=
if [ -z "$berth" ]; then
    # `make release` strips its output: relink (touch), keep an unstripped copy.
    touch "$repo/runtime/src/main.rs"
    (cd "$repo" && RUSTFLAGS="$(make -s --no-print-directory -C "$repo" release-rustflags)" \
        cargo build --release --target "$triple" -p berth -q)
    cp "$repo/target/$triple/release/berth" "$repo/target/$triple/release/berth.symbols"
    berth=$repo/target/$triple/release/berth.symbols
    # The next `make release` must relink with the new list (cargo does not track it).
    relink=1
fi

tmp=$(mktemp -d /tmp/berth-hot.XXXXXX)
loop=
cleanup() {
    set +e
    for id in hot1 hot2; do
        "$berth" --root "$tmp/state" delete --force $id >/dev/null 2>&1
    done
    mountpoint -q "$tmp/mnt" && umount "$tmp/mnt"
    [ -n "$loop" ] && losetup -d "$loop"
    rm -rf "$tmp"
    [ -n "$relink" ] && touch "$repo/runtime/src/main.rs"
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

nm -n --defined-only -S "$berth" | awk '$3 ~ /^[tTwW]$/ {print $1, $2, $4}' >"$tmp/syms"
readelf -lW "$berth" >"$tmp/segments"
python3 "$here/hot-symbols.py" symbols "$exe" "$tmp/syms" "$tmp/segments" >"$out"
echo "hot-symbols: $(wc -l <"$out") symbols in $out" >&2
