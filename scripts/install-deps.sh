#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Installs the Debian 12 packages asio_pal needs to build and test (CMake and b2,
# g++ and clang++, sanitizer runtimes, debhelper and pkg-config for the consumer test).
# Idempotent: silent when all are present; otherwise runs apt-get update and
# apt-get install -y, through sudo when not root.
#
#   scripts/install-deps.sh                what the build and the tests need
#   scripts/install-deps.sh bench          that, plus what the benchmark scripts need (gnuplot,
#                                          oneTBB)
#   scripts/install-deps.sh cluster        that, plus the engines that start workers on other
#                                          machines (Slurm, Open MPI), the network-fault tools and
#                                          the cluster benchmark peers (mpi4py, Dask distributed)
# The words combine: scripts/install-deps.sh bench cluster.
#
# The cluster packages come without their recommended packages: with them, apt pulls in about
# 110 more (pandas, HDF5, every Slurm plugin: 266 MB instead of 86 MB) that nothing here uses.
set -euo pipefail

packages=(
    build-essential
    cmake
    ninja-build
    libboost1.81-dev
    libboost-test1.81-dev
    libboost1.81-tools-dev
    libcereal-dev
    clang
    libclang-rt-14-dev
    python3
    libssl-dev # libcrypto and libssl: the handshake's HMAC, optional TLS for remote workers
    doxygen    # the reference manual (scripts/build_docs.sh)
    debhelper  # dpkg-buildpackage of debian/ (scripts/test_consumer.sh)
    pkg-config # test/consumer's pkg-config build (scripts/test_consumer.sh)
)
cluster_packages=()
for word in "$@"; do
    case $word in
    bench)
        packages+=(gnuplot-nox) # bench/server_load.sh plots with it
        packages+=(libtbb-dev)  # oneTBB, a peer of bench_many_submitters (skipped without it)
        ;;
    cluster)
        cluster_packages+=(
            slurm-wlm munge                # scripts/slurm_cluster.sh: slurmctld, slurmd, srun
            openmpi-bin libopenmpi-dev     # mpirun, and MPI for the optional rendezvous
            python3-mpi4py                 # bench/cluster: mpi4py.futures
            python3-distributed            # bench/cluster: Dask distributed
            nftables iproute2              # scripts/netns.sh: namespaces, veth, packet drop
        )
        ;;
    *)
        echo "install-deps: unknown word '$word' (known: bench, cluster)" >&2
        exit 2
        ;;
    esac
done

missing_of()
{
    local package status format="\${db:Status-Status}"
    for package in "$@"; do
        status=$(dpkg-query --show --showformat="$format" "$package" 2>/dev/null || true)
        if [[ "$status" != "installed" ]]; then
            echo "$package"
        fi
    done
}
mapfile -t missing < <(missing_of "${packages[@]}")
mapfile -t missing_cluster < <(missing_of "${cluster_packages[@]}")

if [[ ${#missing[@]} -eq 0 && ${#missing_cluster[@]} -eq 0 ]]; then
    exit 0
fi

echo "install-deps: missing ${missing[*]} ${missing_cluster[*]}"
as_root=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: not root and sudo is not available; install as root:" \
            "${missing[*]} ${missing_cluster[*]}" >&2
        exit 1
    fi
    as_root=(sudo)
fi
"${as_root[@]}" apt-get update
if [[ ${#missing[@]} -gt 0 ]]; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi
if [[ ${#missing_cluster[@]} -gt 0 ]]; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing_cluster[@]}"
fi
