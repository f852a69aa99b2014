#!/usr/bin/env bash
# bench/scale/peer_certs.sh CERTS CONNS: client certificates for scale_load's
# CONNS connections, signed by the test CA in CERTS (test/certs/gen.sh's
# ca.pem / ca.key): certificate g proves p<16g>..p<16g+15>.scale.test
# (sip-URI SANs; reusegw keeps at most 16 identities per certificate,
# names.h), as CERTS/scale-peer-<g>.chain.pem and .key. Prints scale_load's
# certificate arguments, one per line: -C CHAIN -K KEY for each certificate.
set -euo pipefail
CERTS=$1 CONNS=$2
for ((g = 0; g * 16 < CONNS; g++)); do
    name=$CERTS/scale-peer-$g san=""
    for ((i = g * 16; i < CONNS && i < g * 16 + 16; i++)); do
        san+="${san:+,}URI:sip:p$i.scale.test"
    done
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" >"$name.ext"
    openssl ecparam -name prime256v1 -genkey -noout -out "$name.key" 2>/dev/null
    openssl req -new -key "$name.key" -subj "/CN=scale-peer-$g" -out "$name.csr" 2>/dev/null
    openssl x509 -req -sha256 -days 2 -in "$name.csr" -CA "$CERTS/ca.pem" \
        -CAkey "$CERTS/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
        -extfile "$name.ext" -out "$name.pem" 2>/dev/null
    cat "$name.pem" "$CERTS/ca.pem" >"$name.chain.pem"
    printf '%s\n' -C "$name.chain.pem" -K "$name.key"
done
