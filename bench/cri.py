#!/usr/bin/env python3
"""Kubernetes pod start and density through containerd's CRI plugin: the `berth`
RuntimeClass handler (io.containerd.berth.v2, our shim) vs `runc` (io.containerd.runc.v2).
A private containerd with CRI enabled (root, state, sockets under WORKDIR; host-network
pods, so no CNI), a pause and a busybox image built from the bench bundle's rootfs, and
integration/cri-client's `bench` mode doing the CRI calls. Prints a markdown section.

Usage: cri.py WORKDIR ROOTFS SHIM_DIR CRI_CLIENT [RUNS]
  DENSITY=N (default 100, 0 skips) containers for the density part.

Pod start (RUNS interleaved rounds; a pod of 1 container, and of 3): wall of
RunPodSandbox + CreateContainer + StartContainer as the client sees it; cpu of
containerd (its own + the `start`/`delete` shim processes it reaps) and of the serving
shim (its own + what it reaped: runc) over exactly that span, read from /proc while the
pod runs. Teardown is not measured.

Density: DENSITY `sleep` containers started two at a time, once as one pod each and once
as one pod of them all; then, with everything running: the number of shim processes, the
sum of their PSS and threads, other runtime processes left running (anything in the
shims' trees that is not a container's process), and the growth of containerd's PSS.
"""

import os
import statistics
import subprocess
import sys
import time

from containerd import (become_subreaper, cpu_of, fnv1a, make_image, new_cgroup_parents,
                        reap_orphans, remove_dirs, smaps_rollup, status_of,
                        wait_for_containerd)

NS = "k8s.io"
IMAGE = "docker.io/library/berth-bench-cri:latest"
PAUSE = "docker.io/library/berth-bench-pause:latest"
HANDLERS = {"runc-v2": "runc", "berth": "berth"}


