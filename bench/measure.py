#!/usr/bin/env python3
"""Side-by-side measurements of OCI runtimes (berth, runc, crun) on one bundle.

Every figure comes from wait4(2): cpu = ru_utime + ru_stime of the runtime process and
the descendants it reaped (the container's init for `run`; runc's `runc init` re-exec),
peak RSS = ru_maxrss. Wall time is measured around fork/exec/wait4. Runtimes are
interleaved (A/B/C, A/B/C, ... in a per-round shuffled order) so that background load
hits all of them alike; figures are medians.

Called by bench/run.sh, which prepares the bundle, the cgroup layout and the binaries.
Usage: measure.py --bundle DIR --state DIR --out FILE.md [--runs N] [--batch 50]
                  RUNTIME=PATH [RUNTIME=PATH ...]
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

DEVNULL = os.open(os.devnull, os.O_RDWR)


def spawn(argv, env=None):
    """Runs argv with stdio on /dev/null; returns (status, wall_s, cpu_s, maxrss_kib).
    maxrss here is polluted by this (large) Python process: Linux keeps the pre-exec
    high-water mark of a forked child. Peak RSS comes from `peak_rss` instead."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(DEVNULL, 0)
            os.dup2(DEVNULL, 1)
            os.dup2(DEVNULL, 2)
            if env is not None:
                os.execve(argv[0] if "/" in argv[0] else shutil.which(argv[0]), argv, env)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return os.waitstatus_to_exitcode(status), wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def peak_rss(argv):
    """Peak RSS (KiB) of argv and its reaped children, as `/usr/bin/time -v` reports it:
    time(1) is small, so the fork it execs from adds little (~0.8 MiB for /bin/true)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        r = spawn(["/usr/bin/time", "-f", "%M", "-o", out.name] + argv)
        text = out.read().split()
    return (r[0], int(text[-1])) if text else (r[0], None)


def bench_rss(runtimes, bundle, n):
    """Peak RSS of `run`, `create`, `start`, `delete` (max over n interleaved rounds)."""
    res = {rt.name: {p: 0 for p in ("run", "create", "start", "delete")} for rt in runtimes}
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    for _, rt in rounds(runtimes, n):
        cid = rt.new_id()
        for p, argv in (("run", rt.cmd("run", "--bundle", bundle, rt.new_id())),
                        ("create", rt.cmd("create", "--bundle", bundle, cid)),
                        ("start", rt.cmd("start", cid)),
                        ("delete", rt.cmd("delete", "--force", cid))):
            status, kib = peak_rss(argv)
            must(rt, p, (status,))
            res[rt.name][p] = max(res[rt.name][p], kib or 0)
    return res


class Runtime:
    def __init__(self, name, path, state):
        self.name = name
        self.path = path
        self.root = os.path.join(state, name)
        os.makedirs(self.root, exist_ok=True)
        self.seq = 0

    def cmd(self, *args):
        return [self.path, "--root", self.root, *args]

    def new_id(self):
        self.seq += 1
        return f"bench-{self.name}-{os.getpid()}-{self.seq}"


def must(rt, what, result):
    if result[0] != 0:
        # Re-run once with output visible, so the failure is explained.
        sys.exit(f"{rt.name}: {what} failed with status {result[0]}")
    return result


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def rounds(runtimes, n):
    """Yields (round, runtime) with a fresh shuffled order each round."""
    order = list(runtimes)
    for i in range(n):
        random.shuffle(order)
        for rt in order:
            yield i, rt


def bench_run(runtimes, bundle, n):
    res = {rt.name: {"wall": [], "cpu": [], "rss": []} for rt in runtimes}
    for _, rt in rounds(runtimes, n):
        r = must(rt, "run", spawn(rt.cmd("run", "--bundle", bundle, rt.new_id())))
        res[rt.name]["wall"].append(r[1])
        res[rt.name]["cpu"].append(r[2])
        res[rt.name]["rss"].append(r[3])
    return res


def bench_phases(runtimes, bundle, n):
    """create, start, delete as three commands (detached, like containerd's shim)."""
    phases = ("create", "start", "delete")
    res = {rt.name: {p: {"wall": [], "cpu": [], "rss": []} for p in phases} for rt in runtimes}
    for _, rt in rounds(runtimes, n):
        cid = rt.new_id()
        argvs = {
            "create": rt.cmd("create", "--bundle", bundle, cid),
            "start": rt.cmd("start", cid),
            "delete": rt.cmd("delete", "--force", cid),
        }
        for p in phases:
            r = must(rt, p, spawn(argvs[p]))
            res[rt.name][p]["wall"].append(r[1])
            res[rt.name][p]["cpu"].append(r[2])
            res[rt.name][p]["rss"].append(r[3])
    return res


def batch(rt, bundle, count, workers):
    """`count` run lifecycles split over `workers` threads; returns (wall_s, cpu_s)."""
    cpu = [0.0] * workers
    ids = [rt.new_id() for _ in range(count)]
    errors = []

    def work(w):
        for cid in ids[w::workers]:
            r = spawn(rt.cmd("run", "--bundle", bundle, cid))
            if r[0] != 0:
                errors.append(r[0])
            cpu[w] += r[2]

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        sys.exit(f"{rt.name}: {len(errors)} of {count} runs failed in a batch")
    return wall, sum(cpu)


def bench_batches(runtimes, bundle, count, reps):
    res = {rt.name: {"seq": [], "par": []} for rt in runtimes}
    for _, rt in rounds(runtimes, reps):
        res[rt.name]["seq"].append(batch(rt, bundle, count, 1))
    for _, rt in rounds(runtimes, reps):
        res[rt.name]["par"].append(batch(rt, bundle, count, 2))
    return res


def strace_count(rt, bundle, reps):
    """Total syscalls of one `run`, all processes (strace -f -c), median of `reps`."""
    if not shutil.which("strace"):
        return None
    totals = []
    for _ in range(reps):
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
            argv = ["strace", "-f", "-c", "-o", out.name] + rt.cmd(
                "run", "--bundle", bundle, rt.new_id())
            r = spawn(argv)
            if r[0] != 0:
                return None
            text = out.read()
        total = None
        for line in text.splitlines():
            f = line.split()
            if f and f[-1] == "total":
                # columns: % time, seconds, usecs/call, calls, [errors], total
                total = int(f[3]) if len(f) >= 5 and f[3].isdigit() else None
        if total is not None:
            totals.append(total)
    return int(med(totals)) if totals else None


def floor_run(rootfs, n):
    argv = ["unshare", "-mpinu", "--fork", "chroot", rootfs, "/bin/true"]
    cpu, wall = [], []
    for _ in range(n):
        r = spawn(argv)
        if r[0] != 0:
            return None
        wall.append(r[1])
        cpu.append(r[2])
    return med(wall), med(cpu)


def ms(x):
    return f"{x * 1000:.1f} ms"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "—"


def steal_ticks():
    """The machine's steal time so far (clock ticks), from /proc/stat's cpu line."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--batch-reps", type=int, default=2)
    ap.add_argument("--strace-reps", type=int, default=3)
    ap.add_argument("--extra", default="", help="markdown appended to the report")
    ap.add_argument("runtimes", nargs="+", help="NAME=PATH; the first is the subject")
    a = ap.parse_args()

    runtimes = []
    for spec in a.runtimes:
        name, _, path = spec.partition("=")
        runtimes.append(Runtime(name, path or name, a.state))
    names = [rt.name for rt in runtimes]
    subject = names[0]
    load0 = open("/proc/loadavg").read().split()[:3]
    steal0 = steal_ticks()

    # Warm-up: page cache, binaries, cgroup directories.
    for rt in runtimes:
        for _ in range(2):
            must(rt, "warm-up run", spawn(rt.cmd("run", "--bundle", a.bundle, rt.new_id())))

    print(f"run lifecycle x{a.runs} ...", file=sys.stderr)
    run = bench_run(runtimes, a.bundle, a.runs)
    print(f"create/start/delete x{a.runs} ...", file=sys.stderr)
    phases = bench_phases(runtimes, a.bundle, a.runs)
    print(f"{a.batch} containers sequential and 2-parallel x{a.batch_reps} ...", file=sys.stderr)
    batches = bench_batches(runtimes, a.bundle, a.batch, a.batch_reps)
    print("peak RSS (/usr/bin/time) ...", file=sys.stderr)
    rss = bench_rss(runtimes, a.bundle, 5)
    print("strace -f -c ...", file=sys.stderr)
    sysc = {rt.name: strace_count(rt, a.bundle, a.strace_reps) for rt in runtimes}
    floor = floor_run(os.path.join(a.bundle, "rootfs"), a.runs)
    load1 = open("/proc/loadavg").read().split()[:3]
    stolen_ms = (steal_ticks() - steal0) * 1000 // os.sysconf("SC_CLK_TCK")

    def row(label, values, fmt, lower_better=True):
        cells = [fmt(values[n]) if values[n] is not None else "—" for n in names]
        rat = []
        for other in names[1:]:
            if values[subject] is not None and values[other]:
                rat.append(ratio(values[subject], values[other]))
            else:
                rat.append("—")
        return f"| {label} | " + " | ".join(cells + rat) + " |"

    head = "| | " + " | ".join(names) + " | " + " | ".join(
        f"{subject}/{o}" for o in names[1:]) + " |"
    sep = "|---" * (1 + len(names) + len(names) - 1) + "|"
    lines = [
        f"# Runtime benchmark {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"Machine: {os.cpu_count()} cpus, {os.uname().release}; load average before "
        f"{' '.join(load0)}, after {' '.join(load1)}; cpu time the hypervisor gave to others "
        f"meanwhile (steal): {stolen_ms} ms. Bundle: busybox, `/bin/true`. "
        f"Medians of {a.runs} interleaved runs; cpu = user+sys from wait4 (includes reaped "
        f"children: the container init in `run`). Peak RSS: `/usr/bin/time -f %M`, max of 5 "
        f"rounds. Syscalls: `strace -f -c`, all processes, median of {a.strace_reps}.",
        "",
        head,
        sep,
    ]
    m = lambda d, k: {n: med(d[n][k]) for n in names}
    lines.append(row("`run` cpu", m(run, "cpu"), ms))
    lines.append(row("`run` wall", m(run, "wall"), ms))
    if rss:
        lines.append(row("`run` peak RSS", {n: rss[n]["run"] for n in names}, mib))
    for p in ("create", "start", "delete"):
        lines.append(row(f"`{p}` cpu", {n: med(phases[n][p]["cpu"]) for n in names}, ms))
        lines.append(row(f"`{p}` wall", {n: med(phases[n][p]["wall"]) for n in names}, ms))
        if rss:
            lines.append(row(f"`{p}` peak RSS", {n: rss[n][p] for n in names}, mib))
    for k, label in (("seq", "sequential"), ("par", "2-parallel")):
        lines.append(row(f"{a.batch} × run {label}, wall",
                         {n: med([x[0] for x in batches[n][k]]) for n in names},
                         lambda s: f"{s:.2f} s"))
        lines.append(row(f"{a.batch} × run {label}, cpu",
                         {n: med([x[1] for x in batches[n][k]]) for n in names},
                         lambda s: f"{s:.2f} s"))
    lines.append(row("syscalls per `run` (strace -f -c)", sysc, str))
    if floor:
        lines.append("")
        lines.append(f"Floor (`unshare -mpinu --fork chroot rootfs /bin/true`): "
                     f"cpu {ms(floor[1])}, wall {ms(floor[0])}.")
    if a.extra and os.path.exists(a.extra):
        lines.append("")
        lines.append(open(a.extra).read().rstrip())

    def vs(key, other):
        o = med(run[other][key])
        return f"{med(run[subject][key]) / o:.2f}×{other}" if o else "—"
    others = names[1:]
    summary = (f"{subject} run: cpu {ms(med(run[subject]['cpu']))} ("
               + ", ".join(vs("cpu", o) for o in others) + "), wall "
               + f"{ms(med(run[subject]['wall']))} (" + ", ".join(vs("wall", o) for o in others)
               + f"), peak RSS {mib(rss[subject]['run']) if rss else '—'}, syscalls {sysc[subject]}; "
               + f"load {load0[0]}→{load1[0]}")
    lines += ["", "Summary: " + summary, ""]
    with open(a.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[4:]))
    print(summary)


if __name__ == "__main__":
    main()
