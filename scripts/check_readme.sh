#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Checks README.md's code against the code that builds and runs.
#
#   scripts/check_readme.sh                    the README's code blocks are copies of the
#                                              example programs (test/readme_blocks.py; the
#                                              CTest test readme_blocks runs the same)
#   scripts/check_readme.sh --installed PREFIX also builds the README's hello world with the
#                                              README's CMakeLists.txt (find_package) against
#                                              asio_pal installed in PREFIX, and runs it
#   scripts/check_readme.sh --fetch            also builds it with the README's FetchContent
#                                              lines, fetching this working tree
#                                              (FETCHCONTENT_SOURCE_DIR_ASIO_PAL), and runs it
#
# The hello world must print "6 * 7 = 42". Work happens in a temporary directory, removed at
# the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

python3 "$ASIO_PAL_ROOT/test/readme_blocks.py" "$ASIO_PAL_ROOT"
[[ $# -eq 0 ]] && exit 0

mode=$1
prefix=${2:-}
case $mode in
    --installed) [[ -n $prefix ]] || { echo "usage: check_readme.sh --installed PREFIX" >&2; exit 2; } ;;
    --fetch) ;;
    *) echo "check_readme.sh: unknown option $mode" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The README's blocks: the hello world's source and its two CMake forms.
python3 - "$ASIO_PAL_ROOT" "$work" <<'PY'
import pathlib, sys
sys.path.insert(0, str(pathlib.Path(sys.argv[1]) / "test"))
import readme_blocks
root, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
found = {}
for _, language, marker, body in readme_blocks.blocks(root / "README.md"):
    if marker and marker.group(1) == "consumer":
        found[marker.group(2)] = "\n".join(body) + "\n"
    elif marker and marker.group(2) == "readme-hello":
        found["hello.cpp"] = "\n".join(body) + "\n"
for name in ("find_package", "fetch", "hello.cpp"):
    if name not in found:
        sys.exit(f"check_readme: README.md has no block for {name}")
lines = found["find_package"].splitlines(keepends=True)
uses = [i for i, l in enumerate(lines) if l.startswith("find_package(asio_pal")]
if len(uses) != 1:
    sys.exit("check_readme: the README's CMakeLists.txt has no single find_package(asio_pal ...) line")
fetched = lines[:uses[0]] + [found["fetch"]] + lines[uses[0] + 1:]
for d, text in (("installed", found["find_package"]), ("fetch", "".join(fetched))):
    (work / d).mkdir()
    (work / d / "CMakeLists.txt").write_text(text)
    (work / d / "hello.cpp").write_text(found["hello.cpp"])
PY

case $mode in
    --installed)
        dir=$work/installed
        cmake -S "$dir" -B "$dir/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix"
        ;;
    --fetch)
        dir=$work/fetch
        cmake -S "$dir" -B "$dir/build" -G Ninja -DFETCHCONTENT_SOURCE_DIR_ASIO_PAL="$ASIO_PAL_ROOT"
        ;;
esac
cmake --build "$dir/build" -j "$(nproc)"
out=$("$dir/build/hello")
echo "$out"
if [[ $out != "6 * 7 = 42" ]]; then
    echo "check_readme: the hello world printed '$out', not '6 * 7 = 42'" >&2
    exit 1
fi
echo "check_readme: the README's hello world builds ($mode) and runs"
