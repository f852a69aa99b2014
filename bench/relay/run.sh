#!/usr/bin/env bash
# bench/relay/run.sh -- reusegw against what a user would deploy instead: an
# stunnel pair and a Kamailio pair, each relaying SIP between plain TCP and
# mutual TLS, measured in the same run on this machine with the same load and
# pinning (method and code of the baseline harness, bench-baseline/run.sh).
#
#   sipp UAC --TCP--> relay A --mTLS--> relay B --TCP--> sipp UAS
#   $NET.2            $NET.3:5060       $NET.4:5061      $NET.5:5060
#   (NET=127.0.77 by default, away from the 127.0.0.x other tools use)
#
# Topologies (TOPOLOGIES, default "direct stunnel kamailio-tlsf reusegw"):
#   direct       sipp UAC -> sipp UAS, no relay: the load generator's ceiling
#   stunnel      stunnel client mode (TCP in, TLS out + client cert) ->
#                stunnel server mode (TLS in, client cert required, TCP out)
#   kamailio     Kamailio A (TCP in, forward_tls) -> Kamailio B (TLS in, client
#                cert required, forward_tcp); stateless, replies by Via;
#                Debian's defaults otherwise: memory manager "qm"
#   ...-tm       (suffix) stateful: tm's t_relay_to_tls()/t_relay_to_tcp()
#   ...-tlsf     (suffix) run Kamailio with -x tlsf -X tlsf
#   reusegw      reusegw A (legacy.listen $NET.3:5060, route relay-b.test ->
#                $NET.4:5061) -> reusegw B (tls.listen $NET.4:5061, client
#                certificate required, forward_to $NET.5:5060); one worker
#                each, log level warn, limits.max_pending_transactions
#                REUSEGW_MAX_PENDING (3000000: transactions linger 32 s),
#                limits.max_connections_per_peer above MEM_CONNS (the idle
#                test's connections all come from one address);
#                binary REUSEGW_BIN (default build/gateway/reusegw, from
#                scripts/build normal)
#   reusegw-capture  the reusegw pair with capture.hep on both legs
#                (HEP_TRANSPORT, udp or tcp) to a HEP sink that reads and
#                discards (pinned to LOAD_CPU): the cost of capture, against
#                reusegw in the same run
#
# Load: sipp OPTIONS -> 200 (sipp/uac.xml, sipp/uas.xml) over one TCP
# connection per hop (-t t1).  One transaction = 2 SIP messages (request and
# response), each crossing both relays.  Both relays are pinned to RELAY_CPU,
# both sipp processes to LOAD_CPU.
#
# Max rate search: short probes (PROBE_S) up the RATES ladder until one fails,
# then full runs (DURATION_S) to confirm the last good rate and REFINE
# bisection steps.  A run passes when: sipp exits 0, every call succeeded
# (0 failed), calls/elapsed >= 97% of the target (elapsed: start to the last
# stats period in which calls ended) and the mean response time is
# <= MAX_RTT_MS (a growing backlog shows up there first).  Before each run 50
# warm-up transactions open the relays' onward connections.
#
# CPU at equal load: one DURATION_S run per relay topology at FIXED_RATE
# tx/s (0: skip), so that msgs per relay CPU-second compare at the same rate
# (at each topology's own max rate the batching differs).
#
# Added latency: with no other load, LAT_N ping-pong OPTIONS (helper.py
# latency, pinned to LOAD_CPU, relays to RELAY_CPU, sipp UAS answering)
# through each topology; p50/p99 round trip minus the same percentile of
# direct (sipp's -trace_rtt has 1 ms resolution: too coarse on loopback).
#
# Idle memory: MEM_CONNS idle mutual-TLS connections (helper.py tlsidle) to
# relay B (stunnel server mode; Kamailio B with MEM_KAM_TCP_CHILDREN readers;
# reusegw B); (PSS after - PSS before) / connections held, PSS summed over
# every process of the relay (smaps_rollup), after MEM_WARM warm-up ones.
#
# Environment (defaults): DURATION_S=20 PROBE_S=6 REFINE=2 MAX_RTT_MS=20
#   RATES="2000 5000 10000 15000 20000 30000 40000 50000 60000 80000"
#   MEM_CONNS=5000 MEM_WARM=20 LAT_N=5000 FIXED_RATE=5000 RELAY_CPU=1 LOAD_CPU=0
#   KAM_TCP_CHILDREN=2 MEM_KAM_TCP_CHILDREN=1
#   QUICK=1: under 3 minutes: DURATION_S=5 PROBE_S=3 REFINE=0
#     RATES="5000 15000 30000 45000" MEM_CONNS=500 LAT_N=1000
#   SKIP_MEM=0 SKIP_RATE=0 SKIP_LAT=0 KEEP=0 (1: keep the work dir in /tmp)
#   INSTALL=1 (0: do not apt-get install missing packages)
#
# Output: a table on stdout and results.md next to this script (RESULTS=FILE
# to write elsewhere), ending with the reusegw/stunnel and reusegw/Kamailio
# ratios.  A benchmark, not a test: ctest does not run it.
# Needs root (apt-get, ulimit) and ports 5060/5061 free on $NET.2-5.
# Other load on the machine skews the numbers: each run records "other CPU"
# (busy time of both cores not used by the relays or sipp); check it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3          # Debian's python, not a pyenv shim
HELPER="$HERE/helper.py"

QUICK=${QUICK:-0}
if ((QUICK)); then
    DURATION_S=${DURATION_S:-5} PROBE_S=${PROBE_S:-3} REFINE=${REFINE:-0}
    RATES=${RATES:-"5000 15000 30000 45000"} MEM_CONNS=${MEM_CONNS:-500} LAT_N=${LAT_N:-1000}
