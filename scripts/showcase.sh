#!/usr/bin/env bash
# Builds and runs example/showcase.cpp (same build/ and configuration as scripts/test.sh).
# Extra arguments go to the showcase program.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ASIO_PAL_ROOT"

./scripts/install-deps.sh
asio_pal_configure "$ASIO_PAL_BUILD_DIR" "${ASIO_PAL_BUILD_ARGS[@]}"
asio_pal_build "$ASIO_PAL_BUILD_DIR" showcase
"$ASIO_PAL_BUILD_DIR/example/showcase" "$@"
