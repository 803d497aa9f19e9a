// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests of asio_pal::async_run: running a function on an asio_pal pool (or any Asio executor or
// execution context) and completing on the caller's side, with values, void, exceptions,
// decay-copied and move-only arguments, every kind of completion token, closed pools,
// per-operation cancellation (withdrawing a task not yet started, never stopping a started one),
// pool shutdown, and many concurrent runs. Tasks that must stay queued or running wait at a gate
// the test opens; every wait that a bug could make endless is bounded.
//
// Inside coroutines, function objects and arguments that own something are named before the
// co_await rather than written as temporaries in it: g++ 12 destroys such temporaries of a
// co_await expression twice (a lambda's init-capture always; any capture when the awaited
// operation throws), a compiler bug that clang does not have.

#include <asio_pal/async_run.hpp>

#define BOOST_TEST_MODULE async_run
#include <boost/test/unit_test.hpp>

// Asio's contexts and completion tokens.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace net = boost::asio;
namespace pal = asio_pal;
using namespace std::chrono_literals;

namespace {

/// How long a test waits for something that a correct library does at once (a bug then fails
/// the test instead of hanging it).
constexpr auto long_wait = std::chrono::seconds(30);

/// An exception type of the test's own, with a payload.
class custom_error : public std::runtime_error
{
public:
    custom_error(const std::string& what, int code)
        : std::runtime_error(what)
        , code_(code)
    {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

/// A door tasks wait at until the test opens it; counts the tasks that arrived. Declare it after
/// the pool: its destructor opens it, so a failed test never leaves a task stuck at shutdown.
class gate
{
    struct state
    {
        std::mutex mutex;
        std::condition_variable changed;
        bool open = false;
        std::size_t arrivals = 0;
    };

public:
    /// What a task holds (by value) to pass the gate.
    class door
    {
    public:
        explicit door(std::shared_ptr<state> s)
            : s_(std::move(s))
        {}

        /// Announces the arrival, then waits until the gate is open (at most 60 s, a safety net
        /// for a broken test).
        void pass() const
        {
            std::unique_lock<std::mutex> lock(s_->mutex);
            ++s_->arrivals;
            s_->changed.notify_all();
            s_->changed.wait_for(lock, std::chrono::seconds(60), [&] { return s_->open; });
        }

    private:
        std::shared_ptr<state> s_;
    };

    gate() = default;
    gate(const gate&) = delete;
    gate& operator=(const gate&) = delete;
    ~gate() { open(); }

    door get_door() const { return door(s_); }

    /// Waits until `n` tasks arrived; false after long_wait.
    bool wait_arrivals(std::size_t n) const
    {
        std::unique_lock<std::mutex> lock(s_->mutex);
        return s_->changed.wait_for(lock, long_wait, [&] { return s_->arrivals >= n; });
    }

    std::size_t arrivals() const
    {
        std::lock_guard<std::mutex> lock(s_->mutex);
        return s_->arrivals;
    }

    void open() const
    {
        std::lock_guard<std::mutex> lock(s_->mutex);
        s_->open = true;
        s_->changed.notify_all();
    }

private:
    std::shared_ptr<state> s_ = std::make_shared<state>();
};

/// A coroutine spawned on an io_context and its end.
struct spawned
{
    bool done = false;
    std::exception_ptr error;
};

template <typename F>
std::shared_ptr<spawned> spawn(net::io_context& io, F&& f)
{
    auto s = std::make_shared<spawned>();
    net::co_spawn(io, std::forward<F>(f), [s](std::exception_ptr e) {
        s->done = true;
        s->error = e;
    });
    return s;
}

/// The coroutine ended, without an exception.
void check_spawned(const spawned& s)
{
    BOOST_REQUIRE(s.done);
    if (s.error)
    {
        try
        {
            std::rethrow_exception(s.error);
        }
        catch (const std::exception& e)
        {
            BOOST_ERROR("coroutine failed: " << e.what());
        }
        catch (...)
        {
            BOOST_ERROR("coroutine failed with an unknown exception");
        }
    }
}

/// Waits for `timer`, then raises `flag` (a named coroutine: a lambda's captures would dangle).
net::awaitable<void> wait_then_flag(net::steady_timer& timer, bool& flag)
{
    co_await timer.async_wait(net::use_awaitable);
    flag = true;
}

/// Where a task ran.
struct where
{
    std::thread::id thread;
    bool on_pool = false;
};

} // namespace

// ---------------------------------------------------------------------------------------------
// values, void, exceptions, arguments

BOOST_AUTO_TEST_CASE(value_from_a_pool_resumes_on_the_io_context)
{
    net::io_context io;
    pal::thread_pool pool(2);
    const auto io_thread = std::this_thread::get_id();
    int value = 0;
    where task;
    std::thread::id resumed_on;
    bool on_io_executor = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        value = co_await pal::async_run(
            pool,
            [&](int a, int b) {
            task.thread = std::this_thread::get_id();
            task.on_pool = pool.get_executor().running_in_this_thread();
            return a + b;
            },
            40, 2, net::use_awaitable);
        resumed_on = std::this_thread::get_id();
        on_io_executor = io.get_executor().running_in_this_thread();
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(value == 42);
    BOOST_TEST(task.on_pool);
    BOOST_TEST((task.thread != io_thread));
    BOOST_TEST((resumed_on == io_thread));
    BOOST_TEST(on_io_executor);
}

BOOST_AUTO_TEST_CASE(void_function)
{
    net::io_context io;
    pal::thread_pool pool(2);
    bool ran_on_pool = false;
    bool resumed = false;
    bool on_io_executor = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        co_await pal::async_run(
            pool, [&] { ran_on_pool = pool.get_executor().running_in_this_thread(); },
            net::use_awaitable);
        resumed = true;
        on_io_executor = io.get_executor().running_in_this_thread();
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(ran_on_pool);
    BOOST_TEST(resumed);
    BOOST_TEST(on_io_executor);
}

BOOST_AUTO_TEST_CASE(exceptions_keep_their_type)
{
    net::io_context io;
    pal::thread_pool pool(2);
    std::string custom_message;
    int custom_code = 0;
    bool custom_on_io = false;
    std::string range_type;
    std::string range_message;
    int thrown_int = 0;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        try
        {
            co_await pal::async_run(
                pool, [](int c) -> int { throw custom_error("run failed", c); }, 31,
                net::use_awaitable);
        }
        catch (const custom_error& e)
        {
            custom_message = e.what();
            custom_code = e.code();
            custom_on_io = io.get_executor().running_in_this_thread();
        }
        try
        {
            co_await pal::async_run(
                pool, [] { throw std::out_of_range("no such element"); }, net::use_awaitable);
        }
        catch (const std::exception& e)
        {
            range_type = typeid(e).name();
            range_message = e.what();
        }
        try
        {
            co_await pal::async_run(
                pool, []() -> std::string { throw 42; }, net::use_awaitable);
        }
        catch (int v)
        {
            thrown_int = v;
        }
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(custom_message == "run failed");
    BOOST_TEST(custom_code == 31);
    BOOST_TEST(custom_on_io);
    BOOST_TEST(range_type == typeid(std::out_of_range).name());
    BOOST_TEST(range_message == "no such element");
    BOOST_TEST(thrown_int == 42);
}

BOOST_AUTO_TEST_CASE(arguments_are_decay_copied)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));

    // Callback form: the task is queued behind the blocker while the caller changes its string.
    std::string text = "original";
    bool called = false;
    std::string seen;
    pal::async_run(
        pool, [](const std::string& s) { return s + "!"; }, text,
        net::bind_executor(io, [&](std::exception_ptr e, std::string r) {
            called = !e;
            seen = std::move(r);
        }));
    BOOST_TEST(text == "original"); // an lvalue is copied, not moved from
    text = "modified";

    // Awaitable form: the copy is made when async_run is called, not when it is awaited.
    std::string other = "first";
    std::string awaited;
    std::string rvalue_seen;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        auto op = pal::async_run(
            pool, [](std::string s) { return s; }, other, net::use_awaitable);
        other = "second";
        awaited = co_await std::move(op);
        rvalue_seen = co_await pal::async_run(
            pool, [](std::string&& s) { return std::move(s); }, other, net::use_awaitable);
    });
    io.poll();
    BOOST_TEST(!called);
    g.open();
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(called);
    BOOST_TEST(seen == "original!");
    BOOST_TEST(awaited == "first");
    BOOST_TEST(rvalue_seen == "second");
    BOOST_TEST(other == "second"); // the copy was moved into the function, not the caller's
}

