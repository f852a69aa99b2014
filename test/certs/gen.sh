#!/usr/bin/env bash
# test/certs/gen.sh OUTDIR: makes a throwaway PKI for tests and the demo with
# the openssl CLI. Nothing here is secret; OUTDIR is created if needed and
# files already there are replaced. Keys are ECDSA P-256 unless named rsa.
#
#   ca.pem ca.key            trusted root; every leaf below is signed by it
#   untrusted-ca.pem         a second root that tests do NOT trust
#   inter-ca.pem inter-ca.key  an intermediate CA signed by ca (CRL tests)
#   <leaf>.pem <leaf>.key    leaf certificate (leaf only) and its key;
#   <leaf>.chain.pem         leaf followed by ca.pem
#
# Leaves (EKU serverAuth+clientAuth unless the name says otherwise):
#   gw-a        URI sip:a.test, DNS a.test              gateway A (demo, e2e)
#   gw-b        URI sip:b.test, DNS b.test              gateway B
#   peer-k      URI sip:k.test, DNS k.test              Kamailio peer
#   sipuri      URI sip:sipuri.test, DNS other.test     sip-URI wins over dNSName
#   dnsonly     DNS dns.test                            dNSName used
#   cnonly      CN cn.test, no SAN extension            CN used
#   ipsan       CN ipsan.test, SAN IP 127.0.0.1 only     no identity (CN ignored: SAN exists)
#   wildcard    DNS *.wild.test                         literal "*.wild.test" only
#   virtual     URI sip:a.virt.test, URI sip:b.virt.test  two domains
#   sipsuser    URI sips:sips.test, URI sip:u@user.test, DNS fallback.test
#                                                       only fallback.test
#   eku-none    DNS eku-none.test, no EKU extension
#   eku-sip     DNS eku-sip.test, EKU id-kp-sipDomain
#   eku-any     DNS eku-any.test, EKU anyExtendedKeyUsage only
#   eku-wrong   DNS eku-wrong.test, EKU codeSigning only
#   eku-server  DNS eku-server.test, EKU serverAuth only
#   eku-client  DNS eku-client.test, EKU clientAuth only
#   expired     DNS expired.test, valid 2020-01-01..2021-01-01
#   notyet      DNS notyet.test, valid from 2099-01-01
#   untrusted   DNS untrusted.test, signed by untrusted-ca
#   rsa         DNS rsa.test, RSA 2048
#   tenant-x/-y/-z  sip:+DNS x/y/z.tenant.test (identities of one gateway)
#   untrusted-opt   DNS opt.test, untrusted-ca
#   untrusted-other DNS other.untrusted.test, untrusted-ca
#   eku-server-b    DNS eku-server-b.test, EKU serverAuth only
#   peer-i      URI sip:i.test, DNS i.test, signed by inter-ca; its chain
#               file is peer-i, inter-ca, ca
set -euo pipefail
out=${1:?usage: gen.sh OUTDIR}
mkdir -p "$out"
cd "$out"

ossl() { openssl "$@" 2>/dev/null; }

make_root() { # name cn
  ossl ecparam -name prime256v1 -genkey -noout -out "$1.key"
  ossl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$1.pem"
}

# leaf NAME CA SUBJECT EXTENSIONS [KEYTYPE] [STARTDATE ENDDATE]
leaf() {
  local name=$1 ca=$2 subj=$3 ext=$4 keytype=${5:-ec} start=${6:-} end=${7:-}
  if [[ $keytype == rsa ]]; then
    ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name.key"
  else
    ossl ecparam -name prime256v1 -genkey -noout -out "$name.key"
  fi
  ossl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
  printf '%b\n' "$ext" >"$name.ext"
  rm -rf ca-db && mkdir ca-db && : >ca-db/index.txt
  openssl rand -hex 16 >ca-db/serial
  cat >ca-db/ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[p]
commonName = supplied
CNF
  local dates=(-days 825)
  [[ -n $start ]] && dates=(-startdate "$start" -enddate "$end")
  ossl ca -batch -config ca-db/ca.cnf -cert "$ca.pem" -keyfile "$ca.key" \
    -in "$name.csr" -out "$name.pem" -extfile "$name.ext" -notext "${dates[@]}"
  cat "$name.pem" ca.pem >"$name.chain.pem"
  rm -rf "$name.csr" "$name.ext" ca-db
}

