"""Peer of bench/process.cpp's --tiny/--map/--latency modes: concurrent.futures
ProcessPoolExecutor(2), standard library only.

Prints, each the median of the rounds (argv[1], default 3), measured on one warm pool (each
workload runs once untimed first, as bench_process does):
  python_process_tiny_tasks <tasks/s>      2,000 tiny tasks: submit all, then result() all
  python_process_map_chunk_1000 <items/s>  map over 100,000 ints with chunksize=1000, summed
  python_process_round_trip_us <us>        serial submit().result() of one tiny task
PEER_TINY, PEER_ITEMS and PEER_TRIPS override the three sizes (2000, 100000, 2000).
"""
import concurrent.futures
import os
import statistics
import sys
import time


def tiny(x):
    return x & 1


def tiny_rate(pool, n):
    t0 = time.perf_counter()
    futures = [pool.submit(tiny, i) for i in range(n)]
    total = sum(f.result() for f in futures)
    dt = time.perf_counter() - t0
    assert total == n // 2
    return n / dt


def map_rate(pool, n):
    t0 = time.perf_counter()
    total = sum(pool.map(tiny, range(n), chunksize=1000))
    dt = time.perf_counter() - t0
    assert total == n // 2
    return n / dt


def round_trip_us(pool, n):
    t0 = time.perf_counter()
    total = 0
    for i in range(n):
        total += pool.submit(tiny, i).result()
    dt = time.perf_counter() - t0
    assert total == n // 2
    return dt / n * 1e6


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    n_tiny = int(os.environ.get("PEER_TINY", "2000"))
    n_map = int(os.environ.get("PEER_ITEMS", "100000"))
    n_trips = int(os.environ.get("PEER_TRIPS", "2000"))
    tiny_v, map_v, lat_v = [], [], []
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        # Warm: both workers started, the function imported in them.
        tiny_rate(pool, n_tiny)
        map_rate(pool, n_map)
        round_trip_us(pool, n_trips)
        for _ in range(rounds):
            tiny_v.append(tiny_rate(pool, n_tiny))
            map_v.append(map_rate(pool, n_map))
            lat_v.append(round_trip_us(pool, n_trips))
    print(f"python_process_tiny_tasks {statistics.median(tiny_v):.1f}")
    print(f"python_process_map_chunk_1000 {statistics.median(map_v):.1f}")
    print(f"python_process_round_trip_us {statistics.median(lat_v):.2f}")


if __name__ == "__main__":
    main()
