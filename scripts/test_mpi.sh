#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Runs the mpirun launcher's test (test/mpi.cpp) as a real 3-rank Open MPI job on this machine,
# with --enable-recovery (so that a killed rank does not end the job), on loopback only.
#
#   scripts/test_mpi.sh <path of test_mpi> [Boost.Test arguments...]
#
# Exits 77 (CTest's "skipped") when mpirun is not installed (`scripts/install-deps.sh cluster`).
set -euo pipefail
test_exe=$1
shift
if ! command -v mpirun >/dev/null 2>&1; then
    echo "test_mpi: mpirun is not installed (scripts/install-deps.sh cluster): skipped"
    exit 77
fi
# Twice: the pool's connections plain, then in TLS (one pool per job: its ranks serve one).
for mode in plain tls; do
    echo "test_mpi: $mode"
    timeout 600 mpirun --allow-run-as-root --oversubscribe --enable-recovery \
        --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -np 3 \
        "$test_exe" --catch_system_errors=no "$@" -- "$mode"
done
