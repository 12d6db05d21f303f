#!/usr/bin/env bash
# Time `create` + `delete` of a container with N bind mounts, under each runtime given.
# Usage: bench/many-mounts.sh N RUNTIME...   (e.g. bench/many-mounts.sh 1000 runc
#        target/x86_64-unknown-linux-gnu/release/berth). Root only.
# The bundle is scripts/make-bundle.sh's busybox with N binds of /dev/null at /tmp/mI
# (as tests/tests/reliability.rs mounts_65536); state roots and bundle are removed at exit.
set -euo pipefail
n=${1:?usage: many-mounts.sh N RUNTIME...}; shift
[ $# -gt 0 ] || { echo "many-mounts: name at least one runtime" >&2; exit 1; }
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
for rt in "$@"; do
    root=$tmp/root-$(basename "$rt")
    id=mm-$$-$(basename "$rt")
    start=$(date +%s.%N)
    if "$rt" --root "$root" create --bundle "$tmp/bundle" "$id" >/dev/null 2>"$tmp/err"; then
        result=ok
    else
        result="failed: $(tail -1 "$tmp/err")"
    fi
    mid=$(date +%s.%N)
    "$rt" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    printf '%-50s %6d mounts: create %7.3f s, delete %6.3f s (%s)\n' "$rt" "$n" \
        "$(echo "$mid - $start" | bc)" "$(echo "$end - $mid" | bc)" "$result"
done
