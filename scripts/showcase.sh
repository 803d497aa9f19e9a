#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Builds and runs example/showcase.cpp (same build/ and configuration as scripts/test.sh).
# Extra arguments go to the showcase program.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ASIO_PAL_ROOT"

./scripts/install-deps.sh
asio_pal_configure "$ASIO_PAL_BUILD_DIR" "${ASIO_PAL_BUILD_ARGS[@]}"
asio_pal_build "$ASIO_PAL_BUILD_DIR" showcase
"$ASIO_PAL_BUILD_DIR/example/showcase" "$@"
