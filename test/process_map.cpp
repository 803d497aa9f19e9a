//
// test/process_map.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Regression tests of a process pool's tasks that a dying worker gives back to the queue, as
// seen by a plain future and by async_next over a lazy map (the chaos soak's open finding: a
// coroutine's async_next over a map of chunks of 3, buffer 2, on a pool nobody submitted to any
// more, never completed).
//
// Short tasks are sent to a worker several at a time; when the worker dies, the task it was
// running fails and the ones behind it go back to the queue. When there are at least as many
// idle workers as tasks given back, no new worker is started for them, and nothing else made
// the pool look at its queue again: they waited for the next submit, for ever on a pool that
// gets none (the soak's pool had been replaced, so its clients submitted elsewhere).
//
// The order of events is set by the test, never left to timing: tasks wait for files the test
// creates. Every wait a bug could make endless is bounded, so a bug fails a test instead of
// hanging it. This executable is its own worker: main() starts with run_worker.
//

#include "asio_pal/process_pool.hpp"

#define BOOST_TEST_MODULE process_map
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "common/eventually.hpp"

#include "asio_pal/error.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

namespace pal = asio_pal;
namespace net = boost::asio;
using namespace std::chrono_literals;
using asio_pal_test::eventually;

// ---- functions the workers run ----

long echo(long x)
{
    return x;
}
ASIO_PAL_REGISTER_TASK(echo);

bool exists(const std::string& path)
{
    return ::access(path.c_str(), F_OK) == 0;
}

// Returns once the file exists (the test creates it); gives up after 60 s.
long wait_for_file(std::string path)
{
    for (int i = 0; i < 6000 && !exists(path); ++i)
        std::this_thread::sleep_for(10ms);
    return static_cast<long>(::getpid());
}
ASIO_PAL_REGISTER_TASK(wait_for_file);

// Kills its own worker once the file exists.
long die_when_file(std::string path)
{
    wait_for_file(path);
    ::kill(::getpid(), SIGKILL);
    return 0;
}
ASIO_PAL_REGISTER_TASK(die_when_file);

namespace {

/// A fresh directory for one test's marker files.
struct temp_dir
{
    std::string path;
    temp_dir()
    {
        char tmpl[] = "/tmp/asio_pal_pm_XXXXXX";
        char* p = ::mkdtemp(tmpl);
        BOOST_REQUIRE(p != nullptr);
        path = p;
    }
    ~temp_dir() { (void)!std::system(("rm -rf '" + path + "'").c_str()); }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string file(const std::string& name) const { return path + "/" + name; }
    void create(const std::string& name) const { std::ofstream(file(name)) << 1; }
};

/**
 * `idle` workers that hold a gate task each, and one more worker with a history of short tasks
 * that holds `doomed`, a task that kills it when told to, with more tasks behind it in its
 * pipe. Then the gates open, so the other workers are idle (and enough for what the doomed one
 * gives back) when it dies.
 */
class doomed_worker
{
public:
    explicit doomed_worker(std::size_t idle)
        : pool(pal::process_pool_options{.max_workers = idle + 1,
                                         .name = "process_map",
                                         // Never retire: an idle worker's retirement would
                                         // look at the queue and hide the bug.
                                         .idle_timeout = std::nullopt})
    {
        // Each gate starts a worker of its own (the others are busy), whose first task it is:
        // with no history a worker is sent one task at a time, so it takes nothing else while
        // its gate is closed.
        for (std::size_t i = 0; i < idle; ++i)
        {
            gates.push_back(pool.submit(wait_for_file, dir.file("gate")));
            BOOST_TEST_REQUIRE(eventually([&] { return gates.back().is_running(); }));
        }
        // The last worker: short tasks, many at once, so that its recent tasks are short and
        // it is sent several at a time.
        std::vector<pal::future<long>> warm;
        for (long i = 0; i < 200; ++i)
            warm.push_back(pool.submit(echo, i));
        for (long i = 0; i < 200; ++i)
            BOOST_TEST_REQUIRE(warm[static_cast<std::size_t>(i)].collect(30s) == i);
        BOOST_TEST_REQUIRE(pool.count_workers() == idle + 1);
        doomed = pool.submit(die_when_file, dir.file("die"));
        BOOST_TEST_REQUIRE(eventually([&] { return doomed.is_running(); }));
    }