BOOST_AUTO_TEST_CASE(move_only_arguments_results_and_functions)
{
    net::io_context io;
    pal::thread_pool pool(2);
    int from_argument = 0;
    int from_result = 0;
    int from_function = 0;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        auto argument = std::make_unique<int>(41);
        from_argument = co_await pal::async_run(
            pool, [](std::unique_ptr<int> p) { return *p + 1; }, std::move(argument),
            net::use_awaitable);
        std::unique_ptr<int> r = co_await pal::async_run(
            pool, [] { return std::make_unique<int>(5); }, net::use_awaitable);
        from_result = r ? *r : -1;
        auto function = [p = std::make_unique<int>(9)] { return *p; };
        from_function = co_await pal::async_run(pool, std::move(function), net::use_awaitable);
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(from_argument == 42);
    BOOST_TEST(from_result == 5);
    BOOST_TEST(from_function == 9);
}

// ---------------------------------------------------------------------------------------------
// completion tokens

BOOST_AUTO_TEST_CASE(callback_token)
{
    net::io_context io;
    pal::thread_pool pool(2);
    // A plain callback, no associated executor.
    std::promise<std::pair<std::exception_ptr, int>> plain;
    pal::async_run(
        pool, [](int x) { return x * 3; }, 5,
        [&](std::exception_ptr e, int v) {
        plain.set_value({e, v});
        });
    std::promise<std::exception_ptr> plain_void;
    pal::async_run(
        pool, [] {}, [&](std::exception_ptr e) { plain_void.set_value(e); });
    auto pf = plain.get_future();
    auto vf = plain_void.get_future();
    BOOST_REQUIRE(pf.wait_for(long_wait) == std::future_status::ready);
    BOOST_REQUIRE(vf.wait_for(long_wait) == std::future_status::ready);
    auto [e, v] = pf.get();
    BOOST_TEST(!e);
    BOOST_TEST(v == 15);
    BOOST_TEST(!vf.get());

    // Bound to the io_context: runs there.
    bool called = false;
    bool on_io_executor = false;
    std::exception_ptr error;
    pal::async_run(
        pool, [] { throw custom_error("callback failure", 8); },
        net::bind_executor(io, [&](std::exception_ptr ex) {
            called = true;
            error = ex;
            on_io_executor = io.get_executor().running_in_this_thread();
        }));
    io.run_for(long_wait);
    BOOST_REQUIRE(called);
    BOOST_TEST(on_io_executor);
    BOOST_CHECK_THROW(std::rethrow_exception(error), custom_error);
}

