//
// test/stress/thread_pool_stress.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Stress test of thread_pool, meant to run under ThreadSanitizer: several threads submit,
// cancel, collect (blocking, with timeouts, and through async_collect on an io_context) and
// attach callbacks to hundreds of thousands of tasks on elastic pools that retire workers
// constantly (idle timeout 0 or 1 ms, one task per worker), then account for every task:
// each future done, completed + failed + cancelled == submitted, each callback fired exactly
// once, only tasks that were not cancelled ran, and the pool drains to zero workers. A last
// phase races shutdown() against submitters that also post through the executor.
//
// Size: ASIO_PAL_STRESS_SCALE (default 1.0, or 0.1 in sanitizer builds) scales every count;
// 1.0 is about 300,000 tasks. Every wait is bounded, and a watchdog aborts a test case that
// hangs, so a bug fails the run instead of stalling it.
//

#include "asio_pal/thread_pool.hpp"

#include "../common/sanitizers.hpp"

#define BOOST_TEST_MODULE thread_pool_stress
#include <boost/test/unit_test.hpp>

// Asio parts used by the submitters: async_collect on an io_context, executor posts.
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace pal = asio_pal;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr double default_scale = asio_pal_test::sanitized ? 0.1 : 1.0;

double stress_scale()
{
    if (const char* s = std::getenv("ASIO_PAL_STRESS_SCALE"); s && *s)
    {
        char* end = nullptr;
        double v = std::strtod(s, &end);
        if (end != s && v > 0)
            return v;
    }
    return default_scale;
}

std::size_t scaled(double n, std::size_t at_least = 1)
{
    return std::max(at_least, static_cast<std::size_t>(n * stress_scale()));
}

constexpr int submitter_count = 4;
// Every blocking wait of the test is bounded by this.
constexpr auto wait_limit = 60s;

// Aborts the process when a test case runs past its limit: a hang fails instead of stalling.
class watchdog
{
public:
    watchdog(std::string what, std::chrono::seconds limit)
        : thread_([this, what = std::move(what), limit] {
            std::unique_lock<std::mutex> lock(mutex_);
            if (!done_cv_.wait_for(lock, limit, [this] { return done_; }))
            {
                std::fprintf(stderr, "watchdog: '%s' still running after %lld s; aborting\n",
                             what.c_str(), static_cast<long long>(limit.count()));
                std::fflush(stderr);
                std::abort();
            }
        })
    {}

    ~watchdog()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            done_ = true;
        }
        done_cv_.notify_all();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    std::thread thread_;
};

constexpr auto case_limit = std::chrono::seconds(600);

// Problems found on non-test threads (Boost.Test assertions are not thread-safe); reported by
// the main thread.
class problem_log
{
public:
    void add(std::string what)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (++count_ <= 20)
            list_.push_back(std::move(what));
    }

    void report()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const std::string& p : list_)
            BOOST_ERROR(p);
        BOOST_TEST(count_ == 0u,
                   count_ << " problems found (first " << list_.size() << " reported above)");
        list_.clear();
        count_ = 0;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> list_;
    std::size_t count_ = 0;
};

// Polls `done` until it holds or `limit` passes. For states with no notification to wait on
// (a pool's worker count, callbacks that fire after their future is done).
template <typename Pred>
bool poll_until(Pred done, std::chrono::steady_clock::duration limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done())
    {
        if (std::chrono::steady_clock::now() > deadline)
            return done();
        std::this_thread::sleep_for(200us);
    }
    return true;
}

struct planned_failure : std::runtime_error
{
    explicit planned_failure(int x)
        : std::runtime_error("planned failure " + std::to_string(x))
    {}
};

bool fails_for(int x)
{
    return x % 11 == 0;
}

int expected_value(int x, bool nested)
{
    return nested ? 3 * x + 2 : 2 * x + 1;
}

struct body_counters
{
    std::atomic<std::size_t> executed{0};       // task bodies entered
    std::atomic<std::size_t> child_executed{0}; // nested child bodies entered
    std::atomic<std::size_t> callbacks_fired{0};
};

