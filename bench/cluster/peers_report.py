# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""Summary of bench/cluster/peers.sh's records: for each peer and workload, the median over the
rounds with its spread (min..max), every round's value, and the CPU time per task beside it
(bench/bench_util.py's compact forms).
  python3 bench/cluster/peers_report.py DATA
DATA holds records, "<name> <value> <cpu_us>" one a line ('#' lines skipped).
"""
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench_util  # noqa: E402

PEERS = (
    ("mpi4py", "mpi4py.futures: mpirun -np 3 python3 -m mpi4py.futures, 2 worker ranks"),
    ("dask", "Dask distributed: LocalCluster, 2 worker processes x 1 thread"),
)
WORKLOADS = (
    ("tiny_tasks", "2,000 tiny tasks, submit all then collect", "tasks/s"),
    ("map_chunk_1000", "map over 100k items, chunks of 1000", "items/s"),
    ("round_trip_us", "serial round trip, median of the trips", "us"),
    ("round_trip_mean_us", "serial round trip, mean of the trips", "us"),
    ("cold_start_us", "cold start: executor/client -> 1st result", "us"),
    ("cold_job_us", "cold start: mpirun -> 1st result", "us"),
)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: peers_report.py DATA")
    values, cpus = {}, {}
    with open(sys.argv[1]) as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) != 3:
                sys.exit(f"peers_report.py: bad record: {line.rstrip()!r}")
            values.setdefault(parts[0], []).append(float(parts[1]))
            cpus.setdefault(parts[0], []).append(float(parts[2]))
    for peer, title in PEERS:
        names = [(f"{peer}_{w}", label, unit) for w, label, unit in WORKLOADS
                 if f"{peer}_{w}" in values]
        if not names:
            continue
        print(f"{title}  [{len(values[names[0][0]])} rounds, peers alternating]")
        for name, label, unit in names:
            v, c = values[name], [x for x in cpus[name] if not math.isnan(x)]
            extra = ""
            if unit == "tasks/s":
                extra = f" = {1e6 / statistics.median(v):.1f} us/task"
            cpu = f"   cpu {bench_util.spread(c, '{:.4g}', ' us/task')}" if c else ""
            print(f"    {label:44} {bench_util.spread(v, '{:.1f}', ' ' + unit)}{extra}{cpu}")
            print(f"        per round: {' '.join(map(bench_util.compact, v))}")
    unknown = sorted(n for n in values
                     if not any(n == f"{p}_{w}" for p, _ in PEERS for w, _, _ in WORKLOADS))
    if unknown:
        sys.exit(f"peers_report.py: records of no known workload: {' '.join(unknown)}")


if __name__ == "__main__":
    main()
