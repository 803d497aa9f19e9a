#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Builds asio_pal with CMake in build/ and runs every test, examples and stress
# tests included. Extra arguments go to ctest (e.g. ./scripts/test.sh -R future).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ASIO_PAL_ROOT"

./scripts/install-deps.sh
asio_pal_configure "$ASIO_PAL_BUILD_DIR" "${ASIO_PAL_BUILD_ARGS[@]}"
asio_pal_build "$ASIO_PAL_BUILD_DIR"
ctest --test-dir "$ASIO_PAL_BUILD_DIR" --output-on-failure -j2 --timeout 300 "$@"
