//
// bench/many_submitters.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Many submitters: 4 threads each post 250k tiny functions to one pool of 2 workers, then the
// program waits for all 1M. Peers, in the same run and alternating with asio_pal:
// boost::asio::thread_pool(2), and oneTBB (a task_arena of 2 worker threads, each function a
// task of one task_group enqueued from the submitting thread) when the build found oneTBB.
// The submitting threads start together at a barrier; the section's wall time runs from their
// release to the last function, its CPU time counts them and the pool.
//

#include <asio_pal/thread_pool.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <functional>
#include <latch>
#include <thread>
#include <vector>

#if ASIO_PAL_BENCH_TBB
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#endif

#include "bench_util.hpp"

namespace net = boost::asio;
namespace pal = asio_pal;

namespace {

constexpr int submitters = 4;
constexpr int per_submitter = 250'000;
constexpr int tasks = submitters * per_submitter;
constexpr std::size_t workers = 2;

/// Runs `post_one(task)` per_submitter times on each of `submitters` threads, all released at
/// once; measures from the release until every task has run. `after` runs outside the section.
template <typename PostOne>
bench::sample from_many_threads(PostOne post_one, const std::function<void()>& after = {})
{
    std::atomic<int> left{tasks};
    std::latch done(1);
    auto task = [&left, &done] {
        if (left.fetch_sub(1, std::memory_order_relaxed) == 1)
            done.count_down();
    };
    std::barrier start(submitters + 1);
    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t)
        threads.emplace_back([&] {
            start.arrive_and_wait();
            for (int i = 0; i < per_submitter; ++i)
                post_one(task);
        });
    bench::sample s = bench::measure([&] {
        start.arrive_and_wait();
        done.wait();
    });
    for (auto& t : threads)
        t.join();
    if (after)
        after();
    return s;
}

} // namespace

int main(int argc, char** argv)
{
    int rounds = bench::rounds(argc, argv);
    bench::run_header header(argc, argv);
    const char* name = "4 threads post 250k each, then wait (warm pool)";
    bench::comparison vs_asio{name, "tasks/s", true, tasks};
    pal::thread_pool ours(workers);
    net::thread_pool peer(workers);
#if ASIO_PAL_BENCH_TBB
    bench::comparison vs_tbb{name, "tasks/s", true, tasks};
    // oneTBB starts at most hardware threads - 1 workers unless told otherwise (1 here).
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, workers + 1);
    tbb::task_arena arena(static_cast<int>(workers), 0); // 2 worker threads, none reserved
    arena.initialize();
    tbb::task_group group;
#endif
    for (int r = 0; r < rounds; ++r)
    {
        bench::sample a =
            from_many_threads([ex = ours.get_executor()](const auto& f) { net::post(ex, f); });
        vs_asio.add_ours(a);
        vs_asio.add_peer(
            from_many_threads([ex = peer.get_executor()](const auto& f) { net::post(ex, f); }));
#if ASIO_PAL_BENCH_TBB
        vs_tbb.add_ours(a);
        vs_tbb.add_peer(from_many_threads([&](const auto& f) { arena.enqueue(group.defer(f)); },
                                          [&] { group.wait(); }));
#endif
    }
    vs_asio.print("asio::thread_pool(2)");
#if ASIO_PAL_BENCH_TBB
    vs_tbb.print("oneTBB arena(2) task_group");
    std::printf("    (the asio_pal rounds are the same in both comparisons)\n");
#else
    std::printf("# oneTBB peer skipped: oneTBB (Debian libtbb-dev) was not found when this was "
                "built\n");
#endif
}
