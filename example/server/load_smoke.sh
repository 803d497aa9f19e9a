#!/bin/sh
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# CTest's example_load_client: a short load from load_client on a hash_server started for the
# test (127.0.0.1, ephemeral port), then a graceful stop with SIGTERM.
#   sh load_smoke.sh HASH_SERVER LOAD_CLIENT
set -eu
server=$1
client=$2
dir=$(mktemp -d)
pid=
cleanup()
{
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

# Few rounds: the digest is cheap here, so that sanitizer builds keep up.
"$server" --port 0 --rounds 300 --duration 50 >"$dir/server.log" &
pid=$!
i=0
while ! grep -q '^listening on ' "$dir/server.log"; do
    i=$((i + 1))
    if [ "$i" -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "load_smoke: the server did not start"
        cat "$dir/server.log"
        exit 1
    fi
    sleep 0.1
done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$dir/server.log")

"$client" --port "$port" --connections 2 --warmup 0.2 --duration 1 --out "$dir/ping.txt"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
cat "$dir/server.log"
samples=$(wc -l <"$dir/ping.txt")
if [ "$status" -ne 0 ] || [ "$samples" -eq 0 ] || ! grep -q '^hash_server: stopped after' "$dir/server.log"; then
    echo "load_smoke: failed (server status $status, $samples /ping samples)"
    exit 1
fi
echo "load_client: ok"
