#!/usr/bin/env bash
# http_compare.sh - dort beside nginx (and workerd, when given) on the same
# HTTP workloads, measured in one run so that ratios hold on a noisy machine.
#
#   tools/bench/http_compare.sh [--peers DIR] [--rounds N] [--duration S] [--only LIST]
#
# Servers are pinned to CPU 0 and wrk to CPU 1 (64 connections, 1 thread).
# Each round runs every server once per workload, interleaved (A B C A B C
# ...), so machine drift hits all of them alike; the table shows the median
# of the rounds and each server's ratio to nginx (health) and to workerd.
#
#   nginx           `return 200` (tools/bench/nginx.conf) - the ceiling for doing nothing
#   dort-relaxed    dort dev, tools/apps/config/bench.json (relaxed durability)
#   dort-full       dort serve, same app, full durability (fsync per group commit)
#   workerd-mem / workerd-disk  Cloudflare's runtime on the same workload, from
#                   the peer harness (--peers DIR: its workerd/config.capnp and
#                   worker.js; the workerd binary from $WORKERD or npm's
#                   node_modules under $WORKERD_DIR)
#
# Workloads (tools/bench/wrk/*.lua): health (constant route), check_hot (one
# counter actor: get, +1, put), check_spread (10,000 counter actors, touched
# once first), chat (appends to one actor). Everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PEERS=""
ROUNDS=3
DURATION=10
ONLY="nginx,dort-relaxed,dort-full,workerd-mem,workerd-disk"
WORKLOADS="health check_hot check_spread chat"
while [ $# -gt 0 ]; do
    case "$1" in
    --peers) PEERS=$(cd "$2" && pwd); shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --workloads) WORKLOADS=$2; shift ;;
    *) sed -n '2,25p' "$0"; exit 2 ;;
    esac
    shift
done
WORKERD=${WORKERD:-${WORKERD_DIR:-/tmp/peer-workerd}/node_modules/@cloudflare/workerd-linux-64/bin/workerd}
DORT=$ROOT/build/tools/dort
[ -x "$DORT" ] || { echo "build dort first (ninja -C build)"; exit 2; }
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 2; }
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
PORT=18790

has() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

start_server() { # name -> sets SPID, prints the port
    local name=$1 dir=$TMP/$1
    mkdir -p "$dir/tmp"
    case $name in
    nginx)
        sed "s/18788/$PORT/" tools/bench/nginx.conf > "$dir/nginx.conf"
        taskset -c 0 nginx -p "$dir/" -c "$dir/nginx.conf" -g "daemon off;" 2>/dev/null &
        ;;
    dort-relaxed)
        taskset -c 0 "$DORT" dev --config tools/apps/config/bench.json --port "$PORT" \
            --persist-to "$dir/state" >/dev/null 2>"$dir/log" &
        ;;
    dort-full)
        taskset -c 0 "$DORT" serve --config tools/apps/config/bench.json --port "$PORT" \
            --persist-to "$dir/state" >/dev/null 2>"$dir/log" &
        ;;
    workerd-mem|workerd-disk)
        local cfg=memConfig
        [ $name = workerd-disk ] && cfg=diskConfig
        mkdir -p "$dir/do"
        taskset -c 0 "$WORKERD" serve --experimental "$PEERS/workerd/config.capnp" $cfg \
            -s http=127.0.0.1:$PORT -d do-storage="$dir/do" >/dev/null 2>"$dir/log" &
        ;;
    esac
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/health" && return 0
        sleep 0.1
    done
    echo "$name did not start" >&2
    return 1
}

stop_server() {
    kill -INT "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

run_wrk() { # workload -> "rps p50_ms p99_ms"
    local w=$1 extra=()
    [ "$w" = check_spread ] && extra=(-- 10000)
    taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" --latency -s "tools/bench/wrk/$w.lua" \
        "http://127.0.0.1:$PORT" "${extra[@]}" > "$TMP/wrk.out" 2>&1 || true
    awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
         function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
         END { printf "%s %.3f %.3f\n", r, ms(p50), ms(p99) }' "$TMP/wrk.out"
}

prewarm() { # touch every spread key once, in order, over 8 keep-alive connections
    python3 - "$PORT" <<'PY'
import http.client, sys, threading
port = int(sys.argv[1])
def run(start):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(start, 10000, 8):
        c.request("POST", f"/check?key=k{i}", body=b"")
        c.getresponse().read()
ts = [threading.Thread(target=run, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
}

SERVERS=()
for s in nginx dort-relaxed dort-full workerd-mem workerd-disk; do
    has $s || continue
    case $s in workerd-*) [ -n "$PEERS" ] && [ -x "$WORKERD" ] || continue ;; esac
    case $s in nginx) command -v nginx >/dev/null || continue ;; esac
    SERVERS+=("$s")
done
echo "# $(date -u +%FT%TZ) $(nproc) cpus, $(uname -r); wrk -t1 -c64 -d${DURATION}s, $ROUNDS rounds"
echo "# servers: ${SERVERS[*]}"
RES=$TMP/results
: > "$RES"
for w in $WORKLOADS; do
    for round in $(seq "$ROUNDS"); do
        for s in "${SERVERS[@]}"; do
            start_server "$s" || continue
            [ "$w" = check_spread ] && [ "$s" != nginx ] && prewarm
            # A short warm-up, then the measured run.
            taskset -c 1 wrk -t1 -c64 -d2s "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 || true
            echo "$w $s $(run_wrk "$w")" | tee -a "$RES" >&2
            stop_server "$SPID"
        done
    done
done
python3 - "$RES" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    w, s, rps, p50, p99 = line.split()
    rows[(w, s)].append((float(rps), float(p50), float(p99)))
med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in rows.items()}
print("| workload | server | req/s (median) | p50 ms | p99 ms | vs nginx | vs workerd-mem | vs workerd-disk |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for (w, s), (rps, p50, p99) in sorted(med.items()):
    def ratio(other):
        o = med.get((w, other))
        return f"{rps / o[0]:.2f}x" if o and o[0] else "-"
    print(f"| {w} | {s} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {ratio('nginx')} | {ratio('workerd-mem')} | {ratio('workerd-disk')} |")
PY
