# Sourced by integration/lib.sh and integration/containerd-lib.sh: what the clients leave
# on the host after their containers are gone, taken away again when a script exits.
# - cgroups in every hierarchy (/docker, /default and /berth-it of containerd's
#   namespaces, /k8s.io, /libpod_parent/libpod-*);
# - state under /run that dockerd, containerd, our shim, podman and crun make for
#   themselves even with private roots (/run/containerd/{berth,fifo,s}, /run/containers,
#   /run/docker/plugins, /run/crun) and the /run/netns bind mount of `ip netns`;
# - nftables tables (iptables-nft's ip nat / ip filter with their empty base chains).
# A script records the host when it starts (it_record_host) and removes what is new
# when it exits (it_remove_leftovers), after its daemons are stopped.

IT_WATCHED_DIRS=(/run/containerd /run/containers /run/docker /run/crun /run/netns)

# The cgroup directories of every hierarchy, at any depth (a client may add its
# containers' groups under a parent that was already there), but the sandbox agent's own.
it_cgroup_dirs() {
    local h
    for h in /sys/fs/cgroup/*/; do
        [ -L "${h%/}" ] && continue
        find "$h" -mindepth 1 -type d 2>/dev/null
    done | grep -v '/process_api' | sort
}

it_watched_paths() {
    local d
    for d in "${IT_WATCHED_DIRS[@]}"; do
        [ -e "$d" ] && find "$d" -maxdepth 2 2>/dev/null
    done | sort
}

it_nft_tables() { nft list tables 2>/dev/null | sort; }

it_record_host() {
    it_cgroups_before=$(it_cgroup_dirs)
    it_paths_before=$(it_watched_paths)
    it_nft_before=$(it_nft_tables)
}

# cgroups: rmdir only, deepest first (the kernel refuses a cgroup that still has
# processes, and those are not ours to end). Paths: the new ones, deepest first,
# unmounted if they are mount points. Tables: deleted whole.
it_remove_leftovers() {
    local d
    comm -13 <(echo "${it_cgroups_before:-}") <(it_cgroup_dirs) | sort -r | while read -r d; do
        [ -n "$d" ] && rmdir "$d" 2>/dev/null
    done
    comm -13 <(echo "${it_paths_before:-}") <(it_watched_paths) | sort -r | while read -r d; do
        [ -n "$d" ] || continue
        mountpoint -q "$d" && umount -l "$d"
        rm -rf "$d"
    done
    comm -13 <(echo "${it_nft_before:-}") <(it_nft_tables) | while read -r d; do
        [ -n "$d" ] && nft delete ${d} 2>/dev/null
    done
    return 0
}