fi
TOPOLOGIES=${TOPOLOGIES:-"direct stunnel kamailio-tlsf reusegw"}
HEP_PORT=${HEP_PORT:-9060} HEP_TRANSPORT=${HEP_TRANSPORT:-udp}
CAPTURE=0
RATES=${RATES:-"2000 5000 10000 15000 20000 30000 40000 50000 60000 80000"}
DURATION_S=${DURATION_S:-20}
PROBE_S=${PROBE_S:-6}
REFINE=${REFINE:-2}
MAX_RTT_MS=${MAX_RTT_MS:-20}
MEM_CONNS=${MEM_CONNS:-5000}
LAT_N=${LAT_N:-5000}
FIXED_RATE=${FIXED_RATE:-5000}
SKIP_LAT=${SKIP_LAT:-0}
# reusegw releases a non-INVITE transaction at its final response and keeps
# an INVITE 64*T1 after a 2xx; the bench raises the table bound anyway so
# that no ladder rate can be limited by it.
REUSEGW_MAX_PENDING=${REUSEGW_MAX_PENDING:-3000000}
REUSEGW_BIN=${REUSEGW_BIN:-$(cd "$HERE/../.." && pwd)/build/gateway/reusegw}
MEM_WARM=${MEM_WARM:-20}
RELAY_CPU=${RELAY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
KAM_TCP_CHILDREN=${KAM_TCP_CHILDREN:-2}
# Kamailio 5.6.3 + OpenSSL 3.0 with 2 TCP readers doing mTLS handshakes at
# once failed handshakes ("decode error", "certificate verify failed") and
# once crashed (tlsf double free, SIGSEGV); one reader for the idle test
MEM_KAM_TCP_CHILDREN=${MEM_KAM_TCP_CHILDREN:-1}
SKIP_MEM=${SKIP_MEM:-0}
SKIP_RATE=${SKIP_RATE:-0}
KEEP=${KEEP:-0}
INSTALL=${INSTALL:-1}

NET=${NET:-127.0.77}        # loopback /24 prefix; .2-.5 are used
UAC_IP=$NET.2
A_IP=$NET.3
B_IP=$NET.4
UAS_IP=$NET.5
SIP_PORT=5060
TLS_PORT=5061
B_NAME="relay-b.test"

T_START=$SECONDS
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# kv_value key text -> the number after "key=" in helper.py's output
kv_value() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

# ---------------------------------------------------------------- packages
PKGS=(sip-tester stunnel4 kamailio kamailio-tls-modules openssl python3 iproute2)
install_missing() {
    local p missing=()
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    ((INSTALL)) || die "missing packages: ${missing[*]} (INSTALL=0)"
    log "installing: ${missing[*]}"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
}
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }

[[ $(id -u) == 0 ]] || die "run as root"
install_missing
for c in sipp stunnel kamailio kamcmd openssl taskset ss; do
    command -v "$c" >/dev/null || die "$c not found"
done
[[ -x $PY ]] || die "$PY not found"
if [[ " $TOPOLOGIES " == *" reusegw"* ]]; then
    [[ -x $REUSEGW_BIN ]] || die "$REUSEGW_BIN not built (scripts/build normal)"
fi
(($(nproc) >= 2)) || log "WARNING: fewer than 2 CPUs: relay and load share a core"

# Nothing may hold our sockets (the Debian packages may start services).
for port in $SIP_PORT $TLS_PORT; do
    for ip in "$UAC_IP" "$A_IP" "$B_IP" "$UAS_IP" "0.0.0.0" "*"; do
        if ss -Hltn "sport = :$port" | awk '{print $4}' | grep -qxF "$ip:$port"; then
            die "something already listens on $ip:$port (ss -ltnp); stop it or set NET"
        fi
    done
done

ulimit -n "$(ulimit -Hn)"
ulimit -c 0     # a crashing Kamailio would leave a 1 GB core in /tmp
WORK=$(mktemp -d /tmp/relay-bench.XXXXXX)
PIDS=()

stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    PIDS=()
}
cleanup() {
    stop_all
    if ((KEEP)); then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_listen() {   # ip port pid
    local ip=$1 port=$2 pid=$3 i
    for ((i = 0; i < 150; i++)); do
        ss -Hltn "sport = :$port" | awk '{print $4}' | grep -qx "$ip:$port" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
wait_file() {   # path seconds [pid: give up when it has exited]
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [[ -e $1 ]] && return 0
        [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null && { [[ -e $1 ]]; return; }
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- certificates
CERTS=$WORK/certs
gen_certs() {
    mkdir -p "$CERTS"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256)
    openssl req -x509 "${ec[@]}" -days 2 -keyout "$CERTS/ca.key" -out "$CERTS/ca.crt" \
        -subj "/CN=baseline throwaway CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    local spec name ip
    for spec in relay-a:$A_IP relay-b:$B_IP client:127.0.0.1; do
        name=${spec%%:*} ip=${spec#*:}
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:$name.test,IP:$ip" \
            >"$CERTS/$name.ext"
        openssl req -new "${ec[@]}" -keyout "$CERTS/$name.key" -out "$CERTS/$name.csr" \
            -subj "/CN=$name.test" 2>/dev/null
        openssl x509 -req -sha256 -days 2 -in "$CERTS/$name.csr" -CA "$CERTS/ca.crt" \
            -CAkey "$CERTS/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
            -extfile "$CERTS/$name.ext" -out "$CERTS/$name.crt" 2>/dev/null
        openssl verify -CAfile "$CERTS/ca.crt" "$CERTS/$name.crt" >/dev/null
    done
}

# ---------------------------------------------------------------- relays
# Each start_* adds its PID to RELAY_ROOTS (comma-separated), sets
# RELAY_PID_A or RELAY_PID_B, and adds it to PIDS.
RELAY_ROOTS="" RELAY_PID_A="" RELAY_PID_B=""
relay_started() {   # role(a|b) pid: the relay is listening
    RELAY_ROOTS+="${RELAY_ROOTS:+,}$2"
    if [[ $1 == a ]]; then RELAY_PID_A=$2; else RELAY_PID_B=$2; fi
}

stunnel_conf() {   # role(a|b) file
    {
        echo "foreground = yes"
        echo "pid ="
        echo "syslog = no"
        echo "debug = warning"
        echo "output = $WORK/stunnel-$1.log"
        echo "[sip]"
        if [[ $1 == a ]]; then
            echo "client = yes"
            echo "accept = $A_IP:$SIP_PORT"
            echo "connect = $B_IP:$TLS_PORT"
            echo "cert = $CERTS/relay-a.crt"
            echo "key = $CERTS/relay-a.key"
            echo "checkHost = $B_NAME"
            echo "sni = $B_NAME"
        else
            echo "accept = $B_IP:$TLS_PORT"
            echo "connect = $UAS_IP:$SIP_PORT"
            echo "cert = $CERTS/relay-b.crt"
            echo "key = $CERTS/relay-b.key"
            echo "requireCert = yes"
        fi
        echo "CAfile = $CERTS/ca.crt"
        echo "verifyChain = yes"
        # Kamailio and sipp disable Nagle; do the same for stunnel
        echo "socket = l:TCP_NODELAY=1"
        echo "socket = r:TCP_NODELAY=1"
    } >"$2"
}

start_stunnel() {   # role(a|b)
    local role=$1 conf=$WORK/stunnel-$1.conf pid ip port
    stunnel_conf "$role" "$conf"
    taskset -c "$RELAY_CPU" stunnel "$conf" >>"$WORK/stunnel-$role.out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    if [[ $role == a ]]; then ip=$A_IP port=$SIP_PORT; else ip=$B_IP port=$TLS_PORT; fi
    wait_listen "$ip" "$port" "$pid" || { tail -5 "$WORK/stunnel-$role.log" >&2; die "stunnel $role did not start"; }
    relay_started "$role" "$pid"
}

kam_tm=0 kam_tlsf=0
start_kamailio() {   # role(a|b)
    local role=$1 dir=$WORK/kam-$1 pid args
    mkdir -p "$dir"
    local crt=$CERTS/relay-$role.crt key=$CERTS/relay-$role.key
    cat >"$dir/tls.cfg" <<EOF
[server:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
certificate = $crt
private_key = $key
ca_list = $CERTS/ca.crt

[client:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
certificate = $crt
private_key = $key
ca_list = $CERTS/ca.crt
EOF
    args=(-f "$HERE/kamailio-relay.cfg" -DD -E -m 1024 -M 8
          -Y "$dir" -P "$dir/kamailio.pid" -w "$dir"
          -A "TLS_CONFIG=\"$dir/tls.cfg\"" -A "CTL_SOCKET=\"unix:$dir/kam.ctl\""
          -A "TCP_CHILDREN=$KAM_TCP_CHILDREN" -A "MAX_CONNS=16384")
    if [[ $role == a ]]; then
        args+=(-l "tcp:$A_IP:$SIP_PORT" -l "tls:$A_IP:$TLS_PORT"
               -A NEXT_PROTO_TLS -A "NEXT_HOST=\"$B_IP\"" -A "NEXT_PORT=$TLS_PORT")
    else
        args+=(-l "tls:$B_IP:$TLS_PORT" -l "tcp:$B_IP:$SIP_PORT"
               -A NEXT_PROTO_TCP -A "NEXT_HOST=\"$UAS_IP\"" -A "NEXT_PORT=$SIP_PORT")
    fi
    ((kam_tm)) && args+=(-A WITH_TM)
    ((kam_tlsf)) && args+=(-x tlsf -X tlsf)
    kamailio -c "${args[@]}" >"$dir/check.log" 2>&1 || { cat "$dir/check.log" >&2; die "kamailio $role: config check failed"; }
    taskset -c "$RELAY_CPU" kamailio "${args[@]}" >"$dir/kamailio.log" 2>&1 </dev/null &
    pid=$!
    PIDS+=("$pid")
    local ip=$A_IP port=$SIP_PORT
    [[ $role == b ]] && ip=$B_IP port=$TLS_PORT
    wait_listen "$ip" "$port" "$pid" || { tail -20 "$dir/kamailio.log" >&2; die "kamailio $role did not start"; }
    # wait for the ctl socket too: the children are up by then
    wait_file "$dir/kam.ctl" 10 || true
    relay_started "$role" "$pid"
}

reusegw_conf() {   # role(a|b) file
    local ip=$A_IP fwd=$UAC_IP:$SIP_PORT
    [[ $1 == b ]] && ip=$B_IP fwd=$UAS_IP:$SIP_PORT
    cat >"$2" <<EOF
identity:
  sent_by: "relay-$1.test:$TLS_PORT"
tls:
  listen: ["$ip:$TLS_PORT"]
  certificate: "$CERTS/relay-$1.crt"
  private_key: "$CERTS/relay-$1.key"
  ca: "$CERTS/ca.crt"
  client_certificate: required
legacy:
  forward_to: "$fwd"
  listen: "$ip:$SIP_PORT"
routes:
  - domain: relay-a.test
    targets: ["$A_IP:$TLS_PORT"]
  - domain: $B_NAME
    targets: ["$B_IP:$TLS_PORT"]
limits:
  max_connections: $((MEM_CONNS + 1000))
  max_pending_transactions: $REUSEGW_MAX_PENDING
  max_connections_per_peer: $((MEM_CONNS + 1000))
admin:
  listen: "$ip:9091"
runtime:
  workers: 1
log:
  level: warn
EOF
    if ((CAPTURE)); then
        printf 'capture:\n  hep:\n    address: "%s:%s"\n    transport: %s\n    legs: [tls, legacy]\n' \
            "$UAC_IP" "$HEP_PORT" "$HEP_TRANSPORT" >>"$2"
    fi
}

# start_hep_sink: a socket on $UAC_IP:$HEP_PORT ($HEP_TRANSPORT) that reads
# every HEP packet and discards it (what a collector does cheapest), on
# LOAD_CPU; over TCP one stream per gateway, each read in its own thread.
start_hep_sink() {
    taskset -c "$LOAD_CPU" "$PY" -c '
import socket, sys, threading
tcp = sys.argv[3] == "tcp"
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
def drain(c):
    while c.recv(1 << 20):
        pass
if not tcp:
    drain(s)
s.listen(8)
while True:
    threading.Thread(target=drain, args=(s.accept()[0],), daemon=True).start()' \
        "$UAC_IP" "$HEP_PORT" "$HEP_TRANSPORT" >>"$WORK/hep-sink.log" 2>&1 &
    PIDS+=("$!")
    sleep 0.3
}

start_reusegw() {   # role(a|b)
    local role=$1 conf=$WORK/reusegw-$1.yaml pid ip=$A_IP
    [[ $role == b ]] && ip=$B_IP
    reusegw_conf "$role" "$conf"
    "$REUSEGW_BIN" --check-config -c "$conf" >"$WORK/reusegw-$role.check" 2>&1 ||
        { cat "$WORK/reusegw-$role.check" >&2; die "reusegw $role: config rejected"; }
    taskset -c "$RELAY_CPU" "$REUSEGW_BIN" -c "$conf" >>"$WORK/reusegw-$role.log" 2>&1 </dev/null &
    pid=$!
    PIDS+=("$pid")
    local port
    for port in $TLS_PORT $SIP_PORT; do
        wait_listen "$ip" "$port" "$pid" || { tail -5 "$WORK/reusegw-$role.log" >&2; die "reusegw $role did not start"; }
    done
    relay_started "$role" "$pid"
}

start_relays() {   # topology
    RELAY_ROOTS="" RELAY_PID_A="" RELAY_PID_B=""
    case $1 in
        direct) ;;
        stunnel) start_stunnel b; start_stunnel a ;;
        kamailio|kamailio-tm|kamailio-tlsf|kamailio-tm-tlsf)
            kam_tm=0 kam_tlsf=0
            [[ $1 == *-tm* ]] && kam_tm=1
            [[ $1 == *-tlsf ]] && kam_tlsf=1
            start_kamailio b; start_kamailio a ;;
        reusegw) CAPTURE=0; start_reusegw b; start_reusegw a ;;
        reusegw-capture) CAPTURE=1; start_hep_sink; start_reusegw b; start_reusegw a ;;
        *) die "unknown topology $1" ;;
    esac
}

