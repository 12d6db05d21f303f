#!/usr/bin/env bash
# Captures the config.json that dockerd (Debian's docker.io, 20.10 here) writes for
# `docker run busybox true`, with berth as its runtime, into bench/fixtures/: the bench's
# "Docker's default container" (its seccomp profile, capabilities, masked and read-only
# paths, mounts). Run as root; it starts a private dockerd (no network: bridge none) and
# stops it by PID. The rootfs path and the ids are replaced by placeholders the bench
# fills in.
#   bench/capture-docker-config.sh [BERTH]   (default target/debug/berth)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
berth=$(realpath "${1:-$here/../target/debug/berth}")
[ -x "$berth" ] || { echo "capture: no $berth (cargo build)" >&2; exit 1; }
dk=$(mktemp -d /tmp/berth-capture.XXXXXX)
pid=
cleanup() {
    set +e
    if [ -n "$pid" ]; then
        DOCKER_HOST=unix://$dk/sock timeout 30 docker rm -f cap >/dev/null 2>&1
        kill "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
    umount -R "$dk/data" 2>/dev/null
    rm -rf "$dk"
}
trap cleanup EXIT
# The runtime dockerd calls: keeps the bundle's config.json, then is berth.
cat >"$dk/capture-runtime" <<SH
#!/bin/sh
prev=
for a in "\$@"; do
    if [ "\$prev" = "--bundle" ] && [ ! -e "$dk/config.json" ]; then cp "\$a/config.json" "$dk/config.json"; fi
    prev=\$a
done
exec "$berth" "\$@"
SH
chmod +x "$dk/capture-runtime"
cat >"$dk/daemon.json" <<JSON
{"runtimes": {"capture": {"path": "$dk/capture-runtime"}}, "default-runtime": "capture",
 "bridge": "none", "iptables": false, "ip-forward": false, "ip-masq": false,
 "exec-opts": ["native.cgroupdriver=cgroupfs"], "storage-driver": "overlay2"}
JSON
dockerd --config-file "$dk/daemon.json" --data-root "$dk/data" --exec-root "$dk/exec" \
    --pidfile "$dk/docker.pid" --host "unix://$dk/sock" >"$dk/dockerd.log" 2>&1 &
pid=$!
export DOCKER_HOST=unix://$dk/sock DOCKER_CONFIG=$dk/cli
for _ in $(seq 300); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
docker version >/dev/null || { tail "$dk/dockerd.log" >&2; exit 1; }
rootfs=$dk/rootfs
mkdir -p "$rootfs/bin"
cp /bin/busybox "$rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"; done
tar -C "$rootfs" -c . | docker import - busybox:capture >/dev/null
docker run --name cap busybox:capture true
version=$(docker version --format '{{.Server.Version}}')
python3 - "$dk/config.json" "$here/fixtures/docker-default.json" "$version" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"]["path"] = "rootfs"
c["hostname"] = "berth-bench"
c.setdefault("annotations", {})["org.berth.bench.captured-from"] = "dockerd " + sys.argv[3]
# Paths of this one dockerd (hosts, resolv.conf, the netns, the cgroup): made relative or
# dropped so that the bench bundle can stand anywhere.
c["mounts"] = [m for m in c["mounts"] if not m.get("source", "").startswith("/tmp/")]
for ns in c["linux"]["namespaces"]:
    ns.pop("path", None)
c["linux"].pop("cgroupsPath", None)
c.pop("hooks", None)
json.dump(c, open(sys.argv[2], "w"), indent=2)
print("captured:", sys.argv[2], "seccomp rules:", len(c["linux"]["seccomp"]["syscalls"]))
PY
