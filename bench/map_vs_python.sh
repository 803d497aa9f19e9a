#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Runs bench_map and its Python peer (bench/map_peer.py, ThreadPoolExecutor(2).map)
# alternately, one round each per round, and prints each asio_pal figure against Python with
# medians, spreads, per-round values and CPU time per item (bench/bench_util.py). Builds nothing.
#   bench/map_vs_python.sh [BUILD_DIR] [ROUNDS]     (defaults: build 11)
set -euo pipefail
build=${1:-build}
rounds=${2:-11}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "$0: ROUNDS must be a positive number, got '$rounds'" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exe="$build/bench/bench_map"
[[ -x $exe ]] || exe="$build/bench_map"
[[ -x $exe ]] || { echo "no bench_map in $build (build it first)" >&2; exit 1; }
data=$(mktemp)
trap 'rm -f "$data"' EXIT
echo "# bench/map_vs_python.sh $build $rounds"
echo "# start $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < rounds; ++r)); do
    "$exe" --rounds 1 | grep -v '^#' >>"$data"
    python3 "$here/map_peer.py" 1 >>"$data"
done
py=python_threadpool_map
peer="ThreadPoolExecutor(2).map"
python3 "$here/bench_util.py" report "$data" \
    "map_all chunk 1, 1M items:map_all_chunk_1:$py:$peer:items/s:0" \
    "map_all chunk 100:map_all_chunk_100:$py:$peer:items/s:0" \
    "map_all chunk 10000:map_all_chunk_10000:$py:$peer:items/s:0" \
    "submit 1M + collect:submit:$py:$peer:items/s:0"
echo "# end   $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# (Python maps 100k items a round, asio_pal 1M: rates are per item)"
