//
// test/stress/process_pool_stress.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Stress test of process_pool, meant to run under ThreadSanitizer: several threads submit
// tiny tasks, tasks that kill their own worker, and slow tasks; they cancel some while pending
// and some while running, on pools whose workers retire constantly (idle timeout 0, a few
// tasks per worker). Then every task is accounted for: each future done, completed + failed +
// cancelled == submitted, every completed value right, every failure a worker_died_error from a
// task that killed its worker, and the pool drains to zero workers. Meanwhile another thread
// calls run(), which takes idle workers for itself, and checks each outcome. A last phase races
// shutdown() against the submitters.
//
// Size: ASIO_PAL_STRESS_SCALE (default 1.0) scales every count; 1.0 is about 20,000 tasks.
// Every wait is bounded. This executable is its own worker.
//

#include "asio_pal/process_pool.hpp"

#define BOOST_TEST_MODULE process_pool_stress
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "../common/eventually.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace pal = asio_pal;
using namespace std::chrono_literals;

int triple(int x)
{
    return 3 * x;
}
ASIO_PAL_REGISTER_TASK(triple);

int kill_self(int)
{
    ::kill(::getpid(), SIGKILL);
    return -1;
}
ASIO_PAL_REGISTER_TASK(kill_self);

int nap(int ms)
{
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}
ASIO_PAL_REGISTER_TASK(nap);

namespace {

double scale()
{
    const char* s = std::getenv("ASIO_PAL_STRESS_SCALE");
    double v = s ? std::atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

std::size_t scaled(std::size_t n)
{
    return std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(n) * scale()));
}

enum class kind
{
    tiny,
    killer,
    slow,
};

struct record
{
    kind k;
    int arg;
    pal::future<int> f;
    bool cancel_asked = false;
};

void run_submitter(pal::process_pool& pool, unsigned seed, std::size_t n,
                   std::vector<record>& out)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick(0, 999);
    for (std::size_t i = 0; i < n; ++i)
    {
        int r = pick(rng);
        record rec{kind::tiny, static_cast<int>(i), {}};
        if (r < 5)
            rec = record{kind::killer, 0, pool.submit(kill_self, 0)};
        else if (r < 25)
            rec = record{kind::slow, 1 + r % 5, pool.submit(nap, 1 + r % 5)};
        else
            rec.f = pool.submit(triple, rec.arg);
        if (pick(rng) < 50) // cancel some at once (pending) ...
        {
            rec.cancel_asked = true;
            rec.f.cancel();
        }
        out.push_back(std::move(rec));
        if (out.size() > 10 && pick(rng) < 30) // ... and some a little later (maybe running)
        {
            record& older = out[out.size() - 1 - static_cast<std::size_t>(pick(rng) % 10)];
            older.cancel_asked = true;
            older.f.cancel();
        }
    }
}

void account(std::vector<record>& all)
{
    std::size_t completed = 0, failed = 0, cancelled = 0;
    for (record& rec : all)
    {
        BOOST_REQUIRE(rec.f.wait(120s));
        switch (rec.f.status())
        {
        case pal::task_status::completed: {
            ++completed;
            int v = *rec.f.result();
            if (rec.k == kind::tiny)
                BOOST_TEST(v == 3 * rec.arg);
            else if (rec.k == kind::slow)
                BOOST_TEST(v == rec.arg);
            else
                BOOST_FAIL("a task that kills its worker completed");
            break;
        }
        case pal::task_status::failed:
            ++failed;
            try
            {
                std::rethrow_exception(rec.f.exception());
            }
            catch (const pal::worker_died_error& e)
            {
                BOOST_TEST((rec.k == kind::killer), e.what());
            }
            catch (const std::exception& e)
            {
                BOOST_FAIL(std::string("unexpected failure: ") + e.what());
            }
            break;
        case pal::task_status::cancelled:
            ++cancelled;
            BOOST_TEST(rec.cancel_asked);
            break;
        default:
            BOOST_FAIL("a task is neither completed, failed nor cancelled");
        }
    }
    BOOST_TEST(completed + failed + cancelled == all.size());
    BOOST_TEST_MESSAGE("completed " << completed << ", failed " << failed << ", cancelled "
                                    << cancelled);
}

