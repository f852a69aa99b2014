#!/usr/bin/env bash
# bench/ladder/run.sh -- one relay hop, three relays, one run: what a
# transaction costs reusegw (one worker) against a blind TLS pipe (stunnel
# 5) and Kamailio 5.6 (-x tlsf -X tlsf), as the window per connection climbs
# W = 1, 4, 16, 64 (issue 19).
#
#   forward:  scale_load ==32 mTLS==> relay ──TCP──▶ scale_sink serve (200 OK)
#   backward: scale_load answer ◀══ the same 32 mTLS connections ══ relay
#             ◀──TCP── scale_sink drive (requests for p<i>.scale.test)
#
#   reusegw   tls.listen $NET.1:5061, legacy.listen $NET.1:5070, forward_to
#             the sink; backward: sink drive -> legacy.listen, `routes` send
#             p<i>.scale.test to the alias of peer i (RFC 5923).
#   stunnel   server mode, $NET.4:5061 -> the sink (verifyChain, requireCert,
#             TCP_NODELAY both sides, gw-a's certificate): one TCP connection
#             per TLS connection. backward: $NET.4:5062 -> scale_sink drive
#             -l, which drives requests down the 32 onward connections it
#             accepts: a pipe carries requests either way.
#   kamailio  tls $NET.5:5061 -> forward_tcp to the sink (kamailio-ladder.cfg);
#             backward: sink drive -> tcp $NET.5:5070, routed to the alias
#             (tcp_accept_aliases) of peer i.
#
# Same certificates for all (test/certs/gen.sh's CA and gw-a, lib.sh's peer
# certificates); each relay chooses its cipher (printed per relay). Every
# relay process is pinned to RELAY_CPU, both tools to TOOL_CPU (one thread
# each). All three relays stay up for the whole run; the steps are
# interleaved (for each direction and W: reusegw, stunnel, kamailio) so that
# a noisy minute on the shared machine hits all three alike.
#
# One step: fresh TLS connections (forward: scale_load -m forward; backward:
# scale_load -m answer registers its 32 aliases with one request each), a
# WARMUP_S warm-up, a STEP_S window in which the driving tool samples every
# relay process's CPU (/proc/PID/task/*/schedstat, the scheduler's
# nanoseconds; Kamailio: master and children), the tools' CPU and the
# machine's busy time; then a drain. A transaction is one OPTIONS and its
# 200. Per relay and direction the best tx/s of the ladder is its max; one
# more step, paced to half of it (with that step's W as the cap), gives
# p50/p99 at half load.
#
# The floor (FLOOR=1): bench/ladder/floor (BoringSSL's AES-128-GCM and
# ChaCha20-Poly1305 at the record sizes of W messages, plus loopback TCP
# send+recv at the same batch sizes): the CPU a relay cannot avoid per
# transaction when W messages travel together (floor.c's header).
#
# Environment (defaults): RELAYS="reusegw stunnel kamailio"
#   DIRECTIONS="forward backward" WINDOWS="1 4 16 64" CONNS=32
#   ROUNDS=1: the whole interleaved ladder this many times; each cell is
#     the round with the median tx per relay CPU-second
#   WORKERS=1: reusegw's runtime.workers (2: the hand-off between workers,
#     both pinned to RELAY_CPU like the other relays, so tx per relay
#     CPU-second compares with one worker's)
#   STEP_S=3 WARMUP_S=1 RELAY_CPU=1 TOOL_CPU=0 KAM_TCP_CHILDREN=1 (one
#     reader process, like reusegw's one worker; with two, handshakes run
#     concurrently and Kamailio 5.6 + OpenSSL 3 crashed, bench/relay/run.sh)
#   PENDING=3000000 FLOOR=1 MSG_BYTES=300 (floor: bytes of one SIP message)
#   PROFILE=0 (1: one more reusegw PROFILE_DIRECTION=forward (or backward)
#     step at PROFILE_W=64 under
#     perf record -g -F PROFILE_HZ=2999; its classes, profile.awk, and top
#     symbols in the output)
#   QUICK=1: STEP_S=1 WARMUP_S=0.5 (about 2 minutes)
#   SMOKE=1: W=4 only, STEP_S=0.5, no half-load step: exits 1 unless every
#     relay in both directions completed transactions with 0 errors and a
#     measured relay CPU (the ctest bench_ladder_smoke: numbers, not speed)
#   BUILD=build, REUSEGW_BIN, LOAD_BIN, SINK_BIN, FLOOR_BIN; NO_BUILD=1
#   KEEP=1 keeps the work dir (configs, logs, every step's report line)
#
# Output: one line per step on stderr; the tables (markdown) on stdout.
# Needs root only for nothing; stunnel4, kamailio, kamailio-tls-modules
# (scripts/deps).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(cd "$HERE/../.." && pwd)
# shellcheck source=../scale/lib.sh
source "$SOURCE/bench/scale/lib.sh"

