# Sourced by integration/lib.sh and integration/containerd-lib.sh. The clients make
# top-level cgroups (/docker, /default and /berth-it of containerd's namespaces, /k8s.io,
# /libpod_parent) in every hierarchy and keep them after their containers are gone: a
# script records what was there when it started (it_cgroups_before=$(it_top_cgroups)) and
# removes the rest when it exits (it_remove_new_cgroups).

# The top-level cgroup directories of every hierarchy (not the sandbox agent's own).
it_top_cgroups() {
    local h
    for h in /sys/fs/cgroup/*/; do
        [ -L "${h%/}" ] && continue
        find "$h" -mindepth 1 -maxdepth 1 -type d ! -name process_api 2>/dev/null
    done | sort
}

# Removes, deepest first, the top-level cgroups made since it_init. rmdir only: the
# kernel refuses a cgroup that still has processes, and those are not ours to end.
it_remove_new_cgroups() {
    local d
    comm -13 <(echo "${it_cgroups_before:-}") <(it_top_cgroups) | while read -r d; do
        [ -n "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    return 0
}
