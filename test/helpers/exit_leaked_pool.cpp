//
// test/helpers/exit_leaked_pool.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Exit helper (plain program, run by test/exit.cpp): pools made with `new` and never deleted
// are alive when main returns. One has only idle workers with a 60 s idle timeout (an exit that
// waited for them would take a minute); the other has a single worker running a task and three
// tasks queued behind it. At exit the running task must finish, the queued ones must end
// cancelled without running, every pool thread must be gone before the atexit handlers
// registered earlier run, and the program must exit with status 7.
//
// Lines printed (each flushed at once):
//   leaked: idle pool ready, workers=4
//   leaked: busy pool ready, pending=3
//   leaked: main returning
//   leaked: busy task finished, pool closed
//   leaked: pending task 0 cancelled      (also 1 and 2; "leaked: pending task K RAN" never)
//   leaked: late exit handler, pool threads left=0
//
// With argument --chained, pools that the exit-time shutdown itself destroys and creates: pool
// "xl_inner" is owned only by a task queued on the newer pool "xl_outer", so shutting the outer
// pool down at exit destroys the inner one while the exit handler still has it to do; the
// cancelled task's callback makes a new pool "xl_late". Exit status 8; lines:
//   leaked: chained pools ready
//   leaked: main returning
//   leaked: inner pool destroyed
//   leaked: late pool made
//   leaked: late exit handler, pool threads left=0
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
#include <memory>
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

// Leaked on purpose; global so that LeakSanitizer sees them as reachable.
pal::thread_pool* idle_pool = nullptr;
pal::thread_pool* busy_pool = nullptr;

std::atomic<bool> release{false};
std::atomic<bool> started{false};

// Registered before the first pool exists, so it runs after asio_pal's exit handler.
extern "C" void late_exit_handler()
{
    say("leaked: late exit handler, pool threads left=%d", count_threads_named("xl_"));
}

} // namespace

// Destroying the pool it owns says so, so the test sees the inner pool go during the exit.
struct inner_owner
{
    pal::thread_pool* pool;
    explicit inner_owner(pal::thread_pool* p) : pool(p) {}
    inner_owner(const inner_owner&) = delete;
    inner_owner& operator=(const inner_owner&) = delete;
    ~inner_owner()
    {
        delete pool;
        say("leaked: inner pool destroyed");
    }
};

int chained()
{
    // Made first, so the exit handler (newest first) reaches it after the outer pool.
    auto inner = std::make_shared<inner_owner>(new pal::thread_pool(pal::pool_options{
        .max_workers = 2, .name = "xl_inner", .idle_timeout = std::chrono::seconds(60)}));
    inner->pool->submit([] {}).collect(std::chrono::seconds(30));
    busy_pool = new pal::thread_pool(pal::pool_options{
        .max_workers = 1, .name = "xl_outer", .idle_timeout = std::chrono::seconds(60)});
    busy_pool->submit([] {
        started = true;
        if (!wait_for([] { return busy_pool->is_closed(); }))
            say("leaked: busy task timed out waiting for the pool to close");
    });
    if (!wait_for([] { return started.load(); }))
    {
        say("leaked: busy task never started");
        return 1;
    }
    pal::future<void> queued = busy_pool->submit([inner] { say("leaked: queued task RAN"); });
    inner.reset(); // the queued task holds the only reference now
    queued.add_callback([](const pal::future<void>&) {
        // A pool made while the exit handler runs is shut down by it too.
        idle_pool = new pal::thread_pool(pal::pool_options{
            .max_workers = 1, .name = "xl_late", .idle_timeout = std::chrono::seconds(60)});
        idle_pool->spawn_workers(1);
        say("leaked: late pool made");
    });
    say("leaked: chained pools ready");
    say("leaked: main returning");
    return 8;
}

int main(int argc, char** argv)
{
    std::atexit(late_exit_handler);
    if (argc > 1 && std::strcmp(argv[1], "--chained") == 0)
        return chained();

    idle_pool = new pal::thread_pool(pal::pool_options{
        .max_workers = 4, .name = "xl_idle", .idle_timeout = std::chrono::seconds(60)});
    std::vector<pal::future<int>> warm;
    for (int i = 0; i < 8; ++i)
        warm.push_back(idle_pool->submit([](int x) { return x + 1; }, i));
    for (auto& f : warm)
        f.collect(std::chrono::seconds(30));
    idle_pool->spawn_workers(4);
    say("leaked: idle pool ready, workers=%zu", idle_pool->count_workers());

    busy_pool = new pal::thread_pool(pal::pool_options{
        .max_workers = 1, .name = "xl_busy", .idle_timeout = std::chrono::seconds(60)});
    busy_pool->submit([] {
        started = true;
        if (!wait_for([] { return release.load(); }))
        {
            say("leaked: busy task timed out waiting for main to return");
            return;
        }
        // Still running when the exit-time shutdown starts: it waits for it.
        if (!wait_for([] { return busy_pool->is_closed(); }))
        {
            say("leaked: busy task timed out waiting for the pool to close");
            return;
        }
        say("leaked: busy task finished, pool closed");
    });
    if (!wait_for([] { return started.load(); }))
    {
        say("leaked: busy task never started");
        return 1;
    }
    for (int i = 0; i < 3; ++i)
    {
        pal::future<void> f = busy_pool->submit([i] { say("leaked: pending task %d RAN", i); });
        f.add_callback([i](const pal::future<void>& done) {
            say("leaked: pending task %d %s", i,
                done.is_cancelled() ? "cancelled" : "ended NOT cancelled");
        });
    }
    say("leaked: busy pool ready, pending=%zu", busy_pool->count_pending_tasks());

    say("leaked: main returning");
    release = true;
    return 7;
}
