#!/bin/sh
# Runs inside the image's chroot at build time (integration/vm/image.sh).
set -eu
echo modern >/etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 modern\n' >/etc/hosts
printf 'LABEL=berth-vm / ext4 defaults 0 1\n' >/etc/fstab
passwd -d root >/dev/null
# No login prompts and no wait for a serial device unit: the console is only read.
for unit in serial-getty@ttyS0.service getty@tty1.service systemd-networkd-wait-online.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "/etc/systemd/system/$unit"
done
mkdir -p /etc/systemd/system.conf.d
printf '[Manager]\nDefaultDeviceTimeoutSec=10s\nDefaultTimeoutStartSec=60s\n' \
    >/etc/systemd/system.conf.d/berth-vm.conf
# The clients start when the payload has configured them.
for unit in docker.service docker.socket containerd.service podman.socket; do
    systemctl disable "$unit" >/dev/null 2>&1 || true
done
install -m 0644 /usr/local/lib/berth-vm/berth-payload.service /etc/systemd/system/
systemctl enable berth-payload.service >/dev/null 2>&1
systemctl set-default multi-user.target >/dev/null 2>&1
# A regular user for rootless podman, with the subordinate ids podman needs.
useradd -m -u 1000 -s /bin/sh tester
echo 'tester:100000:65536' >/etc/subuid
echo 'tester:100000:65536' >/etc/subgid
