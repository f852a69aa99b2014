#!/usr/bin/env bash
# bench/scale/run.sh -- reusegw's throughput with runtime.workers 1, then 2
# (WORKERS), same configuration otherwise, on this machine.
#
#   scale_load ==mTLS==> reusegw tls.listen   mirror --TCP--> scale_sink serve
#   (TLS peers, $NET.3)  ($NET.1:5061)                        ($NET.2, forward_to)
#   scale_load answer <==mTLS== reusegw <--TCP-- scale_sink drive
#                       (aliased connections)    (legacy.listen $NET.1:5070)
#
# forward:  scale_load keeps CONNS mutually authenticated TLS connections,
#           each with a window of OPTIONS in flight; reusegw relays them to
#           one mirror connection each; scale_sink answers 200.
# backward: scale_load opens CONNS connections and registers each with one
#           ;alias request (Via sent-by p<i>.scale.test:<20000+i>); then
#           scale_sink opens ECONNS connections to legacy.listen and sends
#           OPTIONS to p0..p<CONNS-1>.scale.test in turn; `routes` send
#           p<i>.scale.test to $NET.3:<20000+i>, the alias of connection i,
#           so reusegw reuses the peers' connections (RFC 5923) and, with two
#           workers, hands requests between workers; scale_load answers 200.
#
# Offered load is the number of transactions in flight: the window per
# connection climbs the WINDOWS (forward) or BWINDOWS (backward) ladder, one
# STEP_S window after WARMUP_S each, until two steps in a row fail to beat
# the best by GROWTH; the best step is the max. Then one paced run at half
# the max (same window as a cap) gives the latency at half load. reusegw, the
# serving sink and the TLS peers stay up for all steps of one worker count;
# each forward step opens fresh TLS connections (during its warm-up).
#
# CPU: time on a CPU from /proc/PID/task/*/schedstat of reusegw and of each
# tool process, and the machine's busy time from /proc/stat (nice time
# apart), sampled by the driving tool at the edges of its measurement
# window. Nothing is pinned: on 2 cores, two workers need both, and so do
# the tools; pinning could only take cores away from one side. So the table
# reports the tools' CPU, "other" CPU (busy, not nice, time of no process of
# this bench) and the transactions per reusegw CPU-second, whose 2/1 ratio
# is the scaling efficiency when the cores are shared.
#
# GW_CPUS and TOOL_CPUS (taskset lists, default: none) pin reusegw and the
# tools: on a machine with 4 or more cores, GW_CPUS=0,1 TOOL_CPUS=2-3
# gives two workers two cores of their own and measures the worker scaling
# without the tools in the way, which this 2-core machine cannot.
#
# SCHED=rt runs reusegw and the tools SCHED_FIFO priority 1 (chrt): with
# background work at nice 19 (this machine's fuzzers), Linux 6.x's EEVDF
# scheduler lets a running nice-19 task finish its slice before a woken
# bench process runs, so the pipeline idles at ~50% CPU; real-time bench
# processes preempt it at once. They also leave other work only the RT
# throttling share (5%), which is why it is not the default.
#
# Environment (defaults): WORKERS="1 2" DIRECTIONS="forward backward"
#   CONNS=32 ECONNS=4 WINDOWS="4 8 16 32 64 128" BWINDOWS="16 32 64 128 256 512"
#   STEP_S=2.5 WARMUP_S=0.5 GROWTH=1.05 LOAD_THREADS=$(nproc) SINK_THREADS=1
#   SCHED=normal (or rt, above) GW_CPUS= TOOL_CPUS= PENDING=3000000 (limits.max_pending_transactions: at the max rate of
#   the backward runs reusegw holds one per request in flight, with room)
#   NET=127.<random>.<random> (a /24 of loopback nobody else listens on)
#   QUICK=1: about 30 s (STEP_S=1 WARMUP_S=0.3, three-step ladders)
#   SMOKE=1: one worker count (2), one step per direction, no half-load
#     run; exits 1 unless every tool counted transactions and 0 errors
#     (the ctest bench_scale_smoke)
#   BUILD=build (cmake build dir; the tools and reusegw are built there
#     first unless NO_BUILD=1), REUSEGW_BIN, LOAD_BIN, SINK_BIN override
#   KEEP=1 keeps the work dir (configs, logs, every tool's report line)
#
# Output: one line per step on stderr, the table on stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
SMOKE=${SMOKE:-0}
QUICK=${QUICK:-0}
if ((SMOKE)); then
    WORKERS=${WORKERS:-2} STEP_S=${STEP_S:-1.5} WARMUP_S=${WARMUP_S:-0.5}
    WINDOWS=${WINDOWS:-4} BWINDOWS=${BWINDOWS:-16} CONNS=${CONNS:-8}
