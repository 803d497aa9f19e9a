//
// test/executor.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests thread_pool::executor_type (asio_pal/thread_pool.hpp) as a standard Asio executor:
// properties, post / dispatch / defer, co_spawn, strands, bind_executor, work guards,
// any_io_executor, allocators, and how exceptions escaping fire-and-forget work are reported.
//
// No test sleeps to synchronise; every wait is bounded so that a bug fails instead of hanging.
//

#include "asio_pal/thread_pool.hpp"

#define BOOST_TEST_MODULE executor
#include <boost/test/unit_test.hpp>

// The exceptions a pool reports, and the Asio pieces the executor must work with.
#include "asio_pal/async_run.hpp"
#include "asio_pal/error.hpp"
#include "asio_pal/future.hpp"

#include "common/reports.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace pal = asio_pal;
namespace net = boost::asio;
namespace exec = boost::asio::execution;
using namespace std::chrono_literals;

using executor_type = pal::thread_pool::executor_type;

namespace {

constexpr std::chrono::seconds bound{30};

template <typename Pred>
bool eventually(Pred pred)
{
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (!pred())
    {
        if (std::chrono::steady_clock::now() >= deadline)
            return pred();
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

template <typename T>
bool ready_in_time(std::future<T>& f)
{
    return f.wait_for(bound) == std::future_status::ready;
}

using asio_pal_test::reports;

std::string what_of(std::exception_ptr e)
{
    try
    {
        std::rethrow_exception(e);
    }
    catch (const std::exception& ex)
    {
        return ex.what();
    }
    catch (...)
    {
        return "<not a std::exception>";
    }
}

struct alloc_counts
{
    std::atomic<int> allocs{0};
    std::atomic<int> deallocs{0};
};

/// A standard allocator that counts its calls.
template <typename T>
struct counting_allocator
{
    using value_type = T;

    explicit counting_allocator(alloc_counts* c) noexcept
        : counts(c)
    {}
    template <typename U>
    counting_allocator(const counting_allocator<U>& o) noexcept
        : counts(o.counts)
    {}

    T* allocate(std::size_t n)
    {
        ++counts->allocs;
        return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, std::size_t n)
    {
        ++counts->deallocs;
        std::allocator<T>().deallocate(p, n);
    }

    friend bool operator==(const counting_allocator& a, const counting_allocator& b) noexcept
    {
        return a.counts == b.counts;
    }

    alloc_counts* counts;
};

} // namespace

BOOST_AUTO_TEST_SUITE(concept_and_properties)

BOOST_AUTO_TEST_CASE(is_a_standard_executor)
{
    static_assert(exec::is_executor<executor_type>::value);
    static_assert(exec::executor<executor_type>);
    using tracked_type =
        decltype(net::require(std::declval<executor_type>(), exec::outstanding_work.tracked));
    static_assert(exec::is_executor<tracked_type>::value);
    static_assert(!std::is_same_v<tracked_type, executor_type>);
    static_assert(std::is_nothrow_copy_constructible_v<executor_type>);
    static_assert(std::is_nothrow_move_constructible_v<executor_type>);
    static_assert(noexcept(std::declval<executor_type>() == std::declval<executor_type>()));
    static_assert(net::can_require<executor_type, exec::blocking_t::never_t>::value);
    static_assert(net::can_require<executor_type, exec::blocking_t::possibly_t>::value);
    static_assert(net::can_query<executor_type, exec::context_t>::value);
    static_assert(net::can_query<executor_type, exec::occupancy_t>::value);
    // Small enough for any_io_executor's inline storage and cheap strands.
    static_assert(sizeof(executor_type) <= 16);
    static_assert(sizeof(tracked_type) <= 16);
    BOOST_TEST(true);
}

BOOST_AUTO_TEST_CASE(query_context_returns_the_pool)
{
    pal::thread_pool pool(std::size_t{2});
    executor_type ex = pool.get_executor();
    pal::thread_pool& ctx = net::query(ex, exec::context);
    BOOST_TEST(&ctx == &pool);
    net::execution_context& base = net::query(ex, exec::context);
    BOOST_TEST(&base == static_cast<net::execution_context*>(&pool));
}

BOOST_AUTO_TEST_CASE(query_and_require_blocking)
{
    pal::thread_pool pool(std::size_t{2});
    executor_type ex = pool.get_executor();
    BOOST_TEST((net::query(ex, exec::blocking) == exec::blocking.possibly));
    auto never = net::require(ex, exec::blocking.never);
    BOOST_TEST((net::query(never, exec::blocking) == exec::blocking.never));
    auto back = net::require(never, exec::blocking.possibly);
    BOOST_TEST((net::query(back, exec::blocking) == exec::blocking.possibly));
    BOOST_TEST((back == ex));
    BOOST_TEST((never != ex));
}

// Issue 10 item 17.
BOOST_AUTO_TEST_CASE(require_blocking_always)
{
    pal::thread_pool pool(std::size_t{2});
    executor_type ex = pool.get_executor();
    auto always = net::require(ex, exec::blocking.always);
    static_assert(std::is_same_v<decltype(always), executor_type>);
    BOOST_TEST((net::query(always, exec::blocking) == exec::blocking.always));
    BOOST_TEST((always != ex));
    BOOST_TEST((net::require(always, exec::blocking.possibly) == ex));
    auto never = net::require(always, exec::blocking.never);
    BOOST_TEST((net::query(never, exec::blocking) == exec::blocking.never));
    BOOST_TEST((net::require(never, exec::blocking.always) == always));
    // Tracked copies keep the property.
    auto tracked = net::require(always, exec::outstanding_work.tracked);
    BOOST_TEST((net::query(tracked, exec::blocking) == exec::blocking.always));
}

BOOST_AUTO_TEST_CASE(query_and_require_relationship)
{
    pal::thread_pool pool(std::size_t{2});
    executor_type ex = pool.get_executor();
    BOOST_TEST((net::query(ex, exec::relationship) == exec::relationship.fork));
    auto cont = net::require(ex, exec::relationship.continuation);
    BOOST_TEST((net::query(cont, exec::relationship) == exec::relationship.continuation));
    BOOST_TEST((net::query(net::require(cont, exec::relationship.fork), exec::relationship) ==
                exec::relationship.fork));
    BOOST_TEST((cont != ex));
}

BOOST_AUTO_TEST_CASE(query_and_require_outstanding_work)
{
    pal::thread_pool pool(std::size_t{2});
    executor_type ex = pool.get_executor();
    BOOST_TEST((net::query(ex, exec::outstanding_work) == exec::outstanding_work.untracked));
    auto tracked = net::require(ex, exec::outstanding_work.tracked);
    BOOST_TEST((net::query(tracked, exec::outstanding_work) == exec::outstanding_work.tracked));
    auto untracked = net::require(tracked, exec::outstanding_work.untracked);
    static_assert(std::is_same_v<decltype(untracked), executor_type>);
    BOOST_TEST((net::query(untracked, exec::outstanding_work) == exec::outstanding_work.untracked));
    BOOST_TEST((untracked == ex));
}

BOOST_AUTO_TEST_CASE(query_mapping_and_occupancy)
{
    pal::thread_pool pool(std::size_t{3});
    executor_type ex = pool.get_executor();
    BOOST_TEST((net::query(ex, exec::mapping) == exec::mapping.thread));
    BOOST_TEST(net::query(ex, exec::occupancy) == 3u);

    pal::quad_thread_pool quad;
    BOOST_TEST(net::query(quad.get_executor(), exec::occupancy) == 4u);
}

BOOST_AUTO_TEST_CASE(equality)
{
    pal::thread_pool a(std::size_t{2});
    pal::thread_pool b(std::size_t{2});
    executor_type ea = a.get_executor();
    executor_type ea2 = a.get_executor();
    executor_type copy = ea;
    BOOST_TEST((ea == ea2));
    BOOST_TEST((ea == copy));
    BOOST_TEST(!(ea != ea2));
    BOOST_TEST((ea != b.get_executor()));
    BOOST_TEST(!(ea == b.get_executor()));

    auto t1 = net::require(ea, exec::outstanding_work.tracked);
    auto t2 = net::require(ea2, exec::outstanding_work.tracked);
    BOOST_TEST((t1 == t2));
}

BOOST_AUTO_TEST_CASE(running_in_this_thread)
{
    pal::thread_pool pool(std::size_t{2});
    pal::thread_pool other(std::size_t{2});
    BOOST_TEST(!pool.get_executor().running_in_this_thread());
    auto f = pool.submit([&] {
        return std::make_pair(pool.get_executor().running_in_this_thread(),
                              other.get_executor().running_in_this_thread());
    });
    BOOST_REQUIRE(f.wait(bound));
    auto [here, there] = f.collect();
    BOOST_TEST(here);
    BOOST_TEST(!there);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(submission)

BOOST_AUTO_TEST_CASE(post_runs_on_a_worker)
{
    pal::thread_pool pool(std::size_t{2});
    std::promise<std::pair<bool, std::thread::id>> p;
    auto f = p.get_future();
    net::post(pool.get_executor(), [&] {
        p.set_value({pool.get_executor().running_in_this_thread(), std::this_thread::get_id()});
    });
    BOOST_REQUIRE(ready_in_time(f));
    auto [on_pool, id] = f.get();
    BOOST_TEST(on_pool);
    BOOST_TEST((id != std::this_thread::get_id()));
    BOOST_TEST(pool.join());
}

BOOST_AUTO_TEST_CASE(post_to_the_pool_as_execution_context)
{
    pal::thread_pool pool(std::size_t{2});
    std::promise<bool> p;
    auto f = p.get_future();
    net::post(pool, [&] { p.set_value(pool.get_executor().running_in_this_thread()); });
    BOOST_REQUIRE(ready_in_time(f));
    BOOST_TEST(f.get());
}

BOOST_AUTO_TEST_CASE(dispatch_from_a_foreign_thread_is_queued)
{
    pal::thread_pool pool(std::size_t{2});
    std::promise<std::pair<bool, std::thread::id>> p;
    auto f = p.get_future();
    net::dispatch(pool.get_executor(), [&] {
        p.set_value({pool.get_executor().running_in_this_thread(), std::this_thread::get_id()});
    });
    BOOST_REQUIRE(ready_in_time(f));
    auto [on_pool, id] = f.get();
    BOOST_TEST(on_pool);
    BOOST_TEST((id != std::this_thread::get_id()));
}

BOOST_AUTO_TEST_CASE(dispatch_on_a_worker_runs_inline)
{
    pal::thread_pool pool(std::size_t{1});
    auto f = pool.submit([&pool] {
        bool ran = false;
        std::thread::id inner;
        net::dispatch(pool.get_executor(), [&] {
            ran = true;
            inner = std::this_thread::get_id();
        });
        // Set before dispatch returned: it ran inline, on this thread.
        return ran && inner == std::this_thread::get_id();
    });
    BOOST_REQUIRE(f.wait(bound));
    BOOST_TEST(f.collect());
    BOOST_TEST(pool.join());
}

BOOST_AUTO_TEST_CASE(dispatch_from_a_posted_function_runs_inline)
{
    pal::thread_pool pool(std::size_t{1});
    std::promise<bool> p;
    auto f = p.get_future();
    net::post(pool.get_executor(), [&] {
        bool ran = false;
        net::dispatch(pool.get_executor(), [&] { ran = true; });
        p.set_value(ran);
    });
    BOOST_REQUIRE(ready_in_time(f));
    BOOST_TEST(f.get());
}

BOOST_AUTO_TEST_CASE(post_and_defer_from_a_worker_are_not_inline)
{
    // One worker, busy with the outer task: queued functions cannot have run when post/defer
    // return.
    pal::thread_pool pool(std::size_t{1});
    std::atomic<int> later{0};
    auto f = pool.submit([&] {
        net::post(pool.get_executor(), [&later] { ++later; });
        bool after_post = later.load() == 0;
        net::defer(pool.get_executor(), [&later] { ++later; });
        bool after_defer = later.load() == 0;
        net::require(pool.get_executor(), exec::blocking.never).execute([&later] { ++later; });
        bool after_execute = later.load() == 0;
        return after_post && after_defer && after_execute;
    });
    BOOST_REQUIRE(f.wait(bound));
    BOOST_TEST(f.collect());
    BOOST_TEST(pool.join());
    BOOST_TEST(later == 3);
}

BOOST_AUTO_TEST_CASE(defer_from_a_foreign_thread_runs_on_a_worker)
{
    pal::thread_pool pool(std::size_t{2});
    std::promise<bool> p;
    auto f = p.get_future();
    net::defer(pool.get_executor(),
               [&] { p.set_value(pool.get_executor().running_in_this_thread()); });
    BOOST_REQUIRE(ready_in_time(f));
    BOOST_TEST(f.get());
}

BOOST_AUTO_TEST_CASE(fire_and_forget_posts_all_run_and_join_waits_for_them)
{
    std::atomic<int> ran{0};
    pal::thread_pool pool(std::size_t{4});
    for (int i = 0; i < 10000; ++i)
        net::post(pool.get_executor(), [&ran] { ++ran; });
    BOOST_TEST(pool.join());
    BOOST_TEST(ran == 10000);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
    BOOST_TEST(pool.count_workers() == 0u);
}

BOOST_AUTO_TEST_CASE(fire_and_forget_posts_from_four_threads)
{
    std::atomic<int> ran{0};
    pal::thread_pool pool(std::size_t{3});
    std::vector<std::future<void>> posters;
    for (int t = 0; t < 4; ++t)
        posters.push_back(std::async(std::launch::async, [&] {
            for (int i = 0; i < 2500; ++i)
                net::post(pool.get_executor(), [&ran] { ++ran; });
        }));
    for (auto& p : posters)
        BOOST_REQUIRE(ready_in_time(p));
    BOOST_TEST(pool.join());
    BOOST_TEST(ran == 10000);
}

BOOST_AUTO_TEST_CASE(posted_functions_may_post_again)
{
    std::atomic<int> ran{0};
    pal::thread_pool pool(std::size_t{2});
    struct chain
    {
        executor_type ex;
        std::atomic<int>* ran;
        int left;
        void operator()() const
        {
            ++*ran;
            if (left > 0)
                net::post(ex, chain{ex, ran, left - 1});
        }
    };
    net::post(pool.get_executor(), chain{pool.get_executor(), &ran, 999});
    BOOST_TEST(pool.join());
    BOOST_TEST(ran == 1000);
}

// Issue 10 item 17: execute returns after the function ran.
BOOST_AUTO_TEST_CASE(blocking_always_from_a_foreign_thread_waits_for_a_worker)
{
    pal::thread_pool pool(std::size_t{2});
    auto ex = net::require(pool.get_executor(), exec::blocking.always);
    int value = 0; // plain: execute's return must order the write before the read
    bool on_worker = false;
    std::thread::id runner;
    ex.execute([&] {
        value = 42;
        on_worker = pool.get_executor().running_in_this_thread();
        runner = std::this_thread::get_id();
    });
    BOOST_TEST(value == 42);
    BOOST_TEST(on_worker);
    BOOST_TEST((runner != std::this_thread::get_id()));
    BOOST_TEST(pool.count_pending_tasks() == 0u);
}

BOOST_AUTO_TEST_CASE(blocking_always_on_a_worker_runs_inline)
{
    pal::thread_pool pool(std::size_t{1});
    auto f = pool.submit([&pool] {
        int order = 0;
        auto ex = net::require(pool.get_executor(), exec::blocking.always);
        ex.execute([&order] { order = 1; });
        return order; // 1: ran before execute returned, on this very thread
    });
    BOOST_REQUIRE(f.wait(bound));
    BOOST_TEST(f.collect() == 1);
}

// Issue 10 item 19: blocking.always is a call; its exception is the caller's.
BOOST_AUTO_TEST_CASE(blocking_always_propagates_the_exception_to_the_caller)
{
    reports r;
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .on_task_exception = r.hook()});
    auto ex = net::require(pool.get_executor(), exec::blocking.always);
    BOOST_CHECK_THROW(ex.execute([] { throw std::logic_error("always boom"); }), std::logic_error);
    auto f = pool.submit([ex] {
        try
        {
            ex.execute([] { throw std::logic_error("inline always boom"); });
        }
        catch (const std::logic_error& e)
        {
            return std::string(e.what());
        }
        return std::string("not propagated");
    });
    BOOST_REQUIRE(f.wait(bound));
    BOOST_TEST(f.collect() == "inline always boom");
    BOOST_TEST(pool.join());
    BOOST_TEST(r.count() == 0u);
    BOOST_TEST(pool.count_busy_workers() == 0u);
}

BOOST_AUTO_TEST_CASE(blocking_always_on_a_closed_pool_throws_pool_closed_error)
{
    reports r;
    bool ran = false;
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .on_task_exception = r.hook()});
    auto ex = net::require(pool.get_executor(), exec::blocking.always);
    pool.shutdown();
    BOOST_CHECK_THROW(ex.execute([&ran] { ran = true; }), pal::pool_closed_error);
    BOOST_TEST(!ran);
    BOOST_TEST(r.count() == 0u);
}

