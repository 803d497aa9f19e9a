#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Runs the cluster benchmarks' peers, mpi4py.futures and Dask distributed, alternately (the
# order swaps every round), one round each per round, and prints their records as they come,
# then a summary: medians, spreads, every round, CPU time per task (bench/cluster/peers_report.py).
#   bench/cluster/peers.sh [--rounds N]        (default 11 rounds; about 30 s a round here)
# Workloads, sizes and records: bench/cluster/peer_common.py; each peer's setup: its file.
# Python is Debian's /usr/bin/python3 with Debian's python3-mpi4py and python3-distributed
# (scripts/install-deps.sh cluster, which this runs first: silent when all is there).
# PEER_TINY, PEER_ITEMS and PEER_TRIPS change the sizes (for a quick try, not for figures).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rounds=11
while [[ $# -gt 0 ]]; do
    case $1 in
    --rounds)
        rounds=${2:-}
        shift 2 || { echo "$0: --rounds needs a number" >&2; exit 2; }
        ;;
    *)
        echo "usage: $0 [--rounds N]" >&2
        exit 2
        ;;
    esac
done
if [[ ! $rounds =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: --rounds must be a positive number, got '$rounds'" >&2
    exit 2
fi
"$here/../../scripts/install-deps.sh" cluster

python=/usr/bin/python3
mpirun_flags=(--allow-run-as-root --oversubscribe --enable-recovery
    --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
forward=(-x PEER_T0)
for v in PEER_TINY PEER_ITEMS PEER_TRIPS; do
    [[ -z ${!v:-} ]] || forward+=(-x "$v")
done
data=$(mktemp)
trap 'rm -f "$data"' EXIT

run_mpi4py()
{
    PEER_T0=$(date +%s.%N) timeout 300 mpirun "${mpirun_flags[@]}" "${forward[@]}" -np 3 \
        "$python" -m mpi4py.futures "$here/mpi4py_peer.py" 1 | tee -a "$data"
}
run_dask()
{
    timeout 600 "$python" "$here/dask_peer.py" 1 | tee -a "$data"
}

echo "# bench/cluster/peers.sh --rounds $rounds"
versions='import mpi4py, distributed as d
print("mpi4py", mpi4py.__version__, "distributed", d.__version__)'
echo "# $("$python" -c "$versions"), $(mpirun --version | head -1)"
echo "# start $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < rounds; ++r)); do
    if ((r % 2 == 0)); then
        run_mpi4py
        run_dask
    else
        run_dask
        run_mpi4py
    fi
done
echo "# end   $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" "$here/peers_report.py" "$data"