    doomed_worker(const doomed_worker&) = delete;
    doomed_worker& operator=(const doomed_worker&) = delete;

    /// Whatever the test submitted since the constructor was sent to the doomed worker.
    bool behind_doomed_in_its_pipe()
    {
        if (eventually([&] { return pool.count_pending_tasks() == 0; }, 10s))
            return true;
        // Slow warm-up tasks (a loaded machine) made the pool send one task at a time.
        BOOST_WARN_MESSAGE(false, "no task was queued behind the doomed one: not tested");
        dir.create("gate");
        dir.create("die");
        return false;
    }

    /// Opens the gates (the other workers become idle), then kills the doomed worker.
    void free_the_others_and_kill_it()
    {
        dir.create("gate");
        for (pal::future<long>& g : gates)
            BOOST_TEST_REQUIRE(g.collect(30s) > 0);
        dir.create("die");
        BOOST_TEST_REQUIRE(doomed.wait(30s));
        BOOST_TEST(doomed.is_failed());
        BOOST_CHECK_THROW(doomed.collect(), pal::worker_died_error);
    }

    temp_dir dir;
    pal::process_pool pool;
    std::vector<pal::future<long>> gates;
    pal::future<long> doomed;
};

} // namespace

BOOST_AUTO_TEST_CASE(a_task_given_back_by_a_dead_worker_runs_on_an_idle_one)
{
    // One task given back, one idle worker: no worker is to be started for it.
    doomed_worker w(1);
    pal::future<long> behind = w.pool.submit(echo, 7L);
    if (!w.behind_doomed_in_its_pipe())
        return;
    BOOST_TEST_REQUIRE(behind.is_running()); // sent: claimed by the doomed worker
    w.free_the_others_and_kill_it();
    // Before the fix it stayed queued, the idle worker waiting for a submit that never came.
    BOOST_TEST_REQUIRE(behind.wait(30s));
    BOOST_TEST(behind.collect() == 7);
    BOOST_TEST(w.pool.count_pending_tasks() == 0u);
}

BOOST_AUTO_TEST_CASE(async_next_over_a_lazy_map_whose_chunk_a_dead_worker_gave_back)
{
    // The soak's configuration: chunks of 3, 2 of them submitted at a time, read with
    // async_next from a coroutine; the pool gets no other submit. Two chunks given back, two
    // idle workers: no worker is to be started for them.
    doomed_worker w(2);
    std::vector<long> xs(13);
    std::iota(xs.begin(), xs.end(), 100L);
    // Declared before the map: destroying the map cancels its chunks, and a coroutine still
    // waiting on one completes through this io_context.
    net::io_context io;
    std::vector<long> got;
    std::exception_ptr error;
    bool ended = false;
    bool reached_first_wait = false;
    auto r = w.pool.map(echo, xs, pal::map_options{.chunk_size = 3, .buffer_size = 2});
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            try
            {
                // The first step submits the first 2 chunks: they go behind the doomed task.
                auto first = r.async_next(net::use_awaitable);
                reached_first_wait = true; // the co_await below submits before it suspends
                std::optional<long> v = co_await std::move(first);
                while (v)
                {
                    got.push_back(*v);
                    v = co_await r.async_next(net::use_awaitable);
                }
            }
            catch (...)
            {
                error = std::current_exception();
            }
            ended = true;
        },
        net::detached);
    // Runs the coroutine up to its first wait: the first chunks are submitted.
    io.poll();
    BOOST_TEST_REQUIRE(reached_first_wait);
    BOOST_TEST_REQUIRE(!ended);
    if (!w.behind_doomed_in_its_pipe())
    {
        io.run_for(30s);
        return;
    }
    w.free_the_others_and_kill_it();
    // Before the fix the coroutine waited for ever (here: until run_for gave up).
    io.run_for(30s);
    BOOST_TEST_REQUIRE(ended);
    BOOST_TEST(!error);
    BOOST_TEST(got == xs);
}

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
