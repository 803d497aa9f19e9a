//
// test/helpers/process_parent.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Helper program for test/process_exit.cpp (plain program, no Boost.Test): the parent of a
// process pool whose children must never outlive it. It is its own worker executable, as a
// user's program is.
//
// Usage: process_parent <mode> <directory>
// Every task writes an empty file `child.<pid>` into <directory> when it starts, so the test
// knows the workers' pids. Once they are all there the helper prints "ready", then:
//   busy              two tasks sleep 60 s in a pool of 2; the helper waits for the test to
//                     SIGKILL it (gives up and exits with 3 when its stdin ends or after 120 s).
//   idle              a pool of 2 (spawn_workers(2), no idle timeout) has run two tasks that
//                     met in two workers, which are idle now; then as busy.
//   exit_busy_static  as busy, with a function-local static pool; on a line "go" on stdin (or
//                     when stdin ends, or after 30 s) main returns 0 with both tasks running,
//                     so asio_pal's exit handler must stop them.
//   exit_busy_leaked  the same with a pool made by new and never deleted.
//   exit_busy_run     as exit_busy_static, but one of the tasks runs through run() on a thread of
//                     its own, which holds the worker directly (no I/O thread in between).
//   destroy_in_callback       a callback of a task (it runs on the pool's own I/O thread) deletes
//                     the pool: the pool must report it on stderr and abort (it cannot join
//                     its own thread), not hang or use freed memory.
//   destroy_in_callback_user  the same with the pool's I/O on an io_context run by a thread of
//                     the helper: that works; prints "destroyed" and exits with 0.
// Other lines it may print: "main returning" (the exit modes) and "error: ..." (then it exits
// with status 1).
//

#include "asio_pal/process_pool.hpp"

#include "../common/say.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <unistd.h>

namespace pal = asio_pal;
using namespace std::chrono_literals;

namespace {

using asio_pal_test::say;

// Polls `done` until it holds or `limit` passes; false on timeout.
template <typename Pred>
bool wait_for(Pred done, std::chrono::steady_clock::duration limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done())
    {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// Files named child.<pid> in `dir`.
std::size_t count_children(const std::string& dir)
{
    std::error_code ec;
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.path().filename().string().rfind("child.", 0) == 0)
            ++n;
    return n;
}

void mark_child(const std::string& dir)
{
    std::ofstream(dir + "/child." + std::to_string(::getpid()));
}

} // namespace

// ---- functions the workers run ----

// Announces its worker, then stays busy (the test kills it, or the pool stops it, long before).
void busy_task(std::string dir)
{
    mark_child(dir);
    std::this_thread::sleep_for(60s);
}
ASIO_PAL_REGISTER_TASK(busy_task);

// Announces its worker and returns once `peers` workers have announced themselves, so that
// `peers` such tasks provably ran at the same time in distinct workers. -1 when they never met.
long meet_peers(std::string dir, int peers)
{
    mark_child(dir);
    if (!wait_for([&] { return count_children(dir) >= static_cast<std::size_t>(peers); }, 30s))
        return -1;
    return static_cast<long>(::getpid());
}
ASIO_PAL_REGISTER_TASK(meet_peers);

int echo(int x)
{
    return x;
}
ASIO_PAL_REGISTER_TASK(echo);

