#!/usr/bin/env bash
# Runs bench_process in its --tiny/--map/--latency modes and its Python peer
# (bench/process_peer.py, ProcessPoolExecutor(2)) alternately, one round each per round, and
# prints the medians with the median per-round ratio and its spread. A ratio above 1 means
# asio_pal did better (python / asio_pal for the latency). Builds nothing.
#   bench/process_vs_python.sh [BUILD_DIR] [ROUNDS]     (defaults: build 5)
# Bars (DESIGN.md): >= 5x Python on 2,000 tiny tasks and on the chunked map.
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exe="$build/bench/bench_process"
[[ -x $exe ]] || exe="$build/bench_process"
[[ -x $exe ]] || { echo "no bench_process in $build (build it first)" >&2; exit 1; }
declare -A vals
for ((r = 0; r < rounds; ++r)); do
    while read -r name v; do vals[$name]+="$v "; done \
        < <("$exe" --tiny 2000 --map 100000 --latency 2000 --rounds 1)
    while read -r name v; do vals[$name]+="$v "; done < <(python3 "$here/process_peer.py" 1)
done
# Median, printed with two decimals (never %g's six significant digits).
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {printf "%.2f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Per-round ratios of two space-separated lists; $3 = 1 when lower is better.
ratios() { awk -v a="$1" -v b="$2" -v inv="$3" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ");
    for (i = 1; i <= n; ++i) printf "%.6f ", (inv ? y[i] / x[i] : x[i] / y[i]) }'; }
report() { # label ours_name python_name unit lower_is_better bar
    local ours=${vals[$2]} py=${vals[$3]} rs
    rs=$(ratios "$ours" "$py" "$5")
    printf '%-28s asio_pal %14s %-7s | python %14s %-7s | ratio %.2fx (rounds %d, per-round %.2f..%.2f)%s\n' \
        "$1" "$(printf '%s' "$ours" | median)" "$4" "$(printf '%s' "$py" | median)" "$4" \
        "$(printf '%s' "$rs" | median)" "$rounds" \
        "$(printf '%s' "$rs" | tr ' ' '\n' | grep -v '^$' | sort -g | head -1)" \
        "$(printf '%s' "$rs" | tr ' ' '\n' | grep -v '^$' | sort -g | tail -1)" "$6"
}
report "2,000 tiny tasks" process_tiny_tasks python_process_tiny_tasks tasks/s 0 "  bar >= 5x"
report "map 100k, chunk 1000" process_map_chunk_1000 python_process_map_chunk_1000 items/s 0 "  bar >= 5x"
report "one task round trip, serial" process_round_trip_us python_process_round_trip_us us 1 ""