BOOST_AUTO_TEST_CASE(blocking_always_dropped_by_shutdown_throws_pool_closed_error)
{
    pal::thread_pool pool(std::size_t{1});
    std::promise<void> release;
    auto held = release.get_future().share();
    auto busy = pool.submit([held] { (void)held.wait_for(bound); });
    auto ex = net::require(pool.get_executor(), exec::blocking.always);
    std::atomic<bool> ran{false};
    auto caller = std::async(std::launch::async, [&] {
        try
        {
            ex.execute([&ran] { ran = true; });
            return std::string("returned");
        }
        catch (const pal::pool_closed_error&)
        {
            return std::string("closed");
        }
    });
    BOOST_REQUIRE(eventually([&] { return pool.count_pending_tasks() == 1; }));
    std::thread closer([&pool] { pool.shutdown(); });
    const bool answered = ready_in_time(caller); // before the busy task ends
    release.set_value();
    closer.join();
    BOOST_REQUIRE(answered);
    BOOST_TEST(caller.get() == "closed");
    BOOST_TEST(!ran);
}

// Issue 10 item 18: Asio promises only an lvalue call.
namespace {
struct lvalue_only
{
    std::atomic<int>* calls;
    void operator()() & { ++*calls; }
    void operator()() && = delete;
};
} // namespace

