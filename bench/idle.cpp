//
// bench/idle.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Elasticity: CPU time an idle pool burns over 1 s (after it ran work), time for a pool to
// shrink to 0 workers after its idle timeout, and the latency of a first task on an empty pool
// against starting (and joining) a std::thread, same run.
//

#include <asio_pal/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "bench_util.hpp"

namespace pal = asio_pal;
using namespace std::chrono;

namespace {

struct stamped
{
    double latency_us = 0; ///< from the request until the task body ran
    double cpu_us = 0;     ///< CPU time of the whole thing, start to join (see main)
};

std::int64_t now_ns()
{
    return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

// First task on an empty pool: submit until the task body runs.
stamped first_task()
{
    std::atomic<std::int64_t> started{0};
    std::int64_t t0 = 0;
    auto s = bench::measure([&] {
        pal::thread_pool pool(pal::pool_options{.max_workers = 2, .idle_timeout = seconds(60)});
        t0 = now_ns();
        auto f = pool.submit([&] { started = now_ns(); });
        f.wait();
    });
    return {(started.load() - t0) / 1e3, s.cpu_seconds * 1e6};
}

// Peer: time from creating a std::thread until its body runs.
stamped thread_start()
{
    std::atomic<std::int64_t> started{0};
    std::int64_t t0 = 0;
    auto s = bench::measure([&] {
        t0 = now_ns();
        std::thread t([&] { started = now_ns(); });
        t.join();
    });
    return {(started.load() - t0) / 1e3, s.cpu_seconds * 1e6};
}

} // namespace

int main(int argc, char** argv)
{
    int rounds = bench::rounds(argc, argv);
    bench::run_header header(argc, argv);

    // Idle CPU: 2 workers have run work and wait (60 s idle timeout); measure 1 s of quiet.
    bench::series idle_cpu{"idle pool (2 workers) CPU time over 1 s", "ms"};
    bench::series shrink{"shrink to 0 workers, idle_timeout 200 ms: time after the last task",
                         "ms"};
    for (int r = 0; r < rounds; ++r)
    {
        pal::thread_pool pool(pal::pool_options{.max_workers = 2, .idle_timeout = seconds(60)});
        pool.spawn_workers(2);
        pool.submit([] {}).collect();
        double c0 = bench::self_cpu_seconds();
        std::this_thread::sleep_for(seconds(1));
        idle_cpu.values.push_back((bench::self_cpu_seconds() - c0) * 1e3);

        // Shrink: idle timeout 200 ms; time from the last task's end until 0 workers.
        const auto idle = milliseconds(200);
        pal::thread_pool shrinking(pal::pool_options{.max_workers = 2, .idle_timeout = idle});
        shrinking.spawn_workers(2);
        shrinking.submit([] {}).collect();
        auto t0 = steady_clock::now();
        while (shrinking.count_workers() != 0)
            std::this_thread::sleep_for(microseconds(200));
        shrink.values.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
    }
    idle_cpu.print("  (bar: ~0)");
    shrink.print("  (bar: <= 210 ms)");

    // The latency is stamped inside the task; the CPU time covers a whole life, as a first task
    // costs it: the pool's construction, submit, the worker's start, and the pool's destruction
    // (joining its worker), against starting and joining a std::thread.
    bench::comparison first{"first task on an empty pool (start latency)", "us", false};
    for (int r = 0; r < rounds * 5; ++r)
    {
        auto ours = first_task();
        first.add_ours(ours.latency_us, ours.cpu_us);
        auto peer = thread_start();
        first.add_peer(peer.latency_us, peer.cpu_us);
    }
    first.print("std::thread start");
    std::printf("first task minus thread start: median %.1f us (bar: <= 10 us)\n",
                bench::median(first.ours) - bench::median(first.peer));
}
