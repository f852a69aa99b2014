# bench/scale/lib.sh: the shell helpers bench/scale/run.sh and
# bench/ladder/run.sh share (sourced, never run): logging, report-line
# fields, a free loopback /24, process start and stop, the bench PKI's peer
# certificates and reusegw's configuration. Reads the caller's variables
# named at each function; starts nothing by itself.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# kv KEY LINE: the value after "KEY=" in a report line
kv() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2"; }

pick_net() { # a 127.x.y.0/24 with nothing listening on it
    local net i
    for ((i = 0; i < 50; i++)); do
        net=127.$((RANDOM % 150 + 100)).$((RANDOM % 250 + 1))
        ss -Hltn | awk '{print $4}' | grep -q "^$net\." || { echo "$net"; return; }
    done
    die "no free loopback /24 found"
}

stop_pid() { # pid: SIGTERM, then SIGKILL after 5 s
    local i
    kill -TERM "$1" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

wait_listen() { # ip port pid
    local i
    for ((i = 0; i < 150; i++)); do
        ss -Hltn "sport = :$2" | awk '{print $4}' | grep -qx "$1:$2" && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
wait_line() { # file pattern pid: the first line of file matching pattern
    local i
    for ((i = 0; i < 300; i++)); do
        grep -m1 "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# make_peer_certs: under $CERTS (test/certs/gen.sh's CA already there),
# client certificate g proving p<16g>..p<16g+15>.scale.test (sip-URI SANs)
# for connections 16g..16g+15 of $CONNS (reusegw keeps at most 16
# identities per certificate; names.h); appends scale_load's -C/-K
# arguments to CERT_ARGS.
make_peer_certs() {
    local args
    args=$("${BASH_SOURCE[0]%/*}/peer_certs.sh" "$CERTS" "$CONNS")
    mapfile -t -O "${#CERT_ARGS[@]}" CERT_ARGS <<<"$args"
}

# gateway_config WORKERS SINK_PORT: reusegw's configuration on stdout:
# tls.listen $GW_IP:5061, legacy.listen $GW_IP:5070, forward_to
# $SINK_IP:SINK_PORT, routes p<i>.scale.test -> $LOAD_IP:<BASE_PORT+i> for
# i < $CONNS, limits.max_pending_transactions $PENDING.
gateway_config() { # workers sink_port
    cat <<CFG
identity:
  sent_by: a.test:5061
tls:
  listen: ["$GW_IP:5061"]
  certificate: $CERTS/gw-a.chain.pem
  private_key: $CERTS/gw-a.key
  ca: $CERTS/ca.pem
  client_certificate: required
legacy:
  forward_to: $SINK_IP:$2
  listen: $GW_IP:5070
admin:
  listen: $GW_IP:9091
limits:
  max_pending_transactions: $PENDING
runtime:
  workers: $1
log:
  level: warn
routes:
CFG
    local i
    for ((i = 0; i < CONNS; i++)); do
        printf '  - domain: p%d.scale.test\n    targets: ["%s:%d"]\n' "$i" "$LOAD_IP" $((BASE_PORT + i))
    done
}
