//
// example/readme_tour.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The README's tour, as a program that runs and checks what it shows. Each block of the tour
// is a region of this file between "// [readme-tour-NAME]" and "// [/readme-tour-NAME]";
// test/readme_blocks.py checks that the README quotes them byte for byte.
//

// [readme-tour-includes]
#include <asio_pal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

namespace net = boost::asio;
namespace pal = asio_pal;
using namespace net::experimental::awaitable_operators; // (a || b): the first of two to finish
// [/readme-tour-includes]

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <future>
#include <iostream>
#include <latch>
#include <numeric>
#include <string>
#include <variant>
#include <vector>

// ---- work for the pool ----

std::size_t checksum(const std::string& text)
{
    std::size_t h = 1469598103934665603ull;
    for (unsigned char c : text)
        h = (h ^ c) * 1099511628211ull;
    return h;
}

int add(int a, int b)
{
    return a + b;
}

long square(long x)
{
    return x * x;
}

// An input range that never ends: 0, 1, 2, ... (what std::views::iota(0L) gives, written out
// because clang 14 cannot compile libstdc++ 12's views).
struct naturals
{
    struct iterator
    {
        using value_type = long;
        using difference_type = std::ptrdiff_t;
        long n = 0;
        long operator*() const { return n; }
        iterator& operator++()
        {
            ++n;
            return *this;
        }
        void operator++(int) { ++n; }
    };
    iterator begin() const { return {}; }
    std::unreachable_sentinel_t end() const { return {}; }
};

bool good = true;

void expect(bool condition, const char* what)
{
    if (!condition)
    {
        std::cerr << "check failed: " << what << "\n";
        good = false;
    }
}

// What handle() below found.
void report(const std::string& body, std::size_t digest, std::size_t same,
            const std::variant<std::size_t, std::monostate>& first)
{
    expect(digest == checksum(body) && same == digest, "async_run and async_collect");
    expect(first.index() == 0, "the result came before the deadline");
    std::cout << "coroutine: digest " << (digest == same ? "matches" : "differs")
              << ", result before the deadline: " << std::boolalpha << (first.index() == 0) << "\n";
}

// ---- coroutines ----

// [readme-tour-coroutine]
// From a coroutine: run on the pool, resume on the coroutine's own executor.
net::awaitable<void> handle(pal::thread_pool& pool, std::string body)
{
    std::size_t digest = co_await pal::async_run(pool, checksum, body, net::use_awaitable);

    pal::future<std::size_t> f = pool.submit(checksum, body);
    std::size_t same = co_await f.async_collect(net::use_awaitable);

    // With a deadline: the wait is cancelled, the task is not.
    pal::future<std::size_t> g = pool.submit(checksum, body + body);
    net::steady_timer timer(co_await net::this_coro::executor, std::chrono::seconds(30));
    std::variant<std::size_t, std::monostate> first =
        co_await (g.async_collect(net::use_awaitable) || timer.async_wait(net::use_awaitable));
    report(body, digest, same, first);
}
// [/readme-tour-coroutine]

// [readme-tour-async-next]
net::awaitable<long> sum_of_squares(pal::thread_pool& pool, std::vector<long> items)
{
    long sum = 0;
    auto results = pool.map(square, items);
    while (auto v = co_await results.async_next(net::use_awaitable)) // one at a time, awaited
        sum += *v;

    std::vector<pal::future<long>> futures;
    for (long i : items)
        futures.push_back(pool.submit(square, i));
    std::vector<long> all = co_await pal::async_collect_all(futures, net::use_awaitable);
    co_return sum == std::accumulate(all.begin(), all.end(), 0L) ? sum : -1;
}
// [/readme-tour-async-next]