// The task body. A nested task submits a child to its own pool and collects it from the
// worker (DESIGN.md: must not deadlock even when every worker does the same).
int task_body(body_counters* c, pal::thread_pool* pool, int x, bool nested)
{
    c->executed.fetch_add(1, std::memory_order_relaxed);
    int extra = 0;
    if (nested)
    {
        pal::future<int> child = pool->submit(
            [c](int y) {
            c->child_executed.fetch_add(1, std::memory_order_relaxed);
            return y + 1;
            },
            x);
        extra = child.collect(wait_limit);
    }
    if (fails_for(x))
        throw planned_failure(x);
    return 2 * x + 1 + extra;
}

enum class outcome : int
{
    none = -1,
    completed = static_cast<int>(pal::task_status::completed),
    failed = static_cast<int>(pal::task_status::failed),
    cancelled = static_cast<int>(pal::task_status::cancelled),
    wrong = 100, // a value or an exception that makes no sense for this task
};

// Everything the test did to one task, and what its listeners saw.
struct task_record
{
    pal::future<int> f;
    int input = 0;
    bool nested = false;

    bool cancel_called = false;
    bool cancel_true = false;            // some cancel() returned true
    bool cancel_false = false;           // some cancel() returned false
    bool cancel_before_shutdown = false; // a cancel() returned true before shutdown began

    bool has_callback = false;
    bool callback_removed = false;
    std::atomic<int> callback_fires{0};
    std::atomic<int> callback_saw{static_cast<int>(outcome::none)};

    bool has_async = false;
    int async_fires = 0; // written on the submitter's own io_context thread
    outcome async_saw = outcome::none;
    bool async_on_wrong_thread = false;
};

// What an exception says about a task's outcome.
outcome classify(std::exception_ptr e, int x)
{
    try
    {
        std::rethrow_exception(e);
    }
    catch (const planned_failure&)
    {
        return fails_for(x) ? outcome::failed : outcome::wrong;
    }
    catch (const pal::cancelled_error&)
    {
        return outcome::cancelled;
    }
    catch (...)
    {
        return outcome::wrong;
    }
}

void do_cancel(task_record& r)
{
    r.cancel_called = true;
    if (r.f.cancel())
        r.cancel_true = true;
    else
        r.cancel_false = true;
}

std::string describe(const task_record& r)
{
    return "task " + std::to_string(r.f.task_id()) + " (input " + std::to_string(r.input) +
           (r.nested ? ", nested" : "") + ", status " + std::to_string(int(r.f.status())) +
           (r.cancel_called ? ", cancel called" : "") + (r.cancel_true ? " ->true" : "") +
           (r.cancel_false ? " ->false" : "") + ")";
}

// Checks the final state of one finished task against what was done to it; updates tallies.
struct tally
{
    std::size_t completed = 0;
    std::size_t failed = 0;
    std::size_t cancelled = 0;
    std::size_t nested_ran = 0;
    std::size_t callbacks_expected = 0;
};

void check_final(const task_record& r, tally& t, problem_log& log, bool pool_may_cancel)
{
    if (!r.f.wait(wait_limit))
    {
        log.add(describe(r) + ": not done");
        return;
    }
    pal::task_status s = r.f.status();
    switch (s)
    {
    case pal::task_status::completed:
        ++t.completed;
        if (r.nested)
            ++t.nested_ran;
        if (fails_for(r.input) || r.f.result() != expected_value(r.input, r.nested))
            log.add(describe(r) + ": completed with a wrong value");
        if (r.cancel_true)
            log.add(describe(r) + ": cancel() returned true but the task completed");
        break;
    case pal::task_status::failed:
        ++t.failed;
        if (r.nested)
            ++t.nested_ran;
        if (classify(r.f.exception(), r.input) != outcome::failed)
            log.add(describe(r) + ": failed with an unexpected exception");
        if (r.cancel_true)
            log.add(describe(r) + ": cancel() returned true but the task failed");
        break;
    case pal::task_status::cancelled:
        ++t.cancelled;
        if (r.cancel_false)
            log.add(describe(r) + ": cancel() returned false but the task ended cancelled");
        if (!r.cancel_called && !pool_may_cancel)
            log.add(describe(r) + ": cancelled although nobody cancelled it");
        if (r.cancel_called && !r.f.cancel_flag())
            log.add(describe(r) + ": cancel_flag() is false after cancel()");
        if (r.f.duration().running != 0ns)
            log.add(describe(r) + ": a cancelled task has a running time");
        break;
    default:
        log.add(describe(r) + ": done but status is not final");
        return;
    }
    if (r.has_callback && !r.callback_removed)
        ++t.callbacks_expected;
}

