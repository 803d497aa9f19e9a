#!/bin/sh
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
#
# test/fuzz/run_fuzz.sh [seconds]
#
# Builds the fuzzers with clang++-14 (libFuzzer, ASan, UBSan) and runs each for a third of the
# given time (default 60 s in all): the frame decoder (frame_decoder_fuzz.cpp), the parent's
# decoding and rebuilding of a failure frame (failure_frame_fuzz.cpp) and the remote workers'
# handshake (handshake_fuzz.cpp). Exits non-zero when one finds a crash; the reproducer is kept
# and its path printed. Override the compiler with CXX.
#

set -eu

seconds="${1:-60}"
each=$((seconds / 3))
if [ "$each" -lt 1 ]; then
    each=1
fi
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cxx="${CXX:-clang++-14}"
flags="-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

work="$(mktemp -d "${TMPDIR:-/tmp}/asio_pal_fuzz.XXXXXX")"
mkdir -p "$work/frames" "$work/failures" "$work/handshakes" "$work/crashes"

echo "building into $work"
# shellcheck disable=SC2086 # $flags is a list of words
"$cxx" $flags -I"$root/include" "$here/frame_decoder_fuzz.cpp" "$root/src/wire.cpp" \
    -o "$work/frame_fuzzer"
# shellcheck disable=SC2086
"$cxx" $flags -I"$root/include" "$here/failure_frame_fuzz.cpp" "$root/src/wire.cpp" \
    "$root/src/remote_exception.cpp" "$root/src/error.cpp" -o "$work/failure_fuzzer"
# handshake.cpp's connecting side can start a TLS tunnel (tls_tunnel.cpp), so it links OpenSSL's
# libssl too; the harness itself drives the plain handshake.
# shellcheck disable=SC2086
"$cxx" $flags -I"$root/include" "$here/handshake_fuzz.cpp" "$root/src/handshake.cpp" \
    "$root/src/tls_tunnel.cpp" -lssl -lcrypto -pthread -o "$work/handshake_fuzzer"

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

# Handshakes: the first byte picks the mode (handshake_fuzz.cpp). A hello body as this machine
# would send it with protocol version "fuzz", one task, a digest of zeros (what the harness
# expects), token 5, pid 1234, host "h", a nonce of zeros.
hello_body()
{
    printf '\004fuzz'                                  # protocol version
    printf '\004\003\002\001'                          # byte order (little-endian)
    printf '\004\010\010\010\010\010\020\004'          # int .. wchar_t sizes (x86-64)
    printf '\000\000\000\001'                          # one task
    head -c 32 /dev/zero                               # its digest
    printf '\000\000\000\000\000\000\000\005'          # token
    printf '\000\000\004\322'                          # pid
    printf '\001h'                                     # host
    head -c 32 /dev/zero                               # worker nonce
}
{
    printf '\000'                                      # mode 0: a stream to the acceptor
    printf 'apHS\001\001\000\143'                      # magic, format 1, hello, 99 bytes
    hello_body
    printf 'apHS\001\003\000\040'                      # a response of 32 bytes
    head -c 32 /dev/zero
} > "$work/handshakes/hello"
{
    printf '\001'                                      # mode 1: a stream to the connector
    printf 'apHS\001\002\000\100'                      # a challenge of 64 bytes
    head -c 64 /dev/zero
} > "$work/handshakes/challenge"
{
    printf '\002'                                      # mode 2: a hello body
    hello_body
} > "$work/handshakes/facts"
printf '\003\000\000\000' > "$work/handshakes/accepted"  # mode 3: a verdict: accepted
printf '\003\002\000\004size' > "$work/handshakes/refused"

status=0
for target in frame:frames failure:failures handshake:handshakes; do
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
