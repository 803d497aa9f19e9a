# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Shared by scripts/test.sh, scripts/showcase.sh and .ci/run (sourced, not run).

# The repository root, whatever the caller's working directory.
ASIO_PAL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Default build directory and configuration of the README commands.
ASIO_PAL_BUILD_DIR="$ASIO_PAL_ROOT/build"
# Shared: the tests of scripts/test.sh (CI's stage 2) run against libasio_pal.so, so that one
# CI build checks the shared library's exports without compiling everything once more; the
# sanitizer builds of CI stay static.
ASIO_PAL_BUILD_ARGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DASIO_PAL_WARNINGS_AS_ERRORS=ON
    -DBUILD_SHARED_LIBS=ON)

# asio_pal_configure DIR [cmake arguments...]
# Configures DIR with Ninja. A DIR configured earlier with another generator is
# reconfigured from scratch instead of failing.
asio_pal_configure()
{
    local dir=$1
    shift
    if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt"; then
        echo "$dir was configured with another generator; configuring it again from scratch"
        rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
    fi
    cmake -S "$ASIO_PAL_ROOT" -B "$dir" -G Ninja "$@"
}

# asio_pal_build DIR [targets...]: builds with every core.
asio_pal_build()
{
    local dir=$1
    shift
    local targets=()
    if [[ $# -gt 0 ]]; then
        targets=(--target "$@")
    fi
    cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
}