// Checks listeners once every callback had its chance to fire.
void check_listeners(const task_record& r, problem_log& log)
{
    int final_status = static_cast<int>(r.f.status());
    if (r.has_callback)
    {
        int fires = r.callback_fires.load();
        if (r.callback_removed ? fires != 0 : fires != 1)
            log.add(describe(r) + ": callback fired " + std::to_string(fires) + " times" +
                    (r.callback_removed ? " after remove_callback() returned true" : ""));
        if (fires == 1 && r.callback_saw.load() != final_status)
            log.add(describe(r) + ": callback saw status " + std::to_string(r.callback_saw) +
                    " instead of the final one");
    }
    if (r.has_async)
    {
        if (r.async_fires != 1)
            log.add(describe(r) + ": async_collect completed " + std::to_string(r.async_fires) +
                    " times");
        else if (static_cast<int>(r.async_saw) != final_status)
            log.add(describe(r) + ": async_collect saw outcome " +
                    std::to_string(static_cast<int>(r.async_saw)));
        if (r.async_on_wrong_thread)
            log.add(describe(r) + ": async_collect completed outside its io_context");
    }
}

// One submitting thread of the main phases.
class submitter
{
public:
    submitter(pal::thread_pool& pool, body_counters& counters, std::size_t n, unsigned seed)
        : pool_(pool)
        , counters_(counters)
        , n_(n)
        , records_(new task_record[n])
        , rng_(seed)
    {}

    void run(problem_log& log)
    {
        try
        {
            submit_all(log);
        }
        catch (const std::exception& e)
        {
            log.add(std::string("submitter threw: ") + e.what());
        }
        done_ = n_done_;
    }

    std::size_t size() const { return done_; }
    task_record& operator[](std::size_t i) { return records_[i]; }

private:
    bool chance(unsigned percent) { return rng_() % 100 < percent; }

    void submit_all(problem_log& log)
    {
        auto guard = net::make_work_guard(io_);
        const auto io_thread = std::this_thread::get_id();
        for (std::size_t i = 0; i < n_; ++i)
        {
            task_record& r = records_[i];
            r.input = static_cast<int>(rng_() % 1000000);
            r.nested = rng_() % 50 == 0;
            r.f = pool_.submit(task_body, &counters_, &pool_, r.input, r.nested);
            n_done_ = i + 1;

            if (chance(20))
            {
                r.has_callback = true;
                std::uint64_t id =
                    r.f.add_callback([&r, c = &counters_](const pal::future<int>& d) {
                        r.callback_saw.store(static_cast<int>(d.status()));
                        r.callback_fires.fetch_add(1);
                        c->callbacks_fired.fetch_add(1);
                    });
                if (chance(25))
                    r.callback_removed = r.f.remove_callback(id);
            }
            if (chance(15))
            {
                r.has_async = true;
                r.f.async_collect(net::bind_executor(io_, [&r, &io = io_,
                                                           io_thread](std::exception_ptr e, int v) {
                    ++r.async_fires;
                    if (io_thread != std::this_thread::get_id() ||
                        !io.get_executor().running_in_this_thread())
                        r.async_on_wrong_thread = true;
                    if (!e)
                        r.async_saw = v == expected_value(r.input, r.nested) && !fails_for(r.input)
                                          ? outcome::completed
                                          : outcome::wrong;
                    else
                        r.async_saw = classify(e, r.input);
                }));
            }
            if (chance(12))
                do_cancel(r);
            else if (chance(10))
                collect_now(r, wait_limit, log);
            else if (chance(3))
                collect_now(r, 0ns, log);
            if (chance(8))
            {
                std::size_t back = rng_() % std::min<std::size_t>(i + 1, 64);
                do_cancel(records_[i - back]);
            }
            if (i % 128 == 0)
                io_.poll();
        }
        guard.reset();
        io_.run_for(wait_limit);
        if (!io_.stopped())
            log.add("an io_context still had work after " + std::to_string(wait_limit.count()) +
                    " s: some async_collect never completed");
    }