BOOST_AUTO_TEST_CASE(a_pending_run_keeps_io_context_run_going)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    std::jthread opener; // joined before the gate goes
    bool called = false;
    int value = 0;
    pal::async_run(
        pool,
        [d = g.get_door()] {
        d.pass();
        return 12;
        },
        net::bind_executor(io, [&](std::exception_ptr, int v) {
            called = true;
            value = v;
        }));
    // The gate opens only once run() has run out of ready handlers: without the operation's
    // work count, run() would return there.
    std::promise<void> io_running;
    net::post(io, [&] { io_running.set_value(); });
    opener = std::jthread([&] {
        if (io_running.get_future().wait_for(long_wait) == std::future_status::ready)
            g.open();
    });
    io.run_for(long_wait); // no work guard
    BOOST_TEST(called);
    BOOST_TEST(value == 12);
}

BOOST_AUTO_TEST_CASE(use_future_token)
{
    pal::thread_pool pool(2);
    std::future<int> value = pal::async_run(
        pool, [](int x) { return x * 2; }, 21, net::use_future);
    std::future<void> nothing = pal::async_run(
        pool, [] {}, net::use_future);
    std::future<int> failure = pal::async_run(
        pool, []() -> int { throw custom_error("future failure", 3); }, net::use_future);
    BOOST_REQUIRE(value.wait_for(long_wait) == std::future_status::ready);
    BOOST_REQUIRE(nothing.wait_for(long_wait) == std::future_status::ready);
    BOOST_REQUIRE(failure.wait_for(long_wait) == std::future_status::ready);
    BOOST_TEST(value.get() == 42);
    BOOST_CHECK_NO_THROW(nothing.get());
    try
    {
        failure.get();
        BOOST_ERROR("no exception");
    }
    catch (const custom_error& e)
    {
        BOOST_TEST(std::string(e.what()) == "future failure");
        BOOST_TEST(e.code() == 3);
    }
}

