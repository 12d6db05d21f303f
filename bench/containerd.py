#!/usr/bin/env python3
"""`ctr run --rm` through containerd: our shim (containerd-shim-berth-v2) vs runc's
(containerd-shim-runc-v2). Starts a private containerd (root, state and sockets under
WORKDIR), imports a busybox image built from the bench bundle's rootfs, and prints a
markdown section on stdout. When our shim is missing or cannot run a container, its
column says why and the runc-v2 figures are still printed.

Usage: containerd.py WORKDIR ROOTFS SHIM_DIR [RUNS]

EXTRA_SHIMS="name=/path/to/containerd-shim-berth-v2 ..." adds a column per older build
of our shim (A/B): each is linked as containerd-shim-<name>-v2 into WORKDIR and run as
runtime io.containerd.<name>.v2 (name: lowercase letters only).
"""

import ctypes
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

NS = "bench"
IMAGE = "docker.io/library/berth-bench:latest"


def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def make_image(rootfs, archive, name=IMAGE, cmd=("/bin/true",)):
    """An OCI image archive (oci-layout + index.json) with one layer: the bundle rootfs."""
    layout = archive + ".d"
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for entry in sorted(os.listdir(rootfs)):
            t.add(os.path.join(rootfs, entry), arcname=entry)
    layer_bytes = buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    layer = blob(layout, layer_bytes)
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    config = blob(layout, json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": list(cmd), "Env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [layer]}).encode())
    manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    manifest["annotations"] = {"io.containerd.image.name": name,
                               "org.opencontainers.image.ref.name": "latest"}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with tarfile.open(archive, "w") as t:
        for entry in ("oci-layout", "index.json", "blobs"):
            t.add(os.path.join(layout, entry), arcname=entry)


def cpu_of(pid):
    """utime+stime+cutime+cstime of pid, seconds (containerd reaps its shims)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def status_of(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def fnv1a(*parts):
    """The shim's stable_hash: FNV-1a over each part followed by a NUL."""
    h = 0xcbf29ce484222325
    for p in parts:
        for b in p.encode() + b"\0":
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def smaps_rollup(pid):
    """kB fields of /proc/PID/smaps_rollup (Pss, Private_Dirty, ...)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                out[k] = int(v.split()[0])
    return out


def reap_orphans(want=0, timeout=3.0):
    """cpu (s) of the exited processes reparented to us: the serving shims (each with
    what it reaped: runc, publish processes, the container's init). Waits until `want`
    of them were reaped: containerd does not wait for a shim's exit (closing its own
    end of the connection is enough), so a shim may still be finishing when ctr returns,
    and its cpu must not land in the next run."""
    total, reaped = 0.0, 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _, ru = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return total
        if pid:
            total += ru.ru_utime + ru.ru_stime
            reaped += 1
            continue
        if reaped >= want or time.monotonic() > deadline:
            if reaped < want:
                print(f"a serving shim did not exit within {timeout} s", file=sys.stderr)
            return total
        time.sleep(0.005)


def wait_for_containerd(sock, ctr, tries=100):
    """Until `ctr version` answers on sock (every 50 ms, `tries` times)."""
    for _ in range(tries):
        if os.path.exists(sock) and ctr("version", check=False).returncode == 0:
            return True
        time.sleep(0.05)
    print("containerd did not come up", file=sys.stderr)
    return False


def become_subreaper():
    """A shim's `start` forks the serving shim and exits: the serving shim is reparented
    to the nearest subreaper, which containerd 1.6 is not (it would be init, and its cpu
    lost). Being the subreaper, we reap the serving shims and count their cpu."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def new_cgroup_parents(name):
    """The cgroup directories /sys/fs/cgroup/<hierarchy>/NAME that do not exist yet:
    containerd makes them as the parent of a namespace's containers (/<namespace>/<id>)
    and no shim removes them; `remove_dirs` them at the end."""
    return [f"/sys/fs/cgroup/{d}/{name}" for d in os.listdir("/sys/fs/cgroup")
            if not os.path.exists(f"/sys/fs/cgroup/{d}/{name}")]