    // collect() right after submitting (or with a zero timeout, which may time out).
    void collect_now(task_record& r, std::chrono::nanoseconds timeout, problem_log& log)
    {
        try
        {
            int v = r.f.collect(timeout);
            if (fails_for(r.input) || v != expected_value(r.input, r.nested))
                log.add(describe(r) + ": collect() returned a wrong value");
        }
        catch (const pal::timeout_error&)
        {
            if (timeout != 0ns)
                log.add(describe(r) + ": collect() timed out after 60 s");
        }
        catch (...)
        {
            outcome o = classify(std::current_exception(), r.input);
            if (o != outcome::failed && !(o == outcome::cancelled && r.cancel_called))
                log.add(describe(r) + ": collect() threw an unexpected exception");
        }
    }

    pal::thread_pool& pool_;
    body_counters& counters_;
    std::size_t n_;
    std::unique_ptr<task_record[]> records_;
    std::mt19937 rng_;
    net::io_context io_;
    std::size_t n_done_ = 0;
    std::size_t done_ = 0;
};

// Waits until `pool` has no workers left (bounded); true when it got there.
bool drains_to_zero_workers(pal::thread_pool& pool)
{
    return poll_until([&] { return pool.count_workers() == 0; }, 30s);
}

void run_main_phase(const char* name, pal::pool_options options, std::size_t total_tasks)
{
    watchdog dog(name, case_limit);
    auto start = std::chrono::steady_clock::now();
    problem_log log;
    body_counters counters;
    pal::thread_pool pool(options);

    std::vector<std::unique_ptr<submitter>> subs;
    const std::size_t per_thread = std::max<std::size_t>(1, total_tasks / submitter_count);
    for (int t = 0; t < submitter_count; ++t)
        subs.push_back(std::make_unique<submitter>(pool, counters, per_thread,
                                                   static_cast<unsigned>(1000 * t + 17)));
    {
        std::vector<std::thread> threads;
        for (auto& s : subs)
            threads.emplace_back([&s, &log] { s->run(log); });
        for (auto& t : threads)
            t.join(); // bounded by the watchdog
    }

    tally t;
    std::size_t submitted = 0;
    for (auto& s : subs)
    {
        submitted += s->size();
        for (std::size_t i = 0; i < s->size(); ++i)
            check_final((*s)[i], t, log, false);
    }
    // Callbacks fire after their future reads as done: wait until all that should fire did.
    BOOST_TEST(poll_until([&] { return counters.callbacks_fired.load() >= t.callbacks_expected; },
                          wait_limit),
               "only " << counters.callbacks_fired.load() << " of " << t.callbacks_expected
                       << " callbacks fired");
    for (auto& s : subs)
        for (std::size_t i = 0; i < s->size(); ++i)
            check_listeners((*s)[i], log);
    log.report();

    BOOST_TEST(submitted == per_thread * submitter_count);
    BOOST_TEST(t.completed + t.failed + t.cancelled == submitted);
    BOOST_TEST(counters.executed.load() == t.completed + t.failed,
               "bodies run: " << counters.executed.load()
                              << ", completed + failed: " << t.completed + t.failed);
    BOOST_TEST(counters.child_executed.load() == t.nested_ran);
    BOOST_TEST(counters.callbacks_fired.load() == t.callbacks_expected);

    BOOST_TEST(drains_to_zero_workers(pool), "workers left: " << pool.count_workers());
    BOOST_TEST(pool.count_pending_tasks() == 0u);
    BOOST_TEST(pool.count_busy_workers() == 0u);
    BOOST_TEST(pool.join(wait_limit));
    BOOST_TEST(pool.count_workers() == 0u);
    // Only users cancelled here; cancelled_tasks() lists what shutdown (or breaking) cancelled.
    BOOST_TEST(pool.cancelled_tasks().empty());
    // Shut down before the records go: no callback may outlive them, even after a failure.
    BOOST_TEST(pool.shutdown());
    BOOST_TEST(pool.cancelled_tasks().empty());

    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    BOOST_TEST_MESSAGE(name << ": " << submitted << " tasks: " << t.completed << " completed, "
                            << t.failed << " failed, " << t.cancelled << " cancelled; "
                            << took.count() << " s");
}

