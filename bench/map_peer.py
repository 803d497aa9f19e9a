# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""Peer of bench/map.cpp: concurrent.futures.ThreadPoolExecutor(2).map over trivial items.

Prints one record a round, "python_threadpool_map <items/s> <CPU us per item>" (CPU: user + sys
of this process, bench_util.measure). Items default to 100,000 (a million takes Python tens of
seconds); rates are per item, so they compare.
"""
import concurrent.futures
import os
import sys

import bench_util


def f(x):
    return x & 1


def main():
    items = int(os.environ.get("PEER_ITEMS", "100000"))
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _ in range(rounds):
            total = 0

            def run():
                nonlocal total
                total = sum(pool.map(f, range(items)))

            seconds, cpu = bench_util.measure(run)
            assert total == items // 2
            bench_util.record("python_threadpool_map", items / seconds, cpu / items * 1e6)


if __name__ == "__main__":
    main()
