#!/usr/bin/env bash
# test/scale/bench_backends.sh [REUSEGW_BIN]: the relay's cost on io_uring
# and on epoll, side by side in one run.
#
#   sipp UAC --TCP--> gateway A --mTLS--> gateway B --TCP--> sipp UAS
#   NET.2             NET.3 (5070/5061)   NET.4 (5061)       NET.5:5060
#
# For each backend and each rate in RATES, DURATION_S seconds of OPTIONS/200
# transactions (after 50 warm-up ones); both gateways pinned to RELAY_CPU,
# both sipp to LOAD_CPU. Reports achieved transactions/s, failed calls and
# the gateways' CPU (scheduler nanoseconds, /proc/PID/task/*/schedstat) per
# SIP message. Not a pass/fail test: the machine's other load skews it.
# Environment (defaults): RATES="2000 5000 10000" DURATION_S=10 NET=127.0.78
#   RELAY_CPU=1 LOAD_CPU=0 PENDING=400000
# PENDING sets limits.max_pending_transactions: a transaction stays in the
# table 64*T1 (32 s) after its final response, so the default 65536 caps a
# sustained rate near 2,000 tx/s; the bench raises it to measure the loop.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(cd "$HERE/../.." && pwd)
BIN=$(realpath "${1:-$SOURCE/build/gateway/reusegw}")
RATES=${RATES:-"2000 5000 10000"}
DURATION_S=${DURATION_S:-10}
NET=${NET:-127.0.78}
RELAY_CPU=${RELAY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
PENDING=${PENDING:-400000}

WORK=$(mktemp -d /tmp/reusegw-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
"$SOURCE/test/certs/gen.sh" "$WORK/certs" >/dev/null

wait_listen() { # ip port pid
    for ((i = 0; i < 100; i++)); do
        ss -Hltn "sport = :$2" | awk '{print $4}' | grep -qx "$1:$2" && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

cpu_ns() { # pid...: scheduler run time of every thread, nanoseconds
    local total=0 p t
    for p in "$@"; do
        for t in /proc/"$p"/task/*/schedstat; do
            total=$((total + $(cut -d' ' -f1 "$t")))
        done
    done
    echo "$total"
}

gateway_config() { # name host forward_to peer_domain peer_addr
    cat <<CFG
identity:
  sent_by: $1.test:5061
tls:
  listen: ["$2:5061"]
  certificate: $WORK/certs/gw-$1.pem
  private_key: $WORK/certs/gw-$1.key
  ca: $WORK/certs/ca.pem
legacy:
  forward_to: $3
  listen: $2:5070
routes:
  - domain: $4
    targets: ["$5:5061"]
limits:
  max_pending_transactions: $PENDING
runtime:
  io_backend: $BACKEND
log:
  level: warn
CFG
}

printf '| backend | target tx/s | achieved tx/s | failed | CPU of both gateways, %% of a core | SIP msgs per CPU-second of the pair |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for BACKEND in io_uring epoll; do
    for rate in $RATES; do
        run=$WORK/$BACKEND-$rate
        mkdir -p "$run"
        gateway_config a "$NET.3" "$NET.2:5999" b.test "$NET.4" >"$run/a.yaml"
        gateway_config b "$NET.4" "$NET.5:5060" a.test "$NET.3" >"$run/b.yaml"
        taskset -c "$LOAD_CPU" sipp -sf "$HERE/bench/uas.xml" -t t1 -i "$NET.5" -p 5060 \
            -nostdin >"$run/uas.out" 2>&1 &
        uas=$!
        taskset -c "$RELAY_CPU" "$BIN" -c "$run/a.yaml" 2>"$run/a.log" &
        a=$!
        taskset -c "$RELAY_CPU" "$BIN" -c "$run/b.yaml" 2>"$run/b.log" &
        b=$!
        PIDS=("$uas" "$a" "$b")
        wait_listen "$NET.5" 5060 "$uas" && wait_listen "$NET.3" 5070 "$a" &&
            wait_listen "$NET.4" 5061 "$b" || { cat "$run"/*.log "$run/uas.out"; exit 1; }
        (cd "$run" && taskset -c "$LOAD_CPU" sipp -sf "$HERE/bench/uac.xml" -t t1 -i "$NET.2" \
            -p 5060 "$NET.3:5070" -r 500 -m 50 -recv_timeout 5000 -nostdin >warmup.out 2>&1) ||
            echo "warm-up failed: $run/warmup.out" >&2
        calls=$((rate * DURATION_S))
        before=$(cpu_ns "$a" "$b")
        t0=$(date +%s%N)
        (cd "$run" && taskset -c "$LOAD_CPU" sipp -sf "$HERE/bench/uac.xml" -t t1 -i "$NET.2" \
            -p 5060 "$NET.3:5070" -r "$rate" -m "$calls" -l "$rate" -recv_timeout 5000 \
            -nostdin -trace_stat -stf uac.csv -fd 1 >uac.out 2>&1) || true
        t1=$(date +%s%N)
        after=$(cpu_ns "$a" "$b")
        # Last statistics row: cumulative successful and failed calls.
        read -r ok failed < <(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
            { ok = $col["SuccessfulCall(C)"]; f = $col["FailedCall(C)"] }
            END { print ok + 0, f + 0 }' "$run/uac.csv")
        awk -v ok="$ok" -v failed="$failed" -v ns=$((t1 - t0)) -v cpu=$((after - before)) \
            -v rate="$rate" -v be="$BACKEND" 'BEGIN {
                s = ns / 1e9; share = cpu / ns
                printf "| %s | %d | %.0f | %d | %.1f | %.0f |\n", be, rate, ok / s, failed,
                    100 * share, (cpu > 0 ? 2 * ok / (cpu / 1e9) : 0) }'
        kill "$uas" "$a" "$b" 2>/dev/null || true
        wait "$uas" "$a" "$b" 2>/dev/null || true
        PIDS=()
    done
done
