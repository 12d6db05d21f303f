#!/usr/bin/env bash
# Boots the modern-host VM (integration/vm/image.sh builds it) with a payload disk made
# from PAYLOAD_DIR, whose run.sh the guest runs as root (argument: the disk's mount
# point) before it powers off. The guest's console is printed here as it runs ("vm| "),
# so a hang is visible; the whole boot has a time limit (VM_TIMEOUT seconds). The
# payload's out/ directory is copied back to OUT_DIR.
# Usage: integration/vm/boot.sh PAYLOAD_DIR OUT_DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
payload=${1:?usage: boot.sh PAYLOAD_DIR OUT_DIR}
out=${2:?usage: boot.sh PAYLOAD_DIR OUT_DIR}
VM_TIMEOUT=${VM_TIMEOUT:-1800}
VM_MEMORY=${VM_MEMORY:-6G}
command -v qemu-system-x86_64 >/dev/null || { echo "vm/boot.sh: qemu-system-x86_64 missing (apt-get install qemu-system-x86)" >&2; exit 1; }
image=$("$HERE/image.sh")
work=$(mktemp -d /tmp/berth-vm-boot.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkfs.ext4 -q -F -L berth-payload -d "$payload" "$work/payload.img" 4G >/dev/null
t0=$SECONDS
# TCG: nested KVM hangs on these machines. -snapshot keeps the cached image clean.
set +e
timeout --kill-after=10 "$VM_TIMEOUT" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -smp 2 -m "$VM_MEMORY" \
    -nographic -no-reboot -nic none \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet loglevel=3 systemd.show_status=error panic=-1" \
    -drive "file=$image/disk.img,if=virtio,format=raw,snapshot=on" \
    -drive "file=$work/payload.img,if=virtio,format=raw" \
    </dev/null 2>&1 |
    sed -u -e 's/\r//g' -e 's/\x1b\][^\x1b]*\x1b\\//g' -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\x1bc//g' -e 's/^/vm| /'
rc=${PIPESTATUS[0]}
set -e
echo "vm/boot.sh: qemu exited $rc after $((SECONDS - t0)) s"
mkdir -p "$out"
debugfs -R "rdump /out $out" "$work/payload.img" >/dev/null 2>&1 || true
[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && { echo "vm/boot.sh: the VM did not finish within $VM_TIMEOUT s" >&2; exit 1; }
[ -s "$out/out/log" ] || { echo "vm/boot.sh: the payload wrote no log" >&2; exit 1; }
exit 0