elif ((QUICK)); then
    STEP_S=${STEP_S:-1} WARMUP_S=${WARMUP_S:-0.3}
    WINDOWS=${WINDOWS:-"8 32 128"} BWINDOWS=${BWINDOWS:-"32 128 512"}
fi
WORKERS=${WORKERS:-"1 2"}
DIRECTIONS=${DIRECTIONS:-"forward backward"}
CONNS=${CONNS:-32}
ECONNS=${ECONNS:-4}
WINDOWS=${WINDOWS:-"4 8 16 32 64 128"}
BWINDOWS=${BWINDOWS:-"16 32 64 128 256 512"}
STEP_S=${STEP_S:-2.5}
WARMUP_S=${WARMUP_S:-0.5}
GROWTH=${GROWTH:-1.05}
LOAD_THREADS=${LOAD_THREADS:-$(nproc)}
SINK_THREADS=${SINK_THREADS:-1}
PENDING=${PENDING:-3000000}
SCHED=${SCHED:-normal}
GW_CPUS=${GW_CPUS:-}
TOOL_CPUS=${TOOL_CPUS:-}
KEEP=${KEEP:-0}
BUILD=${BUILD:-$SOURCE/build}
REUSEGW_BIN=${REUSEGW_BIN:-$BUILD/gateway/reusegw}
LOAD_BIN=${LOAD_BIN:-$BUILD/bench/scale/scale_load}
SINK_BIN=${SINK_BIN:-$BUILD/bench/scale/scale_sink}
BASE_PORT=20000 # names.h NAMES_BASE_PORT

if [[ ${NO_BUILD:-0} != 1 ]]; then
    [[ -f $BUILD/build.ninja ]] || "$SOURCE/scripts/build" normal >&2
    cmake --build "$BUILD" --target reusegw scale_load scale_sink >&2
fi
for b in "$REUSEGW_BIN" "$LOAD_BIN" "$SINK_BIN"; do [[ -x $b ]] || die "$b not built"; done

NET=${NET:-$(pick_net)}
GW_IP=$NET.1 SINK_IP=$NET.2 LOAD_IP=$NET.3

WORK=$(mktemp -d /tmp/scale-bench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    wait 2>/dev/null || true
    if ((KEEP)); then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Command prefixes: scheduling class, then CPU pinning (both exec).
PRIO=()
case $SCHED in
normal) ;;
rt) PRIO=(chrt -f 1) ;;
*) die "SCHED: normal or rt, not $SCHED" ;;
esac
GW_RUN=("${PRIO[@]}") TOOL_RUN=("${PRIO[@]}")
[[ -z $GW_CPUS ]] || GW_RUN+=(taskset -c "$GW_CPUS")
[[ -z $TOOL_CPUS ]] || TOOL_RUN+=(taskset -c "$TOOL_CPUS")

# ---------------------------------------------------------------- PKI
# test/certs/gen.sh's CA and gateway certificate gw-a (a.test), plus the
# peer certificates (lib.sh make_peer_certs).
CERTS=$WORK/certs
"$SOURCE/test/certs/gen.sh" "$CERTS" >/dev/null
CERT_ARGS=()
make_peer_certs

