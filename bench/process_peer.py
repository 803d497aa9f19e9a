# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""Peer of bench/process.cpp's --tiny/--map/--latency modes: concurrent.futures
ProcessPoolExecutor(2), standard library only.

Prints one record per workload and round, "<name> <value> <CPU us per task>", measured on one
warm pool (each workload runs once untimed first, as bench_process does); CPU is user + sys of
this process and its children, the pool's workers (bench_util.measure with children):
  python_process_tiny_tasks <tasks/s>      2,000 tiny tasks: submit all, then result() all
  python_process_map_chunk_1000 <items/s>  map over 100,000 ints with chunksize=1000, summed
  python_process_round_trip_us <us>        serial submit().result() of one tiny task
argv[1] is the number of rounds (default 1). PEER_TINY, PEER_ITEMS and PEER_TRIPS override the
three sizes (2000, 100000, 2000).
"""
import concurrent.futures
import os
import sys

import bench_util


def tiny(x):
    return x & 1


def tiny_tasks(pool, n):
    futures = [pool.submit(tiny, i) for i in range(n)]
    assert sum(f.result() for f in futures) == n // 2


def tiny_map(pool, n):
    assert sum(pool.map(tiny, range(n), chunksize=1000)) == n // 2


def round_trips(pool, n):
    total = 0
    for i in range(n):
        total += pool.submit(tiny, i).result()
    assert total == n // 2


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    n_tiny = int(os.environ.get("PEER_TINY", "2000"))
    n_map = int(os.environ.get("PEER_ITEMS", "100000"))
    n_trips = int(os.environ.get("PEER_TRIPS", "2000"))
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        # Warm: both workers started, the function imported in them.
        tiny_tasks(pool, n_tiny)
        tiny_map(pool, n_map)
        round_trips(pool, n_trips)
        for _ in range(rounds):
            s, cpu = bench_util.measure(lambda: tiny_tasks(pool, n_tiny), children=True)
            bench_util.record("python_process_tiny_tasks", n_tiny / s, cpu / n_tiny * 1e6)
            s, cpu = bench_util.measure(lambda: tiny_map(pool, n_map), children=True)
            bench_util.record("python_process_map_chunk_1000", n_map / s, cpu / n_map * 1e6)
            s, cpu = bench_util.measure(lambda: round_trips(pool, n_trips), children=True)
            bench_util.record("python_process_round_trip_us", s / n_trips * 1e6,
                              cpu / n_trips * 1e6)


if __name__ == "__main__":
    main()
