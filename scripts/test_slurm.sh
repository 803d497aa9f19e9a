#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Runs the Slurm launcher's test (test/slurm.cpp) inside an allocation of a one-node Slurm cluster
# of this machine (scripts/slurm_cluster.sh), then stops the cluster.
#
#   scripts/test_slurm.sh <path of test_slurm> [Boost.Test arguments...]
#
# Exits 77 (CTest's "skipped") when Slurm is not installed (`scripts/install-deps.sh cluster`)
# or when not root, which the cluster's daemons need.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
test_exe=$1
shift

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v salloc >/dev/null 2>&1 ||
    ! command -v munged >/dev/null 2>&1; then
    echo "test_slurm: Slurm is not installed (scripts/install-deps.sh cluster): skipped"
    exit 77
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "test_slurm: the cluster's daemons need root: skipped"
    exit 77
fi

# A cluster of its own, in its own directory and on its own port, so that two builds' tests
# running at once do not meet.
export ASIO_PAL_SLURM_DIR=${ASIO_PAL_SLURM_DIR:-$(mktemp -d /tmp/asio_pal_slurm_test.XXXXXX)}
export ASIO_PAL_SLURM_PORT=${ASIO_PAL_SLURM_PORT:-$((20000 + RANDOM % 20000))}
"$here/slurm_cluster.sh" start
trap '"$here/slurm_cluster.sh" stop' EXIT
eval "$("$here/slurm_cluster.sh" env)"
# -O: 4 tasks on a 2-CPU node (the pool's default size is the allocation's task count).
timeout 600 salloc -O -N1 -n4 "$test_exe" --catch_system_errors=no "$@"