# ---------------------------------------------------------------- processes
SINK_PID="" GW_PID="" ANSWER_PID=""
start_sink() {
    "${TOOL_RUN[@]}" "$SINK_BIN" -m serve -l "$SINK_IP:0" -t "$SINK_THREADS" -d 86400 \
        >"$RUN/sink.out" 2>&1 &
    SINK_PID=$!
    PIDS+=("$SINK_PID")
    local line
    line=$(wait_line "$RUN/sink.out" '^ready' "$SINK_PID") || die "scale_sink: $(cat "$RUN/sink.out")"
    SINK_PORT=${line##*:}
}
start_gateway() { # workers
    gateway_config "$1" "$SINK_PORT" >"$RUN/reusegw.yaml"
    "${GW_RUN[@]}" "$REUSEGW_BIN" -c "$RUN/reusegw.yaml" 2>"$RUN/reusegw.log" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_listen "$GW_IP" 5061 "$GW_PID" && wait_listen "$GW_IP" 5070 "$GW_PID" ||
        die "reusegw did not start: $(cat "$RUN/reusegw.log")"
}
LOAD_ARGS=()
set_load_args() {
    LOAD_ARGS=(-c "$GW_IP:5061" -b "$LOAD_IP" -A "$CERTS/ca.pem" "${CERT_ARGS[@]}" -H a.test
        -n "$CONNS" -t "$LOAD_THREADS")
}
start_answering_peers() {
    "${TOOL_RUN[@]}" "$LOAD_BIN" -m answer "${LOAD_ARGS[@]}" -W 1 -d 86400 >"$RUN/answer.out" 2>&1 &
    ANSWER_PID=$!
    PIDS+=("$ANSWER_PID")
    wait_line "$RUN/answer.out" '^ready' "$ANSWER_PID" >/dev/null ||
        die "scale_load -m answer: $(cat "$RUN/answer.out")"
}
# stop_checked PID OUTFILE WHAT: SIGTERM a serving tool; its report must
# show 0 errors (SMOKE also wants some answered requests).
FAILED=0
stop_checked() {
    stop_pid "$1"
    wait "$1" 2>/dev/null || true
    local line
    line=$(grep '^tool=' "$2" || true)
    if [[ -z $line || $(kv errors "$line") != 0 ]]; then
        log "FAIL: $3: ${line:-no report}"
        FAILED=1
    elif ((SMOKE)) && [[ $(kv answered "$line") == 0 ]]; then
        log "FAIL: $3 answered nothing: $line"
        FAILED=1
    fi
}

# step DIRECTION WINDOW [RATE]: one measured run; its report line in
# STEP_LINE (empty when the tool failed).
STEP_N=0 STEP_LINE=
step() {
    local dir=$1 win=$2 rate=${3:-0} out line status=0
    STEP_N=$((STEP_N + 1))
    out=$RUN/step-$STEP_N-$dir-w$win-r$rate.out
    local common=(-W "$win" -r "$rate" -u "$WARMUP_S" -d "$STEP_S" -w "reusegw=$GW_PID"
        -w "sink=$SINK_PID")
    if [[ $dir == forward ]]; then
        "${TOOL_RUN[@]}" "$LOAD_BIN" -m forward "${LOAD_ARGS[@]}" "${common[@]}" >"$out" 2>&1 ||
            status=$?
    else
        "${TOOL_RUN[@]}" "$SINK_BIN" -m drive -c "$GW_IP:5070" -N "$CONNS" -n "$ECONNS" \
            -t "$SINK_THREADS" "${common[@]}" -w "load=$ANSWER_PID" >"$out" 2>&1 || status=$?
    fi
    line=$(grep '^tool=' "$out" || true)
    if ((status != 0)) || [[ -z $line ]]; then
        log "FAIL: $dir window $win rate $rate: exit $status: $(tail -5 "$out")"
        FAILED=1
    fi
    kill -0 "$GW_PID" 2>/dev/null || die "reusegw exited: $(tail -20 "$RUN/reusegw.log")"
    STEP_LINE=$line
}

# summary LINE: the numbers one table row needs, from a report line: tps,
# reusegw CPU-s, tools' CPU-s (the driving tool + the other tools it
# watched), other CPU-s (busy time of no bench process), elapsed, p50, p99,
# reusegw's CPU-s per thread (comma-separated, "-" for one thread).
# Loopback TCP's softirq work mostly runs in the sending process's context
# and, with this kernel's tick accounting (no IRQ_TIME_ACCOUNTING), is
# charged to that process too, so it is inside the process columns; the
# report lines keep softirq_cpu_s for reference.
summary() {
    local line=$1 self reusegw sink load busy elapsed tools other
    self=$(kv self_cpu_s "$line") reusegw=$(kv cpu_reusegw_s "$line")
    sink=$(kv cpu_sink_s "$line") load=$(kv cpu_load_s "$line")
    busy=$(kv busy_cpu_s "$line") elapsed=$(kv elapsed_s "$line")
    tools=$(awk -v a="$self" -v b="$sink" -v c="${load:-0}" 'BEGIN { print a + b + c }')
    other=$(awk -v b="$busy" -v r="$reusegw" -v t="$tools" 'BEGIN { o = b - r - t; print (o < 0 ? 0 : o) }')
    local threads
    threads=$(kv cpu_reusegw_threads_s "$line")
    echo "$(kv tps "$line") $reusegw $tools $other $elapsed $(kv p50_us "$line") $(kv p99_us "$line") ${threads:--}"
}

# ladder DIRECTION: climbs the window ladder until two steps in a row fail
# to beat the best by GROWTH (one noisy step on a shared machine must not
# end it); sets BEST_LINE and BEST_WIN to the step with the most tx/s.
ladder() {
    local dir=$1 wins win line tps best=0 flat=0
    [[ $dir == forward ]] && wins=$WINDOWS || wins=$BWINDOWS
    BEST_LINE="" BEST_WIN=""
    for win in $wins; do
        step "$dir" "$win"
        line=$STEP_LINE
        [[ -n $line ]] || break
        tps=$(kv tps "$line")
        log "  $dir workers=$W window=$win: $tps tx/s, errors $(kv errors "$line"), reusegw CPU $(kv cpu_reusegw_s "$line") s, p50/p99 $(kv p50_us "$line")/$(kv p99_us "$line") us"
        if awk -v t="$tps" -v b="$best" -v g="$GROWTH" 'BEGIN { exit !(t >= b * g) }'; then
            flat=0
        else
            flat=$((flat + 1))
        fi
        if awk -v t="$tps" -v b="$best" 'BEGIN { exit !(t > b) }'; then
            best=$tps BEST_LINE=$line BEST_WIN=$win
        fi
        ((flat < 2)) || break
    done
}

# ---------------------------------------------------------------- runs
declare -A ROW
set_load_args
log "NET=$NET, $(nproc) CPUs, SCHED=$SCHED, GW_CPUS=${GW_CPUS:-all}, TOOL_CPUS=${TOOL_CPUS:-all}, workers: $WORKERS, directions: $DIRECTIONS, $CONNS TLS connections"
for W in $WORKERS; do
    RUN=$WORK/workers-$W
    mkdir -p "$RUN"
    start_sink
    start_gateway "$W"
    for dir in $DIRECTIONS; do
        [[ $dir == backward ]] && start_answering_peers
        ladder "$dir"
        if [[ -n $BEST_LINE ]]; then
            ROW[$dir.$W]=$(summary "$BEST_LINE")
            ROW[$dir.$W.win]=$BEST_WIN
            if ((!SMOKE)); then
                half=$(awk -v t="$(kv tps "$BEST_LINE")" 'BEGIN { printf "%d", t / 2 }')
                step "$dir" "$BEST_WIN" "$half"
                line=$STEP_LINE
                log "  $dir workers=$W half load ($half tx/s): p50/p99 $(kv p50_us "$line")/$(kv p99_us "$line") us"
                ROW[$dir.$W.half]="$(kv p50_us "$line") $(kv p99_us "$line")"
            fi
        fi
        if [[ $dir == backward ]]; then
            stop_checked "$ANSWER_PID" "$RUN/answer.out" "scale_load -m answer (workers $W)"
        fi
    done
    stop_pid "$GW_PID"
    stop_checked "$SINK_PID" "$RUN/sink.out" "scale_sink -m serve (workers $W)"
    PIDS=()
done

# ---------------------------------------------------------------- table
row() { # direction workers
    local r=${ROW[$1.$2]:-} tps gw tools other el p50 p99 threads half
    [[ -n $r ]] || return 0
    read -r tps gw tools other el p50 p99 threads <<<"$r"
    half=${ROW[$1.$2.half]:-"- -"}
    awk -v d="$1" -v w="$2" -v tps="$tps" -v gw="$gw" -v tools="$tools" \
        -v other="$other" -v el="$el" -v p50="$p50" -v p99="$p99" -v half="$half" \
        -v win="${ROW[$1.$2.win]}" -v threads="$threads" \
        -v conns="$([[ $1 == forward ]] && echo "$CONNS" || echo "$ECONNS")" 'BEGIN {
        split(half, h, " ")
        per = ""
        if (threads != "-") {
            n = split(threads, t, ",")
            for (i = 1; i <= n; i++)
                per = per (i > 1 ? " + " : " (") sprintf("%.0f", 100 * t[i] / el)
            per = per ")"
        }
        printf "| %s | %d | %.0f | %d x %d | %.0f%%%s | %.4f | %.0f | %.0f%% | %.0f%% | %.0f / %.0f | %s / %s |\n",
            d, w, tps, conns, win, 100 * gw / el, per, (tps > 0 ? 1000 * gw / (tps * el) : 0),
            (gw > 0 ? tps * el / gw : 0), 100 * tools / el, 100 * other / el,
            p50, p99, (h[1] == "-" ? "-" : sprintf("%.0f", h[1])),
            (h[2] == "-" ? "-" : sprintf("%.0f", h[2])) }'
}
echo
echo "| direction | workers | max tx/s | in flight (conns x window) | reusegw CPU, % of a core (per thread) | reusegw CPU-s per 1,000 tx | tx per reusegw CPU-second | tools' CPU, % of a core | other CPU, % of a core | p50 / p99 µs at max | p50 / p99 µs at half max |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for dir in $DIRECTIONS; do
    for W in $WORKERS; do row "$dir" "$W"; done
