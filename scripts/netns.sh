#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# A network namespace with a veth pair to this one, for the network-fault tests of remote
# workers: a worker started in the namespace reaches the pool over a link this script can cut or
# make drop everything. Root (iproute2 and nftables: `scripts/install-deps.sh cluster`).
#
#   scripts/netns.sh setup      namespace asio_pal_ns; veth asio_pal_v0 (here, 10.213.0.1/24)
#                               and asio_pal_v1 (in the namespace, 10.213.0.2/24); both up
#   scripts/netns.sh teardown   removes the namespace, the pair and the drop table
#   scripts/netns.sh cut        link down (asio_pal_v0): the pair carries nothing, both sides
#                               see it; the sockets stay open
#   scripts/netns.sh restore    link up again
#   scripts/netns.sh drop       nftables table inet asio_pal_drop: every packet to and from
#                               10.213.0.2 is dropped here, silently (no reset, no ICMP); the
#                               link stays up
#   scripts/netns.sh undrop     deletes that table
#   scripts/netns.sh status     what exists now; exit 0 when set up, 3 when not
#
# Then: ip netns exec asio_pal_ns PROG ... runs PROG in the namespace; it reaches this side at
# 10.213.0.1, and a server there is reached from here at 10.213.0.2. Every command is
# idempotent (setup when set up, teardown when nothing is there: both succeed). Traffic goes
# only between these two addresses of this machine.
#
# What a test sees, checked here (gVisor, Debian 12 iproute2 6.1, nftables 1.0.6): after `cut`
# or `drop`, a connected TCP socket gets no error by itself (a send is buffered and a read just
# waits): only a timeout or a heartbeat tells; after `restore` or `undrop` the same connection
# carries on. A slow link cannot be made here (the kernel has no netem: `tc qdisc ... netem`
# answers "Specified qdisc kind is unknown"); stop the worker with SIGSTOP for a hung node.
set -euo pipefail

ns=asio_pal_ns
here_if=asio_pal_v0
ns_if=asio_pal_v1
here_addr=10.213.0.1
ns_addr=10.213.0.2
table=asio_pal_drop

usage()
{
    echo "usage: $0 setup|teardown|cut|restore|drop|undrop|status" >&2
    exit 2
}

need_root()
{
    if [[ $(id -u) -ne 0 ]]; then
        echo "netns: must run as root (ip netns, ip link, nft)" >&2
        exit 1
    fi
}

has_ns() { [[ -e /run/netns/$ns ]]; }
has_link() { ip link show "$here_if" >/dev/null 2>&1; }
has_table() { nft list table inet "$table" >/dev/null 2>&1; }

need_setup()
{
    if ! has_ns || ! has_link; then
        echo "netns: not set up (run: $0 setup)" >&2
        exit 1
    fi
}

setup()
{
    if has_ns && has_link; then
        echo "netns: already set up ($here_if $here_addr <-> $ns:$ns_if $ns_addr)"
        return 0
    fi
    teardown >/dev/null # a half-made one
    ip netns add "$ns"
    ip link add "$here_if" type veth peer name "$ns_if"
    ip link set "$ns_if" netns "$ns"
    ip addr add "$here_addr/24" dev "$here_if"
    ip link set "$here_if" up
    ip -n "$ns" addr add "$ns_addr/24" dev "$ns_if"
    ip -n "$ns" link set "$ns_if" up
    ip -n "$ns" link set lo up
    echo "netns: set up: $here_if $here_addr <-> $ns:$ns_if $ns_addr"
}

teardown()
{
    if has_table; then
        nft delete table inet "$table"
    fi
    if has_link; then
        ip link delete "$here_if" # its peer goes with it
    fi
    if has_ns; then
        ip netns delete "$ns"
    fi
    echo "netns: torn down"
}

cut()
{
    need_setup
    ip link set "$here_if" down
    echo "netns: link cut ($here_if down)"
}

restore()
{
    need_setup
    ip link set "$here_if" up
    echo "netns: link restored ($here_if up)"
}

drop()
{
    need_setup
    if has_table; then
        echo "netns: already dropping traffic to and from $ns_addr"
        return 0
    fi
    nft -f - <<EOF
table inet $table {
    chain output {
        type filter hook output priority 0; policy accept;
        ip daddr $ns_addr drop
    }
    chain input {
        type filter hook input priority 0; policy accept;
        ip saddr $ns_addr drop
    }
}
EOF
    echo "netns: dropping every packet to and from $ns_addr (table inet $table)"
}

undrop()
{
    if has_table; then
        nft delete table inet "$table"
    fi
    echo "netns: not dropping"
}

status()
{
    local up=3
    if has_ns && has_link; then
        up=0
        echo "netns: set up: $here_if $here_addr <-> $ns:$ns_if $ns_addr"
        ip -br link show "$here_if"
        ip -n "$ns" -br addr show "$ns_if"
    else
        echo "netns: not set up (namespace: $(has_ns && echo yes || echo no)," \
            "link: $(has_link && echo yes || echo no))"
    fi
    if has_table; then
        echo "netns: dropping (table inet $table)"
    fi
    return $up
}

need_root
case ${1:-} in
setup) setup ;;
teardown) teardown ;;
cut) cut ;;
restore) restore ;;
drop) drop ;;
undrop) undrop ;;
status) status ;;
*) usage ;;
esac
