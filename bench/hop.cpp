//
// bench/hop.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A coroutine on an io_context offloads a tiny function and resumes at home:
// `co_await async_run(pool, f, use_awaitable)` against the raw pair
// `co_await post(pool, use_awaitable); co_await post(io, use_awaitable)` on an
// asio::thread_pool of the same size. Latency per hop, serial, same run.
//

#include <asio_pal/async_run.hpp>
#include <asio_pal/thread_pool.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "bench_util.hpp"

namespace net = boost::asio;
namespace pal = asio_pal;

namespace {

constexpr int hops = 20'000;
constexpr std::size_t workers = 2;

bench::sample ours_hop(pal::thread_pool& pool)
{
    net::io_context io;
    long sum = 0;
    bench::sample s = bench::measure([&] {
        net::co_spawn(
            io,
            [&]() -> net::awaitable<void> {
                for (int i = 0; i < hops; ++i)
                    sum += co_await pal::async_run(
                        pool, [i] { return i & 1; }, net::use_awaitable);
            },
            net::detached);
        io.run();
    });
    if (sum != hops / 2)
        std::abort();
    return s;
}

bench::sample peer_hop(net::thread_pool& pool)
{
    net::io_context io;
    long sum = 0;
    bench::sample s = bench::measure([&] {
        net::co_spawn(
            io,
            [&]() -> net::awaitable<void> {
                for (int i = 0; i < hops; ++i)
                {
                    co_await net::post(pool, net::use_awaitable);
                    int v = i & 1;
                    co_await net::post(io, net::use_awaitable);
                    sum += v;
                }
            },
            net::detached);
        io.run();
    });
    if (sum != hops / 2)
        std::abort();
    return s;
}

} // namespace

int main(int argc, char** argv)
{
    int rounds = bench::rounds(argc, argv);
    bench::run_header header(argc, argv);
    bench::comparison hop{"co_await async_run hop io -> pool -> io", "us", false, hops};
    pal::thread_pool ours(workers);
    net::thread_pool peer(workers);
    for (int r = 0; r < rounds; ++r)
    {
        hop.add_ours(ours_hop(ours));
        hop.add_peer(peer_hop(peer));
    }
    hop.print("post(pool); post(io)");
}
