# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""The Dask distributed peer of bench/cluster/peers.sh (Debian's python3-distributed):

  /usr/bin/python3 bench/cluster/dask_peer.py [ROUNDS]

A LocalCluster of 2 worker processes with 1 thread each (processes=True), its scheduler in
this process, on 127.0.0.1, no dashboard. Prints bench/cluster/peer_common.py's records,
prefixed "dask", for ROUNDS rounds (default 1): the cold start is LocalCluster() + Client() ->
first result. Tasks are client.submit(f, x, pure=False) (pure=False: each submission is a new
task even when its key would repeat). Dask has no chunksize: the map is client.map of one
task per chunk of 1,000 items (each returning its 1,000 results), then client.gather and
concatenation, in order. CPU counts this process (client and scheduler) and its children (the
nannies' worker processes).
"""
import logging
import sys

from distributed import Client, LocalCluster

import peer_common


def start():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster)


def submit(client, f, x):
    return client.submit(f, x, pure=False)


def result(future):
    return future.result()


def map_chunked(client, f, xs, chunk):
    assert f is peer_common.tiny
    xs = list(xs)
    batches = [xs[i:i + chunk] for i in range(0, len(xs), chunk)]
    futures = client.map(peer_common.tiny_chunk, batches, pure=False)
    return [y for batch in client.gather(futures) for y in batch]


def cpu_seconds():
    return peer_common.bench_util.self_cpu() + peer_common.bench_util.children_cpu()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    client = peer_common.cold_start("dask", start, submit, result, cpu_seconds)
    try:
        peer_common.run_workloads("dask", client, submit, result, map_chunked, cpu_seconds,
                                  rounds)
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
