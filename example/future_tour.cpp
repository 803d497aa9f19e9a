//
// example/future_tour.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A tour of future<T>, after the future example of asyncpal's README: collecting a result
// with a timeout, callbacks, durations, status queries, result() and exception() (which never
// block), a failing task, cancelling a pending task (withdrawn at once) and a running one (it
// cannot be stopped, only flagged), and waiting without blocking through Asio: async_collect
// with a handler bound to an io_context, or with use_future.
//

#include <asio_pal.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <future>
#include <iostream>
#include <latch>
#include <stdexcept>

namespace net = boost::asio;
namespace pal = asio_pal;
using namespace std::chrono_literals;

int divide(int x, int y)
{
    if (y == 0)
        throw std::domain_error("division by zero");
    return x / y;
}

int main()
{
    bool good = true;
    auto expect = [&good](bool condition, const char* what) {
        if (!condition)
        {
            std::cerr << "check failed: " << what << "\n";
            good = false;
        }
    };
    std::cout << std::boolalpha;

    pal::thread_pool pool(4);

    // Submit a task and add a callback; it runs on the thread that finishes the task (or at
    // once, in add_callback, when the task is already done).
    pal::future<int> future = pool.submit(divide, 10, 2);
    int seen = 0;
    std::latch called(1);
    future.add_callback([&](const pal::future<int>& done) {
        seen = *done.result();
        called.count_down();
    });

    // Collect the result: blocks (here for 42 s at most), rethrows the task's exception.
    try
    {
        int result = future.collect(42s);
        std::cout << "divide(10, 2) = " << result << "\n";
        expect(result == 5, "divide(10, 2)");
    }
    catch (const std::domain_error& e)
    {
        expect(false, e.what());
    }
    called.wait();
    std::cout << "the callback saw " << seen << "\n";

    // How long the task was queued, and how long it ran.
    auto [pending, running] = future.duration();
    std::cout << "queued for " << pending.count() << " ns, ran for " << running.count() << " ns\n";

    // Too late to cancel; wait() returns at once; result() and exception() never block.
    std::cout << "cancel() once completed: " << future.cancel() << "\n";
    std::cout << "wait(42s): " << future.wait(42s) << "\n";
    std::cout << "result(): " << future.result().value_or(-1)
              << ", exception(): " << (future.exception() ? "set" : "empty") << "\n";
    std::cout << "status(): " << pal::to_string(future.status()) << ", is_done: " << future.is_done()
              << ", is_pending: " << future.is_pending() << ", is_running: " << future.is_running()
              << ", is_cancelled: " << future.is_cancelled() << "\n";

    // A failing task: collect() rethrows, exception() holds the exception.
    pal::future<int> failing = pool.submit(divide, 1, 0);
    try
    {
        failing.collect(42s);
        expect(false, "divide(1, 0) returned");
    }
    catch (const std::domain_error& e)
    {
        std::cout << "divide(1, 0) threw std::domain_error: " << e.what() << "\n";
    }
    std::cout << "status(): " << pal::to_string(failing.status())
              << ", result() empty: " << !failing.result().has_value()
              << ", exception() set: " << static_cast<bool>(failing.exception()) << "\n";

    // Cancellation, on a pool of one thread kept busy by a task that waits for a latch.
    {
        pal::single_thread_pool one;
        std::latch started(1);
        std::latch release(1);
        pal::future<int> busy = one.submit([&] {
            started.count_down();
            release.wait();
            return 0;
        });
        pal::future<int> queued = one.submit(divide, 8, 4);
        started.wait();
        std::cout << "busy: " << pal::to_string(busy.status())
                  << ", queued: " << pal::to_string(queued.status()) << "\n";

        // Timeouts: collect() throws timeout_error, wait() returns false.
        try
        {
            busy.collect(20ms);
            expect(false, "collect(20ms) returned");
        }
        catch (const pal::timeout_error&)
        {
            std::cout << "busy.collect(20ms): timeout_error\n";
        }
        std::cout << "busy.wait(20ms): " << busy.wait(20ms) << "\n";

        // A callback can be removed before it runs.
        std::uint64_t id = queued.add_callback([] { std::cout << "never printed\n"; });
        std::cout << "remove_callback: " << queued.remove_callback(id) << "\n";

        // A pending task is withdrawn at once.
        std::cout << "queued.cancel(): " << queued.cancel()
                  << ", is_cancelled: " << queued.is_cancelled() << "\n";
        try
        {
            queued.collect();
            expect(false, "a cancelled task returned a value");
        }
        catch (const pal::cancelled_error&)
        {
            std::cout << "queued.collect(): cancelled_error\n";
        }

        // A running thread task cannot be stopped: cancel() returns false and sets the flag.
        std::cout << "busy.cancel(): " << busy.cancel() << ", cancel_flag: " << busy.cancel_flag()
                  << "\n";
        release.count_down();
        std::cout << "busy still completes: " << busy.collect() << "\n";
        expect(queued.is_cancelled() && busy.is_completed(), "cancellation");
    }

    // Waiting without blocking: the handler runs on the io_context's thread (bind_executor),
    // never on the pool's.
    net::io_context io;
    pal::future<int> third = pool.submit(divide, 9, 3);
    third.async_collect(net::bind_executor(io, [&](std::exception_ptr e, int value) {
        std::cout << "async_collect: " << (e ? -1 : value)
                  << ", on the io_context thread: " << io.get_executor().running_in_this_thread()
                  << "\n";
    }));
    io.run();

    // Or turn it into a std::future.
    std::future<int> standard = pool.submit(divide, 12, 4).async_collect(net::use_future);
    std::cout << "async_collect(use_future): " << standard.get() << "\n";

    return good ? EXIT_SUCCESS : EXIT_FAILURE;
}