// Tasks of the three main phases at scale 1: 300,000 in all. A pool with one task per worker
// starts a thread per task, so those phases get fewer.
constexpr double churn_phase_tasks = 75000;
constexpr double steady_phase_tasks = 150000;

} // namespace

BOOST_AUTO_TEST_CASE(idle_timeout_zero_one_task_per_worker)
{
    run_main_phase(
        "idle 0, 1 task per worker",
        pal::pool_options{
            .max_workers = 4, .name = "stress0", .idle_timeout = 0ns, .max_tasks_per_worker = 1},
        scaled(churn_phase_tasks, 400));
}

BOOST_AUTO_TEST_CASE(idle_timeout_1ms_one_task_per_worker)
{
    run_main_phase(
        "idle 1 ms, 1 task per worker",
        pal::pool_options{
            .max_workers = 4, .name = "stress1", .idle_timeout = 1ms, .max_tasks_per_worker = 1},
        scaled(churn_phase_tasks, 400));
}

BOOST_AUTO_TEST_CASE(idle_timeout_1ms_three_workers_unlimited_tasks)
{
    run_main_phase(
        "idle 1 ms, 3 workers",
        pal::pool_options{
            .max_workers = 3, .name = "stress3", .idle_timeout = 1ms, .max_tasks_per_worker = 0},
        scaled(steady_phase_tasks, 400));
}

// ---------------------------------------------------------------------------------------------
// shutdown() racing with submitters that also post through the executor.

namespace {

struct post_counters
{
    std::atomic<std::size_t> attempted{0};
    std::atomic<std::size_t> ran{0};
    std::atomic<std::size_t> thrown{0};
    std::atomic<std::size_t> destroyed{0};
    // What reached on_task_exception.
    std::atomic<std::size_t> hook_closed{0};
    std::atomic<std::size_t> hook_planned{0};
    std::atomic<std::size_t> hook_other{0};
};

// A fire-and-forget function that counts its runs and its (single, live) destruction.
class post_probe
{
public:
    post_probe(post_counters* c, bool throws)
        : c_(c)
        , throws_(throws)
    {}
    post_probe(post_probe&& o) noexcept
        : c_(std::exchange(o.c_, nullptr))
        , throws_(o.throws_)
    {}
    post_probe(const post_probe&) = delete;
    post_probe& operator=(const post_probe&) = delete;
    post_probe& operator=(post_probe&&) = delete;
    ~post_probe()
    {
        if (c_)
            c_->destroyed.fetch_add(1);
    }

    void operator()()
    {
        c_->ran.fetch_add(1);
        if (throws_)
        {
            c_->thrown.fetch_add(1);
            throw planned_failure(0);
        }
    }

private:
    post_counters* c_;
    bool throws_;
};

// A little CPU work so that the queue grows behind three workers.
int short_task(body_counters* c, int x)
{
    c->executed.fetch_add(1, std::memory_order_relaxed);
    volatile int sink = 0;
    for (int i = 0; i < 200; ++i)
        sink = sink + i;
    if (fails_for(x))
        throw planned_failure(x);
    return 2 * x + 1;
}

struct shutdown_round
{
    body_counters counters; // before the pool: tasks use it until the pool is gone
    pal::thread_pool pool;
    std::atomic<bool> shutdown_begun{false};
    std::atomic<std::size_t> submitted{0};

