#!/bin/sh
#
# test/fuzz/run_fuzz.sh [seconds]
#
# Builds the fuzzers with clang++-14 (libFuzzer, ASan, UBSan) and runs each for half the given
# time (default 60 s in all): the frame decoder (frame_decoder_fuzz.cpp) and the parent's
# decoding and rebuilding of a failure frame (failure_frame_fuzz.cpp). Exits non-zero when one
# finds a crash; the reproducer is kept and its path printed. Override the compiler with CXX.
#

set -eu

seconds="${1:-60}"
each=$((seconds / 2))
if [ "$each" -lt 1 ]; then
    each=1
fi
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cxx="${CXX:-clang++-14}"
flags="-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

work="$(mktemp -d "${TMPDIR:-/tmp}/asio_pal_fuzz.XXXXXX")"
mkdir -p "$work/frames" "$work/failures" "$work/crashes"

echo "building into $work"
# shellcheck disable=SC2086 # $flags is a list of words
"$cxx" $flags -I"$root/include" "$here/frame_decoder_fuzz.cpp" "$root/src/wire.cpp" \
    -o "$work/frame_fuzzer"
# shellcheck disable=SC2086
"$cxx" $flags -I"$root/include" "$here/failure_frame_fuzz.cpp" "$root/src/wire.cpp" \
    "$root/src/remote_exception.cpp" "$root/src/error.cpp" -o "$work/failure_fuzzer"

# Seeds (for little-endian hosts).
# Frame decoder: the first byte steers the fuzzer, then valid frames.
{
    printf '\000'                                 # limit 4096
    printf '\241\251\004\000\000\000\000\000'     # magic, quit, flags, length 0
    printf '\007\000\000\000\000\000\000\000'     # seq 7
} > "$work/frames/quit"
{
    printf '\001'                                 # limit 256
    printf '\241\251\005\000\043\000\000\000'     # magic, result, flags, length 35
    printf '\001\000\000\000\000\000\000\000'     # seq 1
    printf '\052\000\000\000\000\000\000\000'     # uint64_t 42
    printf '\003\000\000\000\000\000\000\000abc'  # string "abc"
    printf '\002\000\000\000\000\000\000\000'     # vector<int32_t> of 2
    printf '\001\000\000\000\377\377\377\377'     # 1, -1
} > "$work/frames/result"

# Failure frames: a remote_exception_info (a count of layers; each layer's type name, message,
# kind (uint32), code (int64), category and details; then the traceback).
{
    printf '\001\000\000\000\000\000\000\000'                  # one layer
    printf '\022\000\000\000\000\000\000\000std::runtime_error'
    printf '\004\000\000\000\000\000\000\000boom'
    printf '\001\000\000\000'                                  # standard
    printf '\000\000\000\000\000\000\000\000'                  # code 0
    printf '\000\000\000\000\000\000\000\000'                  # no category
    printf '\000\000\000\000\000\000\000\000'                  # no details
    printf '\001\000\000\000\000\000\000\000t'                 # traceback "t"
} > "$work/failures/one"
{
    printf '\002\000\000\000\000\000\000\000'                  # two layers
    printf '\012\000\000\000\000\000\000\000fuzz_error'
    printf '\005\000\000\000\000\000\000\000outer'
    printf '\003\000\000\000'                                  # registered
    printf '\000\000\000\000\000\000\000\000'
    printf '\000\000\000\000\000\000\000\000'
    printf '\000\000\000\000\000\000\000\000'
    printf '\021\000\000\000\000\000\000\000std::system_error'
    printf '\005\000\000\000\000\000\000\000inner'
    printf '\001\000\000\000'                                  # standard
    printf '\002\000\000\000\000\000\000\000'                  # code 2
    printf '\007\000\000\000\000\000\000\000generic'
    printf '\000\000\000\000\000\000\000\000'
    printf '\002\000\000\000\000\000\000\000tb'
} > "$work/failures/two"

status=0
for target in frame:frames failure:failures; do
    name="${target%%:*}"
    corpus="$work/${target#*:}"
    echo "running the $name fuzzer for $each s"
    "$work/${name}_fuzzer" -max_len=4096 -rss_limit_mb=2048 -max_total_time="$each" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$work/crashes/$name-" "$corpus" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "the $name fuzzer failed (status $status); reproducers in $work/crashes:" >&2
        ls -l "$work/crashes" >&2
        echo "rerun one with: $work/${name}_fuzzer <file>" >&2
        exit "$status"
    fi
done
rm -rf "$work"
echo "the fuzzers ran $each s each without finding a crash"
