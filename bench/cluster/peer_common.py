# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""The workloads both peers of bench/cluster/peers.sh run, measured the same way.

Each peer (mpi4py_peer.py, dask_peer.py) hands run_workloads() its executor's verbs; every
measurement prints one record in bench/bench_util.py's format, "<name> <value> <cpu us per
task>", named "<peer>_<workload>":
  <peer>_tiny_tasks <tasks/s>        2,000 tiny tasks: submit all, then collect all
  <peer>_map_chunk_1000 <items/s>    a map over 100,000 ints in chunks of 1,000, summed
  <peer>_round_trip_us <us>          serial submit -> result, repeated: the median of the trips
  <peer>_round_trip_mean_us <us>     the same trips: their mean (total time / trips)
  <peer>_cold_start_us <us>          creating the executor or client -> the first result
CPU is user + sys of the whole peer (the caller says which processes: see cpu_seconds), from
before a section until bench_util.SETTLE after it, divided by the section's task count.
PEER_TINY, PEER_ITEMS and PEER_TRIPS override the sizes (2000, 100000, 500).
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench_util  # noqa: E402  (bench/bench_util.py, one directory up)

N_TINY = int(os.environ.get("PEER_TINY", "2000"))
N_ITEMS = int(os.environ.get("PEER_ITEMS", "100000"))
N_TRIPS = int(os.environ.get("PEER_TRIPS", "500"))
CHUNK = 1000


def tiny(x):
    return x & 1


def tiny_chunk(xs):
    """One chunk of the map, for peers whose idiom is one task per chunk."""
    return [x & 1 for x in xs]


def children_of(pid):
    pids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def process_cpu(pids):
    """CPU seconds, so far, of live processes that are not this one's children."""
    return sum(bench_util._process_cpu(p) for p in pids)


def measure(f, cpu_seconds):
    """bench_util.measure with the peer's own CPU clock: (wall seconds, CPU seconds)."""
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    f()
    seconds = time.perf_counter() - t0
    time.sleep(bench_util.SETTLE)
    return seconds, cpu_seconds() - c0


def cold_start(peer, start, submit, result, cpu_seconds):
    """Records start() -> first result; start() returns the executor (or client) that submit
    takes. Returns it, for the warm workloads."""
    box = []

    def first():
        box.append(start())
        assert result(submit(box[0], tiny, 3)) == 1

    s, cpu = measure(first, cpu_seconds)
    bench_util.record(f"{peer}_cold_start_us", s * 1e6, cpu * 1e6)
    return box[0]


def run_workloads(peer, pool, submit, result, map_chunked, cpu_seconds, rounds=1):
    """submit(pool, f, x) -> future; result(future) -> value; map_chunked(pool, f, xs, chunk)
    -> the results of f over xs, in order, sent chunk by chunk. Each workload runs once untimed
    first (warm), then rounds times measured."""

    def tiny_tasks():
        futures = [submit(pool, tiny, i) for i in range(N_TINY)]
        assert sum(result(f) for f in futures) == N_TINY // 2

    def chunked_map():
        assert sum(map_chunked(pool, tiny, range(N_ITEMS), CHUNK)) == N_ITEMS // 2

    trips = []

    def round_trips():
        trips.clear()
        total = 0
        for i in range(N_TRIPS):
            t0 = time.perf_counter()
            total += result(submit(pool, tiny, i))
            trips.append(time.perf_counter() - t0)
        assert total == N_TRIPS // 2

    tiny_tasks()
    chunked_map()
    round_trips()
    for _ in range(rounds):
        s, cpu = measure(tiny_tasks, cpu_seconds)
        bench_util.record(f"{peer}_tiny_tasks", N_TINY / s, cpu / N_TINY * 1e6)
        s, cpu = measure(chunked_map, cpu_seconds)
        bench_util.record(f"{peer}_map_chunk_1000", N_ITEMS / s, cpu / N_ITEMS * 1e6)
        s, cpu = measure(round_trips, cpu_seconds)
        bench_util.record(f"{peer}_round_trip_us", statistics.median(trips) * 1e6,
                          cpu / N_TRIPS * 1e6)
        bench_util.record(f"{peer}_round_trip_mean_us", s / N_TRIPS * 1e6, cpu / N_TRIPS * 1e6)