    explicit shutdown_round(post_counters* pc)
        : pool(pal::pool_options{.max_workers = 3,
                                 .name = "stress_sd",
                                 .idle_timeout = 1ms,
                                 .on_task_exception = [pc](std::exception_ptr e) {
                                     try
                                     {
                                         std::rethrow_exception(e);
                                     }
                                     catch (const pal::pool_closed_error&)
                                     {
                                         pc->hook_closed.fetch_add(1);
                                     }
                                     catch (const planned_failure&)
                                     {
                                         pc->hook_planned.fetch_add(1);
                                     }
                                     catch (...)
                                     {
                                         pc->hook_other.fetch_add(1);
                                     }
                                 }})
    {}
};

// Submits and posts until the pool closes. Records stay valid: `records` is a deque.
void shutdown_submitter(shutdown_round& round, post_counters& posts,
                        std::deque<task_record>& records, unsigned seed, problem_log& log)
{
    std::mt19937 rng(seed);
    auto chance = [&](unsigned percent) { return rng() % 100 < percent; };
    for (std::size_t i = 0;; ++i)
    {
        // Bounds memory when shutdown() is slow to get the pool's lock: stop adding work and
        // wait for the close (bounded by the watchdog), then see submit() refuse.
        if (records.size() >= 100000)
            while (!round.pool.is_closed())
                std::this_thread::yield();
        if (chance(30))
        {
            posts.attempted.fetch_add(1);
            net::post(round.pool.get_executor(), post_probe(&posts, chance(10)));
            continue;
        }
        int x = static_cast<int>(rng() % 1000000);
        pal::future<int> f;
        try
        {
            f = round.pool.submit(short_task, &round.counters, x);
        }
        catch (const pal::pool_closed_error&)
        {
            if (!round.shutdown_begun)
                log.add("submit threw pool_closed_error before shutdown() was called");
            return;
        }
        catch (const std::exception& e)
        {
            log.add(std::string("submit threw an unexpected exception: ") + e.what());
            return;
        }
        round.submitted.fetch_add(1);
        task_record& r = records.emplace_back();
        r.f = f;
        r.input = x;
        if (chance(15))
        {
            r.has_callback = true;
            r.f.add_callback([&r, c = &round.counters](const pal::future<int>& d) {
                r.callback_saw.store(static_cast<int>(d.status()));
                r.callback_fires.fetch_add(1);
                c->callbacks_fired.fetch_add(1);
            });
        }
        if (chance(10))
        {
            do_cancel(r);
            // Shutdown had not begun when cancel() returned: the user's cancel won, not the pool.
            if (r.cancel_true && !round.shutdown_begun)
                r.cancel_before_shutdown = true;
        }
        if (i % 64 == 0 && records.size() > 1 && chance(50))
        {
            task_record& earlier =
                records[records.size() - 1 - rng() % std::min<std::size_t>(records.size(), 32)];
            do_cancel(earlier);
            if (earlier.cancel_true && !round.shutdown_begun)
                earlier.cancel_before_shutdown = true;
        }
    }
}

} // namespace