BOOST_AUTO_TEST_CASE(deferred_token_submits_nothing_until_started)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto runs = std::make_shared<std::atomic<int>>(0);
    auto op = pal::async_run(
        pool,
        [runs](int x) {
        ++*runs;
        return x;
        },
        9, net::deferred);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
    bool called = false;
    int value = 0;
    std::move(op)(net::bind_executor(io, [&](std::exception_ptr e, int v) {
        called = !e;
        value = v;
    }));
    BOOST_TEST(pool.count_pending_tasks() == 1u);

    int awaited = 0;
    bool void_awaited = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        auto op2 = pal::async_run(
            pool, [runs] { return ++*runs; }, net::deferred);
        awaited = co_await std::move(op2)(net::use_awaitable);
        auto op3 = pal::async_run(
            pool, [runs] { ++*runs; }, net::deferred);
        co_await std::move(op3)(net::use_awaitable);
        void_awaited = true;
    });
    io.poll();
    BOOST_TEST(!called);
    g.open();
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(called);
    BOOST_TEST(value == 9);
    BOOST_TEST(awaited == 2); // the callback's run went first
    BOOST_TEST(void_awaited);
    BOOST_TEST(runs->load() == 3);
}

// ---------------------------------------------------------------------------------------------
// targets

BOOST_AUTO_TEST_CASE(on_an_io_context_and_its_executor)
{
    net::io_context io;
    const auto io_thread = std::this_thread::get_id();
    where by_executor;
    where by_context;
    int a = 0;
    int b = 0;
    bool resumed_on_io = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        a = co_await pal::async_run(
            io.get_executor(),
            [&] {
            by_executor.thread = std::this_thread::get_id();
            by_executor.on_pool = io.get_executor().running_in_this_thread();
            return 1;
            },
            net::use_awaitable);
        b = co_await pal::async_run(
            io,
            [&](int x) {
            by_context.thread = std::this_thread::get_id();
            by_context.on_pool = io.get_executor().running_in_this_thread();
            return x;
            },
            2, net::use_awaitable);
        resumed_on_io = io.get_executor().running_in_this_thread();
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(a == 1);
    BOOST_TEST(b == 2);
    BOOST_TEST(by_executor.on_pool);
    BOOST_TEST(by_context.on_pool);
    BOOST_TEST((by_executor.thread == io_thread));
    BOOST_TEST((by_context.thread == io_thread));
    BOOST_TEST(resumed_on_io);
}

BOOST_AUTO_TEST_CASE(on_an_asio_thread_pool)
{
    net::io_context io;
    net::thread_pool tp(2);
    const auto io_thread = std::this_thread::get_id();
    where by_executor;
    where by_context;
    int a = 0;
    int b = 0;
    bool resumed_on_io = false;
    std::thread::id resumed_on;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        a = co_await pal::async_run(
            tp.get_executor(),
            [&] {
            by_executor.thread = std::this_thread::get_id();
            by_executor.on_pool = tp.get_executor().running_in_this_thread();
            return 10;
            },
            net::use_awaitable);
        b = co_await pal::async_run(
            tp,
            [&] {
            by_context.thread = std::this_thread::get_id();
            by_context.on_pool = tp.get_executor().running_in_this_thread();
            return 20;
            },
            net::use_awaitable);
        resumed_on_io = io.get_executor().running_in_this_thread();
        resumed_on = std::this_thread::get_id();
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(a == 10);
    BOOST_TEST(b == 20);
    BOOST_TEST(by_executor.on_pool);
    BOOST_TEST(by_context.on_pool);
    BOOST_TEST((by_executor.thread != io_thread));
    BOOST_TEST(resumed_on_io);
    BOOST_TEST((resumed_on == io_thread));

    // A callback without an executor of its own completes on the target executor.
    std::promise<std::pair<int, bool>> plain;
    pal::async_run(
        tp.get_executor(), [] { return 30; },
        [&](std::exception_ptr, int v) {
        plain.set_value({v, tp.get_executor().running_in_this_thread()});
        });
    auto pf = plain.get_future();
    BOOST_REQUIRE(pf.wait_for(long_wait) == std::future_status::ready);
    auto [v, on_tp] = pf.get();
    BOOST_TEST(v == 30);
    BOOST_TEST(on_tp);
    tp.join();
}