using asio_pal_test::eventually;

void churn(pal::process_pool_options options, std::size_t per_thread)
{
    pal::process_pool pool(std::move(options));
    constexpr int threads = 3;
    std::vector<std::vector<record>> recs(threads);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            run_submitter(pool, 1234u + static_cast<unsigned>(t), per_thread,
                          recs[static_cast<std::size_t>(t)]);
        });
    // A fourth thread blocks in run(), which leases idle workers directly: every call ends
    // with the right value, or a worker_died_error from a task that killed its worker.
    std::size_t run_ok = 0, run_died = 0, run_wrong = 0;
    std::string run_wrong_what;
    std::thread runner([&] {
        std::mt19937 rng(99);
        std::uniform_int_distribution<int> pick(0, 999);
        for (std::size_t i = 0; i < per_thread / 3; ++i)
        {
            bool killer = pick(rng) < 10;
            try
            {
                int v = killer ? pool.run(kill_self, 0) : pool.run(triple, static_cast<int>(i));
                (!killer && v == 3 * static_cast<int>(i) ? run_ok : run_wrong)++;
            }
            catch (const pal::worker_died_error& e)
            {
                (killer ? run_died : run_wrong)++;
                if (!killer)
                    run_wrong_what = e.what();
            }
            catch (const std::exception& e)
            {
                ++run_wrong;
                run_wrong_what = e.what();
            }
        }
    });
    for (auto& t : ts)
        t.join();
    runner.join();
    BOOST_TEST(run_wrong == 0u, run_wrong_what);
    BOOST_TEST(run_ok + run_died == per_thread / 3);
    BOOST_TEST_MESSAGE("run: " << run_ok << " ok, " << run_died << " died");
    std::vector<record> all;
    for (auto& r : recs)
        for (auto& rec : r)
            all.push_back(std::move(rec));
    account(all);
    BOOST_TEST(pool.join(120s));
    BOOST_TEST(pool.count_workers() == 0u);
    BOOST_TEST(pool.count_busy_workers() == 0u);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
}

} // namespace

BOOST_AUTO_TEST_CASE(churn_with_deaths_and_cancels)
{
    churn(pal::process_pool_options{.max_workers = 3, .idle_timeout = 1ms}, scaled(3000));
}

BOOST_AUTO_TEST_CASE(churn_with_recycling)
{
    churn(pal::process_pool_options{
              .max_workers = 2, .idle_timeout = 0ns, .max_tasks_per_worker = 50},
          scaled(2000));
}

BOOST_AUTO_TEST_CASE(shutdown_races_submitters)
{
    for (std::size_t round = 0; round < scaled(10); ++round)
    {
        pal::process_pool pool(3);
        std::atomic<bool> stop{false};
        std::vector<std::vector<pal::future<int>>> fs(2);
        std::atomic<std::size_t> submitted[2] = {0, 0};
        std::vector<std::thread> ts;
        for (int t = 0; t < 2; ++t)
            ts.emplace_back([&, t] {
                for (int i = 0; !stop.load(); ++i)
                {
                    try
                    {
                        fs[static_cast<std::size_t>(t)].push_back(pool.submit(triple, i));
                        submitted[t].fetch_add(1);
                    }
                    catch (const pal::pool_closed_error&)
                    {
                        return;
                    }
                }
            });
        BOOST_TEST(eventually([&] { return submitted[0] > 50 && submitted[1] > 50; }, 60s));
        BOOST_TEST(pool.shutdown());
        stop = true;
        for (auto& t : ts)
            t.join();
        for (auto& v : fs)
            for (auto& f : v)
            {
                BOOST_REQUIRE(f.wait(60s));
                BOOST_TEST((f.is_completed() || f.is_cancelled()));
            }
        BOOST_TEST(pool.is_terminated());
    }
}

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
