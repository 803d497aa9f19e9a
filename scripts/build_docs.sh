#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Builds the Doxygen reference manual (docs/*.md and the public headers) and fails on any
# Doxygen warning: an undocumented public name, a broken reference, a bad command.
#
#   scripts/build_docs.sh [DIR]     DIR: the build directory (default: build-docs), configured
#                                   without tests; the manual is DIR/docs/html/index.html
#
# Needs Doxygen (Debian: doxygen; scripts/install-deps.sh installs it).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dir=${1:-"$ASIO_PAL_ROOT/build-docs"}

if ! command -v doxygen >/dev/null 2>&1; then
    echo "build_docs: doxygen is not installed (scripts/install-deps.sh installs it)" >&2
    exit 1
fi

asio_pal_configure "$dir" -DASIO_PAL_BUILD_TESTS=OFF >/dev/null

# The Doxyfile fails the target on a warning (WARN_AS_ERROR); the log is checked as well, so
# that a warning cannot pass unnoticed whatever that setting becomes.
log="$dir/docs/doxygen.log"
mkdir -p "$dir/docs"
rm -f "$dir/docs/html/index.html"
status=0
cmake --build "$dir" --target docs >"$log" 2>&1 || status=$?
warnings=$(grep -cE '(warning|error):' "$log" || true)
if [[ $status -ne 0 || $warnings -ne 0 ]]; then
    cat "$log" >&2
    echo "build_docs: FAILED: exit status $status, $warnings Doxygen warnings" >&2
    exit 1
fi
if [[ ! -s "$dir/docs/html/index.html" ]]; then
    echo "build_docs: FAILED: $dir/docs/html/index.html was not written" >&2
    exit 1
fi
echo "build_docs: 0 warnings; the manual is $dir/docs/html/index.html"
