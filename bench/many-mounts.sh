#!/usr/bin/env bash
# `run` (create, start, /bin/true, delete) of a container with N bind mounts, under each
# runtime given, interleaved, ROUNDS times (default 5); prints the median wall time and
# the median cpu (user+sys of the runtime and the children it reaped: the container's
# init does the mounts).
# Usage: [ROUNDS=5] bench/many-mounts.sh N RUNTIME...   e.g. bench/many-mounts.sh 1000 runc
#        target/x86_64-unknown-linux-gnu/release/berth. Root only.
# The bundle is scripts/make-bundle.sh's busybox with N binds of /dev/null at /tmp/mI
# (as tests/tests/reliability.rs mounts_65536); state roots and bundle are removed at exit.
set -euo pipefail
n=${1:?usage: many-mounts.sh N RUNTIME...}; shift
[ $# -gt 0 ] || { echo "many-mounts: name at least one runtime" >&2; exit 1; }
rounds=${ROUNDS:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/berth-many-mounts.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$here/scripts/make-bundle.sh" "$tmp/bundle" >/dev/null
python3 - "$tmp/bundle/config.json" "$n" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
c = json.load(open(path))
c["process"]["args"] = ["true"]
c["mounts"] += [{"destination": f"/tmp/m{i}", "type": "bind", "source": "/dev/null",
                 "options": ["bind"]} for i in range(n)]
json.dump(c, open(path, "w"))
PY
for r in $(seq "$rounds"); do
    for rt in "$@"; do
        id=mm-$$-$r-$(basename "$rt")
        if ! /usr/bin/time -f "%e %U %S" -o "$tmp/t" \
            "$rt" --root "$tmp/root-$(basename "$rt")" run --bundle "$tmp/bundle" "$id" \
            >/dev/null 2>"$tmp/err"; then
            echo "$rt: run failed: $(tail -1 "$tmp/err")" >&2
        fi
        read -r wall user sys <"$tmp/t"
        echo "$rt $wall $(echo "$user + $sys" | bc)" >>"$tmp/results"
    done
done
python3 - "$tmp/results" "$n" "$@" <<'PY'
import statistics, sys
path, n, runtimes = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [l.split() for l in open(path)]
for rt in runtimes:
    wall = [float(r[1]) for r in rows if r[0] == rt]
    cpu = [float(r[2]) for r in rows if r[0] == rt]
    print(f"{rt:<50} {n:>6} mounts: run wall {statistics.median(wall):6.3f} s, "
          f"cpu {statistics.median(cpu):6.3f} s (median of {len(wall)})")
PY