make_root ca "reusegw test CA"
make_root untrusted-ca "reusegw untrusted CA"

base='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment'
eku='extendedKeyUsage=serverAuth,clientAuth'
std="$base\n$eku"

leaf gw-a ca "/CN=a.test" "$std\nsubjectAltName=URI:sip:a.test,DNS:a.test"
leaf gw-b ca "/CN=b.test" "$std\nsubjectAltName=URI:sip:b.test,DNS:b.test"
leaf peer-k ca "/CN=k.test" "$std\nsubjectAltName=URI:sip:k.test,DNS:k.test"
leaf sipuri ca "/CN=sipuri.test" "$std\nsubjectAltName=URI:sip:sipuri.test,DNS:other.test"
leaf dnsonly ca "/CN=ignored-cn.test" "$std\nsubjectAltName=DNS:dns.test"
leaf cnonly ca "/CN=cn.test" "$std"
leaf ipsan ca "/CN=ipsan.test" "$std\nsubjectAltName=IP:127.0.0.1"
leaf wildcard ca "/CN=wild" "$std\nsubjectAltName=DNS:*.wild.test"
leaf virtual ca "/CN=virt" "$std\nsubjectAltName=URI:sip:a.virt.test,URI:sip:b.virt.test"
leaf sipsuser ca "/CN=sipsuser" \
  "$std\nsubjectAltName=URI:sips:sips.test,URI:sip:u@user.test,DNS:fallback.test"
leaf eku-none ca "/CN=eku-none.test" "$base\nsubjectAltName=DNS:eku-none.test"
leaf eku-sip ca "/CN=eku-sip.test" \
  "$base\nextendedKeyUsage=1.3.6.1.5.5.7.3.20\nsubjectAltName=DNS:eku-sip.test"
leaf eku-any ca "/CN=eku-any.test" \
  "$base\nextendedKeyUsage=anyExtendedKeyUsage\nsubjectAltName=DNS:eku-any.test"
leaf eku-wrong ca "/CN=eku-wrong.test" \
  "$base\nextendedKeyUsage=codeSigning\nsubjectAltName=DNS:eku-wrong.test"
leaf eku-server ca "/CN=eku-server.test" \
  "$base\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:eku-server.test"
leaf eku-client ca "/CN=eku-client.test" \
  "$base\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:eku-client.test"
leaf expired ca "/CN=expired.test" "$std\nsubjectAltName=DNS:expired.test" ec \
  20200101000000Z 20210101000000Z
leaf notyet ca "/CN=notyet.test" "$std\nsubjectAltName=DNS:notyet.test" ec \
  20990101000000Z 21000101000000Z
leaf untrusted untrusted-ca "/CN=untrusted.test" "$std\nsubjectAltName=DNS:untrusted.test"
leaf rsa ca "/CN=rsa.test" "$std\nsubjectAltName=DNS:rsa.test" rsa
# Identities of one multi-tenant gateway (issue 16) and the peers its
# per-peer policies are about.
for t in x y z; do
  leaf tenant-$t ca "/CN=$t.tenant.test" "$std\nsubjectAltName=URI:sip:$t.tenant.test,DNS:$t.tenant.test"
done
leaf untrusted-opt untrusted-ca "/CN=opt.test" "$std\nsubjectAltName=DNS:opt.test"
leaf untrusted-other untrusted-ca "/CN=other.untrusted.test" \
  "$std\nsubjectAltName=DNS:other.untrusted.test"
leaf eku-server-b ca "/CN=eku-server-b.test" \
  "$base\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:eku-server-b.test"
leaf inter-ca ca "/CN=reusegw test intermediate CA" \
  'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign'
leaf peer-i inter-ca "/CN=i.test" "$std\nsubjectAltName=URI:sip:i.test,DNS:i.test"
cat peer-i.pem inter-ca.pem ca.pem >peer-i.chain.pem