BOOST_AUTO_TEST_CASE(functions_are_called_as_lvalues)
{
    std::atomic<int> calls{0};
    pal::thread_pool pool(std::size_t{2});
    auto ex = pool.get_executor();
    // (net::post and net::dispatch themselves ask for an rvalue call: use execute.)
    ex.execute(lvalue_only{&calls});                                        // queued
    net::require(ex, exec::blocking.never).execute(lvalue_only{&calls});    // queued
    net::require(ex, exec::blocking.always).execute(lvalue_only{&calls});   // waited for
    auto f = pool.submit([ex, &calls] {
        ex.execute(lvalue_only{&calls});                                      // inline
        net::require(ex, exec::blocking.always).execute(lvalue_only{&calls}); // inline
    });
    BOOST_REQUIRE(f.wait(bound));
    BOOST_TEST(pool.join());
    BOOST_TEST(calls == 5);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(asio_integration)

net::awaitable<int> hop_five_times(pal::thread_pool& pool)
{
    int on_pool = 0;
    for (int i = 0; i < 5; ++i)
    {
        co_await net::post(co_await net::this_coro::executor, net::use_awaitable);
        if (pool.get_executor().running_in_this_thread())
            ++on_pool;
    }
    co_return on_pool * 10 + 2;
}

net::awaitable<int> throw_after_a_hop()
{
    co_await net::post(co_await net::this_coro::executor, net::use_awaitable);
    throw std::runtime_error("coro boom");
}

BOOST_AUTO_TEST_CASE(co_spawn_with_use_future)
{
    pal::thread_pool pool(std::size_t{2});
    std::future<int> f = net::co_spawn(pool.get_executor(), hop_five_times(pool), net::use_future);
    BOOST_REQUIRE(ready_in_time(f));
    BOOST_TEST(f.get() == 52);
    BOOST_TEST(pool.join());
}

BOOST_AUTO_TEST_CASE(co_spawn_propagates_the_exception)
{
    pal::thread_pool pool(std::size_t{2});
    std::future<int> f = net::co_spawn(pool.get_executor(), throw_after_a_hop(), net::use_future);
    BOOST_REQUIRE(ready_in_time(f));
    bool thrown = false;
    try
    {
        f.get();
    }
    catch (const std::runtime_error& e)
    {
        thrown = true;
        // std::future::get() gave up its reference: a worker may drop the last one after this
        // handler reads the exception, through a reference count ThreadSanitizer cannot see
        // (libstdc++ is not instrumented). Once the pool is joined, the worker is done with it.
        BOOST_REQUIRE(pool.join(bound));
        BOOST_TEST(std::string(e.what()) == "coro boom");
    }
    BOOST_TEST(thrown);
}

BOOST_AUTO_TEST_CASE(join_waits_for_a_detached_coroutine)
{
    std::atomic<int> result{0};
    pal::thread_pool pool(std::size_t{2});
    net::co_spawn(
        pool.get_executor(),
        [&]() -> net::awaitable<void> { result = co_await hop_five_times(pool); }, net::detached);
    // co_spawn tracks work on the pool's executor until the coroutine ends.
    BOOST_TEST(pool.join(bound));
    BOOST_TEST(result == 52);
}

BOOST_AUTO_TEST_CASE(strand_serialises)
{
    pal::thread_pool pool(std::size_t{4});
    auto strand = net::make_strand(pool.get_executor());
    static_assert(std::is_same_v<decltype(strand), net::strand<executor_type>>);

    constexpr int per_poster = 1000;
    std::atomic<int> in_flight{0};
    std::atomic<int> max_in_flight{0};
    std::atomic<int> done{0};
    // Touched only inside the strand: the strand must make that safe (TSan checks it).
    std::vector<int> seen[2];
    std::vector<std::future<void>> posters;
    for (int t = 0; t < 2; ++t)
        posters.push_back(std::async(std::launch::async, [&, t] {
            for (int i = 0; i < per_poster; ++i)
                net::post(strand, [&, t, i] {
                    int now = ++in_flight;
                    int prev = max_in_flight.load();
                    while (now > prev && !max_in_flight.compare_exchange_weak(prev, now))
                    {}
                    seen[t].push_back(i);
                    std::this_thread::yield();
                    --in_flight;
                    ++done;
                });
        }));
    for (auto& p : posters)
        BOOST_REQUIRE(ready_in_time(p));
    BOOST_TEST(pool.join(bound));
    BOOST_TEST(done == 2 * per_poster);
    BOOST_TEST(max_in_flight == 1);
    for (int t = 0; t < 2; ++t)
    {
        // Functions posted from one thread run in the order they were posted.
        BOOST_REQUIRE(seen[t].size() == static_cast<std::size_t>(per_poster));
        bool in_order = true;
        for (int i = 0; i < per_poster; ++i)
            in_order = in_order && seen[t][i] == i;
        BOOST_TEST(in_order, "poster " << t);
    }
}

BOOST_AUTO_TEST_CASE(strand_dispatch_runs_on_the_pool)
{
    pal::thread_pool pool(std::size_t{2});
    auto strand = net::make_strand(pool.get_executor());
    std::promise<std::pair<bool, bool>> p;
    auto f = p.get_future();
    net::post(strand, [&] {
        bool inline_ran = false;
        net::dispatch(strand, [&] { inline_ran = true; }); // inside the strand: inline
        p.set_value({pool.get_executor().running_in_this_thread(), inline_ran});
    });
    BOOST_REQUIRE(ready_in_time(f));
    auto [on_pool, inline_ran] = f.get();
    BOOST_TEST(on_pool);
    BOOST_TEST(inline_ran);
}

// Asio treats a strand as a Networking TS executor: a work guard on it, or a handler bound to
// it, calls on_work_started/on_work_finished of the pool's executor.
BOOST_AUTO_TEST_CASE(networking_ts_members)
{
    pal::thread_pool pool(std::size_t{2});
    executor_type ex = pool.get_executor();
    BOOST_TEST(&ex.context() == &pool);
    ex.on_work_started(); // counted work holds join, as a tracked executor does
    BOOST_TEST(!pool.join(std::chrono::milliseconds(1)));
    ex.on_work_finished();
    BOOST_TEST(pool.join(bound));

    std::promise<bool> dispatched;
    std::promise<bool> deferred;
    std::atomic<bool> in_defer{false};
    std::atomic<std::thread::id> caller{};
    auto d = dispatched.get_future();
    auto e = deferred.get_future();
    ex.post(
        [&] {
            bool inline_ran = false;
            pool.get_executor().dispatch([&] { inline_ran = true; }, std::allocator<void>());
            dispatched.set_value(inline_ran);
            caller = std::this_thread::get_id();
            in_defer = true;
            pool.get_executor().defer(
                [&] {
                    // Inline would be: on the caller's thread, inside its defer() call.
                    bool ran_inline = in_defer && std::this_thread::get_id() == caller.load();
                    deferred.set_value(!ran_inline);
                },
                std::allocator<void>());
            in_defer = false;
        },
        std::allocator<void>());
    BOOST_REQUIRE(ready_in_time(d));
    BOOST_REQUIRE(ready_in_time(e));
    BOOST_TEST(d.get()); // dispatch on a worker runs at once
    BOOST_TEST(e.get()); // defer never does
}

BOOST_AUTO_TEST_CASE(work_guard_and_bound_handlers_on_a_strand_of_the_pool)
{
    pal::thread_pool pool(std::size_t{2});
    auto strand = net::make_strand(pool.get_executor());
    {
        auto guard = net::make_work_guard(strand);
        BOOST_TEST(!pool.join(std::chrono::milliseconds(1)));
    }
    BOOST_TEST(pool.join(bound));

    // A completion bound to the strand runs there (async_run, then a future's async_collect).
    std::promise<std::pair<int, bool>> p;
    auto f = p.get_future();
    pal::async_run(
        pool, [](int x) { return x * 2; }, 21,
        net::bind_executor(strand, [&](std::exception_ptr e, int v) {
            p.set_value({e ? -1 : v, strand.running_in_this_thread()});
        }));
    BOOST_REQUIRE(ready_in_time(f));
    auto [v, on_strand] = f.get();
    BOOST_TEST(v == 42);
    BOOST_TEST(on_strand);

    std::promise<bool> q;
    auto g = q.get_future();
    pal::future<int> task = pool.submit([] { return 7; });
    task.async_collect(net::bind_executor(strand, [&](std::exception_ptr e, int x) {
        q.set_value(!e && x == 7 && strand.running_in_this_thread());
    }));
    BOOST_REQUIRE(ready_in_time(g));
    BOOST_TEST(g.get());
}

BOOST_AUTO_TEST_CASE(bind_executor_delivers_a_timer_completion_to_the_pool)
{
    pal::thread_pool pool(std::size_t{2});
    net::io_context io;
    net::steady_timer timer(io, std::chrono::steady_clock::now());
    std::promise<std::pair<bool, bool>> p;
    auto f = p.get_future();
    timer.async_wait(net::bind_executor(pool.get_executor(), [&](boost::system::error_code ec) {
        p.set_value({!ec, pool.get_executor().running_in_this_thread()});
    }));
    io.run_for(bound);
    BOOST_REQUIRE(ready_in_time(f));
    auto [ok, on_pool] = f.get();
    BOOST_TEST(ok);
    BOOST_TEST(on_pool);
    BOOST_TEST(pool.join());
}

BOOST_AUTO_TEST_CASE(post_to_io_context_with_handler_bound_to_the_pool)
{
    pal::thread_pool pool(std::size_t{2});
    net::io_context io;
    std::promise<bool> p;
    auto f = p.get_future();
    net::post(io, net::bind_executor(pool.get_executor(), [&] {
                  p.set_value(pool.get_executor().running_in_this_thread());
              }));
    io.run_for(bound);
    BOOST_REQUIRE(ready_in_time(f));
    BOOST_TEST(f.get());
}

BOOST_AUTO_TEST_CASE(work_guard_holds_join)
{
    pal::thread_pool pool(std::size_t{2});
    auto guard = net::make_work_guard(pool.get_executor());
    BOOST_TEST(guard.owns_work());
    BOOST_TEST(!pool.join(20ms)); // outstanding work: the guard
    // A timed-out join leaves the pool usable.
    BOOST_TEST(pool.run([] { return 3; }) == 3);
    BOOST_TEST(!pool.join(0ms));
    guard.reset();
    BOOST_TEST(pool.join(bound));
}

BOOST_AUTO_TEST_CASE(work_guard_from_the_pool_itself)
{
    pal::thread_pool pool(std::size_t{2});
    auto guard = net::make_work_guard(pool);
    BOOST_TEST(!pool.join(10ms));
    guard.reset();
    BOOST_TEST(pool.join(bound));
}

BOOST_AUTO_TEST_CASE(tracked_executors_count_work_per_copy)
{
    pal::thread_pool a(std::size_t{2});
    pal::thread_pool b(std::size_t{2});
    using tracked_type = decltype(net::require(a.get_executor(), exec::outstanding_work.tracked));

    std::optional<tracked_type> t1(net::require(a.get_executor(), exec::outstanding_work.tracked));
    std::optional<tracked_type> t2(*t1); // a copy counts
    t1.reset();
    BOOST_TEST(!a.join(10ms));
    std::optional<tracked_type> t3(std::move(*t2)); // a move transfers, never double-counts
    t2.reset();
    BOOST_TEST(!a.join(10ms));

    // Assignment releases the old pool's work and takes the new pool's.
    std::optional<tracked_type> tb(net::require(b.get_executor(), exec::outstanding_work.tracked));
    *t3 = *tb;
    BOOST_TEST(a.join(bound));
    BOOST_TEST(!b.join(10ms));
    tb.reset();
    BOOST_TEST(!b.join(10ms));
    t3.reset();
    BOOST_TEST(b.join(bound));

    // Blocking and relationship changes keep a tracked executor tracked.
    {
        auto t = net::require(a.get_executor(), exec::outstanding_work.tracked);
        auto never = net::require(t, exec::blocking.never);
        t = net::require(a.get_executor(), exec::outstanding_work.tracked); // self-type assign
        BOOST_TEST(!a.join(10ms));
        (void)never;
    }
    BOOST_TEST(a.join(bound));
}

BOOST_AUTO_TEST_CASE(any_io_executor_wraps_the_pool_executor)
{
    pal::thread_pool pool(std::size_t{2});
    net::any_io_executor any = pool.get_executor();
    BOOST_REQUIRE(any.target<executor_type>() != nullptr);
    BOOST_TEST((*any.target<executor_type>() == pool.get_executor()));
    net::execution_context& ctx = net::query(any, exec::context_as<net::execution_context&>);
    BOOST_TEST(&ctx == static_cast<net::execution_context*>(&pool));

    std::promise<bool> p;
    auto f = p.get_future();
    net::post(any, [&] { p.set_value(pool.get_executor().running_in_this_thread()); });
    BOOST_REQUIRE(ready_in_time(f));
    BOOST_TEST(f.get());

    std::promise<bool> q;
    auto g = q.get_future();
    net::dispatch(any, [&] { q.set_value(pool.get_executor().running_in_this_thread()); });
    BOOST_REQUIRE(ready_in_time(g));
    BOOST_TEST(g.get());
    BOOST_TEST(pool.join());
}

BOOST_AUTO_TEST_CASE(require_allocator_is_used_for_posted_functions)
{
    alloc_counts counts;
    pal::thread_pool pool(std::size_t{2});
    auto ex = net::require(pool.get_executor(), exec::allocator(counting_allocator<int>(&counts)));
    BOOST_TEST((net::query(ex, exec::allocator) == counting_allocator<int>(&counts)));
    BOOST_TEST(&pool == &net::query(ex, exec::context));

    std::promise<void> p;
    auto f = p.get_future();
    ex.execute([&p] { p.set_value(); });
    BOOST_REQUIRE(ready_in_time(f));
    // The node is freed before the function runs.
    BOOST_TEST(counts.allocs == 1);
    BOOST_TEST(counts.deallocs == 1);

    // Back to std::allocator.
    auto plain = net::require(ex, exec::allocator);
    static_assert(std::is_same_v<decltype(plain), executor_type>);
    BOOST_TEST((plain == pool.get_executor()));
}

BOOST_AUTO_TEST_CASE(post_uses_the_handlers_associated_allocator)
{
    alloc_counts counts;
    pal::thread_pool pool(std::size_t{2});
    std::promise<void> p;
    auto f = p.get_future();
    net::post(pool.get_executor(),
              net::bind_allocator(counting_allocator<char>(&counts), [&p] { p.set_value(); }));
    BOOST_REQUIRE(ready_in_time(f));
    BOOST_TEST(counts.allocs == 1);
    BOOST_TEST(counts.deallocs == 1);
    BOOST_TEST(pool.join());
}

BOOST_AUTO_TEST_CASE(a_posted_function_dropped_at_shutdown_is_freed_with_its_allocator)
{
    alloc_counts counts;
    std::atomic<int> started{0};
    std::atomic<bool> ran{false};
    std::promise<void> release;
    std::shared_future<void> ticket = release.get_future().share();
    {
        pal::thread_pool pool(std::size_t{1});
        net::post(pool.get_executor(), [&started, ticket] {
            ++started;
            ticket.wait_for(bound);
        });
        BOOST_REQUIRE(eventually([&] { return started == 1; }));
        auto ex =
            net::require(pool.get_executor(), exec::allocator(counting_allocator<int>(&counts)));
        ex.execute([&ran] { ran = true; });
        BOOST_TEST(counts.allocs == 1);
        BOOST_TEST(counts.deallocs == 0);
        auto shut = std::async(std::launch::async, [&pool] { return pool.shutdown(); });
        // The queued function is discarded by shutdown, then the running one is released.
        BOOST_TEST(eventually([&] { return counts.deallocs == 1; }));
        release.set_value();
        BOOST_REQUIRE(ready_in_time(shut));
        BOOST_TEST(shut.get());
    }
    BOOST_TEST(!ran);
    BOOST_TEST(counts.allocs == 1);
    BOOST_TEST(counts.deallocs == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(exceptions)

BOOST_AUTO_TEST_CASE(exception_from_a_posted_function_goes_to_on_task_exception)
{
    reports r;
    pal::thread_pool pool(pal::pool_options{.max_workers = 2, .on_task_exception = r.hook()});
    net::post(pool.get_executor(), [] { throw std::runtime_error("posted boom"); });
    BOOST_TEST(pool.join());
    BOOST_REQUIRE(r.count() == 1u);
    BOOST_TEST(what_of(r.at(0)) == "posted boom");
    bool is_runtime_error = false;
    try
    {
        std::rethrow_exception(r.at(0));
    }
    catch (const std::runtime_error&)
    {
        is_runtime_error = true;
    }
    catch (...)
    {}
    BOOST_TEST(is_runtime_error);

    // Counters are balanced and the pool keeps working.
    BOOST_TEST(pool.count_busy_workers() == 0u);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
    BOOST_TEST(pool.count_workers() == 0u);
    BOOST_TEST(!pool.is_broken());
    BOOST_TEST(pool.run([] { return 4; }) == 4);
    std::promise<void> p;
    auto f = p.get_future();
    net::post(pool.get_executor(), [&p] { p.set_value(); });
    BOOST_REQUIRE(ready_in_time(f));
    BOOST_TEST(pool.join());
    BOOST_TEST(r.count() == 1u);
}

BOOST_AUTO_TEST_CASE(many_throwing_posted_functions)
{
    reports r;
    std::atomic<int> ran{0};
    pal::thread_pool pool(pal::pool_options{.max_workers = 3, .on_task_exception = r.hook()});
    for (int i = 0; i < 300; ++i)
        net::post(pool.get_executor(), [&ran, i] {
            ++ran;
            if (i % 3 == 0)
                throw std::runtime_error("boom " + std::to_string(i));
        });
    BOOST_TEST(pool.join());
    BOOST_TEST(ran == 300);
    BOOST_TEST(r.count() == 100u);
    BOOST_TEST(pool.count_busy_workers() == 0u);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
}

BOOST_AUTO_TEST_CASE(exception_from_an_inline_dispatch_is_reported_not_propagated)
{
    reports r;
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .on_task_exception = r.hook()});
    auto f = pool.submit([&pool] {
        net::dispatch(pool.get_executor(), [] { throw std::logic_error("inline boom"); });
        return 5; // reached: the exception did not escape dispatch
    });
    BOOST_REQUIRE(f.wait(bound));
    BOOST_TEST(f.is_completed());
    BOOST_TEST(f.collect() == 5);
    BOOST_REQUIRE(r.count() == 1u);
    BOOST_TEST(what_of(r.at(0)) == "inline boom");
    BOOST_TEST(pool.join());
}

BOOST_AUTO_TEST_CASE(non_std_exception_from_a_posted_function)
{
    reports r;
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .on_task_exception = r.hook()});
    net::post(pool.get_executor(), [] { throw 42; });
    BOOST_TEST(pool.join());
    BOOST_REQUIRE(r.count() == 1u);
    int value = 0;
    try
    {
        std::rethrow_exception(r.at(0));
    }
    catch (int v)
    {
        value = v;
    }
    BOOST_TEST(value == 42);
}

