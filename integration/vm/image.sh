#!/usr/bin/env bash
# Builds (once) the modern-host VM image: Debian forky with systemd as PID 1, pure cgroup
# v2, Docker, containerd 2, podman 5, runc 1.3, crun and CRIU, from Debian's packages
# only. Prints the cache directory that holds disk.img, vmlinuz and initrd.img.
# The image is cached under $VM_CACHE (default /var/tmp/berth-vm) keyed by the package
# list and the build files, so a second run boots at once.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${VM_CACHE:-/var/tmp/berth-vm}
SUITE=${VM_SUITE:-forky}

# The mirror apt uses here (deb822 or one-line sources).
mirror() {
    local m
    m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)
    [ -n "$m" ] || m=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
    echo "${m:-http://deb.debian.org/debian}"
}

key=$( (cat "$HERE/packages.txt" "$HERE/image.sh" "$HERE/guest/"*; echo "$SUITE") | sha256sum | cut -c1-16)
dir=$CACHE_ROOT/$SUITE-$key
if [ -f "$dir/ready" ]; then
    echo "$dir"
    exit 0
fi
for tool in mmdebstrap mkfs.ext4; do
    command -v "$tool" >/dev/null || { echo "vm/image.sh: $tool missing (apt-get install mmdebstrap e2fsprogs)" >&2; exit 1; }
done
rm -rf "$dir"
mkdir -p "$dir"
rootfs=$dir/rootfs
packages=$(grep -v '^#' "$HERE/packages.txt" | xargs | tr ' ' ',')
echo "vm/image.sh: building $SUITE image in $dir from $(mirror)" >&2
t0=$SECONDS
# forky's Release file is past its Valid-Until on this mirror snapshot.
mmdebstrap --variant=minbase --quiet \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --include="$packages" \
    --customize-hook="cp -r '$HERE/guest' \"\$1/usr/local/lib/berth-vm\"" \
    --customize-hook='chroot "$1" sh /usr/local/lib/berth-vm/setup.sh' \
    "$SUITE" "$rootfs" "$(mirror)" >&2
cp -L "$rootfs"/boot/vmlinuz-* "$dir/vmlinuz"
cp -L "$rootfs"/boot/initrd.img-* "$dir/initrd.img"
# Room for images and containers; the file is sparse.
mkfs.ext4 -q -F -L berth-vm -d "$rootfs" "$dir/disk.img" 8G >&2
rm -rf "$rootfs"
touch "$dir/ready"
echo "vm/image.sh: image built in $((SECONDS - t0)) s" >&2
# Older images of this suite are of no further use.
find "$CACHE_ROOT" -maxdepth 1 -name "$SUITE-*" ! -path "$dir" -exec rm -rf {} + 2>/dev/null || true
echo "$dir"
