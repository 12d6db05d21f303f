#!/usr/bin/env bash
# The registry client's round trip: push, then pull into an empty store, of a six-layer
# image (busybox + five layers of 8 MiB of random data) against a local docker-registry
# over plain HTTP, for each binary in turn, interleaved, RUNS times. Prints the median
# wall, user and system seconds of each step per binary, and the ratios against the first.
#
#   bench/registry.sh [BERTH_IMAGE ...]   default: target/release/berth-image
#   RUNS=9 bench/registry.sh target/release/berth-image /tmp/old/berth-image
#
# Needs docker-registry (Debian's docker-registry) and busybox-static. Leaves nothing:
# the registry (killed by pid) and every store live in one temporary directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-5}
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$here/../target/release/berth-image")
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "bench/registry: no $b" >&2; exit 1; }; done
command -v docker-registry >/dev/null || { echo "bench/registry: apt-get install docker-registry" >&2; exit 1; }

w=$(mktemp -d /tmp/berth-bench-registry.XXXXXX)
reg_pid=
cleanup() { [ -n "${KEEP:-}" ] && return; [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$w"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$w/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $w/registry}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$w/registry.yml" >"$w/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

# A new image for every push (fresh random layers: the registry knows every blob it was
# ever sent, whatever the repository), built with the first binary.
src=$w/src
mkdir -p "$src"
printf 'FROM bb:1\n' >"$src/Dockerfile"
for i in 1 2 3 4 5; do printf 'COPY data%s /data%s\n' "$i" "$i" >>"$src/Dockerfile"; done
base=$w/base
"${bins[0]}" --root "$base" busybox bb:1 >/dev/null
new_image() {
    local i
    for i in 1 2 3 4 5; do head -c $((8 << 20)) /dev/urandom >"$src/data$i"; done
    "${bins[0]}" --root "$base" build -t "big:$1" "$src" >/dev/null 2>&1
}
new_image 0
layers=$("${bins[0]}" --root "$base" inspect big:0 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')

# time_into FILE CMD...: appends "wall user sys" of CMD.
time_into() {
    local f=$1
    shift
    /usr/bin/time -f '%e %U %S' -o "$f.one" "$@" >/dev/null 2>"$w/err" || { cat "$w/err" >&2; return 1; }
    cat "$f.one" >>"$f"
}

for r in $(seq "$runs"); do
    for i in "${!bins[@]}"; do
        b=${bins[$i]}
        ref=127.0.0.1:$port/bench/big-$i:$r
        new_image "$r-$i"
        time_into "$w/push.$i" "$b" --root "$base" push --insecure "big:$r-$i" "$ref"
        rm -rf "$w/pull"
        time_into "$w/pull.$i" "$b" --root "$w/pull" pull --insecure "$ref"
    done
done

python3 - "$w" "$runs" "$layers" "${bins[@]}" <<'EOF'
import statistics, sys
w, runs, layers, bins = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
print(f"registry round trip: {layers} layers (41 MiB), {runs} runs, medians (s)")
base = {}
for step in ("push", "pull"):
    for i, b in enumerate(bins):
        rows = [list(map(float, l.split())) for l in open(f"{w}/{step}.{i}")]
        med = [statistics.median(c) for c in zip(*rows)]
        line = f"{step} {b}: wall {med[0]:.2f} user {med[1]:.2f} sys {med[2]:.2f}"
        if i == 0:
            base[step] = med
        else:
            r = [m / bm if bm else float("nan") for m, bm in zip(med, base[step])]
            line += f"  (x first: wall {r[0]:.2f}, cpu {(med[1]+med[2])/max(base[step][1]+base[step][2],1e-9):.2f})"
        print(line)
EOF