# ---------------------------------------------------------------- one run
# start_uas dir [sipp args...] -> UAS_PID: the sipp UAS answering on
# $UAS_IP:$SIP_PORT, listening, its output in dir/uas.out
UAS_PID=""
start_uas() {
    local rdir=$1
    shift
    taskset -c "$LOAD_CPU" sipp -sf "$HERE/sipp/uas.xml" -t t1 -i "$UAS_IP" -p "$SIP_PORT" \
        -nostdin "$@" >"$rdir/uas.out" 2>&1 &
    UAS_PID=$!
    PIDS+=("$UAS_PID")
    wait_listen "$UAS_IP" "$SIP_PORT" "$UAS_PID" || die "sipp UAS did not start ($rdir/uas.out)"
}

STEPS=$WORK/steps.tsv
printf 'topo\trate\tdur\tpass\tok\tfailed\tachieved\trtt_ms\tcpu_relay_core\tcpu_load_core\trelay_proc\tload_proc\trc\tother\trelay_a\trelay_b\n' >"$STEPS"
RUN_N=0

# run_step topology rate seconds -> appends a row to $STEPS, returns 0 if passed
run_step() {
    local topo=$1 rate=$2 dur=$3 uas uac rc target calls
    RUN_N=$((RUN_N + 1))
    local rdir=$WORK/run-$RUN_N-$topo-$rate-$dur
    mkdir -p "$rdir"
    start_uas "$rdir" -trace_err -error_file "$rdir/uas.err"
    uas=$UAS_PID
    start_relays "$topo"
    if [[ $topo == direct ]]; then target=$UAS_IP:$SIP_PORT; else target=$A_IP:$SIP_PORT; fi
    # warm-up: 50 transactions open the relays' onward connections (a relay
    # that has to open its TLS connection under full load drops what exceeds
    # its pre-handshake queue -- Kamailio does)
    (cd "$rdir" && taskset -c "$LOAD_CPU" sipp -sf "$HERE/sipp/uac.xml" -t t1 -i "$UAC_IP" \
        -p "$SIP_PORT" "$target" -r 500 -m 50 -recv_timeout 2000 -nostdin \
        >"$rdir/warmup.out" 2>&1) || log "warm-up for $topo failed (see $rdir/warmup.out)"
    calls=$((rate * dur))
    (cd "$rdir" && exec taskset -c "$LOAD_CPU" sipp -sf "$HERE/sipp/uac.xml" -t t1 \
        -i "$UAC_IP" -p "$SIP_PORT" "$target" -r "$rate" -m "$calls" -l "$rate" \
        -recv_timeout 2000 -nostdin -trace_stat -stf "$rdir/uac.csv" -fd 1 \
        -trace_err -error_file "$rdir/uac.err" >"$rdir/uac.out" 2>&1) &
    uac=$!
    PIDS+=("$uac")
    # CPU window: skip 2 s of start-up, stop 1 s before the planned end
    local win=$((dur - 3)) cpu
    ((win < 1)) && win=1
    sleep 2
    local groups=(--group load "$uac,$uas")
    [[ -n $RELAY_ROOTS ]] && groups+=(--group ra "$RELAY_PID_A" --group rb "$RELAY_PID_B")
    cpu=$("$PY" "$HELPER" cpuwatch "$win" "${groups[@]}")
    rc=0
    wait "$uac" || rc=$?
    stop_all
    local st
    if [[ -s $rdir/uac.csv ]]; then st=$("$PY" "$HELPER" sippcsv "$rdir/uac.csv"); else st="elapsed_s=0 ok=0 failed=0 rtt_ms=0"; fi
    # key=value pairs -> variables
    local kv k v elapsed_s=0 ok=0 failed=0 rtt_ms=0 relay=- ra=- rb=- load=- other=- cr=- cl=- parts
    read -ra parts <<<"$st $cpu"
    for kv in "${parts[@]}"; do
        k=${kv%%=*} v=${kv#*=}
        case $k in
            elapsed_s) elapsed_s=$v ;; ok) ok=$v ;; failed) failed=$v ;; rtt_ms) rtt_ms=$v ;;
            ra) ra=$v ;; rb) rb=$v ;; load) load=$v ;; other) other=$v ;;
            "cpu$RELAY_CPU") cr=$v ;; "cpu$LOAD_CPU") cl=$v ;;
        esac
    done
    [[ $ra != - ]] && relay=$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.1f", a + b }')
    local achieved pass
    achieved=$(awk -v ok="$ok" -v e="$elapsed_s" 'BEGIN { printf "%.0f", (e > 0 ? ok / e : 0) }')
    pass=$(awk -v rc="$rc" -v ok="$ok" -v calls="$calls" -v f="$failed" -v a="$achieved" \
        -v r="$rate" -v rtt="$rtt_ms" -v max="$MAX_RTT_MS" \
        'BEGIN { print (rc == 0 && f == 0 && ok == calls && a >= 0.97 * r && rtt <= max) ? 1 : 0 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$topo" "$rate" "$dur" "$pass" \
        "$ok" "$failed" "$achieved" "$rtt_ms" "$cr" "$cl" "$relay" "$load" "$rc" "$other" "$ra" "$rb" >>"$STEPS"
    log "$(printf '%-12s %6s/s %3ss  %s  ok=%s failed=%s achieved=%s/s rtt=%sms  relay-core=%s%% load-core=%s%% relay-procs=%s%% (A %s, B %s) sipp=%s%% other=%s%%' \
        "$topo" "$rate" "$dur" "$([[ $pass == 1 ]] && echo PASS || echo FAIL)" "$ok" "$failed" \
        "$achieved" "$rtt_ms" "$cr" "$cl" "$relay" "$ra" "$rb" "$load" "$other")"
    [[ $pass == 1 ]]
}

