#!/usr/bin/env bash
# Make an OCI bundle in DIR from Debian's busybox-static: DIR/rootfs and DIR/config.json.
# Usage: scripts/make-bundle.sh DIR [RUNTIME]   (RUNTIME writes config.json with `spec`;
# default: runc if on PATH, else target/debug/berth). Used by `make demo` and the benchmarks.
set -euo pipefail
dir=${1:?usage: make-bundle.sh DIR [RUNTIME]}
runtime=${2:-}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "make-bundle: $busybox missing: apt-get install busybox-static" >&2; exit 1; }
if ! grep -q "not a dynamic executable" <<<"$(LC_ALL=C ldd "$busybox" 2>&1 || true)"; then
    echo "make-bundle: $busybox is not static: apt-get install busybox-static" >&2; exit 1
fi
mkdir -p "$dir/rootfs"
root=$dir/rootfs
mkdir -p "$root"/{bin,sbin,etc,dev,proc,sys,tmp,root,home/user,usr/bin,usr/sbin,var,run}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat >"$root/etc/group" <<'GR'
root:x:0:
user:x:1000:
extra:x:2000:user
nogroup:x:65534:
GR
echo berth >"$root/etc/hostname"
chown 1000:1000 "$root/home/user"
if [ -z "$runtime" ]; then
    if command -v runc >/dev/null; then runtime=runc
    else runtime=$(cd "$(dirname "$0")/.." && pwd)/target/debug/berth; fi
fi
rm -f "$dir/config.json"
(cd "$dir" && "$runtime" spec)
# Non-interactive by default: no terminal, so it runs under make, CI and benchmarks.
sed -i 's/"terminal": true/"terminal": false/' "$dir/config.json"