BOOST_AUTO_TEST_CASE(on_sized_pools)
{
    net::io_context io;
    pal::single_thread_pool single;
    pal::dual_thread_pool dual;
    pal::triple_thread_pool triple;
    pal::quad_thread_pool quad;
    BOOST_TEST(single.options().max_workers == 1u);
    BOOST_TEST(dual.options().max_workers == 2u);
    BOOST_TEST(triple.options().max_workers == 3u);
    BOOST_TEST(quad.options().max_workers == 4u);
    gate g;
    // Two gated runs on the dual pool are running at once.
    std::vector<int> values(6, 0);
    int done = 0;
    auto gated = [d = g.get_door()](int x) {
        d.pass();
        return x;
    };
    auto s1 = spawn(io, [&]() -> net::awaitable<void> {
        values[0] = co_await pal::async_run(dual, gated, 1, net::use_awaitable);
        ++done;
    });
    auto s2 = spawn(io, [&]() -> net::awaitable<void> {
        values[1] = co_await pal::async_run(dual, gated, 2, net::use_awaitable);
        ++done;
    });
    auto s3 = spawn(io, [&]() -> net::awaitable<void> {
        values[2] = co_await pal::async_run(
            single, [] { return 3; }, net::use_awaitable);
        values[3] = co_await pal::async_run(
            triple, [] { return 4; }, net::use_awaitable);
        values[4] = co_await pal::async_run(
            quad, [] { return 5; }, net::use_awaitable);
        values[5] = co_await pal::async_run(
            dual, [] { return 6; }, net::use_awaitable);
        ++done;
    });
    io.poll();
    BOOST_TEST(g.wait_arrivals(2));
    BOOST_TEST(dual.count_busy_workers() == 2u);
    g.open();
    io.run_for(long_wait);
    check_spawned(*s1);
    check_spawned(*s2);
    check_spawned(*s3);
    BOOST_TEST(done == 3);
    BOOST_TEST(values == (std::vector<int>{1, 2, 3, 4, 5, 6}), boost::test_tools::per_element());
    BOOST_TEST(dual.count_workers() <= 2u);
}

BOOST_AUTO_TEST_CASE(closed_pool_gives_pool_closed_error_to_the_handler)
{
    net::io_context io;
    pal::thread_pool pool(1);
    BOOST_TEST(pool.shutdown());
    auto ran = std::make_shared<std::atomic<bool>>(false);
    bool called = false;
    std::exception_ptr error;
    BOOST_CHECK_NO_THROW(pal::async_run(
        pool,
        [ran] {
        ran->store(true);
        return 1;
        },
        net::bind_executor(io, [&](std::exception_ptr e, int) {
            called = true;
            error = e;
        })));
    BOOST_TEST(!called); // not inside the initiating call
    io.run_for(long_wait);
    BOOST_REQUIRE(called);
    try
    {
        std::rethrow_exception(error);
    }
    catch (const pal::pool_closed_error& e)
    {
        BOOST_TEST(e.code() == pal::make_error_code(pal::errc::pool_closed));
    }
    catch (...)
    {
        BOOST_ERROR("not a pool_closed_error");
    }

    // A plain callback runs elsewhere, never inside async_run().
    std::promise<std::pair<std::exception_ptr, std::thread::id>> plain;
    pal::async_run(
        pool, [ran] { ran->store(true); },
        [&](std::exception_ptr e) {
        plain.set_value({e, std::this_thread::get_id()});
        });
    auto pf = plain.get_future();
    BOOST_REQUIRE(pf.wait_for(long_wait) == std::future_status::ready);
    auto [plain_error, plain_thread] = pf.get();
    BOOST_CHECK_THROW(std::rethrow_exception(plain_error), pal::pool_closed_error);
    BOOST_TEST((plain_thread != std::this_thread::get_id()));

    // A coroutine gets the exception from co_await.
    bool caught = false;
    io.restart();
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        try
        {
            auto fn = [ran] { ran->store(true); };
            co_await pal::async_run(pool, fn, net::use_awaitable);
        }
        catch (const pal::pool_closed_error&)
        {
            caught = true;
        }
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(caught);
    BOOST_TEST(!ran->load());
}

// ---------------------------------------------------------------------------------------------
// cancellation and shutdown

