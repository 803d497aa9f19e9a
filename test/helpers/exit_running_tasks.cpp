//
// test/helpers/exit_running_tasks.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Exit helper (plain program, run by test/exit.cpp): tasks are still running when the program
// exits, on two pools: a leaked one (`new`, never deleted; two workers, both busy, four tasks
// queued behind them) and a function-local static one made on first use. Each running task
// finishes by itself once main has left and its pool is being shut down; it prints a line when
// it completes, so the test sees that it ran to the end. The queued tasks must end cancelled
// without running. Exit status 5, or 42 with `--std-exit` (main calls std::exit while the
// workers are busy).
//
// Lines printed (each flushed at once):
//   running: task 0 started                (also 1, and "running: lazy task started")
//   running: pending=4
//   running: main returning                (or "running: main calling std::exit(42)")
//   running: lazy task completed, pool closed
//   running: task 0 completed, pool closed (also 1)
//   running: pending task 0 cancelled      (also 1, 2, 3; "running: pending task K RAN" never)
//   running: late exit handler, pool threads left=0
//

#include "asio_pal/thread_pool.hpp"

#include "../common/eventually.hpp"
#include "../common/say.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <dirent.h>

namespace pal = asio_pal;

namespace {

using asio_pal_test::say;

// Threads of this process whose name starts with `prefix` (pool workers are named after their
// pool).
int count_threads_named(const char* prefix)
{
    int n = 0;
    DIR* dir = opendir("/proc/self/task");
    if (!dir)
        return -1;
    while (dirent* e = readdir(dir))
    {
        if (e->d_name[0] == '.')
            continue;
        std::string path = std::string("/proc/self/task/") + e->d_name + "/comm";
        if (std::FILE* f = std::fopen(path.c_str(), "r"))
        {
            char name[64] = {};
            if (std::fgets(name, sizeof name, f) &&
                std::strncmp(name, prefix, std::strlen(prefix)) == 0)
                ++n;
            std::fclose(f);
        }
    }
    closedir(dir);
    return n;
}

// Every wait of a helper is bounded by 20 s.
template <typename Pred>
bool wait_for(Pred done)
{
    return asio_pal_test::eventually(done, std::chrono::seconds(20));
}

// Leaked on purpose; global so that LeakSanitizer sees it as reachable.
pal::thread_pool* leaked_pool = nullptr;

pal::thread_pool& lazy_pool()
{
    static pal::thread_pool pool(pal::pool_options{
        .max_workers = 1, .name = "xr_lazy", .idle_timeout = std::chrono::seconds(60)});
    return pool;
}

std::atomic<bool> release{false};
std::atomic<int> started{0};

// Runs until main has left and `pool` is being shut down, then reports.
void long_task(pal::thread_pool* pool, const char* what)
{
    ++started;
    if (!wait_for([] { return release.load(); }))
    {
        say("running: %s timed out waiting for main to leave", what);
        return;
    }
    if (!wait_for([pool] { return pool->is_closed(); }))
    {
        say("running: %s timed out waiting for its pool to close", what);
        return;
    }
    say("running: %s completed, pool closed", what);
}

extern "C" void late_exit_handler()
{
    say("running: late exit handler, pool threads left=%d", count_threads_named("xr_"));
}

} // namespace

int main(int argc, char** argv)
{
    const bool std_exit = argc > 1 && std::strcmp(argv[1], "--std-exit") == 0;

    // Registered before the first pool exists, so it runs after asio_pal's exit handler and
    // after the lazy pool's destructor.
    std::atexit(late_exit_handler);

    leaked_pool = new pal::thread_pool(pal::pool_options{
        .max_workers = 2, .name = "xr_leaked", .idle_timeout = std::chrono::seconds(60)});
    leaked_pool->submit(long_task, leaked_pool, "task 0");
    leaked_pool->submit(long_task, leaked_pool, "task 1");
    lazy_pool().submit(long_task, &lazy_pool(), "lazy task");
    if (!wait_for([] { return started.load() == 3; }))
    {
        say("running: the long tasks never all started");
        return 1;
    }
    say("running: task 0 started");
    say("running: task 1 started");
    say("running: lazy task started");

    for (int i = 0; i < 4; ++i)
    {
        pal::future<int> f = leaked_pool->submit([i] {
            say("running: pending task %d RAN", i);
            return i;
        });
        f.add_callback([i](const pal::future<int>& done) {
            say("running: pending task %d %s", i,
                done.is_cancelled() ? "cancelled" : "ended NOT cancelled");
        });
    }
    say("running: pending=%zu", leaked_pool->count_pending_tasks());

    if (std_exit)
    {
        say("running: main calling std::exit(42)");
        release = true;
        std::exit(42);
    }
    say("running: main returning");
    release = true;
    return 5;
}
