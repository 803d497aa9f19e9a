#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Runs the network-fault test of remote workers (test/netfault.cpp): sets up the network
# namespace asio_pal_ns and its veth pair (scripts/netns.sh), runs the test, which starts its
# workers in the namespace and cuts the link under them, then checks that no process is left
# in the namespace and tears it down.
#
#   scripts/test_netfault.sh <path of test_netfault> [Boost.Test arguments...]
#
# Exits 77 (CTest's "skipped") when not root or when iproute2 or nftables is missing
# (`scripts/install-deps.sh cluster`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
test_exe=$1
shift

if [[ $(id -u) -ne 0 ]]; then
    echo "test_netfault: network namespaces need root: skipped"
    exit 77
fi
for tool in ip nft; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "test_netfault: $tool is not installed (scripts/install-deps.sh cluster): skipped"
        exit 77
    fi
done

# The namespace's name is fixed: two builds' runs at once would cut each other's links and
# tear down each other's namespace. The second one waits.
exec 9>/tmp/asio_pal_netns.lock
if ! flock -w 600 9; then
    echo "test_netfault: another run holds /tmp/asio_pal_netns.lock" >&2
    exit 1
fi

ns=asio_pal_ns
# What runs in the namespace is the test's: said, then killed, so that teardown leaves nothing.
leftovers()
{
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z $pids ]] && return 0
    echo "test_netfault: left in $ns:" >&2
    # shellcheck disable=SC2086 # one pid a word
    ps -o pid=,args= -p $pids >&2 || true
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    return 1
}
# shellcheck disable=SC2317 # run by the trap
cleanup()
{
    leftovers || true
    "$here/netns.sh" teardown >/dev/null
}

"$here/netns.sh" setup
trap cleanup EXIT
status=0
timeout 540 "$test_exe" --catch_system_errors=no "$@" -- "$here/netns.sh" || status=$?
# The test checks after each case that no worker is left; this checks the end of all of them,
# the pool's own leftovers (`ip netns exec` processes) included, found by the worker marker.
workers=$(pgrep -f -- --asio-pal-worker || true)
in_ns=$(ip netns pids "$ns" 2>/dev/null || true)
for pid in $workers; do
    if grep -qx "$pid" <<<"$in_ns"; then
        echo "test_netfault: worker $pid is still running in $ns" >&2
        status=1
    fi
done
if ! leftovers; then
    status=1
fi
exit $status
