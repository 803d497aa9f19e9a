//
// bench/post.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Fire-and-forget: post 1M tiny functions through the executor, then wait for all of them.
// Peer: boost::asio::thread_pool with the same number of threads, measured in the same run.
//
// `--once ours|peer [--tasks N]`: one warm section of one side only (N tasks, default 1M), for
// a profiler (valgrind --tool=callgrind counts instructions whatever the machine's load).
//

#include <asio_pal/thread_pool.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdio>
#include <latch>
#include <string>

#include "bench_util.hpp"

namespace net = boost::asio;
namespace pal = asio_pal;

namespace {

int tasks = 1'000'000;
constexpr std::size_t workers = 2;

// Posts `tasks` functions from this thread and returns when the last one has run.
template <typename Executor>
bench::sample post_all(const Executor& ex)
{
    std::atomic<int> left{tasks};
    std::latch done(1);
    return bench::measure([&] {
        for (int i = 0; i < tasks; ++i)
            net::post(ex, [&] {
                if (left.fetch_sub(1, std::memory_order_relaxed) == 1)
                    done.count_down();
            });
        done.wait();
    });
}

} // namespace

int main(int argc, char** argv)
{
    if (const char* side = bench::option(argc, argv, "--once"))
    {
        bench::check_side(argv[0], side);
        tasks = bench::int_option(argc, argv, "--tasks", tasks);
        pal::thread_pool ours(workers);
        net::thread_pool peer(workers);
        bench::sample s = std::string(side) == "ours" ? post_all(ours.get_executor())
                                                      : post_all(peer.get_executor());
        std::printf("%s: %d posts, %.1f tasks/s, cpu %.4g us/task\n", side, tasks,
                    tasks / s.seconds, s.cpu_seconds / tasks * 1e6);
        return 0;
    }
    int rounds = bench::rounds(argc, argv);
    bench::run_header header(argc, argv);
    bench::comparison warm{"post 1M tiny tasks, then wait (warm pool)", "tasks/s", true, double(tasks)};
    bench::comparison cold{"same, new pool each round (elastic start)", "tasks/s", true, double(tasks)};
    pal::thread_pool ours(workers);
    net::thread_pool peer(workers);
    for (int r = 0; r < rounds; ++r)
    {
        warm.add_ours(post_all(ours.get_executor()));
        warm.add_peer(post_all(peer.get_executor()));
        {
            pal::thread_pool fresh(workers);
            cold.add_ours(post_all(fresh.get_executor()));
        }
        {
            net::thread_pool fresh(workers);
            cold.add_peer(post_all(fresh.get_executor()));
        }
    }
    warm.print("asio::thread_pool(2)");
    cold.print("asio::thread_pool(2)");
}