int main()
{
    // [readme-tour-futures]
    pal::thread_pool pool(pal::pool_options{
        .max_workers = 4, .name = "cpu", .idle_timeout = std::chrono::seconds(5)});

    // A future: block, poll, call back, or co_await (below).
    pal::future<int> f = pool.submit([](int a, int b) { return a + b; }, 1, 2);
    int three = f.collect(); // blocks; rethrows the task's exception
    f.add_callback([](const pal::future<int>& done) { std::cout << *done.result() << '\n'; });
    auto [pending, running] = f.duration(); // time queued, time running
    // [/readme-tour-futures]
    expect(three == 3 && f.is_completed(), "collect");
    expect(pending.count() >= 0 && running.count() >= 0, "duration");
    std::cout << "1 + 2 = " << three << "\n";

    // [readme-tour-cancel]
    // The only worker is kept busy until `gate` opens, so `later` is still queued.
    pal::thread_pool one(pal::pool_options{.max_workers = 1});
    std::latch gate(1);
    pal::future<void> busy = one.submit([&gate] { gate.wait(); });
    pal::future<int> later = one.submit([] { return 42; });
    bool withdrawn = later.cancel(); // true; later.collect() throws cancelled_error
    gate.count_down();
    busy.collect();
    // [/readme-tour-cancel]
    expect(withdrawn && later.is_cancelled(), "a pending task is withdrawn");
    std::cout << "withdrawn: " << std::boolalpha << withdrawn << "\n";

    // [readme-tour-run]
    net::io_context io;
    net::co_spawn(io, handle(pool, "some request body"), [](std::exception_ptr e) {
        if (e)
            std::rethrow_exception(e); // out of io.run()
    });
    io.run();
    // [/readme-tour-run]

    // [readme-tour-executor]
    // The pool is an Asio execution context.
    net::post(pool.get_executor(), [] { /* fire and forget */ });
    auto strand = net::make_strand(pool.get_executor()); // its handlers run one at a time
    int steps = 0;
    for (int i = 0; i < 3; ++i)
        net::post(strand, [&steps] { ++steps; }); // no mutex needed
    std::future<int> counted = net::post(strand, net::use_future([&steps] { return steps; }));
    net::any_io_executor ex = pool.get_executor();
    // [/readme-tour-executor]
    int counted_steps = counted.get();
    expect(counted_steps == 3, "the strand ran the steps in order");
    std::cout << "strand steps: " << counted_steps << "\n";
    std::promise<bool> on_pool;
    net::post(
        ex, [&on_pool, &pool] { on_pool.set_value(pool.get_executor().running_in_this_thread()); });
    expect(on_pool.get_future().get(), "any_io_executor posts to the pool");

    // [readme-tour-maps]
    // Parallel maps: lazy, bounded, chunked, ordered or not; results as an input range.
    std::vector<int> xs{1, 2, 3, 4, 5, 6}, ys{10, 20, 30, 40, 50, 60};
    for (int r : pool.map(add, xs, ys, pal::map_options{.chunk_size = 2, .buffer_size = 4}))
        std::cout << r << ' ';                            // 11 22 33 44 55 66
    for (long r : pool.map_unordered(square, naturals{})) // an endless input is fine
        if (r > 10'000)
            break; // leaving the loop withdraws the rest
    // [/readme-tour-maps]
    std::cout << "\n";

    long sum = 0;
    net::co_spawn(io, sum_of_squares(pool, {1, 2, 3, 4}), [&sum](std::exception_ptr e, long s) {
        if (e)
            std::rethrow_exception(e);
        sum = s;
    });
    io.restart();
    io.run();
    expect(sum == 30, "sum of squares");
    std::cout << "sum of squares: " << sum << "\n";

    // [readme-tour-many]
    // Many futures at once.
    std::vector<pal::future<long>> futures;
    for (long i = 1; i <= 5; ++i)
        futures.push_back(pool.submit(square, i));
    std::vector<long> all = pal::collect(futures, std::chrono::seconds(42)); // 1 4 9 16 25
    for (pal::future<long>& done : pal::as_done(futures)) // in the order they finish
        std::cout << *done.result() << ' ';
    // [/readme-tour-many]
    std::cout << "\n";
    expect(all == std::vector<long>{1, 4, 9, 16, 25}, "collect(futures)");

    return good ? EXIT_SUCCESS : EXIT_FAILURE;
}
