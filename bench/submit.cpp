//
// bench/submit.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// submit + future + collect of 100k tiny tasks, and the serial round trip of one task.
// Peer: boost::asio::post(pool, use_future) + get() on boost::asio::thread_pool, same run.
//
// `--once ours|peer [--tasks N]`: one section of submit + collect of one side only (N tasks,
// default 100k), and `--once-round-trip ours|peer [--tasks N]` one of serial round trips
// (default 20k), for a profiler.
//

#include <asio_pal/thread_pool.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace net = boost::asio;
namespace pal = asio_pal;

namespace {

int tasks = 100'000;
int round_trips = 20'000;
constexpr std::size_t workers = 2;

bench::sample ours_throughput(pal::thread_pool& pool)
{
    std::vector<pal::future<int>> futures;
    futures.reserve(tasks);
    long sum = 0;
    bench::sample s = bench::measure([&] {
        for (int i = 0; i < tasks; ++i)
            futures.push_back(pool.submit([i] { return i & 1; }));
        for (auto& f : futures)
            sum += f.collect();
    });
    if (sum != tasks / 2)
        std::abort();
    return s;
}

bench::sample peer_throughput(net::thread_pool& pool)
{
    std::vector<std::future<int>> futures;
    futures.reserve(tasks);
    long sum = 0;
    bench::sample s = bench::measure([&] {
        for (int i = 0; i < tasks; ++i)
            futures.push_back(net::post(pool, net::use_future([i] { return i & 1; })));
        for (auto& f : futures)
            sum += f.get();
    });
    if (sum != tasks / 2)
        std::abort();
    return s;
}

bench::sample ours_round_trip(pal::thread_pool& pool)
{
    long sum = 0;
    bench::sample s = bench::measure([&] {
        for (int i = 0; i < round_trips; ++i)
            sum += pool.submit([i] { return i & 1; }).collect();
    });
    if (sum != round_trips / 2)
        std::abort();
    return s;
}

bench::sample peer_round_trip(net::thread_pool& pool)
{
    long sum = 0;
    bench::sample s = bench::measure([&] {
        for (int i = 0; i < round_trips; ++i)
            sum += net::post(pool, net::use_future([i] { return i & 1; })).get();
    });
    if (sum != round_trips / 2)
        std::abort();
    return s;
}

} // namespace

int main(int argc, char** argv)
{
    const char* side = bench::option(argc, argv, "--once");
    const char* trip_side = bench::option(argc, argv, "--once-round-trip");
    if (side || trip_side)
    {
        bench::check_side(argv[0], side ? side : trip_side);
        tasks = round_trips = bench::int_option(argc, argv, "--tasks", side ? tasks : round_trips);
        pal::thread_pool ours(workers);
        net::thread_pool peer(workers);
        bench::sample s;
        if (side)
            s = std::string(side) == "ours" ? ours_throughput(ours) : peer_throughput(peer);
        else
            s = std::string(trip_side) == "ours" ? ours_round_trip(ours) : peer_round_trip(peer);
        std::printf("%s: %d tasks, %.4g us/task, cpu %.4g us/task\n", side ? side : trip_side,
                    tasks, s.seconds / tasks * 1e6, s.cpu_seconds / tasks * 1e6);
        return 0;
    }
    int rounds = bench::rounds(argc, argv);
    bench::run_header header(argc, argv);
    bench::comparison tp{"submit 100k + future + collect all", "tasks/s", true, double(tasks)};
    bench::comparison rt{"serial round trip submit -> collect", "us", false, double(round_trips)};
    pal::thread_pool ours(workers);
    net::thread_pool peer(workers);
    for (int r = 0; r < rounds; ++r)
    {
        tp.add_ours(ours_throughput(ours));
        tp.add_peer(peer_throughput(peer));
        rt.add_ours(ours_round_trip(ours));
        rt.add_peer(peer_round_trip(peer));
    }
    tp.print("post(pool, use_future)");
    rt.print("post(pool, use_future).get()");
}