BOOST_AUTO_TEST_CASE(awaitable_or_withdraws_a_task_that_has_not_started)
{
    using namespace net::experimental::awaitable_operators;
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto ran = std::make_shared<std::atomic<bool>>(false);
    std::size_t index = 99;
    std::size_t pending_after = 99;
    bool blocker_running = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        net::steady_timer timer(co_await net::this_coro::executor, 10ms);
        auto fn = [ran] {
            ran->store(true);
            return 1;
        };
        auto r = co_await (pal::async_run(pool, fn, net::use_awaitable) ||
                           timer.async_wait(net::use_awaitable));
        index = r.index();
        pending_after = pool.count_pending_tasks();
        blocker_running = blocker.is_running();
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(index == 1u);
    BOOST_TEST(pending_after == 0u);
    BOOST_TEST(blocker_running); // withdrawn while the only worker was still busy
    // Once the worker is free the queue drains in order: the withdrawn function never runs.
    g.open();
    BOOST_TEST(pool.submit([] { return 2; }).collect(long_wait) == 2);
    BOOST_TEST(!ran->load());
    BOOST_TEST(pool.count_pending_tasks() == 0u);
}

BOOST_AUTO_TEST_CASE(cancellation_signal_withdraws_a_queued_task_with_cancelled_error)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto runs = std::make_shared<std::atomic<int>>(0);
    for (auto type : {net::cancellation_type::terminal, net::cancellation_type::partial,
                      net::cancellation_type::total})
    {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            net::cancellation_signal signal;
            bool called = false;
            std::exception_ptr error;
            int value = -1;
            pal::async_run(
                pool,
                [runs] {
                ++*runs;
                return 5;
                },
                net::bind_cancellation_slot(
                    signal.slot(), net::bind_executor(io, [&](std::exception_ptr e, int v) {
                        called = true;
                        error = e;
                        value = v;
                    })));
            BOOST_TEST(pool.count_pending_tasks() == 1u);
            signal.emit(type);
            BOOST_TEST(!called); // never inside emit()
            BOOST_TEST(pool.count_pending_tasks() == 0u);
            io.restart();
            io.run_for(long_wait);
            BOOST_REQUIRE(called);
            BOOST_TEST(value == 0);
            try
            {
                std::rethrow_exception(error);
            }
            catch (const pal::cancelled_error& e)
            {
                BOOST_TEST(e.code() == net::error::operation_aborted);
            }
            catch (...)
            {
                BOOST_ERROR("not a cancelled_error");
            }
        }
    }
    g.open();
    BOOST_TEST(pool.submit([] { return 2; }).collect(long_wait) == 2);
    BOOST_TEST(runs->load() == 0);
}

BOOST_AUTO_TEST_CASE(cancellation_withdraws_a_run_queued_on_an_executor)
{
    net::io_context io;
    net::io_context target; // not running yet: the run stays queued there
    auto ran = std::make_shared<std::atomic<bool>>(false);
    net::cancellation_signal signal;
    bool called = false;
    std::exception_ptr error;
    pal::async_run(
        target,
        [ran] {
        ran->store(true);
        return 1;
        },
        net::bind_cancellation_slot(signal.slot(),
                                    net::bind_executor(io, [&](std::exception_ptr e, int) {
                                        called = true;
                                        error = e;
                                    })));
    signal.emit(net::cancellation_type::terminal);
    BOOST_TEST(!called);
    io.run_for(long_wait);
    BOOST_REQUIRE(called);
    BOOST_CHECK_THROW(std::rethrow_exception(error), pal::cancelled_error);
    target.run_for(long_wait); // the queued run finds its task withdrawn
    BOOST_TEST(!ran->load());
}

BOOST_AUTO_TEST_CASE(cancellation_signal_does_not_stop_a_started_task)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    net::cancellation_signal signal;
    bool called = false;
    std::exception_ptr error;
    int value = 0;
    pal::async_run(
        pool,
        [d = g.get_door()] {
        d.pass();
        return 7;
        },
        net::bind_cancellation_slot(signal.slot(),
                                    net::bind_executor(io, [&](std::exception_ptr e, int v) {
                                        called = true;
                                        error = e;
                                        value = v;
                                    })));
    BOOST_REQUIRE(g.wait_arrivals(1));
    signal.emit(net::cancellation_type::terminal);
    io.poll();
    BOOST_TEST(!called); // the started task is not abandoned
    g.open();
    io.run_for(long_wait);
    BOOST_REQUIRE(called);
    BOOST_TEST(!error);
    BOOST_TEST(value == 7);
}