# search_max topology -> sets SM_LO (highest rate that passed a full run, 0:
# none) and SM_HI (lowest rate seen failing, "none" if the ladder ran out)
SM_LO=0 SM_HI=none
search_max() {
    local topo=$1 lo=0 hi="" r prev=0 i mid
    local -a ladder
    read -ra ladder <<<"$RATES"
    for r in "${ladder[@]}"; do
        if run_step "$topo" "$r" "$PROBE_S"; then lo=$r; else hi=$r; break; fi
    done
    # confirm lo with a full-length run; walk down the ladder if it fails
    while ((lo > 0)); do
        run_step "$topo" "$lo" "$DURATION_S" && break
        hi=$lo prev=0
        for r in "${ladder[@]}"; do ((r < lo)) && prev=$r; done
        lo=$prev
    done
    for ((i = 0; i < REFINE; i++)); do
        [[ -n $hi ]] || break
        mid=$(((lo + hi) / 2 / 500 * 500))
        ((mid <= lo || mid >= hi)) && break
        if run_step "$topo" "$mid" "$DURATION_S"; then lo=$mid; else hi=$mid; fi
    done
    SM_LO=$lo SM_HI=${hi:-none}
}

# ---------------------------------------------------------------- idle memory
# mem_test kind(stunnel|kamailio|kamailio-tlsf|reusegw) -> sets MEM_B (bytes per connection) and
# MEM_X (details)
MEM_B="" MEM_X=""
# Kamailio B's own shm accounting: "used real_used" (real_used adds the
# allocator's per-fragment overhead)
kam_shm() {
    kamcmd -s "unix:$WORK/kam-b/kam.ctl" core.shmmem 2>/dev/null |
        awk '$1 == "used:" {u = $2} $1 == "real_used:" {r = $2} END {if (u != "") print u, r}'
}
mem_test() {
    local kind=$1 dir=$WORK/mem-$1 sink pid py rc=0 m0 m1 pss0 pss1 shm0="" shm1="" alive
    mkdir -p "$dir"
    RELAY_ROOTS="" RELAY_PID_A="" RELAY_PID_B=""
    "$PY" "$HELPER" sink "$UAS_IP" "$SIP_PORT" "$dir/sink.ready" >"$dir/sink.out" 2>&1 &
    sink=$!
    PIDS+=("$sink")
    wait_file "$dir/sink.ready" 10 || die "sink did not start"
    case $kind in
        stunnel) start_stunnel b ;;
        kamailio) kam_tm=0 kam_tlsf=0; KAM_TCP_CHILDREN=$MEM_KAM_TCP_CHILDREN start_kamailio b ;;
        kamailio-tlsf) kam_tm=0 kam_tlsf=1; KAM_TCP_CHILDREN=$MEM_KAM_TCP_CHILDREN start_kamailio b ;;
        reusegw) start_reusegw b ;;
        *) die "mem_test: unknown kind $kind" ;;
    esac
    pid=$RELAY_ROOTS
    "$PY" "$HELPER" tlsidle "$B_IP" "$TLS_PORT" "$CERTS/ca.crt" "$CERTS/client.crt" \
        "$CERTS/client.key" "$B_NAME" "$MEM_WARM" "$MEM_CONNS" "$dir" >"$dir/tlsidle.out" 2>&1 &
    py=$!
    PIDS+=("$py")
    wait_file "$dir/warm.ready" 60 "$py" || { cat "$dir/tlsidle.out" >&2; die "$kind: warm-up connections failed"; }
    sleep 1
    m0=$("$PY" "$HELPER" mem "$pid")
    [[ $kind == kamailio* ]] && shm0=$(kam_shm)
    touch "$dir/go"
    wait_file "$dir/all.ready" 600 "$py" || { tail -20 "$dir/tlsidle.out" >&2; tail -20 "$WORK/kam-b/kamailio.log" >&2 2>/dev/null; die "$kind: opening $MEM_CONNS connections failed"; }
    sleep 2
    m1=$("$PY" "$HELPER" mem "$pid")
    [[ $kind == kamailio* ]] && shm1=$(kam_shm)
    touch "$dir/release"
    wait "$py" || rc=$?
    alive=$(cat "$dir/alive" 2>/dev/null || echo "?")
    stop_all
    ((rc == 0)) || { cat "$dir/tlsidle.out" >&2; die "$kind: tlsidle failed"; }
    pss0=$(kv_value pss "$m0")
    pss1=$(kv_value pss "$m1")
    # divide by the connections that were really held: a relay may drop some
    local held=$MEM_CONNS rss0 rss1 extra
    [[ $alive =~ ^[0-9]+$ ]] && ((alive - MEM_WARM > 0)) && held=$((alive - MEM_WARM))
    rss0=$(kv_value rss "$m0")
    rss1=$(kv_value rss "$m1")
    # summed RSS counts a shared page once per process that maps it
    extra="summed-RSS delta $(((rss1 - rss0) / held)) B/conn"
    if [[ -n $shm0 && -n $shm1 ]]; then
        local u0 r0 u1 r1
        read -r u0 r0 <<<"$shm0"
        read -r u1 r1 <<<"$shm1"
        extra+=", Kamailio shm used $(((u1 - u0) / held)) B/conn (real_used, with allocator overhead: $(((r1 - r0) / held)))"
    fi
    log "mem $kind: $(head -1 "$dir/tlsidle.out"); $(cat "$dir/all.ready")"
    log "mem $kind: before $m0 / after $m1 / alive $alive of $((MEM_CONNS + MEM_WARM)) / $extra"
    MEM_B=$(((pss1 - pss0) / held))
    MEM_X="PSS $pss0 -> $pss1 B with $alive/$((MEM_CONNS + MEM_WARM)) connections still open at the end; $extra"
}

