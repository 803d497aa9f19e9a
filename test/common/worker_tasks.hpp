//
// test/common/worker_tasks.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tasks that the tests of remote workers (test/remote.cpp, slurm.cpp, mpi.cpp, netfault.cpp)
// run in their workers, registered here, and their small helpers. Include it in one source
// file per program: the registrations are definitions.
//

#ifndef ASIO_PAL_TEST_COMMON_WORKER_TASKS_HPP
#define ASIO_PAL_TEST_COMMON_WORKER_TASKS_HPP

#include "asio_pal/async_run.hpp"
#include "asio_pal/registry.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <csignal>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>

#include <unistd.h>

inline int square(int x)
{
    return x * x;
}
ASIO_PAL_REGISTER_TASK(square);

inline long worker_pid()
{
    return static_cast<long>(::getpid());
}
ASIO_PAL_REGISTER_TASK(worker_pid);

// Runs until its file exists (bounded: 60 s), then returns 1. /tmp is shared with workers in
// a network namespace (`ip netns exec` changes only the network and /sys) and with Slurm steps
// on this machine.
inline int wait_for_file(std::string path)
{
    for (int i = 0; i < 6000 && ::access(path.c_str(), F_OK) != 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return 1;
}
ASIO_PAL_REGISTER_TASK(wait_for_file);

// Its worker dies by SIGKILL.
inline int die_by_sigkill()
{
    ::raise(SIGKILL);
    return 0;
}
ASIO_PAL_REGISTER_TASK(die_by_sigkill);

namespace asio_pal_test {

/// A path in the temporary directory that no other test or run uses; nothing creates it.
inline std::string unique_temp_path(const std::string& what)
{
    static int counter = 0;
    return (std::filesystem::temp_directory_path() /
            ("asio_pal_" + what + "_" + std::to_string(::getpid()) + "_" +
             std::to_string(++counter)))
        .string();
}

/// What `co_await async_run(pool, f, args...)` gives a coroutine on an io_context of its own.
template <typename Pool, typename F, typename... Args>
auto async_run_in_a_coroutine(Pool& pool, F f, Args... args)
{
    namespace net = boost::asio;
    using result_type = decltype(f(args...));
    net::io_context io;
    result_type got{};
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            got = co_await asio_pal::async_run(pool, f, args..., net::use_awaitable);
        },
        net::detached);
    io.run();
    return got;
}

/// A predicate for BOOST_CHECK_EXCEPTION: what() contains `part`.
inline auto what_has(std::string part)
{
    return [part](const std::exception& e) {
        return std::string(e.what()).find(part) != std::string::npos;
    };
}

} // namespace asio_pal_test

#endif // ASIO_PAL_TEST_COMMON_WORKER_TASKS_HPP
