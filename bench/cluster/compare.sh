#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# The across-machines benchmarks of issue 11: asio_pal's process pool with workers over loopback
# TCP (bench_remote, bench/remote.cpp) against mpi4py.futures and Dask distributed
# (bench/cluster/peers.sh), alternately, one round of each per round (the first of the two swaps
# every round), on the same machine in the same run. Prints every record as it comes, then each
# figure with medians, spreads, per-round values and CPU time per task (bench/bench_util.py),
# and a table of ratios against the issue's bars. The raw output goes to a file.
#
#   bench/cluster/compare.sh [options]
#     --build-dir DIR   build bench_remote into DIR (default: build/, configured as
#                       scripts/test.sh does)
#     --no-build        run what DIR holds
#     --rounds N        rounds (default 11)
#     --out FILE        raw output (default: bench/results/<UTC date>-cluster.txt)
#     --slurm           after the rounds, also a worker's start through srun against a local
#                       spawn (bench_remote --slurm, N rounds of 3 each) in a one-node Slurm
#                       cluster of its own (scripts/slurm_cluster.sh; root), stopped at the end
#
# Bars (issue 11): at least 10x mpi4py.futures on the 2,000 tiny tasks and on the map over
# 100k items with chunk 1000; run() over loopback TCP within 1.5x of a raw TCP ping-pong
# measured in the same program. A ratio above 1 means asio_pal did better (for latencies it is
# peer / asio_pal). Measure on a quiet machine: it warns when the 1-minute load average is
# above 1.5. A round takes about 30 s here, almost all of it Dask's.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/scripts/common.sh"

build=$ASIO_PAL_BUILD_DIR
do_build=1
rounds=11
out=
slurm=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --build-dir) build=${2:?--build-dir needs a directory}; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --slurm) slurm=1; shift ;;
    *) echo "compare.sh: unknown argument '$1' (see the top of $0)" >&2; exit 2 ;;
    esac
done
if [[ ! $rounds =~ ^[1-9][0-9]*$ ]]; then
    echo "compare.sh: --rounds must be a positive number, got '$rounds'" >&2
    exit 2
fi
build=$(mkdir -p "$build" && cd "$build" && pwd)
exe=$build/bench/bench_remote
if ((do_build)); then
    if [[ ! -f $build/CMakeCache.txt ]]; then
        asio_pal_configure "$build" "${ASIO_PAL_BUILD_ARGS[@]}" >/dev/null
    fi
    # The machine is shared: only the one target, two jobs.
    cmake --build "$build" --target bench_remote -j2
fi
[[ -x $exe ]] || { echo "compare.sh: no $exe (build it, or drop --no-build)" >&2; exit 1; }
"$root/scripts/install-deps.sh" cluster # silent when all is there

out=${out:-$root/bench/results/$(date -u +%F)-cluster.txt}
mkdir -p "$(dirname "$out")"
exec > >(tee "$out") 2>&1
python=/usr/bin/python3
data=$(mktemp)
round_out=$(mktemp)
slurm_dir=
cleanup()
{
    if [[ -n $slurm_dir ]]; then
        ASIO_PAL_SLURM_DIR=$slurm_dir "$root/scripts/slurm_cluster.sh" stop || true
    fi
    rm -f "$data" "$round_out"
}
trap cleanup EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }
echo "# bench/cluster/compare.sh --rounds $rounds: $(date -u '+%F %T UTC')"
echo "# commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)')," \
    "build $build ($(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2)," \
    "$(grep -m1 '^CMAKE_CXX_COMPILER:' "$build/CMakeCache.txt" | cut -d= -f2))"
echo "# $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="$(load1)" 'BEGIN { exit !(l > 1.5) }'; then
    echo "# WARNING: load average above 1.5: not a quiet machine, figures are loaded-machine ones"
fi
start=$SECONDS