# ---------------------------------------------------------------- latency
# lat_test topology -> sets LAT ("p50_us=.. p99_us=.. mean_us=..")
LAT=""
lat_test() {
    local topo=$1 rdir=$WORK/lat-$1 target
    mkdir -p "$rdir"
    start_uas "$rdir"
    start_relays "$topo"
    if [[ $topo == direct ]]; then target=$UAS_IP; else target=$A_IP; fi
    LAT=$(taskset -c "$LOAD_CPU" "$PY" "$HELPER" latency "$UAC_IP" "$target" "$SIP_PORT" "$LAT_N" \
        2>"$rdir/latency.err") || { cat "$rdir/latency.err" >&2; die "$topo: latency probe failed"; }
    stop_all
}

# ---------------------------------------------------------------- main
log "work dir $WORK; topologies: $TOPOLOGIES; ${DURATION_S}s runs, ${PROBE_S}s probes"
gen_certs

declare -A MAXR NEXTR MEMB MEMX
MEM_KINDS=()
# the relay whose idle-connection memory stands for a topology: its server
# side (stunnel server mode, Kamailio B); tm does not change it
mem_kind() { local k=${1/-tm/}; echo "$k"; }
if ((!SKIP_RATE)); then
    for topo in $TOPOLOGIES; do
        log "=== $topo: rate search"
        search_max "$topo"
        MAXR[$topo]=$SM_LO NEXTR[$topo]=$SM_HI
    done
fi
if ((!SKIP_MEM)); then
    for topo in $TOPOLOGIES; do
        [[ $topo == direct ]] && continue
        kind=$(mem_kind "$topo")
        [[ -n ${MEMB[$kind]:-} ]] && continue
        MEM_KINDS+=("$kind")
        log "=== $kind: idle memory, $MEM_CONNS connections"
        mem_test "$kind"
        MEMB[$kind]=$MEM_B MEMX[$kind]=$MEM_X
    done
fi

declare -A FIXCPU
if ((!SKIP_RATE && FIXED_RATE > 0)); then
    for topo in $TOPOLOGIES; do
        [[ $topo == direct ]] && continue
        log "=== $topo: CPU at $FIXED_RATE tx/s"
        run_step "$topo" "$FIXED_RATE" "$DURATION_S" || log "$topo did not sustain $FIXED_RATE tx/s"
        row=$(tail -1 "$STEPS")
        IFS=$'\t' read -r _ _ _ fpass _ _ fach _ _ _ frp _ <<<"$row"
        if [[ $frp != - ]]; then
            FIXCPU[$topo]=$(awk -v a="$fach" -v p="$frp" 'BEGIN { printf "%.0f", 2 * a / (p / 100) }')
            ((fpass)) || FIXCPU[$topo]+=" (run failed)"
        fi
    done
