//
// test/consumer/main.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A program outside asio_pal's tree that uses an installed (or fetched) asio_pal the way a user
// would: scripts/test_consumer.sh builds it with find_package, pkg-config, FetchContent and the
// Debian package, runs it, and compares what it prints with expected.txt. Against a shared
// libasio_pal.so it also checks what crosses the library's boundary: asio_pal's exceptions
// caught by type, and an Asio error code made in the library equal to the program's.
//

#include <asio_pal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

namespace net = boost::asio;
namespace pal = asio_pal;

// The version the build system reports, as a bare token (x.y.z is a preprocessing number), so
// that no build system has to quote a string through its command line.
#ifndef CONSUMER_EXPECTED_VERSION
#error "build with -DCONSUMER_EXPECTED_VERSION=x.y.z: the version the build system reports"
#endif
#define CONSUMER_STRING(x) CONSUMER_STRING_OF(x)
#define CONSUMER_STRING_OF(x) #x

long long square(long long x)
{
    return x * x;
}
ASIO_PAL_REGISTER_TASK(square);

int parse(std::string text)
{
    return std::stoi(text); // std::invalid_argument for "many"
}
ASIO_PAL_REGISTER_TASK(parse);

int end_of_file()
{
    throw boost::system::system_error(net::error::eof, "end_of_file");
}
ASIO_PAL_REGISTER_TASK(end_of_file);

int die()
{
    std::_Exit(3);
}
ASIO_PAL_REGISTER_TASK(die);

net::awaitable<long long> square_on(pal::process_pool& procs, long long x)
{
    co_return co_await pal::async_run(procs, square, x, net::use_awaitable);
}

int failures = 0;

void check(bool ok, const std::string& what)
{
    std::cout << (ok ? "ok: " : "FAILED: ") << what << '\n';
    if (!ok)
        ++failures;
}

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);

    check(std::string(ASIO_PAL_VERSION_STRING) == CONSUMER_STRING(CONSUMER_EXPECTED_VERSION),
          "version.hpp says the build system's version");
    check(ASIO_PAL_VERSION == ASIO_PAL_VERSION_MAJOR * 100000 + ASIO_PAL_VERSION_MINOR * 100 +
                                  ASIO_PAL_VERSION_PATCH,
          "ASIO_PAL_VERSION's layout");

    {
        pal::thread_pool pool;
        check(pool.submit([](int a, int b) { return a * b; }, 6, 7).collect() == 42,
              "thread_pool: 6 * 7");
        pool.shutdown();
        try
        {
            pool.submit([] { return 0; });
            check(false, "thread_pool: submit after shutdown throws pool_closed_error");
        }
        catch (const pal::pool_closed_error&)
        {
            check(true, "thread_pool: submit after shutdown throws pool_closed_error");
        }
    }

    pal::process_pool procs(pal::process_pool_options{.max_workers = 2});
    check(procs.submit(square, 12).collect() == 144, "process_pool: square(12)");

    net::io_context io;
    long long awaited = 0;
    net::co_spawn(io, square_on(procs, 9), [&](std::exception_ptr e, long long r) {
        if (!e)
            awaited = r;
    });
    io.run();
    check(awaited == 81, "process_pool: co_await async_run(square, 9)");

    try
    {
        procs.run(parse, std::string("many"));
        check(false, "process_pool: a worker's std::invalid_argument comes back as itself");
    }
    catch (const std::invalid_argument&)
    {
        check(true, "process_pool: a worker's std::invalid_argument comes back as itself");
    }

    try
    {
        procs.run(end_of_file);
        check(false, "process_pool: a worker's Asio eof equals net::error::eof");
    }
    catch (const boost::system::system_error& e)
    {
        check(e.code() == net::error::eof,
              "process_pool: a worker's Asio eof equals net::error::eof");
    }

    try
    {
        procs.run(die);
        check(false, "process_pool: a dying worker gives worker_died_error");
    }
    catch (const pal::worker_died_error& e)
    {
        check(e.exit_status() == 3, "process_pool: a dying worker gives worker_died_error");
    }

    procs.shutdown();
    try
    {
        procs.submit(square, 1);
        check(false, "process_pool: submit after shutdown throws pool_closed_error");
    }
    catch (const pal::error& e)
    {
        check(e.code() == pal::errc::pool_closed,
              "process_pool: submit after shutdown throws pool_closed_error");
    }

    std::cout << (failures == 0 ? "consumer: all passed" : "consumer: failures") << '\n';
    return failures == 0 ? 0 : 1;
}
