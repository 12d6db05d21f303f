#!/usr/bin/env bash
# Prints what the tests could leave behind on the host, normalised so that two snapshots
# taken around `make test` compare with diff: the cgroup2 root's subtree_control, the
# cgroup directories of every hierarchy (but the sandbox agent's own process_api groups), mount points, network namespaces, nftables and
# iptables rules, links (bridges, veths), loop devices and the runtimes' state dirs.
# Usage: integration/host-snapshot.sh > FILE
set -uo pipefail
export LC_ALL=C

section() { printf '\n## %s\n' "$1"; }

section "cgroup2 root subtree_control"
for f in /sys/fs/cgroup/unified/cgroup.subtree_control /sys/fs/cgroup/cgroup.subtree_control; do
    [ -r "$f" ] && echo "$f: $(cat "$f")"
done

section "cgroup dirs"
# The v1 hierarchies and the cgroup2 tree; a comounted hierarchy (cpu,cpuacct) is listed
# once through its real directory.
for h in /sys/fs/cgroup/*/; do
    [ -L "${h%/}" ] && continue
    find "$h" -mindepth 1 -type d 2>/dev/null
done | grep -v '/process_api' | sort

section "mounts"
awk '{ print $5, $9 }' /proc/self/mountinfo | sort

section "network namespaces"
ls /run/netns 2>/dev/null | sort

section "links"
ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort

section "nftables"
nft list ruleset 2>/dev/null | sed -E 's/ (packets|bytes) [0-9]+//g; s/ handle [0-9]+//g'

section "iptables"
for cmd in iptables-save ip6tables-save; do
    command -v "$cmd" >/dev/null && "$cmd" 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'
done

section "loop devices"
losetup -a 2>/dev/null | sed -E 's/^([^:]+): \[[0-9a-f]+\]:[0-9]+/\1:/' | sort

section "runtime state dirs"
for d in /run/berth /run/runc /run/crun /run/containerd /run/docker /run/containers /var/run/netns; do
    [ -d "$d" ] && find "$d" -maxdepth 2 2>/dev/null
done | sort
exit 0
