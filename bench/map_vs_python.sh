#!/usr/bin/env bash
# Runs bench/map.cpp and its Python peer alternately (same machine, same script) and prints
# each asio_pal figure with its ratio to Python's ThreadPoolExecutor(2).map.
#   bench/map_vs_python.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exe="$build/bench/bench_map"
[[ -x $exe ]] || exe="$build/bench_map"
declare -A ours
py=()
for ((r = 0; r < rounds; ++r)); do
    while read -r name rate; do ours[$name]+="$rate "; done < <("$exe" --rounds 1)
    py+=("$(python3 "$here/map_peer.py" 1 | awk '{print $2}')")
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
pm=$(printf '%s ' "${py[@]}" | median)
printf '%-22s %14s items/s\n' python_threadpool_map "$pm"
for name in map_all_chunk_1 map_all_chunk_100 map_all_chunk_10000 submit; do
    m=$(printf '%s' "${ours[$name]}" | median)
    printf '%-22s %14s items/s  %8.1fx python  (rounds %d)\n' "$name" "$m" \
        "$(awk -v a="$m" -v b="$pm" 'BEGIN {print a / b}')" "$rounds"
done