BOOST_AUTO_TEST_CASE(awaitable_or_waits_for_a_started_task_to_finish)
{
    using namespace net::experimental::awaitable_operators;
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto finished = std::make_shared<std::atomic<bool>>(false);
    bool timer_fired = false;
    std::size_t index = 99;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        net::steady_timer timer(co_await net::this_coro::executor, 10ms);
        auto fn = [d = g.get_door(), finished] {
            d.pass();
            finished->store(true);
            return 7;
        };
        auto r = co_await (pal::async_run(pool, std::move(fn), net::use_awaitable) ||
                           wait_then_flag(timer, timer_fired));
        index = r.index();
    });
    io.poll(); // starts the coroutine, which submits the task
    BOOST_REQUIRE(g.wait_arrivals(1));
    // Run the io_context until the timer branch has finished and its completion (which
    // cancels the other branch) has been handled.
    while (!timer_fired && io.run_one_for(long_wait) != 0)
    {}
    BOOST_REQUIRE(timer_fired);
    io.poll();
    // The timer won, but the operator still waits for the started task: it cannot be withdrawn.
    BOOST_TEST(!s->done);
    BOOST_TEST(!finished->load());
    g.open();
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(index == 1u); // the first branch to complete
    BOOST_TEST(finished->load());
}

BOOST_AUTO_TEST_CASE(shutdown_cancels_a_queued_run)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    std::jthread closer; // joined before the gate goes
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto ran = std::make_shared<std::atomic<bool>>(false);
    bool called = false;
    std::exception_ptr error;
    pal::async_run(
        pool,
        [ran] {
        ran->store(true);
        return 1;
        },
        net::bind_executor(io, [&](std::exception_ptr e, int) {
            called = true;
            error = e;
        }));
    // shutdown() cancels the queue at once, then waits for the blocked task.
    closer = std::jthread([&] { pool.shutdown(); });
    io.run_for(long_wait); // returns once the cancelled run's handler ran
    BOOST_TEST(called);
    BOOST_TEST(blocker.is_running());
    g.open();
    closer.join();
    BOOST_CHECK_THROW(std::rethrow_exception(error), pal::cancelled_error);
    BOOST_TEST(!ran->load());
    BOOST_TEST(pool.cancelled_tasks().size() == 1u);
}

// ---------------------------------------------------------------------------------------------
// many at once

BOOST_AUTO_TEST_CASE(many_concurrent_runs_from_coroutines)
{
    constexpr int coroutines = 20;
    constexpr int runs_each = 50;
    net::io_context io;
    pal::thread_pool pool(4);
    int completed = 0;
    int wrong = 0;
    std::vector<std::shared_ptr<spawned>> spawned_list;
    for (int c = 0; c < coroutines; ++c)
    {
        spawned_list.push_back(spawn(io, [&, c]() -> net::awaitable<void> {
            for (int i = 0; i < runs_each; ++i)
            {
                int v = co_await pal::async_run(
                    pool, [](int a, int b) { return a * 1000 + b; }, c, i, net::use_awaitable);
                if (v != c * 1000 + i)
                    ++wrong;
                ++completed;
            }
        }));
    }
    io.run_for(std::chrono::seconds(60));
    for (auto& s : spawned_list)
        check_spawned(*s);
    BOOST_TEST(completed == coroutines * runs_each);
    BOOST_TEST(wrong == 0);
}

BOOST_AUTO_TEST_CASE(many_concurrent_runs_from_threads)
{
    constexpr int threads = 4;
    constexpr int runs_each = 250;
    pal::thread_pool pool(3);
    std::vector<int> wrong(threads, -1);
    {
        std::vector<std::jthread> callers;
        for (int t = 0; t < threads; ++t)
        {
            callers.emplace_back([&, t] {
                std::vector<std::future<int>> results;
                for (int i = 0; i < runs_each; ++i)
                    results.push_back(pal::async_run(
                        pool, [](int a, int b) { return a * 1000 + b; }, t, i, net::use_future));
                int bad = 0;
                for (int i = 0; i < runs_each; ++i)
                {
                    if (results[i].wait_for(long_wait) != std::future_status::ready ||
                        results[i].get() != t * 1000 + i)
                        ++bad;
                }
                wrong[t] = bad;
            });
        }
    }
    BOOST_TEST(wrong == std::vector<int>(threads, 0), boost::test_tools::per_element());
    BOOST_TEST(pool.count_pending_tasks() == 0u);
}