fi

declare -A LAT50 LAT99
if ((!SKIP_LAT)); then
    for topo in $TOPOLOGIES; do
        log "=== $topo: latency, $LAT_N ping-pong round trips"
        lat_test "$topo"
        log "latency $topo: $LAT"
        LAT50[$topo]=$(kv_value p50_us "$LAT")
        LAT99[$topo]=$(kv_value p99_us "$LAT")
    done
fi

# ---------------------------------------------------------------- report
# best full-length passing row for a topology at a rate
row_at() { awk -F'\t' -v t="$1" -v r="$2" -v d="$DURATION_S" '$1 == t && $2 == r && $3 == d && $4 == 1' "$STEPS" | tail -1; }
# the full-length (else probe) failing row just above the max: who saturated?
fail_row() { awk -F'\t' -v t="$1" -v r="$2" '$1 == t && $2 == r && $4 == 0' "$STEPS" | sort -t$'\t' -k3,3n | tail -1; }

SUMMARY=$WORK/summary.md
declare -A ACHV PERCPU
{
    echo "| Topology | Max tx/s (0 failed, ${DURATION_S} s) | SIP msgs/s through pair | Relay procs CPU % | Relay core busy % | sipp core busy % | msgs per relay CPU-s (procs / core) | Idle mTLS conn, bytes (PSS) | Limited by (first failing rate) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for topo in $TOPOLOGIES; do
        max=${MAXR[$topo]:-0} nxt=${NEXTR[$topo]:-none}
        row=$(row_at "$topo" "$max")
        ach=- msgs=- rp=- rcore=- lc=- per=-
        if [[ -n $row ]]; then
            IFS=$'\t' read -r _ _ _ _ _ _ ach _ rcore lc rp _ _ <<<"$row"
            ACHV[$topo]=$ach
            msgs=$((ach * 2))
            if [[ $rp != - ]]; then
                per=$(awk -v m="$msgs" -v p="$rp" -v c="$rcore" 'BEGIN { printf "%.0f / %.0f", m / (p / 100), m / (c / 100) }')
                PERCPU[$topo]=${per%% *}
            else
                rcore=- per=-
            fi
        fi
        why="-"
        if [[ -z ${MAXR[$topo]:-} ]]; then
            why="-"
        elif [[ $nxt != none ]]; then
            frow=$(fail_row "$topo" "$nxt")
            if [[ -n $frow ]]; then
                IFS=$'\t' read -r _ _ fd _ _ ff fa frtt fcr fcl _ _ _ <<<"$frow"
                why="at $nxt/s (${fd}s): achieved $fa/s, failed $ff, rtt ${frtt} ms; relay core ${fcr}%, sipp core ${fcl}%"
                if awk -v c="$fcl" 'BEGIN { exit !(c >= 90) }'; then why="**sipp core saturated** - $why";
                elif [[ $fcr != - ]] && awk -v c="$fcr" 'BEGIN { exit !(c >= 90) }'; then why="**relay core saturated** - $why"; fi
            fi
        else
            why="ladder exhausted (max is a lower bound)"
        fi
        mem=-
        [[ $topo != direct ]] && mem=${MEMB[$(mem_kind "$topo")]:--}
        label=$topo
        case $topo in
            direct) label="direct (no relay, sipp ceiling)" ;;
            stunnel) label="stunnel pair" ;;
            kamailio) label="kamailio pair (stateless forward, Debian defaults: qm allocator)" ;;
            kamailio-tlsf) label="kamailio pair (stateless forward, -x tlsf)" ;;
            kamailio-tm) label="kamailio pair (stateful t_relay, qm allocator)" ;;
            kamailio-tm-tlsf) label="kamailio pair (stateful t_relay, -x tlsf)" ;;
            reusegw) label="**reusegw pair**" ;;
            reusegw-capture) label="reusegw pair, HEP capture on both legs ($HEP_TRANSPORT)" ;;
        esac
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$ach" "$msgs" "$rp" "$rcore" "$lc" "$per" "$mem" "$why"
    done
} >"$SUMMARY"

