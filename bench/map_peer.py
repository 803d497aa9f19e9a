"""Peer of bench/map.cpp: concurrent.futures.ThreadPoolExecutor(2).map over trivial items.

Prints "python_threadpool_map <items/s>" (median of the rounds). Items default to 100,000
(a million takes Python tens of seconds); rates are per item, so they compare.
"""
import concurrent.futures
import os
import statistics
import sys
import time


def f(x):
    return x & 1


def main():
    items = int(os.environ.get("PEER_ITEMS", "100000"))
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    rates = []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _ in range(rounds):
            t0 = time.perf_counter()
            total = sum(pool.map(f, range(items)))
            dt = time.perf_counter() - t0
            assert total == items // 2
            rates.append(items / dt)
    print(f"python_threadpool_map {statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