SMOKE=${SMOKE:-0}
QUICK=${QUICK:-0}
if ((SMOKE)); then
    WINDOWS=${WINDOWS:-4} STEP_S=${STEP_S:-0.5} WARMUP_S=${WARMUP_S:-0.3}
elif ((QUICK)); then
    STEP_S=${STEP_S:-1} WARMUP_S=${WARMUP_S:-0.5}
fi
RELAYS=${RELAYS:-"reusegw stunnel kamailio"}
DIRECTIONS=${DIRECTIONS:-"forward backward"}
WINDOWS=${WINDOWS:-"1 4 16 64"}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-1}
WORKERS=${WORKERS:-1}
STEP_S=${STEP_S:-3}
WARMUP_S=${WARMUP_S:-1}
RELAY_CPU=${RELAY_CPU:-1}
TOOL_CPU=${TOOL_CPU:-0}
KAM_TCP_CHILDREN=${KAM_TCP_CHILDREN:-1}
PENDING=${PENDING:-3000000}
FLOOR=${FLOOR:-1}
PROFILE=${PROFILE:-0}
PROFILE_W=${PROFILE_W:-64}
PROFILE_DIRECTION=${PROFILE_DIRECTION:-forward}
PROFILE_HZ=${PROFILE_HZ:-2999}
MSG_BYTES=${MSG_BYTES:-300}
KEEP=${KEEP:-0}
BUILD=${BUILD:-$SOURCE/build}
REUSEGW_BIN=${REUSEGW_BIN:-$BUILD/gateway/reusegw}
LOAD_BIN=${LOAD_BIN:-$BUILD/bench/scale/scale_load}
SINK_BIN=${SINK_BIN:-$BUILD/bench/scale/scale_sink}
FLOOR_BIN=${FLOOR_BIN:-$BUILD/bench/ladder/floor}
BASE_PORT=20000 # bench/scale/names.h NAMES_BASE_PORT

if [[ ${NO_BUILD:-0} != 1 ]]; then
    [[ -f $BUILD/build.ninja ]] || "$SOURCE/scripts/build" normal >&2
    cmake --build "$BUILD" --target reusegw scale_load scale_sink floor >&2
fi
for b in "$REUSEGW_BIN" "$LOAD_BIN" "$SINK_BIN"; do [[ -x $b ]] || die "$b not built"; done
((FLOOR == 0)) || [[ -x $FLOOR_BIN ]] || die "$FLOOR_BIN not built"
for r in $RELAYS; do
    case $r in
    reusegw) ;;
    stunnel) command -v stunnel >/dev/null || die "stunnel not installed (scripts/deps)" ;;
    kamailio) command -v kamailio >/dev/null || die "kamailio not installed (scripts/deps)" ;;
    *) die "RELAYS: reusegw, stunnel or kamailio, not $r" ;;
    esac
done

NET=${NET:-$(pick_net)}
GW_IP=$NET.1 SINK_IP=$NET.2 LOAD_IP=$NET.3 STUNNEL_IP=$NET.4 KAM_IP=$NET.5
BACK_PORT=5090 # scale_sink drive -l, stunnel's backward target