# Each program's output goes to the terminal and the raw file as it comes; then its records
# ("<name> <value> <cpu us per task>") are kept in $data for the summary.
run_one()
{
    local status=0
    echo "\$ $*"
    "$@" | tee "$round_out" || status=$?
    if ((status != 0)); then
        echo "compare.sh: '$*' failed (status $status): see its output above" >&2
        exit 1
    fi
    grep -E '^[a-z0-9_]+ [-+0-9.eE]+ ([-+0-9.eE]+|nan)$' "$round_out" >>"$data"
}
run_asio_pal() { run_one timeout 300 "$exe" --rounds 1 --records; }
run_peers() { run_one "$here/peers.sh" --rounds 1; }
for ((r = 0; r < rounds; ++r)); do
    echo "# ==== round $((r + 1)) of $rounds"
    if ((r % 2 == 0)); then
        run_asio_pal
        run_peers
    else
        run_peers
        run_asio_pal
    fi
done
echo "# rounds done $(date -u '+%F %T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== asio_pal, workers over loopback TCP (command_launcher), against the peers =="
tcp="asio_pal over TCP"
"$python" "$root/bench/bench_util.py" report "$data" \
    "2,000 tiny tasks, submit all then collect:asio_pal_tcp_tiny_tasks:mpi4py_tiny_tasks:mpi4py.futures:tasks/s:0:  bar >= 10x" \
    "same:asio_pal_tcp_tiny_tasks:dask_tiny_tasks:Dask distributed:tasks/s:0" \
    "map over 100k items, chunk 1000:asio_pal_tcp_map_chunk_1000:mpi4py_map_chunk_1000:mpi4py.futures:items/s:0:  bar >= 10x" \
    "same:asio_pal_tcp_map_chunk_1000:dask_map_chunk_1000:Dask distributed:items/s:0" \
    "serial round trip, median trip:asio_pal_tcp_round_trip_us:mpi4py_round_trip_us:mpi4py.futures:us:1" \
    "same:asio_pal_tcp_round_trip_us:dask_round_trip_us:Dask distributed:us:1" \
    "serial round trip, mean trip:asio_pal_tcp_round_trip_mean_us:mpi4py_round_trip_mean_us:mpi4py.futures:us:1" \
    "same:asio_pal_tcp_round_trip_mean_us:dask_round_trip_mean_us:Dask distributed:us:1" \
    "cold start -> 1st result:asio_pal_tcp_cold_start_us:mpi4py_cold_start_us:MPIPoolExecutor() (workers up):us:1" \
    "same:asio_pal_tcp_cold_start_us:dask_cold_start_us:LocalCluster + Client:us:1"
echo
echo "== asio_pal over TCP against itself over pipes, and against a raw TCP ping-pong =="
"$python" "$root/bench/bench_util.py" report "$data" \
    "2,000 tiny tasks:asio_pal_tcp_tiny_tasks:asio_pal_pipes_tiny_tasks:asio_pal over pipes:tasks/s:0" \
    "map over 100k items, chunk 1000:asio_pal_tcp_map_chunk_1000:asio_pal_pipes_map_chunk_1000:asio_pal over pipes:items/s:0" \
    "serial run() round trip, median trip:asio_pal_tcp_round_trip_us:asio_pal_pipes_round_trip_us:asio_pal over pipes:us:1" \
    "same, against submit->collect over pipes (both via the I/O thread):asio_pal_tcp_round_trip_us:asio_pal_pipes_io_round_trip_us:pipes, submit->collect:us:1" \
    "cold start -> 1st result:asio_pal_tcp_cold_start_us:asio_pal_pipes_cold_start_us:asio_pal over pipes:us:1" \
    "serial run() over TCP, median trip:asio_pal_tcp_round_trip_us:raw_tcp_ping_pong_us:raw 16 B TCP ping-pong:us:1:  bar >= 0.67x" \
    "same, mean trip:asio_pal_tcp_round_trip_mean_us:raw_tcp_ping_pong_mean_us:raw 16 B TCP ping-pong:us:1"