BOOST_AUTO_TEST_CASE(shutdown_races_submitters_and_posts)
{
    watchdog dog("shutdown race", case_limit);
    auto start = std::chrono::steady_clock::now();
    const std::size_t rounds = scaled(50, 3);
    const std::size_t target = 4000; // submits before shutdown() is called, per round
    std::size_t total_submitted = 0;
    std::size_t total_cancelled_by_pool = 0;
    std::size_t total_posts = 0;

    for (std::size_t round_no = 0; round_no < rounds; ++round_no)
    {
        problem_log log;
        post_counters posts;
        std::vector<std::deque<task_record>> records(submitter_count);
        {
            shutdown_round round(&posts);
            std::vector<std::thread> threads;
            for (int t = 0; t < submitter_count; ++t)
                threads.emplace_back([&, t] {
                    shutdown_submitter(round, posts, records[t],
                                       static_cast<unsigned>(round_no * 100 + t), log);
                });

            // Spin (yielding) rather than sleep, so that shutdown() lands soon after the target.
            auto deadline = std::chrono::steady_clock::now() + wait_limit;
            while (round.submitted.load() < target && std::chrono::steady_clock::now() < deadline)
                std::this_thread::yield();
            BOOST_TEST(round.submitted.load() >= target,
                       "submitters never reached " << target << " tasks");
            round.shutdown_begun = true;
            BOOST_TEST(round.pool.shutdown());
            for (auto& t : threads)
                t.join(); // each stops at its first pool_closed_error; bounded by the watchdog

            BOOST_TEST(round.pool.is_closed());
            BOOST_TEST(round.pool.is_terminated());
            BOOST_TEST(round.pool.count_workers() == 0u);
            BOOST_TEST(!round.pool.shutdown(), "a second shutdown() returns false");
            BOOST_CHECK_THROW(round.pool.submit([] { return 0; }), pal::pool_closed_error);

            // Every future obtained before the shutdown is done, without waiting.
            std::size_t not_done = 0;
            for (auto& rs : records)
                for (auto& r : rs)
                    if (!r.f.is_done())
                        ++not_done;
            BOOST_TEST(not_done == 0u, not_done << " futures not done after shutdown()");

            tally t;
            std::unordered_map<pal::task_id_t, const task_record*> by_id;
            std::size_t submitted = 0;
            for (auto& rs : records)
                for (auto& r : rs)
                {
                    ++submitted;
                    check_final(r, t, log, true);
                    by_id.emplace(r.f.task_id(), &r);
                }
            BOOST_TEST(submitted == round.submitted.load());
            BOOST_TEST(t.completed + t.failed + t.cancelled == submitted);
            BOOST_TEST(round.counters.executed.load() == t.completed + t.failed);

            // cancelled_tasks(): exactly the tasks the shutdown cancelled.
            std::vector<pal::task_id_t> ids = round.pool.cancelled_tasks();
            std::unordered_set<pal::task_id_t> listed(ids.begin(), ids.end());
            BOOST_TEST(listed.size() == ids.size(), "cancelled_tasks() has duplicates");
            for (pal::task_id_t id : listed)
            {
                auto it = by_id.find(id);
                if (it == by_id.end())
                    log.add("cancelled_tasks() lists " + std::to_string(id) +
                            ", which is no future of this round");
                else if (!it->second->f.is_cancelled())
                    log.add("cancelled_tasks() lists " + describe(*it->second) +
                            ", which was not cancelled");
                else if (it->second->cancel_before_shutdown)
                    log.add("cancelled_tasks() lists " + describe(*it->second) +
                            ", which the user cancelled before shutdown");
            }
            std::size_t by_pool_unambiguous = 0;
            for (auto& rs : records)
                for (auto& r : rs)
                    if (r.f.is_cancelled() && !r.cancel_called)
                    {
                        ++by_pool_unambiguous;
                        if (!listed.count(r.f.task_id()))
                            log.add(describe(r) + ": cancelled by shutdown() but not in "
                                                  "cancelled_tasks()");
                    }
            BOOST_TEST(listed.size() >= by_pool_unambiguous);
            total_cancelled_by_pool += listed.size();

            BOOST_TEST(poll_until(
                [&] { return round.counters.callbacks_fired.load() >= t.callbacks_expected; },
                wait_limit));
            for (auto& rs : records)
                for (auto& r : rs)
                    check_listeners(r, log);
            BOOST_TEST(round.counters.callbacks_fired.load() == t.callbacks_expected);

            total_submitted += submitted;
        } // the pool is destroyed here: every posted function must be gone with it
        log.report();

        BOOST_TEST(posts.destroyed.load() == posts.attempted.load(),
                   "posted functions: " << posts.attempted.load() << " posted, "
                                        << posts.destroyed.load() << " destroyed");
        BOOST_TEST(posts.ran.load() + posts.hook_closed.load() <= posts.attempted.load());
        BOOST_TEST(posts.hook_planned.load() == posts.thrown.load());
        BOOST_TEST(posts.hook_other.load() == 0u);
        total_posts += posts.attempted.load();
    }
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    BOOST_TEST_MESSAGE("shutdown race: " << rounds << " rounds, " << total_submitted << " tasks, "
                                         << total_posts << " posts, " << total_cancelled_by_pool
                                         << " cancelled by shutdown; " << took.count() << " s");
}