# reusegw against stunnel and Kamailio (KAM_REF: which Kamailio topology)
KAM_REF=${KAM_REF:-kamailio-tlsf}
COMPARE=$WORK/compare.md
added() { # topo percentile-array-name -> microseconds over direct, or raw
    local -n arr=$2
    local v=${arr[$1]:-} d=${arr[direct]:-}
    [[ -z $v ]] && { echo "-"; return; }
    [[ -z $d ]] && { echo "$v (raw)"; return; }
    awk -v v="$v" -v d="$d" 'BEGIN { printf "%.0f", v - d }'
}
ratio() { # a b -> a/b with 2 decimals, or -
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}
{
    declare -A M
    for t in reusegw stunnel "$KAM_REF"; do
        M[$t,max]=${ACHV[$t]:--}
        M[$t,cpu]=${PERCPU[$t]:--}
        M[$t,fix]=${FIXCPU[$t]:--}
        M[$t,p50]=$(added "$t" LAT50)
        M[$t,p99]=$(added "$t" LAT99)
        M[$t,mem]=${MEMB[$(mem_kind "$t")]:--}
    done
    echo "| Measure | reusegw pair | stunnel pair | Kamailio pair ($KAM_REF) | reusegw / stunnel | reusegw / Kamailio |"
    echo "|---|---:|---:|---:|---:|---:|"
    for k in max:"Max tx/s, 0 failed (higher is better)" cpu:"SIP msgs per relay CPU-second at the max rate (higher is better)" \
             fix:"SIP msgs per relay CPU-second at $FIXED_RATE tx/s (higher is better)" \
             p50:"Added latency p50, us, both relays (lower is better)" p99:"Added latency p99, us, both relays (lower is better)" \
             mem:"Bytes per idle mTLS connection, PSS (lower is better)"; do
        key=${k%%:*} name=${k#*:}
        printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "${M[reusegw,$key]}" "${M[stunnel,$key]}" \
            "${M[$KAM_REF,$key]}" "$(ratio "${M[reusegw,$key]}" "${M[stunnel,$key]}")" \
            "$(ratio "${M[reusegw,$key]}" "${M[$KAM_REF,$key]}")"
    done
} >"$COMPARE"

elapsed_total=$((SECONDS - T_START))
RES=${RESULTS:-$HERE/results.md}
{
    echo "# Relay benchmark: reusegw pair against stunnel pair and Kamailio pair (TCP <-> mutual TLS SIP relay)"
    echo
    echo "Generated by \`bench/relay/run.sh\`$( ((QUICK)) && echo " (QUICK=1: short runs, indicative only)") on $(date -u '+%Y-%m-%d %H:%M UTC'); run took ${elapsed_total} s."
    echo
    echo "## Machine"
    echo
    echo "- nproc: $(nproc); CPU: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); RAM: $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "- kernel: $(uname -srm); Debian $(cat /etc/debian_version)"
    echo "- sip-tester (sipp) $(pkg_version sip-tester); stunnel4 $(pkg_version stunnel4) ($(stunnel -version 2>&1 | grep -m1 '^Running' || true)); kamailio $(pkg_version kamailio), kamailio-tls-modules $(pkg_version kamailio-tls-modules); libssl3 $(pkg_version libssl3); openssl $(pkg_version openssl); python3 $(pkg_version python3)"
    echo "- reusegw: $("$REUSEGW_BIN" --version 2>/dev/null || echo "not built") ($REUSEGW_BIN); this harness at git $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo "?")"
    echo "- pinning: relays on CPU $RELAY_CPU, sipp UAC+UAS on CPU $LOAD_CPU; Kamailio tcp_children=$KAM_TCP_CHILDREN"
    echo
    other_max=$(tail -n +2 "$STEPS" | awk -F'\t' 'BEGIN {m = 0} $14 + 0 > m {m = $14 + 0} END {print m}')
    if awk -v o="$other_max" 'BEGIN { exit !(o > 20) }'; then
        echo "**Warning: other programs used up to ${other_max}% of a core during the rate runs: max rates, CPU shares and latency tails are skewed by them (memory per connection is not).**"
        echo
    fi
    echo "## reusegw against the alternatives"
    echo
    cat "$COMPARE"
    echo
    echo "## Results"
    echo
    cat "$SUMMARY"
    echo
    echo "- tx = one OPTIONS + its 200 (request ~540 B, response ~430 B as sipp sends them; each Kamailio hop adds a Via). SIP msgs/s = 2 x tx/s; every message crosses both relays (one TCP->TLS hop and one TLS->TCP hop), so one relay process does the work of one sidecar."
    echo "- A run passes when every call succeeds, calls/elapsed >= 97% of the target and the mean response time <= ${MAX_RTT_MS} ms. Max = highest target that passed a full ${DURATION_S} s run (bisected ${REFINE}x between ladder rates)."
    echo "- Interference check: busy CPU time not used by the relays or sipp (other programs, kernel threads) was at most ${other_max}% of a core in any run (column 'other CPU %' below)."
    echo "- CPU: process CPU from /proc/PID/task/*/schedstat (ns), core busy from /proc/stat idle (this VM's tick-based utime/stime, hence pidstat/top, under-count). Window: from 2 s after start to 1 s before the planned end. 100% = one core. 'msgs per relay CPU-s' = SIP msgs/s / relay CPU share, measured at the max rate."
    if ((!SKIP_LAT)); then
        echo "- Added latency: $LAT_N sequential OPTIONS/200 round trips per topology over one TCP connection, no other load (helper.py latency); round-trip percentile minus direct's. Raw p50/p99 us:$(for t in $TOPOLOGIES; do printf ' %s %s/%s;' "$t" "${LAT50[$t]:--}" "${LAT99[$t]:--}"; done)"
    fi
    if ((!SKIP_MEM)); then
        echo "- Idle memory: $MEM_CONNS idle mutual-TLS connections (TLS 1.3, P-256 certs, client cert verified) opened one after the other after $MEM_WARM warm-up ones; (PSS after - PSS before) / connections held, PSS summed over all processes of the relay (stunnel server mode: one process, a thread per connection; Kamailio B: all processes, $MEM_KAM_TCP_CHILDREN TCP reader(s)). Kernel socket memory is not included."
        for kind in "${MEM_KINDS[@]}"; do
            echo "  - $kind: ${MEMX[$kind]}"
        done
    fi
    echo
    echo "## All runs"
    echo
    echo "| topology | target/s | s | pass | ok | failed | achieved/s | mean rtt ms | relay core % | sipp core % | relay procs % | sipp procs % | sipp rc | other CPU % | relay A % | relay B % |"
    echo "|---|---:|---:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    tail -n +2 "$STEPS" | awk -F'\t' -v OFS=' | ' '{ $4 = ($4 == 1 ? "yes" : "NO"); print "| " $0 " |" }'
} >"$RES"

echo
cat "$SUMMARY"
echo
cat "$COMPARE"
echo
log "results written to $RES (run took ${elapsed_total} s)"