echo
echo "== ratios, $tcp against each (median of $rounds rounds, min..max; above 1: asio_pal better) =="
"$python" - "$root" "$data" <<'EOF'
import os
import statistics
import sys

sys.path.insert(0, os.path.join(sys.argv[1], "bench"))
import bench_util  # noqa: E402

values = {}
with open(sys.argv[2]) as f:
    for line in f:
        name, value, _ = line.split()
        values.setdefault(name, []).append(float(value))

# (workload, record suffix, lower is better, {peer: bar})
rows = (
    ("2,000 tiny tasks", "tiny_tasks", False, {"mpi4py": 10}),
    ("map 100k, chunk 1000", "map_chunk_1000", False, {"mpi4py": 10}),
    ("serial round trip (median)", "round_trip_us", True, {}),
    ("serial round trip (mean)", "round_trip_mean_us", True, {}),
    ("cold start -> 1st result", "cold_start_us", True, {}),
)
peers = (("mpi4py", "mpi4py.futures"), ("dask", "Dask distributed"))


def ratio_cell(ours, peer, lower):
    n = min(len(ours), len(peer))
    if n == 0:
        return None, "no records"
    r = [peer[i] / ours[i] if lower else ours[i] / peer[i] for i in range(n)]
    return statistics.median(r), f"{bench_util.spread(r, '{:.2f}', 'x')} [{n}]"


print(f"| {'workload':28} | {'mpi4py.futures':30} | {'Dask distributed':30} |")
print(f"|{'-' * 30}|{'-' * 32}|{'-' * 32}|")
verdicts = []
for label, suffix, lower, bars in rows:
    ours = values.get(f"asio_pal_tcp_{suffix}", [])
    cells = []
    for peer, peer_label in peers:
        med, cell = ratio_cell(ours, values.get(f"{peer}_{suffix}", []), lower)
        cells.append(cell)
        if peer in bars and med is not None:
            bar = bars[peer]
            verdicts.append(f"{label} against {peer_label}: {med:.2f}x, bar >= {bar}x: "
                            + ("met" if med >= bar else "NOT met"))
    print(f"| {label:28} | {cells[0]:30} | {cells[1]:30} |")
med, cell = ratio_cell(values.get("asio_pal_tcp_round_trip_us", []),
                       values.get("raw_tcp_ping_pong_us", []), True)
if med is not None:
    verdicts.append(f"run() over TCP against a raw TCP ping-pong (median trip): {cell}, "
                    "bar >= 0.67x (within 1.5x): " + ("met" if med >= 1 / 1.5 else "NOT met"))
job = values.get("mpi4py_cold_job_us", [])
if job and values.get("asio_pal_tcp_cold_start_us"):
    med, cell = ratio_cell(values["asio_pal_tcp_cold_start_us"], job, True)
    print(f"(cold start against mpirun's start -> 1st result, the whole mpi4py job: {cell})")
print()
for v in verdicts:
    print("bar:", v)
EOF

if ((slurm)); then
    echo
    echo "== a worker's start through srun against a local spawn (a one-node Slurm cluster) =="
    slurm_dir=$(mktemp -d /tmp/asio_pal_slurm_bench.XXXXXX)
    export ASIO_PAL_SLURM_DIR=$slurm_dir
    export ASIO_PAL_SLURM_PORT=${ASIO_PAL_SLURM_PORT:-$((20000 + RANDOM % 20000))}
    "$root/scripts/slurm_cluster.sh" start
    eval "$("$root/scripts/slurm_cluster.sh" env)"
    echo "\$ salloc -O -N1 -n4 $exe --slurm --rounds $rounds"
    # -O: 4 tasks on a 2-CPU node, as scripts/test_slurm.sh does.
    timeout 600 salloc -O -N1 -n4 "$exe" --slurm --rounds "$rounds"
fi

echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); took $((SECONDS - start)) s"
echo "# raw output: $out"
