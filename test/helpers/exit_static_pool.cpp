//
// test/helpers/exit_static_pool.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Exit helper (plain program, run by test/exit.cpp): a namespace-scope thread_pool is still
// alive when main returns, with one worker running a task and idle workers that would wait
// 60 s for work. A second pool, made in main and held by a namespace-scope unique_ptr that was
// initialised before any pool existed, also has a running task: asio_pal's exit handler shuts
// it down, and the unique_ptr deletes it later, during static destruction. The running tasks
// must finish (each waits until its pool is being shut down), objects constructed before the
// pools must still be alive while they run, no pool thread may survive into their
// destruction, and the program must exit with status 0 (43 with `--std-exit`, which leaves
// main through std::exit instead of returning).
//
// Lines printed (each flushed at once), in this order:
//   static: quick tasks done, sum=285
//   static: running tasks started
//   static: main returning             (or "static: main calling std::exit(43)")
//   static: running task finished, pool closed, guard alive
//   static: running task callback, status completed   (just after the line above)
//   static: held task finished, pool closed, guard alive
//   static: held pool destroyed
//   static: guard destroyed, pool threads left=0
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
#include <memory>
#include <string>
#include <thread>
#include <vector>

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

std::atomic<bool> guard_alive{false};

// Constructed before the pool, so destroyed after it: a running task may still rely on it.
struct static_guard
{
    static_guard() { guard_alive = true; }
    ~static_guard()
    {
        guard_alive = false;
        say("static: guard destroyed, pool threads left=%d", count_threads_named("xs_"));
    }
};

static_guard guard;

// Deletes the held pool during static destruction, after asio_pal's exit handler closed it.
struct held_pool_deleter
{
    void operator()(pal::thread_pool* p) const
    {
        delete p;
        say("static: held pool destroyed");
    }
};

// Initialised before the first pool exists (its destructor is registered before asio_pal's
// exit handler, so it runs after it); filled in main.
std::unique_ptr<pal::thread_pool, held_pool_deleter> held_pool;

std::atomic<bool> release{false};
std::atomic<bool> started{false};
std::atomic<bool> started_held{false};

pal::thread_pool pool(pal::pool_options{
    .max_workers = 3, .name = "xs_static", .idle_timeout = std::chrono::seconds(60)});

void running_task()
{
    started = true;
    if (!wait_for([] { return release.load(); }))
    {
        say("static: running task timed out waiting for main to return");
        return;
    }
    // Keep running until the exit-time shutdown has begun: the task is provably running at exit.
    if (!wait_for([] { return pool.is_closed(); }))
    {
        say("static: running task timed out waiting for the pool to close");
        return;
    }
    say("static: running task finished, pool closed, guard %s",
        guard_alive ? "alive" : "DESTROYED");
}

void held_task()
{
    started_held = true;
    if (!wait_for([] { return release.load(); }))
    {
        say("static: held task timed out waiting for main to return");
        return;
    }
    if (!wait_for([] { return held_pool->is_closed(); }))
    {
        say("static: held task timed out waiting for the pool to close");
        return;
    }
    say("static: held task finished, pool closed, guard %s", guard_alive ? "alive" : "DESTROYED");
}

} // namespace

int main(int argc, char** argv)
{
    const bool std_exit = argc > 1 && std::strcmp(argv[1], "--std-exit") == 0;

    std::vector<pal::future<int>> quick;
    for (int i = 0; i < 10; ++i)
        quick.push_back(pool.submit([](int x) { return x * x; }, i));
    int sum = 0;
    for (auto& f : quick)
        sum += f.collect(std::chrono::seconds(30));
    say("static: quick tasks done, sum=%d", sum);

    pal::future<void> running = pool.submit(running_task);
    running.add_callback([](const pal::future<void>& f) {
        say("static: running task callback, status %s",
            f.is_completed() ? "completed" : "NOT completed");
    });
    held_pool.reset(new pal::thread_pool(pal::pool_options{
        .max_workers = 2, .name = "xs_held", .idle_timeout = std::chrono::seconds(60)}));
    held_pool->submit(held_task);
    if (!wait_for([] { return started.load() && started_held.load(); }))
    {
        say("static: running tasks never started");
        return 1;
    }
    say("static: running tasks started");

    if (std_exit)
    {
        say("static: main calling std::exit(43)");
        release = true;
        std::exit(43);
    }
    say("static: main returning");
    release = true;
    return 0;
}