def children_of(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def exe_of(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def tree(pid):
    out = [pid]
    for c in children_of(pid):
        out += tree(c)
    return out


def serving_shims(skip):
    """The serving shims: reparented to us (the subreaper), neither containerd nor the
    client."""
    return [p for p in children_of(os.getpid())
            if p not in skip and exe_of(p).startswith("containerd-shim")]


class Client:
    """One `berth-cri-client bench` run, paced over its stdin/stdout."""

    def __init__(self, binary, sock, handler, log_dir, pods, containers, parallel):
        self.p = subprocess.Popen(
            [binary, "bench", "--socket", sock, "--handler", handler, "--image", IMAGE,
             "--log-dir", log_dir, "--pods", str(pods), "--containers", str(containers),
             "--parallel", str(parallel)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def expect(self, word):
        line = self.p.stdout.readline().split()
        if not line or line[0] != word:
            self.p.kill()
            self.p.wait()
            raise RuntimeError(f"cri client: expected {word}, got {line or 'EOF'} "
                               "(its stderr above)")
        return line[1:]

    def go(self):
        self.p.stdin.write("\n")
        self.p.stdin.flush()

    def finish(self):
        self.go()
        self.expect("DONE")
        self.p.wait()


def main():
    become_subreaper()
    work, rootfs, shim_dir, client = sys.argv[1:5]
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    density = int(os.environ.get("DENSITY", "100"))
    base = os.path.join(work, "cri")
    logs = os.path.join(base, "pods")
    os.makedirs(logs, exist_ok=True)
    sock = os.path.join(base, "containerd.sock")
    cfg = os.path.join(base, "config.toml")
    template = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration",
                            "cri-containerd.toml")
    with open(template) as t, open(cfg, "w") as f:
        f.write(t.read().replace("@DIR@", base).replace("@PAUSE@", PAUSE))
    env = dict(os.environ, PATH=f"{shim_dir}:{os.environ.get('PATH', '')}")
    log = open(os.path.join(base, "containerd.log"), "w")
    daemon = subprocess.Popen(["containerd", "--config", cfg], stdout=log, stderr=log,
                              env=env, start_new_session=True)

    def ctr(*args, check=True):
        return subprocess.run(["ctr", "--address", sock, "--namespace", NS, *args],
                              capture_output=True, text=True, check=check, env=env,
                              timeout=120)

    # The cgroup parent containerd makes for CRI pods (cgroupfs driver): removed at the
    # end when it was not there before.
    parents = new_cgroup_parents("k8s.io")
    # containerd and the clients: not serving shims. Clients are killed at the end only
    # while still running (a reaped one's pid may belong to someone else by then).
    skip = set()
    clients = []
    try:
        if not wait_for_containerd(sock, ctr, tries=200):
            return 1
        skip.add(daemon.pid)
        for name, cmd in ((IMAGE, ["/bin/sleep", "1000000"]),
                          (PAUSE, ["/bin/sleep", "2147483647"])):
            archive = os.path.join(base, name.rsplit("/", 1)[1].replace(":", "-") + ".tar")
            make_image(rootfs, archive, name, cmd)
            ctr("images", "import", archive)

        def start(handler, pods, containers, parallel):
            c = Client(client, sock, handler, logs, pods, containers, parallel)
            skip.add(c.p.pid)
            clients.append(c.p)
            c.expect("READY")
            return c

        # Probe each handler once (and warm containerd's caches).
        live = []
        for n, h in HANDLERS.items():
            try:
                c = start(h, 1, 1, 1)
                c.go()
                c.expect("STARTED")
                c.finish()
                live.append(n)
            except RuntimeError as e:
                print(f"bench: cri: {n}: {e}", file=sys.stderr)
            reap_orphans(want=1)

        shapes = (1, 3)
        wall = {(n, k): [] for n in live for k in shapes}
        cd_cpu = {(n, k): [] for n in live for k in shapes}
        sh_cpu = {(n, k): [] for n in live for k in shapes}
        for i in range(runs):
            for n in (live if i % 2 == 0 else live[::-1]):
                for k in shapes:
                    c = start(HANDLERS[n], 1, k, 1)
                    c0 = cpu_of(daemon.pid)
                    c.go()
                    w = float(c.expect("STARTED")[0])
                    cd = cpu_of(daemon.pid) - c0
                    sh = sum(cpu_of(p) for p in serving_shims(skip))
                    c.finish()
                    reap_orphans(want=1)
                    wall[(n, k)].append(w)
                    cd_cpu[(n, k)].append(cd)
                    sh_cpu[(n, k)].append(sh)

        dens = {}
        if density:
            for n in live:
                for label, pods, containers in (("one pod each", density, 1),
                                                (f"one pod of {density}", 1, density)):
                    before = smaps_rollup(daemon.pid).get("Pss", 0)
                    c = start(HANDLERS[n], pods, containers, 2)
                    c.go()
                    w = float(c.expect("STARTED")[0])
                    shims = serving_shims(skip)
                    pss = sum(smaps_rollup(p).get("Pss", 0) for p in shims)
                    threads = sum(int(status_of(p)["Threads"]) for p in shims)
                    helpers = [q for p in shims for q in tree(p)[1:]
                               if exe_of(q) not in ("busybox", "sleep")]
                    helper_pss = sum(smaps_rollup(q).get("Pss", 0) for q in helpers)
                    growth = smaps_rollup(daemon.pid).get("Pss", 0) - before
                    c.finish()
                    reap_orphans(want=len(shims), timeout=30)
                    dens[(n, label)] = (w, len(shims), pss, threads, helper_pss, growth)

        med, mean = statistics.median, statistics.mean
        print(f"\n## Kubernetes pods through containerd's CRI ({runs} interleaved rounds)\n")
        print(f"Load average: {' '.join(open('/proc/loadavg').read().split()[:3])}. "
              "Host-network pods; wall from the CRI client (median), cpu means "
              "(/proc ticks of 10 ms).\n")
        def header():
            print("| | " + " | ".join(HANDLERS) + " | berth/runc-v2 |")
            print("|---" * (len(HANDLERS) + 2) + "|")

        header()

        def row(label, vals, fmt):
            cells = [fmt(vals[n]) if n in vals else "—" for n in HANDLERS]
            r = "—"
            if "berth" in vals and "runc-v2" in vals and vals["runc-v2"]:
                r = f"{vals['berth'] / vals['runc-v2']:.2f}×"
            print(f"| {label} | " + " | ".join(cells) + f" | {r} |")

        ms = lambda x: f"{x * 1000:.0f} ms"
        for k in shapes:
            what = "1 container" if k == 1 else f"{k} containers"
            row(f"pod start ({what}): wall", {n: med(wall[(n, k)]) for n in live}, ms)
            row(f"pod start ({what}): containerd + shim cpu",
                {n: mean(cd_cpu[(n, k)]) + mean(sh_cpu[(n, k)]) for n in live}, ms)
            row(f"… of it the serving shim",
                {n: mean(sh_cpu[(n, k)]) for n in live}, ms)
        if dens:
            print(f"\n### Density: {density} `sleep` containers, started two at a time\n")
            header()
            mib = lambda kb: f"{kb / 1024:.1f} MiB"
            for label in ("one pod each", f"one pod of {density}"):
                d = {n: dens[(n, label)] for n in live if (n, label) in dens}
                row(f"{label}: time to start all", {n: v[0] for n, v in d.items()},
                    lambda x: f"{x:.1f} s")
                row(f"{label}: shim processes", {n: v[1] for n, v in d.items()}, str)
                row(f"{label}: shims' total PSS", {n: v[2] for n, v in d.items()}, mib)
                row(f"{label}: shims' threads", {n: v[3] for n, v in d.items()}, str)
                row(f"{label}: other runtime processes left (PSS)",
                    {n: v[4] for n, v in d.items()}, mib)
                row(f"{label}: containerd's PSS growth", {n: v[5] for n, v in d.items()},
                    mib)
                row(f"{label}: total (shims + left + containerd growth)",
                    {n: v[2] + v[4] + v[5] for n, v in d.items()}, mib)
        for n in HANDLERS:
            if n not in live:
                print(f"\n{n} skipped: it could not start a pod (see the bench's stderr)")
        return 0
    finally:
        # What a failed run left: tasks killed and deleted, containers removed.
        if daemon.poll() is None:
            for kind in ("task", "container"):
                ids = ctr(kind, "ls", "-q", check=False).stdout.split()
                for cid in ids:
                    if kind == "task":
                        ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
                        time.sleep(0.1)
                        ctr("task", "delete", "-f", cid, check=False)
                    else:
                        ctr("container", "rm", cid, check=False)
        for p in clients:
            if p.poll() is None:
                p.kill()
                p.wait()
        daemon.terminate()
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
        for p in serving_shims(skip):
            try:
                os.kill(p, 9)
            except OSError:
                pass
        subprocess.run(["umount", "-R", os.path.join(base, "state")], capture_output=True)
        subprocess.run(["sh", "-c", f"grep -o ' {base}/[^ ]*' /proc/self/mounts | sort -r | "
                        "xargs -r -n1 umount -l"], capture_output=True)
        reap_orphans()
        remove_dirs([f"/run/containerd/berth/{NS}-{fnv1a(sock):016x}"] + parents)


if __name__ == "__main__":
    sys.exit(main())
