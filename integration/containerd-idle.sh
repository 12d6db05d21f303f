#!/usr/bin/env bash
# Idle cost of the Berth shim: one container (sleep) through a private containerd; prints
# the shim's RSS, PSS and threads a second after start, and after a few exec/ps/metrics
# calls. Usage: integration/containerd-idle.sh [DIR holding containerd-shim-berth-v2]
# (measure the release build: cargo build --release -p containerd-shim-berth-v2).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=integration/containerd-lib.sh
source "$here/containerd-lib.sh" "${1:-$here/../target/release}"
ct_start && ct_import_busybox || exit 1
id=c-idle-$$
ctr_ run -d --runtime io.containerd.berth.v2 docker.io/library/busybox:latest $id sleep 1000 >/dev/null || exit 1
pid=$(cat "$CT_DIR/state/io.containerd.runtime.v2.task/default/$id/shim.pid")
show() {
    sleep 1
    echo "$1: $(grep -E '^(VmRSS|Threads)' /proc/"$pid"/status | tr -s ' \t\n' ' ')" \
        "$(grep -E '^Pss:' /proc/"$pid"/smaps_rollup | tr -s ' ')"
}
show "idle after start"
for i in 1 2 3; do
    ctr_ task exec --exec-id e$i $id true
    ctr_ task ps $id >/dev/null
    ctr_ task metrics $id >/dev/null
done
show "idle after exec/ps/metrics"
[ -n "${IDLE_SMAPS:-}" ] && awk '/^[0-9a-f]+-/{name=$6} /^Rss:/{r[name]+=$2} END{for(n in r) if(r[n]>=64) print r[n]" kB "n}' /proc/"$pid"/smaps | sort -rn
ctr_ task kill -s KILL $id; sleep 0.3; ctr_ task delete $id >/dev/null; ctr_ container rm $id
