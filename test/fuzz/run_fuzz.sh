#!/bin/sh
#
# test/fuzz/run_fuzz.sh [seconds]
#
# Builds the frame decoder fuzzer with clang++-14 (libFuzzer, ASan, UBSan) and runs it for the
# given time (default 60 s). Exits non-zero when it finds a crash; the reproducer is kept and its
# path printed. Override the compiler with CXX.
#

set -eu

seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cxx="${CXX:-clang++-14}"

work="$(mktemp -d "${TMPDIR:-/tmp}/asio_pal_fuzz.XXXXXX")"
corpus="$work/corpus"
mkdir -p "$corpus" "$work/crashes"

echo "building into $work"
"$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" "$here/frame_decoder_fuzz.cpp" "$root/src/wire.cpp" -o "$work/fuzzer"

# Seeds (for little-endian hosts): the first byte steers the fuzzer, then valid frames.
{
    printf '\000'                                 # limit 4096
    printf '\241\251\004\000\000\000\000\000'     # magic, quit, flags, length 0
    printf '\007\000\000\000\000\000\000\000'     # seq 7
} > "$corpus/quit"
{
    printf '\001'                                 # limit 256
    printf '\241\251\005\000\043\000\000\000'     # magic, result, flags, length 35
    printf '\001\000\000\000\000\000\000\000'     # seq 1
    printf '\052\000\000\000\000\000\000\000'     # uint64_t 42
    printf '\003\000\000\000\000\000\000\000abc'  # string "abc"
    printf '\002\000\000\000\000\000\000\000'     # vector<int32_t> of 2
    printf '\001\000\000\000\377\377\377\377'     # 1, -1
} > "$corpus/result"

status=0
"$work/fuzzer" -max_len=4096 -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/crashes/" "$corpus" || status=$?

if [ "$status" -ne 0 ]; then
    echo "fuzzer failed (status $status); reproducers in $work/crashes:" >&2
    ls -l "$work/crashes" >&2
    echo "rerun one with: $work/fuzzer <file>" >&2
    exit "$status"
fi
rm -rf "$work"
echo "fuzzer ran $seconds s without finding a crash"