WORK=$(mktemp -d /tmp/ladder-bench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    wait 2>/dev/null || true
    if ((KEEP)); then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -c 0 # a crashing Kamailio would leave a 1 GB core

RELAY_RUN=(taskset -c "$RELAY_CPU") TOOL_RUN=(taskset -c "$TOOL_CPU")
# A private copy: a rebuild during the run neither changes the relay under
# test nor leaves perf a deleted binary without symbols.
cp "$REUSEGW_BIN" "$WORK/reusegw"
REUSEGW_BIN=$WORK/reusegw

CERTS=$WORK/certs
"$SOURCE/test/certs/gen.sh" "$CERTS" >/dev/null
CERT_ARGS=()
make_peer_certs

# ---------------------------------------------------------------- relays
SINK_PID="" SINK_PORT=""
start_sink() {
    "${TOOL_RUN[@]}" "$SINK_BIN" -m serve -l "$SINK_IP:0" -d 86400 >"$WORK/sink.out" 2>&1 &
    SINK_PID=$!
    PIDS+=("$SINK_PID")
    local line
    line=$(wait_line "$WORK/sink.out" '^ready' "$SINK_PID") || die "scale_sink: $(cat "$WORK/sink.out")"
    SINK_PORT=${line##*:}
}

# Per relay: its TLS address, the legacy side's address for backward
# requests (reusegw, kamailio) and the PID of its master process.
declare -A TLS_AT BACK_AT MASTER
start_reusegw() {
    gateway_config "$WORKERS" "$SINK_PORT" >"$WORK/reusegw.yaml"
    "${RELAY_RUN[@]}" "$REUSEGW_BIN" -c "$WORK/reusegw.yaml" 2>"$WORK/reusegw.log" &
    MASTER[reusegw]=$!
    PIDS+=("$!")
    wait_listen "$GW_IP" 5061 "$!" && wait_listen "$GW_IP" 5070 "$!" ||
        die "reusegw did not start: $(cat "$WORK/reusegw.log")"
    TLS_AT[reusegw]=$GW_IP:5061 BACK_AT[reusegw]=$GW_IP:5070
}
start_stunnel() {
    local svc
    {
        printf '%s\n' "foreground = yes" "pid =" "syslog = no" "debug = warning" \
            "output = $WORK/stunnel.log"
        for svc in "fwd 5061 $SINK_IP:$SINK_PORT" "back 5062 $SINK_IP:$BACK_PORT"; do
            set -- $svc
            printf '%s\n' "[$1]" "accept = $STUNNEL_IP:$2" "connect = $3" \
                "cert = $CERTS/gw-a.chain.pem" "key = $CERTS/gw-a.key" "CAfile = $CERTS/ca.pem" \
                "verifyChain = yes" "requireCert = yes" \
                "socket = l:TCP_NODELAY=1" "socket = r:TCP_NODELAY=1"
        done
    } >"$WORK/stunnel.conf"
    "${RELAY_RUN[@]}" stunnel "$WORK/stunnel.conf" >"$WORK/stunnel.out" 2>&1 &
    MASTER[stunnel]=$!
    PIDS+=("$!")
    wait_listen "$STUNNEL_IP" 5061 "$!" && wait_listen "$STUNNEL_IP" 5062 "$!" ||
        die "stunnel did not start: $(tail -5 "$WORK/stunnel.log" "$WORK/stunnel.out")"
    TLS_AT[stunnel]=$STUNNEL_IP:5061 BACK_AT[stunnel]=$STUNNEL_IP:5062
}
start_kamailio() {
    local dir=$WORK/kamailio
    mkdir -p "$dir"
    printf '%s\n' "[server:default]" "method = TLSv1.2+" "verify_certificate = yes" \
        "require_certificate = yes" "certificate = $CERTS/gw-a.chain.pem" \
        "private_key = $CERTS/gw-a.key" "ca_list = $CERTS/ca.pem" "" \
        "[client:default]" "method = TLSv1.2+" "verify_certificate = yes" \
        "certificate = $CERTS/gw-a.chain.pem" "private_key = $CERTS/gw-a.key" \
        "ca_list = $CERTS/ca.pem" >"$dir/tls.cfg"
    local args=(-f "$HERE/kamailio-ladder.cfg" -DD -E -m 1024 -M 8 -x tlsf -X tlsf
        -Y "$dir" -P "$dir/kamailio.pid" -w "$dir"
        -l "tls:$KAM_IP:5061" -l "tcp:$KAM_IP:5070"
        -A "TLS_CONFIG=\"$dir/tls.cfg\"" -A "SINK_HOST=\"$SINK_IP\"" -A "SINK_PORT=$SINK_PORT"
        -A "LOAD_HOST=\"$LOAD_IP\"" -A "BASE_PORT=$BASE_PORT"
        -A "TCP_CHILDREN=$KAM_TCP_CHILDREN" -A "MAX_CONNS=4096")
    kamailio -c "${args[@]}" >"$dir/check.log" 2>&1 || die "kamailio config: $(cat "$dir/check.log")"
    "${RELAY_RUN[@]}" kamailio "${args[@]}" >"$dir/kamailio.log" 2>&1 </dev/null &
    MASTER[kamailio]=$!
    PIDS+=("$!")
    wait_listen "$KAM_IP" 5061 "$!" && wait_listen "$KAM_IP" 5070 "$!" ||
        die "kamailio did not start: $(tail -20 "$dir/kamailio.log")"
    sleep 0.5 # its children fork after the listeners open
    TLS_AT[kamailio]=$KAM_IP:5061 BACK_AT[kamailio]=$KAM_IP:5070
}

# relay_pids RELAY: its processes, comma-separated (Kamailio: the master and
# its children, which -DD keeps as direct children).
relay_pids() {
    local p=${MASTER[$1]} kids
    kids=$(pgrep -P "$p" | paste -sd, -)
    echo "$p${kids:+,$kids}"
}

# ---------------------------------------------------------------- steps
load_args() { # relay-address
    echo -c "$1" -b "$LOAD_IP" -A "$CERTS/ca.pem" "${CERT_ARGS[@]}" -H a.test -n "$CONNS" -t 1
}
FAILED=0
fail() { log "FAIL: $*"; FAILED=1; }
# check_server PID OUT WHAT: a serving tool's report must show 0 errors.
check_server() {
    stop_pid "$1"
    wait "$1" 2>/dev/null || true
    local line
    line=$(grep '^tool=' "$2" || true)
    [[ -n $line && $(kv errors "$line") == 0 ]] || fail "$3: ${line:-no report: $(tail -3 "$2")}"
}
declare -A CIPHER
# note_cipher RELAY OUT: the TLS version and cipher scale_load negotiated.
note_cipher() {
    [[ -n ${CIPHER[$1]:-} ]] && return 0
    CIPHER[$1]=$(sed -n 's/^scale_load: \(TLS.*\)/\1/p' "$2" | head -1)
}

# step RELAY DIRECTION W RATE: one measured step; its report line in
# STEP_LINE (empty when it failed).
STEP_N=0 STEP_LINE=
step() {
    local relay=$1 dir=$2 win=$3 rate=$4 out status=0 answer drv
    STEP_N=$((STEP_N + 1))
    out=$WORK/step-$STEP_N-$relay-$dir-w$win-r$rate
    local common=(-W "$win" -r "$rate" -u "$WARMUP_S" -d "$STEP_S"
        -w "relay=$(relay_pids "$relay")" -w "sink=$SINK_PID")
    # shellcheck disable=SC2046
    if [[ $dir == forward ]]; then
        "${TOOL_RUN[@]}" "$LOAD_BIN" -m forward $(load_args "${TLS_AT[$relay]}") "${common[@]}" \
            >"$out.drive" 2>&1 || status=$?
        note_cipher "$relay" "$out.drive"
    elif [[ $relay == stunnel ]]; then
        # the sink listens first: stunnel connects onward per TLS connection
        "${TOOL_RUN[@]}" "$SINK_BIN" -m drive -l "$SINK_IP:$BACK_PORT" -n "$CONNS" -N "$CONNS" \
            "${common[@]}" >"$out.drive" 2>&1 &
        drv=$!
        PIDS+=("$drv")
        wait_line "$out.drive" '^ready' "$drv" >/dev/null || fail "scale_sink -l: $(cat "$out.drive")"
        "${TOOL_RUN[@]}" "$LOAD_BIN" -m answer $(load_args "${BACK_AT[$relay]}") -W 1 -d 86400 \
            >"$out.answer" 2>&1 &
        answer=$!
        PIDS+=("$answer")
        wait "$drv" || status=$?
        check_server "$answer" "$out.answer" "$relay backward W=$win: scale_load -m answer"
    else
        "${TOOL_RUN[@]}" "$LOAD_BIN" -m answer $(load_args "${TLS_AT[$relay]}") -W 1 -d 86400 \
            >"$out.answer" 2>&1 &
        answer=$!
        PIDS+=("$answer")
        if wait_line "$out.answer" '^ready' "$answer" >/dev/null; then
            "${TOOL_RUN[@]}" "$SINK_BIN" -m drive -c "${BACK_AT[$relay]}" -n "$CONNS" -N "$CONNS" \
                "${common[@]}" -w "load=$answer" >"$out.drive" 2>&1 || status=$?
        else
            status=1
            echo "scale_load -m answer never ready: $(tail -3 "$out.answer")" >"$out.drive"
        fi
        check_server "$answer" "$out.answer" "$relay backward W=$win: scale_load -m answer"
    fi
    STEP_LINE=$(grep '^tool=' "$out.drive" || true)
    if ((status != 0)) || [[ -z $STEP_LINE ]]; then
        fail "$relay $dir W=$win rate $rate: exit $status: $(tail -3 "$out.drive")"
        STEP_LINE=
    fi
}
# measure RELAY DIRECTION W RATE: step, and when the relay died during it
# (Kamailio 5.6 + OpenSSL 3 has crashed in TLS set-up and tear-down on this
# machine: bench/relay/run.sh), restart it, say so and retry once.
RESTARTS=""
measure() {
    local failed_before=$FAILED
    step "$@"
    kill -0 "${MASTER[$1]}" 2>/dev/null && return 0
    FAILED=$failed_before # the crashed attempt's failures are the crash's
    log "$1 exited during $2 W=$3; restarting it and retrying the step"
    RESTARTS+="${RESTARTS:+, }$1 ($2 W=$3)"
    wait "${MASTER[$1]}" 2>/dev/null || true
    "start_$1"
    step "$@"
    kill -0 "${MASTER[$1]}" 2>/dev/null || die "$1 exited again"
}

# ---------------------------------------------------------------- run
start_sink
for r in $RELAYS; do "start_$r"; done
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "NET=$NET; relays ($RELAYS) on CPU $RELAY_CPU, tools on CPU $TOOL_CPU; W: $WINDOWS; load average $LOAD_START"

declare -A TPS CPU TXCPU P50 P99 OTHER BEST_W HALF
# record KEY LINE: the numbers of one step under KEY (relay.dir.W)
record() {
    local key=$1 line=$2 el relay tools busy
    el=$(kv elapsed_s "$line") relay=$(kv cpu_relay_s "$line") busy=$(kv busy_cpu_s "$line")
    tools=$(awk -v a="$(kv self_cpu_s "$line")" -v b="$(kv cpu_sink_s "$line")" \
        -v c="$(kv cpu_load_s "$line")" 'BEGIN { print a + b + (c == "" ? 0 : c) }')
    TPS[$key]=$(kv tps "$line")
    CPU[$key]=$(awk -v r="$relay" -v e="$el" 'BEGIN { printf "%.0f", 100 * r / e }')
    TXCPU[$key]=$(awk -v t="$(kv tx "$line")" -v r="$relay" 'BEGIN { printf "%.0f", (r > 0 ? t / r : 0) }')
    OTHER[$key]=$(awk -v b="$busy" -v r="$relay" -v t="$tools" -v e="$el" \
        'BEGIN { o = (b - r - t) / e; printf "%.0f", (o < 0 ? 0 : 100 * o) }')
    P50[$key]=$(kv p50_us "$line") P99[$key]=$(kv p99_us "$line")
    if ((SMOKE)) && ! awk -v t="${TPS[$key]}" -v r="$relay" 'BEGIN { exit !(t > 0 && r > 0) }'; then
        fail "$key: no numbers: $line"
    fi
}
# median_line LINES: of several rounds' report lines of one step, the one
# with the median transactions per relay CPU-second (the lower middle one).
median_line() {
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
           printf "%.6f\t%s\n", (v["cpu_relay_s"] > 0 ? v["tx"] / v["cpu_relay_s"] : 0), $0 }' <<<"$1" |
        sort -g | awk -F'\t' '{ l[NR] = $2 } END { print l[int((NR + 1) / 2)] }'
}
declare -A LINES
for ((round = 1; round <= ROUNDS; round++)); do
    for dir in $DIRECTIONS; do
        for win in $WINDOWS; do
            for r in $RELAYS; do
                measure "$r" "$dir" "$win" 0
                [[ -n $STEP_LINE ]] || continue
                k=$r.$dir.$win
                LINES[$k]+="${LINES[$k]:+$'\n'}$STEP_LINE"
                record "$k" "$STEP_LINE"
                log "  round $round: $r $dir W=$win: ${TPS[$k]} tx/s, relay ${CPU[$k]}% of a core, ${TXCPU[$k]} tx per relay CPU-s, p50/p99 ${P50[$k]}/${P99[$k]} us, other ${OTHER[$k]}%"
            done
        done
    done
done
for dir in $DIRECTIONS; do
    for r in $RELAYS; do
        for win in $WINDOWS; do
            k=$r.$dir.$win
            [[ -n ${LINES[$k]:-} ]] || continue
            record "$k" "$(median_line "${LINES[$k]}")"
            b=${BEST_W[$r.$dir]:-}
            if [[ -z $b ]] || awk -v t="${TPS[$k]}" -v m="${TPS[$r.$dir.$b]}" 'BEGIN { exit !(t > m) }'; then
                BEST_W[$r.$dir]=$win
            fi
        done
    done
    ((SMOKE)) && continue
    for r in $RELAYS; do
        b=${BEST_W[$r.$dir]:-}
        [[ -n $b ]] || continue
        half=$(awk -v t="${TPS[$r.$dir.$b]}" 'BEGIN { printf "%d", t / 2 }')
        measure "$r" "$dir" "$b" "$half"
        [[ -n $STEP_LINE ]] || continue
        HALF[$r.$dir]="$half $(kv p50_us "$STEP_LINE") $(kv p99_us "$STEP_LINE")"
        log "  $r $dir half load ($half tx/s, W=$b): p50/p99 $(kv p50_us "$STEP_LINE")/$(kv p99_us "$STEP_LINE") us"
    done
done
# ---------------------------------------------------------------- profile
# PROFILE=1: one more PROFILE_DIRECTION step of reusegw at W=PROFILE_W under
# perf record -g (Debian's linux-perf), attached for the warm-up and the
# window; perf report's flat profile (self time per symbol) goes to
# $WORK/profile.txt and, folded into cost classes (profile.awk), into the
# output.
if ((PROFILE)) && [[ " $RELAYS " == *" reusegw "* ]]; then
    command -v perf >/dev/null || die "perf not installed (scripts/deps: linux-perf)"
    perf record -q -F "$PROFILE_HZ" -g -p "${MASTER[reusegw]}" -o "$WORK/perf.data" \
        -- sleep "$(awk -v a="$WARMUP_S" -v b="$STEP_S" 'BEGIN { print a + b }')" \
        >"$WORK/perf.out" 2>&1 &
    perf_pid=$!
    sleep 0.2
    measure reusegw "$PROFILE_DIRECTION" "$PROFILE_W" 0
    wait "$perf_pid" || die "perf record: $(cat "$WORK/perf.out")"
    [[ -n $STEP_LINE ]] && record profile "$STEP_LINE"
    perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio -g none \
        2>/dev/null >"$WORK/profile.txt"
    log "  profile: reusegw $PROFILE_DIRECTION W=$PROFILE_W, ${TXCPU[profile]:-?} tx per relay CPU-s, $WORK/profile.txt"
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at the end: $LOAD_END"

# ---------------------------------------------------------------- floor
declare -A FLOOR_TX FLOOR_LINE
if ((FLOOR)); then
    for win in $WINDOWS; do
        line=$("${RELAY_RUN[@]}" "$FLOOR_BIN" -m "$MSG_BYTES" -W "$win")
        FLOOR_TX[$win]=$(kv tx_per_cpu_s "$line")
        FLOOR_LINE[$win]=$line
        log "  floor W=$win: $line"
    done
fi

# ---------------------------------------------------------------- tables
set -- $RELAYS
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
num() { awk -v a="${1:-}" 'BEGIN { if (a == "") print "-"; else printf "%\047d", a }'; }
echo
echo "Load average $LOAD_START at the start, $LOAD_END at the end; $(nproc) CPUs; $ROUNDS round(s), medians; relays pinned to CPU $RELAY_CPU, tools to CPU $TOOL_CPU; reusegw ($WORKERS worker(s)) $(git -C "$SOURCE" rev-parse --short HEAD 2>/dev/null || echo '?')."
for r in $RELAYS; do echo "- $r negotiated ${CIPHER[$r]:-?}"; done
[[ -z $RESTARTS ]] || echo "- restarted after a crash, step retried: $RESTARTS"
echo
echo "Transactions per relay CPU-second (higher is better)"
echo
hdr="| direction | W |" sep="|---|---:|"
for r in $RELAYS; do hdr+=" $r |" sep+="---:|"; done
for r in "${@:2}"; do hdr+=" $1 / $r |" sep+="---:|"; done
((FLOOR)) && hdr+=" floor (AES-128-GCM + TCP) | $1 / floor |" sep+="---:|---:|"
echo "$hdr"
echo "$sep"
for dir in $DIRECTIONS; do
    for win in $WINDOWS; do
        row="| $dir | $win |"
        for r in $RELAYS; do row+=" $(num "${TXCPU[$r.$dir.$win]:-}") |"; done
        for r in "${@:2}"; do row+=" $(ratio "${TXCPU[$1.$dir.$win]:-}" "${TXCPU[$r.$dir.$win]:-}") |"; done
        ((FLOOR)) && row+=" $(num "${FLOOR_TX[$win]:-}") | $(ratio "${TXCPU[$1.$dir.$win]:-}" "${FLOOR_TX[$win]:-}") |"
        echo "$row"
    done
done
echo
echo "Transactions per second, relay CPU (% of a core), other CPU on the machine (% of a core), p50 / p99 µs at that load"
echo
hdr="| direction | W |" sep="|---|---:|"
for r in $RELAYS; do hdr+=" $r tx/s | CPU | other | p50 / p99 |" sep+="---:|---:|---:|---:|"; done
echo "$hdr"
echo "$sep"
for dir in $DIRECTIONS; do
    for win in $WINDOWS; do
        row="| $dir | $win |"
        for r in $RELAYS; do
            k=$r.$dir.$win
            if [[ -n ${TPS[$k]:-} ]]; then
                row+=" $(num "${TPS[$k]}") | ${CPU[$k]}% | ${OTHER[$k]}% | $(printf '%.0f / %.0f' "${P50[$k]}" "${P99[$k]}") |"
            else
                row+=" - | - | - | - |"
            fi
        done
        echo "$row"
    done
done
if ((!SMOKE)); then
    echo
    echo "Latency at half of each relay's max (paced; W of the max step as the cap): p50 / p99 µs"
    echo
    hdr="| direction |" sep="|---|"
    for r in $RELAYS; do hdr+=" $r: max tx/s (W) | half-max p50 / p99 |" sep+="---:|---:|"; done
    echo "$hdr"
    echo "$sep"
    for dir in $DIRECTIONS; do
        row="| $dir |"
        for r in $RELAYS; do
            b=${BEST_W[$r.$dir]:-}
            if [[ -n $b && -n ${HALF[$r.$dir]:-} ]]; then
                read -r h p50 p99 <<<"${HALF[$r.$dir]}"
                row+=" $(num "${TPS[$r.$dir.$b]}") ($b) | $(printf '%.0f / %.0f' "$p50" "$p99") |"
            else
                row+=" - | - |"
            fi
        done
        echo "$row"
    done
fi
if ((FLOOR)); then
    echo
    echo "Floor lines (floor.c): per W, the CPU of one transaction's crypto and socket work"
    echo
    echo '```'
    for win in $WINDOWS; do echo "${FLOOR_LINE[$win]}"; done
    echo '```'
fi
if [[ -s $WORK/profile.txt && -n ${TXCPU[profile]:-} ]]; then
    us=$(awk -v t="${TXCPU[profile]}" 'BEGIN { printf "%.3f", (t > 0 ? 1e6 / t : 0) }')
    echo
    echo "Profile: reusegw $PROFILE_DIRECTION W=$PROFILE_W under perf record -g -F $PROFILE_HZ: ${TXCPU[profile]} tx per relay CPU-second (sampling included) = $us µs per transaction"
    echo
    awk -v us_per_tx="$us" -f "$HERE/profile.awk" "$WORK/profile.txt"
    echo
    echo "Top symbols (self time):"
    echo
    echo '```'
    awk '!/^#/ && NF >= 3 && ++n <= 30' "$WORK/profile.txt" | cut -c1-90
    echo '```'
fi
if ((FAILED)); then
    log "some steps failed or counted errors (see above)"
    exit 1
fi
