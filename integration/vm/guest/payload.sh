#!/bin/sh
# Mounts the payload disk (label berth-payload), runs its run.sh (bash) with the disk's path,
# keeps the output in out/ on that disk and powers the VM off.
mkdir -p /payload
for i in $(seq 1 30); do
    [ -e /dev/disk/by-label/berth-payload ] && break
    sleep 1
done
if mount /dev/disk/by-label/berth-payload /payload; then
    mkdir -p /payload/out
    echo "payload: booted in $(cut -d' ' -f1 /proc/uptime) s" | tee /payload/out/log
    bash /payload/run.sh /payload 2>&1 | tee -a /payload/out/log
    echo "payload: done at $(cut -d' ' -f1 /proc/uptime) s"
    sync
    umount /payload
else
    echo "payload: no payload disk"
fi
# The root disk is a throw-away snapshot and the payload is unmounted: no need to wait
# for services to stop.
systemctl poweroff --force
