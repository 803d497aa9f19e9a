#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Runs bench_process in its --tiny/--map/--latency modes and its Python peer
# (bench/process_peer.py, ProcessPoolExecutor(2)) alternately, one round each per round, and
# prints each figure with medians, spreads, per-round values and CPU time per task (this
# process and its workers), through bench/bench_util.py. A ratio above 1 means asio_pal did
# better (python / asio_pal for the latency and for CPU time). Builds nothing.
#   bench/process_vs_python.sh [BUILD_DIR] [ROUNDS]     (defaults: build 11)
# Bars (DESIGN.md): >= 5x Python on 2,000 tiny tasks and on the chunked map.
set -euo pipefail
build=${1:-build}
rounds=${2:-11}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "$0: ROUNDS must be a positive number, got '$rounds'" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exe="$build/bench/bench_process"
[[ -x $exe ]] || exe="$build/bench_process"
[[ -x $exe ]] || { echo "no bench_process in $build (build it first)" >&2; exit 1; }
data=$(mktemp)
trap 'rm -f "$data"' EXIT
echo "# bench/process_vs_python.sh $build $rounds"
echo "# start $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < rounds; ++r)); do
    "$exe" --tiny 2000 --map 100000 --latency 2000 --rounds 1 | grep -v '^#' >>"$data"
    python3 "$here/process_peer.py" 1 >>"$data"
done
peer="ProcessPoolExecutor(2)"
python3 "$here/bench_util.py" report "$data" \
    "2,000 tiny tasks:process_tiny_tasks:python_process_tiny_tasks:$peer:tasks/s:0:  bar >= 5x" \
    "map 100k, chunk 1000:process_map_chunk_1000:python_process_map_chunk_1000:$peer.map:items/s:0:  bar >= 5x" \
    "one task round trip, serial:process_round_trip_us:python_process_round_trip_us:$peer:us:1"
echo "# end   $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
