# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""Shared by the Python peers and the scripts that compare them with asio_pal: the Python side
of bench/bench_util.hpp.

As a module (bench/map_peer.py, bench/process_peer.py import it):
  measure(f, children=False)  runs f() as one measured section: (wall seconds, CPU seconds);
                              CPU = user + sys of this process (resource.getrusage) from before
                              f() until SETTLE after it, plus, with children, that of the child
                              processes (reaped: RUSAGE_CHILDREN; live: /proc/PID/schedstat);
  record(name, value, cpu_us) prints "<name> <value> <cpu us per task>", the record format that
                              bench_map and bench_process's script modes print too.

As a program, it prints the figures of records collected over interleaved rounds:
  python3 bench/bench_util.py report DATA LABEL:OURS:PEER:PEER_LABEL:UNIT:LOWER[:NOTE] ...
DATA holds records, one a line, "<name> <value> <cpu_us>" ('#' lines skipped), in the order the
rounds ran; round i of OURS is compared with round i of PEER. LOWER is 1 for latencies (the
ratio is then peer / ours, so that above 1 always means asio_pal did better).
"""
import math
import os
import resource
import statistics
import sys
import time

SETTLE = 0.001  # seconds after a section whose CPU time still counts (see bench_util.hpp)


def self_cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _process_cpu(pid):
    """CPU seconds of a live process: the sum of its threads' run time (ns) in schedstat."""
    total = 0.0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0]) / 1e9
    except OSError:
        pass  # gone meanwhile: counted by RUSAGE_CHILDREN once reaped
    return total


def live_children():
    pids = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return pids


def children_cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime + sum(_process_cpu(p) for p in live_children())


def measure(f, children=False):
    # Reading the children's clocks costs this process CPU time: done outside the self window.
    c0 = children_cpu() if children else 0.0
    c0 += self_cpu()
    t0 = time.perf_counter()
    f()
    seconds = time.perf_counter() - t0
    time.sleep(SETTLE)
    c1 = self_cpu()
    c1 += children_cpu() if children else 0.0
    return seconds, c1 - c0


def record(name, value, cpu_us):
    print(f"{name} {value:.3f} {cpu_us:.4f}", flush=True)


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---- printing, in bench_util.hpp's format ----


def compact(v):
    a = abs(v)
    if math.isnan(v):
        return "nan"
    for limit, div, suffix in ((1e10, 1e9, "G"), (1e7, 1e6, "M"), (1e4, 1e3, "k")):
        if a >= limit:
            return f"{v / div:.4g}{suffix}"
    return f"{v:.4g}"


def spread(v, fmt="{:.1f}", suffix=""):
    """The median in fmt, then suffix and "(min..max)" in compact form."""
    return f"{fmt.format(statistics.median(v))}{suffix} ({compact(min(v))}..{compact(max(v))})"


def print_comparison(name, unit, lower, ours, peer, ours_cpu, peer_cpu, peer_name, note=""):
    """Prints a figure as bench::comparison::print does (bench_util.hpp)."""
    n = min(len(ours), len(peer))
    ratios = [(peer[i] / ours[i]) if lower else (ours[i] / peer[i]) for i in range(n)]
    cpu_ratios = [peer_cpu[i] / ours_cpu[i] if ours_cpu[i] > 0 else math.nan for i in range(n)]
    print(f"{name}  [{n} rounds, asio_pal and peer alternating]{note}")
    for label, v, c in (("asio_pal", ours, ours_cpu), (peer_name, peer, peer_cpu)):
        print(f"    {label:30} {statistics.median(v):12.1f} {unit:8} "
              f"({compact(min(v))}..{compact(max(v))})   cpu {spread(c, '{:.4g}', ' us/task')}")
    print(f"    ratio {spread(ratios, '{:.2f}', 'x')}   cpu ratio {spread(cpu_ratios, '{:.2f}', 'x')}"
          "   (above 1: asio_pal better)")
    print(f"    per round  asio_pal: {' '.join(map(compact, ours))}   "
          f"peer: {' '.join(map(compact, peer))}   ratio: {' '.join(map(compact, ratios))}")
    print(f"    per round  cpu us/task asio_pal: {' '.join(map(compact, ours_cpu))}   "
          f"peer: {' '.join(map(compact, peer_cpu))}", flush=True)


def report(data_path, specs):
    values, cpus = {}, {}
    with open(data_path) as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) != 3:
                sys.exit(f"bench_util.py: bad record in {data_path}: {line.rstrip()!r}")
            values.setdefault(parts[0], []).append(float(parts[1]))
            cpus.setdefault(parts[0], []).append(float(parts[2]))
    for spec in specs:
        fields = spec.split(":")
        if len(fields) not in (6, 7):
            sys.exit(f"bench_util.py: bad figure spec {spec!r} "
                     "(LABEL:OURS:PEER:PEER_LABEL:UNIT:LOWER[:NOTE])")
        label, ours, peer, peer_label, unit, lower = fields[:6]
        note = fields[6] if len(fields) == 7 else ""
        for name in (ours, peer):
            if name not in values:
                sys.exit(f"bench_util.py: no record named {name!r} in {data_path}")
        print_comparison(label, unit, lower == "1", values[ours], values[peer], cpus[ours],
                         cpus[peer], peer_label, note)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "report":
        sys.exit("usage: bench_util.py report DATA LABEL:OURS:PEER:PEER_LABEL:UNIT:LOWER[:NOTE] ...")
    report(sys.argv[2], sys.argv[3:])