done
set -- $WORKERS
if (($# == 2)); then
    echo
    for dir in $DIRECTIONS; do
        a=${ROW[$dir.$1]:-} b=${ROW[$dir.$2]:-}
        [[ -n $a && -n $b ]] || continue
        read -r ta ga _ _ ea _ _ _ <<<"$a"
        read -r tb gb _ _ eb _ _ threads <<<"$b"
        # The projection assumes a core per worker and the tools elsewhere:
        # the busiest worker thread saturates first, so reusegw can use
        # (its CPU / its busiest thread's CPU) cores at the measured cost.
        awk -v d="$dir" -v w1="$1" -v w2="$2" -v ta="$ta" -v tb="$tb" -v ga="$ga" -v gb="$gb" \
            -v ea="$ea" -v eb="$eb" -v threads="$threads" 'BEGIN {
            eff = (tb * eb / gb) / (ta * ea / ga)
            printf "%s: max tx/s %d/%d workers = %.2fx; tx per reusegw CPU-second %d/%d = %.2fx", \
                d, w2, w1, tb / ta, w2, w1, eff
            n = split(threads, t, ","); busiest = 0; sum = 0
            for (i = 1; i <= n; i++) { sum += t[i]; if (t[i] > busiest) busiest = t[i] }
            if (n > 1 && busiest > 0)
                printf "; projection (not measured), a core per worker: %.2f x %.2f = %.2fx", \
                    eff, sum / busiest, eff * sum / busiest
            printf "\n" }'
    done
fi
if ((FAILED)); then
    log "some runs counted errors (see above)"
    exit 1
fi
