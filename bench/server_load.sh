#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# The HTTP server figure of bench/README.md ("HTTP server: /ping latency while /hash is
# hammered"). example/server/hash_server runs three times on an ephemeral port of 127.0.0.1:
#   inline            --inline: each digest runs on the server's only I/O thread
#   offloaded         the default: co_await asio_pal::async_run on a thread_pool (workers at nice 10)
#   offloaded_nice0   the same with --worker-nice 0 (workers at the I/O thread's priority)
# and each time example/server/load_client hammers POST /hash from CONNECTIONS connections while
# it times a GET /ping every 5 ms, for a warm-up second plus SECONDS. Prints each distribution,
# keeps the raw latencies (ms, one a line) and plots their CDFs into bench/server_latency.png
# with gnuplot (Debian package gnuplot-nox, which scripts/install-deps.sh bench installs).
#
#   bench/server_load.sh [BIN_DIR] [SECONDS] [CONNECTIONS]
#
# BIN_DIR holds hash_server and load_client (default build/example/server); this script builds
# nothing. Defaults: 10 s, 4 connections. SERVER_LOAD_DATA names the directory for the raw
# latencies (default: a new temporary one); SERVER_LOAD_PNG the plot (default
# bench/server_latency.png).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$here/../scripts/install-deps.sh" bench
bin=${1:-build/example/server}
seconds=${2:-10}
connections=${3:-4}
data=${SERVER_LOAD_DATA:-$(mktemp -d /tmp/server_load.XXXXXX)}
png=${SERVER_LOAD_PNG:-$here/server_latency.png}
mkdir -p "$data"
for exe in hash_server load_client; do
    if [[ ! -x $bin/$exe ]]; then
        echo "server_load: no $bin/$exe; build the examples first (./scripts/test.sh)" >&2
        exit 1
    fi
done

server_pid=
trap '[[ -z $server_pid ]] || kill "$server_pid" 2>/dev/null || true' EXIT

# run_mode NAME SERVER_ARGS...: one server, one load; leaves $data/NAME.txt and NAME.log.
run_mode()
{
    local name=$1
    shift
    echo "== $name: hash_server --port 0 $*"
    : >"$data/$name.server.log"
    "$bin/hash_server" --port 0 "$@" >"$data/$name.server.log" &
    server_pid=$!
    local i=0
    while ! grep -q '^listening on ' "$data/$name.server.log"; do
        if ((++i > 300)) || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "server_load: hash_server did not start" >&2
            cat "$data/$name.server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    local port
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$data/$name.server.log")
    "$bin/load_client" --port "$port" --connections "$connections" --duration "$seconds" \
        --out "$data/$name.txt" | tee "$data/$name.log"
    kill -TERM "$server_pid"
    wait "$server_pid"
    server_pid=
    cat "$data/$name.server.log"
    sort -g "$data/$name.txt" | awk -v n="$(wc -l <"$data/$name.txt")" '{print $1, NR / n}' \
        >"$data/$name.cdf"
}

date -u
uptime
run_mode inline --inline
run_mode offloaded
run_mode offloaded_nice0 --worker-nice 0
uptime

echo "== /ping latency while /hash is hammered ($connections connections, $seconds s each)"
title=()
for name in inline offloaded offloaded_nice0; do
    line=$(grep '^/ping:' "$data/$name.log")
    hash=$(grep '^/hash:' "$data/$name.log")
    printf '%-16s %s\n%-16s %s\n' "$name" "$line" "" "$hash"
    p50=$(sed -n 's/.* p50 \([0-9.]*\) ms.*/\1/p' <<<"$line")
    p99=$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' <<<"$line")
    title+=("p50 $p50 ms, p99 $p99 ms")
done
echo "raw latencies (ms, one a line): $data/{inline,offloaded,offloaded_nice0}.txt"

if command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "dir='$data'; out='$png'; inline_stats='${title[0]}'; offloaded_stats='${title[1]}'; nice0_stats='${title[2]}'; subtitle='$connections connections POSTing /hash, $seconds s each, $(date -u +%Y-%m-%d)'" \
        "$here/server_latency.gp"
    echo "plot: $png"
else
    echo "server_load: gnuplot not found (Debian package gnuplot-nox): no plot"
fi
