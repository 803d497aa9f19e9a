# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""The mpi4py.futures peer of bench/cluster/peers.sh (Debian's python3-mpi4py, Open MPI):

  mpirun --allow-run-as-root --oversubscribe --enable-recovery --mca btl_tcp_if_include lo \\
      --mca oob_tcp_if_include lo -np 3 /usr/bin/python3 -m mpi4py.futures \\
      bench/cluster/mpi4py_peer.py [ROUNDS]

Rank 0 runs this script, ranks 1 and 2 are the executor's two workers (mpi4py.futures' fixed
set under mpirun). Prints bench/cluster/peer_common.py's records, prefixed "mpi4py", for
ROUNDS rounds (default 1): the cold start is MPIPoolExecutor() -> first result, the workers
being up already (mpirun started them); when PEER_T0 holds the time (date +%s.%N) at which
mpirun was started, also
  mpi4py_cold_job_us <us>     mpirun's start -> the first result (CPU not measured: nan)
The map is executor.map(tiny, items, chunksize=1000). CPU counts this rank, the worker ranks
and mpirun (this rank's parent).
"""
import os
import sys
import time

from mpi4py.futures import MPIPoolExecutor

import peer_common


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    mpirun = os.getppid()
    # The other ranks, mpirun's other children, exist before the executor does.
    workers = [p for p in peer_common.children_of(mpirun) if p != os.getpid()]

    def cpu_seconds():
        return peer_common.bench_util.self_cpu() + peer_common.process_cpu([mpirun, *workers])

    pool = peer_common.cold_start("mpi4py", MPIPoolExecutor, lambda ex, f, x: ex.submit(f, x),
                                  lambda fut: fut.result(), cpu_seconds)
    first_result = time.time()
    t0 = os.environ.get("PEER_T0")
    if t0:
        peer_common.bench_util.record("mpi4py_cold_job_us", (first_result - float(t0)) * 1e6,
                                      float("nan"))
    with pool:
        peer_common.run_workloads(
            "mpi4py", pool, lambda ex, f, x: ex.submit(f, x), lambda fut: fut.result(),
            lambda ex, f, xs, chunk: ex.map(f, xs, chunksize=chunk), cpu_seconds, rounds)


if __name__ == "__main__":
    main()
