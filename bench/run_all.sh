#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Builds the benchmarks and runs every figure of README.md's comparison table (and the other
# DESIGN.md bars that bench/README.md reports), each program with its default 11 interleaved
# rounds, recording the load average before and after. Output goes to the terminal and to a
# file.
#
#   bench/run_all.sh [options]
#     --build-dir DIR   build into DIR (default: build/, configured as scripts/test.sh does)
#     --no-build        run what DIR holds
#     --rounds N        rounds for every program and script (default: theirs, 11)
#     --pin CPUS        run every program under `taskset -c CPUS` (e.g. 0,1); default unpinned
#     --out FILE        raw output (default: DIR/bench/run_all-<UTC time>.txt)
#
# Besides the unpinned runs it always runs `taskset -c 0 bench_process --roundtrip`: pinned to
# one CPU, the process round trip stays in one mode (bench/README.md, "The direct pipe...").
# Measure on a quiet machine: the script warns when the 1-minute load average is above 1.5.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../scripts/common.sh"

build=$ASIO_PAL_BUILD_DIR
do_build=1
rounds=
pin=
out=
while [[ $# -gt 0 ]]; do
    case $1 in
    --build-dir) build=${2:?--build-dir needs a directory}; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --pin) pin=${2:?--pin needs a CPU list}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    *) echo "run_all.sh: unknown argument '$1' (see the top of $0)" >&2; exit 2 ;;
    esac
done
if [[ -n $rounds && ! $rounds =~ ^[1-9][0-9]*$ ]]; then
    echo "run_all.sh: --rounds must be a positive number, got '$rounds'" >&2
    exit 2
fi
build=$(mkdir -p "$build" && cd "$build" && pwd)

benches=(bench_post bench_submit bench_many_submitters bench_hop bench_idle bench_map bench_process)
if ((do_build)); then
    asio_pal_configure "$build" "${ASIO_PAL_BUILD_ARGS[@]}" >/dev/null
    asio_pal_build "$build" "${benches[@]}"
fi
for b in "${benches[@]}"; do
    [[ -x $build/bench/$b ]] || { echo "run_all.sh: no $build/bench/$b" >&2; exit 1; }
done

out=${out:-$build/bench/run_all-$(date -u +%Y%m%dT%H%M%SZ).txt}
mkdir -p "$(dirname "$out")"
exec > >(tee "$out") 2>&1

run_args=()
[[ -n $rounds ]] && run_args=(--rounds "$rounds")
script_rounds=${rounds:-11}
pinned=()
[[ -n $pin ]] && pinned=(taskset -c "$pin")

# "$@" run as shown, after a "$ command" line.
show() {
    echo "\$ $*"
    "$@"
    echo
}

load1() { cut -d' ' -f1 /proc/loadavg; }
echo "# bench/run_all.sh: $(date -u '+%F %T UTC')"
echo "# commit $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$here/.." diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)')," \
    "build $build ($(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2)," \
    "$(grep -m1 '^CMAKE_CXX_COMPILER:' "$build/CMakeCache.txt" | cut -d= -f2))"
echo "# $(nproc) CPUs; pinned: ${pin:-no}; rounds: ${rounds:-default (11)}"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="$(load1)" 'BEGIN { exit !(l > 1.5) }'; then
    echo "# WARNING: load average above 1.5: not a quiet machine, figures are loaded-machine ones"
fi
echo
start=$SECONDS

cd "$here/.."
# Thread pool: post, submit + round trip, hop, idle/elastic.
show "${pinned[@]}" "$build/bench/bench_post" "${run_args[@]}"
show "${pinned[@]}" "$build/bench/bench_submit" "${run_args[@]}"
show "${pinned[@]}" "$build/bench/bench_many_submitters" "${run_args[@]}"
show "${pinned[@]}" "$build/bench/bench_hop" "${run_args[@]}"
show "${pinned[@]}" "$build/bench/bench_idle" "${run_args[@]}"
# Process pool: round trip, cold start, shrink, speedup; then the round trip on one CPU.
show "${pinned[@]}" "$build/bench/bench_process" "${run_args[@]}"
show taskset -c 0 "$build/bench/bench_process" --roundtrip "${run_args[@]}"
# Against Python (the scripts alternate the two programs, one round each per round).
if [[ -n $pin ]]; then
    show taskset -c "$pin" "$here/map_vs_python.sh" "$build" "$script_rounds"
    show taskset -c "$pin" "$here/process_vs_python.sh" "$build" "$script_rounds"
else
    show "$here/map_vs_python.sh" "$build" "$script_rounds"
    show "$here/process_vs_python.sh" "$build" "$script_rounds"
fi

echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); took $((SECONDS - start)) s"
echo "# raw output: $out"
