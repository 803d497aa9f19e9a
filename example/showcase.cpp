//
// example/showcase.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A tour of asio_pal in one program: an elastic thread pool that starts with no threads,
// futures you can block on, call back from or co_await, offloading from a coroutine with
// async_run, the pool as an Asio executor, cancellation, and the pool shrinking back to zero
// threads once it is idle.
//

#include <asio_pal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace pal = asio_pal;
using namespace std::chrono_literals;
using namespace net::experimental::awaitable_operators;

// Something CPU-heavy: a 64-bit FNV-1a digest iterated many times over the input.
std::uint64_t digest(const std::string& body, int rounds)
{
    std::uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < rounds; ++r)
        for (unsigned char c : body)
            h = (h ^ c) * 1099511628211ull;
    return h;
}

// A request handler on an io_context: the digest runs on the pool, the coroutine resumes here.
net::awaitable<void> handle(pal::thread_pool& pool, std::string body)
{
    std::uint64_t d = co_await pal::async_run(pool, digest, body, 20000, net::use_awaitable);
    std::cout << "digest of '" << body << "' = " << std::hex << d << std::dec << "\n";
}

// Waiting with a deadline: whichever finishes first wins; the other operation is cancelled.
net::awaitable<void> race(pal::thread_pool& pool, std::latch& release)
{
    pal::future<int> slow = pool.submit([&release] {
        release.wait(); // a task that takes as long as we like
        return 42;
    });
    net::steady_timer timer(co_await net::this_coro::executor, 50ms);
    auto winner = co_await (slow.async_collect(net::use_awaitable) ||
                            timer.async_wait(net::use_awaitable));
    std::cout << "race: " << (winner.index() == 0 ? "task" : "timer") << " finished first\n";
    release.count_down();
    std::cout << "the task still completes: " << co_await slow.async_collect(net::use_awaitable)
              << "\n";
}

int main()
{
    pal::thread_pool pool(pal::pool_options{
        .max_workers = 4, .name = "cpu", .idle_timeout = std::chrono::milliseconds(200)});
    std::cout << "workers at start: " << pool.count_workers() << "\n";

    // submit() returns a future; collect() blocks for the value (or rethrows).
    pal::future<int> f = pool.submit([](int a, int b) { return a + b; }, 1, 2);
    std::cout << "1 + 2 = " << f.collect() << "\n";
    auto [pending, running] = f.duration();
    std::cout << "queued for " << pending.count() << " ns, ran for " << running.count()
              << " ns\n";

    // Callbacks run when the task is done (here: at once, it already is).
    f.add_callback([](const pal::future<int>& done) {
        std::cout << "callback sees " << *done.result() << "\n";
    });

    // Exceptions travel through the future.
    pal::future<void> bad = pool.submit([] { throw std::runtime_error("no luck"); });
    try
    {
        bad.collect();
    }
    catch (const std::runtime_error& e)
    {
        std::cout << "task failed: " << e.what() << "\n";
    }

    // Many tasks at once: the pool grows up to max_workers.
    std::vector<pal::future<std::uint64_t>> futures;
    for (int i = 0; i < 8; ++i)
        futures.push_back(pool.submit(digest, "item " + std::to_string(i), 200000));
    for (auto& fu : futures)
        fu.wait();
    std::cout << "8 digests done; workers grown to " << pool.count_workers() << " (at most 4)\n";

    // The pool is an Asio execution context: post, strands, co_spawn all work on it.
    auto strand = net::make_strand(pool.get_executor());
    std::latch posted(3);
    for (int i = 0; i < 3; ++i)
        net::post(strand, [i, &posted] {
            std::cout << "strand item " << i << "\n";
            posted.count_down();
        });
    posted.wait();

    // Coroutines on an io_context offload to the pool and resume at home.
    net::io_context io;
    std::latch release(1);
    net::co_spawn(io, handle(pool, "hello"), net::detached);
    net::co_spawn(io, race(pool, release), net::detached);
    io.run();

    // A pending task can be cancelled at once.
    {
        pal::single_thread_pool one;
        std::latch hold(1);
        auto blocker = one.submit([&hold] { hold.wait(); });
        auto queued = one.submit([] { return 1; });
        std::cout << "cancel a queued task: " << std::boolalpha << queued.cancel()
                  << ", status cancelled: " << queued.is_cancelled() << "\n";
        hold.count_down();
        blocker.wait();
    }

    // Idle workers retire after idle_timeout: a quiet pool costs nothing.
    pool.join(); // or just wait 200 ms
    std::cout << "workers after join: " << pool.count_workers() << "\n";
    std::cout << "done\n";
}
