#!/usr/bin/env bash
# Installs the Debian 12 packages asio_pal needs to build and test (CMake and b2,
# g++ and clang++, sanitizer runtimes). Idempotent: silent when all are present;
# otherwise runs apt-get update and apt-get install -y, through sudo when not root.
#
#   scripts/install-deps.sh          what the build and the tests need
#   scripts/install-deps.sh bench    that, plus what the benchmark scripts need (gnuplot)
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
)
if [[ ${1:-} == bench ]]; then
    packages+=(gnuplot-nox) # bench/server_load.sh plots with it
fi

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
        missing+=("$package")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "install-deps: missing ${missing[*]}"
as_root=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: not root and sudo is not available; install as root: ${missing[*]}" >&2
        exit 1
    fi
    as_root=(sudo)
fi
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