namespace {

// Leaked on purpose; global so that LeakSanitizer sees it as reachable.
pal::process_pool* leaked_pool = nullptr;

pal::process_pool& static_pool()
{
    static pal::process_pool pool(pal::process_pool_options{.max_workers = 2, .name = "pp_static"});
    return pool;
}

// Submits two busy tasks and waits until both have started in their workers.
bool start_busy(pal::process_pool& pool, const std::string& dir)
{
    if (count_children(dir) == 0) // exit_busy_run started one already
        pool.submit(busy_task, dir);
    pool.submit(busy_task, dir);
    if (!wait_for([&] { return count_children(dir) == 2; }, 30s))
    {
        say("error: the busy tasks did not both start within 30 s (%zu did)", count_children(dir));
        return false;
    }
    return true;
}

// Waits until stdin holds a line (returned without its newline), ends, or `limit` passes
// (both give "").
std::string read_stdin_line(std::chrono::milliseconds limit)
{
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;)
    {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return {};
        pollfd p{STDIN_FILENO, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return {};
        char c;
        ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return {};
        if (c == '\n')
            return line;
        line += c;
    }
}

int run_busy(const std::string& dir)
{
    pal::process_pool pool(pal::process_pool_options{.max_workers = 2, .name = "pp_busy"});
    if (!start_busy(pool, dir))
    {
        std::fflush(stdout);
        std::_Exit(1); // the pool's destructor would wait for the 60 s tasks
    }
    say("ready");
    read_stdin_line(120s); // the test kills us long before
    say("error: not killed");
    std::fflush(stdout);
    std::_Exit(3); // the pool's destructor would wait for the 60 s tasks
}

int run_idle(const std::string& dir)
{
    pal::process_pool pool(pal::process_pool_options{
        .max_workers = 2, .name = "pp_idle", .idle_timeout = std::nullopt});
    if (pool.spawn_workers(2) != 2)
    {
        say("error: spawn_workers(2) did not start 2 workers");
        return 1;
    }
    pal::future<long> a = pool.submit(meet_peers, dir, 2);
    pal::future<long> b = pool.submit(meet_peers, dir, 2);
    long pa = -1, pb = -1;
    try
    {
        pa = a.collect(40s);
        pb = b.collect(40s);
    }
    catch (const std::exception& e)
    {
        say("error: the tasks failed: %s", e.what());
        return 1;
    }
    if (pa <= 0 || pb <= 0 || pa == pb)
    {
        say("error: the tasks did not run at the same time in two workers (pids %ld, %ld)", pa, pb);
        return 1;
    }
    if (!wait_for([&] { return pool.count_workers() == 2 && pool.count_busy_workers() == 0; }, 30s))
    {
        say("error: the workers did not become idle (workers=%zu, busy=%zu)", pool.count_workers(),
            pool.count_busy_workers());
        return 1;
    }
    say("ready");
    read_stdin_line(120s);
    say("error: not killed");
    return 3;
}

int run_exit_busy(pal::process_pool& pool, const std::string& dir)
{
    if (!start_busy(pool, dir))
    {
        std::fflush(stdout);
        std::_Exit(1); // not a test of exit: do not wait for the tasks
    }
    say("ready");
    read_stdin_line(30s);
    say("main returning");
    return 0;
}

int run_exit_busy_run(const std::string& dir)
{
    pal::process_pool& pool = static_pool();
    if (pool.run(echo, 7) != 7) // a worker, now idle: the next run() leases it
    {
        say("error: echo");
        return 1;
    }
    std::thread([&pool, dir] {
        try
        {
            pool.run(busy_task, dir);
        }
        catch (const std::exception&) // cancelled by the exit handler: expected
        {
        }
    }).detach();
    if (!wait_for([&] { return count_children(dir) == 1; }, 30s))
    {
        say("error: the task in run() did not start within 30 s");
        std::fflush(stdout);
        std::_Exit(1);
    }
    return run_exit_busy(pool, dir);
}

int run_destroy_in_callback(bool user_executor)
{
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    std::optional<std::thread> runner;
    pal::process_pool_options o{.max_workers = 1, .name = "pp_callback"};
    pal::process_pool* pool = nullptr;
    if (user_executor)
    {
        runner.emplace([&io] { io.run(); });
        pool = new pal::process_pool(io.get_executor(), o);
    }
    else
    {
        pool = new pal::process_pool(o);
    }
    std::promise<void> destroyed;
    std::future<void> done = destroyed.get_future();
    {
        pal::future<int> f = pool->submit(echo, 7);
        f.add_callback([&] {
            delete pool;
            destroyed.set_value();
        });
    }
    if (done.wait_for(30s) != std::future_status::ready)
    {
        say("error: the callback did not destroy the pool within 30 s");
        std::fflush(stdout);
        std::_Exit(1);
    }
    say("destroyed");
    guard.reset();
    if (runner)
        runner->join();
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);

    if (argc != 3)
    {
        std::fprintf(stderr, "usage: process_parent busy|idle|exit_busy_static|exit_busy_leaked|exit_busy_run "
                             "<directory>\n");
        return 2;
    }
    const std::string mode = argv[1];
    const std::string dir = argv[2];
    if (mode == "busy")
        return run_busy(dir);
    if (mode == "idle")
        return run_idle(dir);
    if (mode == "exit_busy_static")
        return run_exit_busy(static_pool(), dir);
    if (mode == "exit_busy_run")
        return run_exit_busy_run(dir);
    if (mode == "destroy_in_callback")
        return run_destroy_in_callback(false);
    if (mode == "destroy_in_callback_user")
        return run_destroy_in_callback(true);
    if (mode == "exit_busy_leaked")
    {
        leaked_pool =
            new pal::process_pool(pal::process_pool_options{.max_workers = 2, .name = "pp_leaked"});
        return run_exit_busy(*leaked_pool, dir);
    }
    std::fprintf(stderr, "process_parent: unknown mode '%s'\n", mode.c_str());
    return 2;
}