BOOST_AUTO_TEST_CASE(default_hook_reports_and_keeps_the_pool)
{
    // No on_task_exception: the report goes to stderr; the process and the pool carry on.
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .name = "noisy"});
    net::post(pool.get_executor(),
              [] { throw std::runtime_error("expected in this test: reported on stderr"); });
    BOOST_TEST(pool.join());
    BOOST_TEST(pool.count_busy_workers() == 0u);
    BOOST_TEST(pool.run([] { return 1; }) == 1);
}

BOOST_AUTO_TEST_CASE(a_throwing_hook_does_not_escape)
{
    std::atomic<int> calls{0};
    auto hook = [&calls](std::exception_ptr) {
        ++calls;
        throw std::runtime_error("hook boom");
    };
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .on_task_exception = hook});
    net::post(pool.get_executor(), [] { throw std::runtime_error("posted"); });
    BOOST_TEST(pool.join());
    BOOST_TEST(calls == 1);
    BOOST_TEST(pool.run([] { return 1; }) == 1);
}

BOOST_AUTO_TEST_CASE(posting_to_a_closed_pool_reports_pool_closed_error)
{
    reports r;
    std::atomic<bool> ran{false};
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .on_task_exception = r.hook()});
    BOOST_TEST(pool.shutdown());
    net::post(pool.get_executor(), [&ran] { ran = true; });
    // Reported before post returns.
    BOOST_REQUIRE(r.count() == 1u);
    bool closed = false;
    try
    {
        std::rethrow_exception(r.at(0));
    }
    catch (const pal::pool_closed_error& e)
    {
        closed = true;
        BOOST_TEST((e.code() == make_error_code(pal::errc::pool_closed)));
    }
    catch (...)
    {}
    BOOST_TEST(closed);

    // dispatch from a foreign thread and execute are refused the same way.
    net::dispatch(pool.get_executor(), [&ran] { ran = true; });
    pool.get_executor().execute([&ran] { ran = true; });
    BOOST_TEST(r.count() == 3u);
    BOOST_TEST(!ran);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
    BOOST_TEST(pool.count_workers() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
