//
// example/initializer.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Initializers, finalizers and broken pools, as in asyncpal's README. Every worker runs the
// pool's initializer when it starts and its finalizer before it exits, here to open and close
// a per-thread connection. An initializer or finalizer that throws breaks the pool: queued
// tasks are cancelled and every later use throws the stored error (initializer_error or
// finalizer_error, both broken_pool_error, with the cause nested). test() finds such failures
// early, on a replica of the pool.
//
// A process pool works the same way; its initializer and finalizer are registered functions
// run in each worker process: `.initializer = asio_pal::remote_call(open_db, path)`.
//

#include <asio_pal.hpp>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pal = asio_pal;

// ---- a resource per worker thread ----

thread_local std::optional<std::string> connection;
std::atomic<int> opened{0};
std::atomic<int> closed{0};

void open_connection()
{
    connection = "connection " + std::to_string(++opened);
}

void close_connection()
{
    connection.reset();
    ++closed;
}

void refuse_connection()
{
    throw std::runtime_error("connection refused");
}

void fail_to_close()
{
    throw std::runtime_error("connection lost while closing");
}

// A task that needs its worker's connection.
int query(int x)
{
    if (!connection)
        throw std::logic_error("no connection on this worker");
    return x * 10;
}

// "finalizer_error, caused by std::runtime_error: connection refused"
std::string describe(const std::exception& e, const std::string& type)
{
    std::string text = type;
    try
    {
        std::rethrow_if_nested(e);
    }
    catch (const std::runtime_error& cause)
    {
        text += std::string(", caused by std::runtime_error: ") + cause.what();
    }
    catch (...)
    {
        text += ", caused by something else";
    }
    return text;
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

    // 1. A healthy pool: one initializer and one finalizer per worker.
    {
        pal::thread_pool pool(pal::pool_options{.max_workers = 2,
                                                .name = "db",
                                                .initializer = open_connection,
                                                .finalizer = close_connection});
        std::cout << "spawn_workers(2) started " << pool.spawn_workers(2) << " workers\n";
        int sum = 0;
        for (int r : pool.map(query, std::vector<int>{1, 2, 3, 4, 5, 6}))
            sum += r;
        std::cout << "6 queries, sum " << sum << "\n";
        pool.join(); // let every worker finish its work and exit
        std::cout << "after join: initializer ran " << opened << " times, finalizer ran " << closed
                  << " times\n";
        expect(sum == 210 && opened == 2 && closed == 2, "initializer and finalizer per worker");
    }

    // 2. An initializer that throws. test() runs a replica of the pool and reports it...
    pal::thread_pool pool(pal::pool_options{.max_workers = 2,
                                            .name = "db",
                                            .initializer = refuse_connection,
                                            .finalizer = close_connection});
    try
    {
        pool.test();
        expect(false, "test() passed with a failing initializer");
    }
    catch (const pal::initializer_error& e)
    {
        std::cout << "test(): " << describe(e, "initializer_error") << "\n";
    }
    expect(!pool.is_broken(), "test() leaves the pool itself alone");

    // ...while the pool itself breaks at its first worker: the task is cancelled, not run.
    pal::future<int> f = pool.submit(query, 1);
    f.wait();
    std::cout << "first task: " << (f.is_cancelled() ? "cancelled" : "not cancelled")
              << "; pool broken: " << std::boolalpha << pool.is_broken()
              << "; cancelled_tasks: " << pool.cancelled_tasks().size() << "\n";
    expect(f.is_cancelled() && pool.is_broken(), "a failing initializer breaks the pool");
    try
    {
        pool.check();
        expect(false, "check() passed on a broken pool");
    }
    catch (const pal::initializer_error& e)
    {
        std::cout << "check(): " << describe(e, "initializer_error") << "\n";
        std::cout << "  what(): " << e.what() << "\n";
    }
    try
    {
        pool.submit(query, 2);
        expect(false, "submit() accepted a task on a broken pool");
    }
    catch (const pal::broken_pool_error&) // the base of initializer_error and finalizer_error
    {
        std::cout << "submit(): broken_pool_error\n";
    }

    // 3. A finalizer that throws breaks the pool when a worker exits, here at join().
    pal::thread_pool closing(pal::pool_options{.max_workers = 1,
                                               .name = "closing",
                                               .initializer = open_connection,
                                               .finalizer = fail_to_close});
    std::cout << "run(query, 4) = " << closing.run(query, 4) << "\n";
    closing.join();
    std::cout << "after join: pool broken: " << closing.is_broken() << "\n";
    try
    {
        closing.check();
        expect(false, "check() passed after a failing finalizer");
    }
    catch (const pal::finalizer_error& e)
    {
        std::cout << "check(): " << describe(e, "finalizer_error") << "\n";
    }

    return good ? EXIT_SUCCESS : EXIT_FAILURE;
}
