#!/usr/bin/env bash
# Runs every client script (docker, podman, ctr) one after another and adds up their
# counts: ends with "N passed, N failed[, N skipped]"; exits 1 if any scenario failed or
# any script could not run. Usage: integration/run.sh [docker|podman|ctr ...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(docker podman ctr)
pass=0 fail=0 skip=0 bad=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for s in "${scripts[@]}"; do
    echo "== integration/$s.sh"
    bash "$here/$s.sh" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
    if [ -z "$last" ]; then
        echo "integration/$s.sh did not finish (exit $rc)"
        bad=$((bad + 1))
        continue
    fi
    read -r p _ f _ k _ <<<"${last//,/}"
    pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + ${k:-0}))
done
echo "== all"
line="$pass passed, $((fail + bad)) failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
[ $((fail + bad)) -eq 0 ]
