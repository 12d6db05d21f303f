#!/usr/bin/env bash
# Run one real container with berth and show it is isolated: its own hostname, pid 1,
# its own mounts. Usage: scripts/demo.sh [BERTH_BIN]   (run as root; `make demo` calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
berth=${1:-target/debug/berth}
berth=$(realpath "$berth")
dir=$(mktemp -d /tmp/berth-demo.XXXXXX)
root=$dir/state
id=demo-$$
cleanup() {
    "$berth" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

scripts/make-bundle.sh "$dir/bundle" "$berth" >/dev/null
cfg=$dir/bundle/config.json
sed -i 's/"hostname": "[^"]*"/"hostname": "berth-demo"/' "$cfg"
script='echo hostname=$(hostname); echo pid=$$; echo mounts:; head -n 8 /proc/self/mountinfo'
sed -i "s|^\([[:space:]]*\)\"sh\"\$|\1\"sh\", \"-c\", \"$script\"|" "$cfg"

echo "host: hostname=$(hostname) pid=$$"
echo "+ berth run --bundle $dir/bundle $id"
"$berth" --root "$root" run --bundle "$dir/bundle" "$id"