def remove_dirs(dirs):
    """rmdir each of DIRS that exists and is empty."""
    for d in dirs:
        try:
            os.rmdir(d)
        except OSError:
            pass


def main():
    become_subreaper()
    work, rootfs, shim_dir = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    base = os.path.join(work, "containerd")
    os.makedirs(base, exist_ok=True)
    sock = os.path.join(base, "containerd.sock")
    cfg = os.path.join(base, "config.toml")
    with open(cfg, "w") as f:
        f.write(f"""version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{base}/debug.sock"
""")
    extra = {}
    extra_dir = os.path.join(base, "shims")
    os.makedirs(extra_dir, exist_ok=True)
    for spec in os.environ.get("EXTRA_SHIMS", "").split():
        name, _, path = spec.partition("=")
        link = os.path.join(extra_dir, f"containerd-shim-{name}-v2")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.abspath(path), link)
        extra[name] = f"io.containerd.{name}.v2"
    env = dict(os.environ,
               PATH=f"{shim_dir}:{extra_dir}:{os.environ.get('PATH', '')}")
    log = open(os.path.join(base, "containerd.log"), "w")
    daemon = subprocess.Popen(["containerd", "--config", cfg], stdout=log, stderr=log, env=env)

    def ctr(*args, check=True, timeout=60):
        return subprocess.run(["ctr", "--address", sock, "--namespace", NS, *args],
                              capture_output=True, text=True, check=check, env=env,
                              timeout=timeout)

    parents = new_cgroup_parents(NS)
    try:
        if not wait_for_containerd(sock, ctr):
            return 1
        archive = os.path.join(base, "image.tar")
        make_image(rootfs, archive)
        ctr("images", "import", archive)

        shims = {"runc-v2": "io.containerd.runc.v2", "berth": "io.containerd.berth.v2",
                 **extra}
        ok, why = {}, {}
        for name, rt in shims.items():
            binary = "containerd-shim-" + rt.split(".", 2)[2].replace(".", "-")
            if not shutil.which(binary, path=env["PATH"]):
                ok[name], why[name] = False, f"{binary} not found"
                continue
            try:
                r = ctr("run", "--rm", "--runtime", rt, IMAGE, f"probe-{name}", check=False,
                        timeout=30)
                ok[name] = r.returncode == 0
                why[name] = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
            except subprocess.TimeoutExpired:
                ok[name], why[name] = False, "ctr run timed out"
                ctr("task", "kill", "-s", "KILL", f"probe-{name}", check=False)
                ctr("container", "rm", f"probe-{name}", check=False)
        live = [n for n in shims if ok[n]]
        time.sleep(0.2)
        reap_orphans()  # the probes' shims

        wall = {n: [] for n in live}
        daemon_cpu = {n: [] for n in live}
        ctr_cpu = {n: [] for n in live}
        shim_cpu = {n: [] for n in live}
        for i in range(runs):
            for n in (live if i % 2 == 0 else live[::-1]):
                c0 = cpu_of(daemon.pid)
                t0 = time.perf_counter()
                pid = os.fork()
                if pid == 0:
                    devnull = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(devnull, fd)
                    os.execvpe("ctr", ["ctr", "--address", sock, "--namespace", NS, "run",
                                       "--rm", "--runtime", shims[n], IMAGE,
                                       f"b-{n}-{i}"], env)
                _, status, ru = os.wait4(pid, 0)
                wall[n].append(time.perf_counter() - t0)
                ctr_cpu[n].append(ru.ru_utime + ru.ru_stime)
                time.sleep(0.05)  # let containerd reap the shim before reading its cpu
                daemon_cpu[n].append(cpu_of(daemon.pid) - c0)
                shim_cpu[n].append(reap_orphans(want=1))
                if os.waitstatus_to_exitcode(status) != 0:
                    print(f"ctr run --rm with {n} failed", file=sys.stderr)

        idle = {}
        for n in live:
            cid = f"idle-{n}"
            ctr("run", "-d", "--runtime", shims[n], IMAGE, cid, "/bin/sleep", "1000")
            time.sleep(0.5)
            task_pid = int(ctr("task", "ls").stdout.split(cid, 1)[1].split()[0])
            shim_pid = int(status_of(task_pid)["PPid"])
            st = status_of(shim_pid)
            rollup = smaps_rollup(shim_pid)
            idle[n] = (st["VmRSS"], st["Threads"], rollup.get("Pss", 0),
                       rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0))
            ctr("task", "kill", "-s", "KILL", cid)
            time.sleep(0.2)
            ctr("task", "delete", cid, check=False)
            ctr("container", "rm", cid, check=False)

        t0 = time.perf_counter()
        for _ in range(runs):
            ctr("version")
        ctr_alone = (time.perf_counter() - t0) / runs

        med = statistics.median
        print(f"\n## containerd (`ctr run --rm`, {runs} interleaved runs, medians)\n")
        print(f"Load average: {' '.join(open('/proc/loadavg').read().split()[:3])}.\n")
        print("| | " + " | ".join(shims) + " | berth/runc-v2 |")
        print("|---" * (len(shims) + 2) + "|")

        def row(label, f):
            cells = [f(n) if n in live else "—" for n in shims]
            r = "—"
            if "berth" in live and "runc-v2" in live:
                r = ratio_of(label)
            print(f"| {label} | " + " | ".join(cells) + f" | {r} |")

        vals = {}

        def ratio_of(label):
            a, b = vals[(label, "berth")], vals[(label, "runc-v2")]
            return f"{a / b:.2f}×" if b else "—"

        def metric(label, fn, fmt):
            for n in live:
                vals[(label, n)] = fn(n)
            row(label, lambda n: fmt(vals[(label, n)]))

        metric("`ctr run --rm` wall", lambda n: med(wall[n]), lambda x: f"{x * 1000:.0f} ms")
        # /proc/PID/stat counts in clock ticks (10 ms): the mean over all runs, not the
        # median of values that are all multiples of 10 ms.
        metric("containerd + shim cpu per container (mean)",
               lambda n: statistics.mean(daemon_cpu[n]) + statistics.mean(shim_cpu[n]),
               lambda x: f"{x * 1000:.0f} ms")
        metric("… of it the serving shim (mean)", lambda n: statistics.mean(shim_cpu[n]),
               lambda x: f"{x * 1000:.0f} ms")
        metric("… containerd, `start` and `delete` (mean)",
               lambda n: statistics.mean(daemon_cpu[n]),
               lambda x: f"{x * 1000:.0f} ms")
        metric("ctr cpu", lambda n: med(ctr_cpu[n]), lambda x: f"{x * 1000:.0f} ms")
        metric("idle shim RSS", lambda n: int(idle[n][0].split()[0]),
               lambda x: f"{x / 1024:.1f} MiB")
        metric("idle shim PSS", lambda n: idle[n][2], lambda x: f"{x / 1024:.1f} MiB")
        metric("idle shim private (clean+dirty)", lambda n: idle[n][3],
               lambda x: f"{x / 1024:.1f} MiB")
        metric("idle shim threads", lambda n: int(idle[n][1]), str)
        print(f"\n`ctr version` alone: {ctr_alone * 1000:.0f} ms wall.")
        for n in shims:
            if not ok[n]:
                print(f"\n{n} shim skipped: {why[n]}")
        return 0
    finally:
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
        subprocess.run(["umount", "-R", os.path.join(base, "state")], capture_output=True)
        reap_orphans()
        # The shim's libcontainer root for this containerd address (see serve::state_root).
        remove_dirs([f"/run/containerd/berth/{NS}-{fnv1a(sock):016x}"] + parents)


if __name__ == "__main__":
    sys.exit(main())
