//
// bench/idle.cpp
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

#include <sys/resource.h>

#include "bench_util.hpp"

namespace pal = asio_pal;
using namespace std::chrono;

namespace {

double process_cpu_seconds()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// First task on an empty pool: submit until the task body runs.
double first_task_us()
{
    pal::thread_pool pool(pal::pool_options{.max_workers = 2, .idle_timeout = seconds(60)});
    std::atomic<std::int64_t> started{0};
    auto t0 = steady_clock::now();
    auto f = pool.submit(
        [&] { started = duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count(); });
    f.wait();
    return (started.load() - duration_cast<nanoseconds>(t0.time_since_epoch()).count()) / 1e3;
}

// Peer: time from creating a std::thread until its body runs.
double thread_start_us()
{
    std::atomic<std::int64_t> started{0};
    auto t0 = steady_clock::now();
    std::thread t(
        [&] { started = duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count(); });
    t.join();
    return (started.load() - duration_cast<nanoseconds>(t0.time_since_epoch()).count()) / 1e3;
}

} // namespace

int main(int argc, char** argv)
{
    int rounds = bench::rounds(argc, argv);

    // Idle CPU: 2 workers have run work and wait (60 s idle timeout); measure 1 s of quiet.
    std::vector<double> idle_cpu_ms;
    std::vector<double> shrink_ms;
    for (int r = 0; r < rounds; ++r)
    {
        pal::thread_pool pool(pal::pool_options{.max_workers = 2, .idle_timeout = seconds(60)});
        pool.spawn_workers(2);
        pool.submit([] {}).collect();
        double c0 = process_cpu_seconds();
        std::this_thread::sleep_for(seconds(1));
        idle_cpu_ms.push_back((process_cpu_seconds() - c0) * 1e3);

        // Shrink: idle timeout 200 ms; time from the last task's end until 0 workers.
        const auto idle = milliseconds(200);
        pal::thread_pool shrinking(pal::pool_options{.max_workers = 2, .idle_timeout = idle});
        shrinking.spawn_workers(2);
        shrinking.submit([] {}).collect();
        auto t0 = steady_clock::now();
        while (shrinking.count_workers() != 0)
            std::this_thread::sleep_for(microseconds(200));
        shrink_ms.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
    }
    std::printf("idle pool (2 workers) CPU time over 1 s: median %.3f ms (min %.3f, max %.3f; "
                "rounds %d)\n",
                bench::median(idle_cpu_ms), *std::min_element(idle_cpu_ms.begin(), idle_cpu_ms.end()),
                *std::max_element(idle_cpu_ms.begin(), idle_cpu_ms.end()), rounds);
    std::printf("shrink to 0 workers, idle_timeout 200 ms: median %.1f ms after the last task "
                "(min %.1f, max %.1f; bar: <= 210 ms)\n",
                bench::median(shrink_ms), *std::min_element(shrink_ms.begin(), shrink_ms.end()),
                *std::max_element(shrink_ms.begin(), shrink_ms.end()));

    bench::comparison first{"first task on an empty pool (start latency)", "us", false};
    for (int r = 0; r < rounds * 5; ++r)
    {
        first.ours.push_back(first_task_us());
        first.peer.push_back(thread_start_us());
    }
    first.print("std::thread start");
    std::printf("first task minus thread start: median %.1f us (bar: <= 10 us)\n",
                bench::median(first.ours) - bench::median(first.peer));
}
