#!/usr/bin/env bash
# deploy/check-image.sh: builds the Dockerfile with podman and runs the image
# the way deploy/ does: read-only root filesystem, uid 10001, config and
# certificates from a read-only mount; then checks the HEALTHCHECK command,
# a SIGHUP reload and the SIGTERM drain. Needs root; installs podman and
# debootstrap from Debian when missing.
#
# Where no container registry is reachable (this project's build machines),
# the debian:12-slim base is made with debootstrap and imported. Where the
# VM refuses the rlimits OCI runtimes set (crun/runc "setrlimit: Operation
# not permitted"), the image's root filesystem is run with chroot instead of
# a container runtime: same files, user and read-only root, no namespaces.
# Ports: 127.0.0.1:25060/25061/25070/29091. Not part of ctest (minutes of
# downloads); run it by hand after changing the Dockerfile or scripts/deps.
set -euo pipefail
SOURCE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/reusegw-image.XXXXXX)
ROOT=$WORK/root
cleanup() {
    [[ -n ${PID:-} ]] && kill -9 "$PID" 2>/dev/null || true
    for m in proc dev etc/reusegw ""; do umountpoint "$ROOT/$m"; done
    [[ -n ${CID:-} ]] && { podman umount "$CID" &>/dev/null; podman rm "$CID" &>/dev/null; } || true
    rm -rf "$WORK"
}
umountpoint() { mountpoint -q "$1" 2>/dev/null && umount "$1" || true; }
trap cleanup EXIT

for tool in podman debootstrap; do
    command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$tool" >/dev/null
done
if ! podman image exists debian:12-slim && ! podman pull -q docker.io/library/debian:12-slim 2>/dev/null; then
    echo "check-image: no registry; building debian:12-slim with debootstrap"
    debootstrap --variant=minbase bookworm "$WORK/base" http://deb.debian.org/debian >/dev/null
    printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
        >"$WORK/base/etc/apt/sources.list"
    tar -C "$WORK/base" -c . | podman import -q - localhost/debian:12-slim >/dev/null
fi

git -C "$SOURCE" archive --format=tar HEAD | (mkdir -p "$WORK/src" && tar -C "$WORK/src" -x)
podman build -q --format docker --isolation=chroot --pull=never --network=host -t reusegw:check \
    "$WORK/src" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
podman image inspect --format '{{.Config.Healthcheck.Test}}' reusegw:check | grep -q healthz ||
    { echo "FAIL: the image has no HEALTHCHECK on /healthz"; exit 1; }
[[ $(podman image inspect --format '{{.Config.User}}' reusegw:check) == reusegw ]] ||
    { echo "FAIL: the image does not run as user reusegw"; exit 1; }
echo "ok: image built; HEALTHCHECK on /healthz; USER reusegw"

# Configuration and certificates as an operator mounts them.
mkdir -p "$WORK/conf/tls"
bash "$SOURCE/test/certs/gen.sh" "$WORK/pki" >/dev/null 2>&1
cp "$WORK/pki/gw-a.chain.pem" "$WORK/conf/tls/proxy.pem"
cp "$WORK/pki/gw-a.key" "$WORK/conf/tls/proxy.key"
cp "$WORK/pki/ca.pem" "$WORK/conf/tls/ca.pem"
chmod 644 "$WORK/conf/tls/"*
sed -e 's/proxy.example.com:5061/a.test:25061/' -e 's/0.0.0.0:5061/127.0.0.1:25061/' \
    -e 's/127.0.0.1:5060/127.0.0.1:25060/' -e 's/127.0.0.1:5070/127.0.0.1:25070/' \
    -e 's/127.0.0.1:9091/127.0.0.1:29091/' -e 's/drain_timeout: 20s/drain_timeout: 5s/' \
    "$SOURCE/deploy/reusegw.yaml" >"$WORK/conf/config.yaml"

CID=$(podman create reusegw:check)
mkdir -p "$ROOT"
mount --bind "$(podman mount "$CID")" "$ROOT" && mount -o remount,bind,ro "$ROOT"
mount --bind "$WORK/conf" "$ROOT/etc/reusegw" && mount -o remount,bind,ro "$ROOT/etc/reusegw"
mount -t proc proc "$ROOT/proc" && mount --bind /dev "$ROOT/dev"
if touch "$ROOT/probe" 2>/dev/null; then echo "FAIL: root filesystem is writable"; exit 1; fi

chroot --userspec=10001:10001 "$ROOT" /usr/local/bin/reusegw -c /etc/reusegw/config.yaml \
    >"$WORK/log" 2>&1 &
PID=$!
health() {
    chroot --userspec=10001:10001 "$ROOT" bash -c \
        "exec 3<>/dev/tcp/127.0.0.1/29091 && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"
}
for _ in $(seq 50); do health 2>/dev/null && break; sleep 0.1; done
health || { echo "FAIL: HEALTHCHECK"; cat "$WORK/log"; exit 1; }
echo "ok: runs read-only as uid $(stat -c %u /proc/$PID), HEALTHCHECK passes"
kill -HUP "$PID"
for _ in $(seq 50); do grep -q 'configuration reloaded' "$WORK/log" && break; sleep 0.1; done
grep -q 'configuration reloaded' "$WORK/log" || { echo "FAIL: SIGHUP reload"; cat "$WORK/log"; exit 1; }
echo "ok: SIGHUP reloads the mounted configuration"
start=$(date +%s%N)
kill -TERM "$PID"
wait "$PID" && status=0 || status=$?
PID=
echo "ok: SIGTERM drain exited $status after $(( ($(date +%s%N) - start) / 1000000 )) ms"
[[ $status -eq 0 ]]
