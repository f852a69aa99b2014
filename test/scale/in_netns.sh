#!/bin/sh
# in_netns.sh COMMAND [ARGS...]: runs COMMAND inside a network namespace of
# its own (loopback up, nothing else), deleted afterwards, so that a test may
# install nft rules without touching the host's. Needs root.
set -eu
ns="reusegw-scale-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
ip netns exec "$ns" "$@"
