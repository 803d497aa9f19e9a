// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests of asio_pal::future<T> (int, std::string, void and a type without a default
// constructor): blocking collect/wait with and without timeouts, cancel(), status and ids,
// result()/exception(), duration(), callbacks, copies, and the asynchronous async_wait /
// async_collect with every kind of Asio completion token, per-operation cancellation and pool
// shutdown. Tasks that must stay pending or running wait at a gate the test opens; every wait
// that a bug could make endless is bounded.

#include <asio_pal/future.hpp>

#define BOOST_TEST_MODULE future
#include <boost/test/unit_test.hpp>

// The pool that runs the tasks, and Asio's completion tokens.
#include <asio_pal/thread_pool.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/mpl/list.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

namespace net = boost::asio;
namespace pal = asio_pal;
using namespace std::chrono_literals;

namespace {

/// How long a test waits for something that a correct library does at once (a bug then fails
/// the test instead of hanging it).
constexpr auto long_wait = std::chrono::seconds(30);

/// A value type without a default constructor.
struct no_default
{
    explicit no_default(int v)
        : value(v)
    {}
    int value;
    friend bool operator==(const no_default&, const no_default&) = default;
    friend std::ostream& operator<<(std::ostream& os, const no_default& v)
    {
        return os << "no_default{" << v.value << "}";
    }
};

/// The value a task of each type returns.
template <typename T>
struct sample;
template <>
struct sample<int>
{
    static int make() { return 42; }
};
template <>
struct sample<std::string>
{
    static std::string make() { return std::string(100, 'x') + " and a value"; }
};
template <>
struct sample<void>
{
    static void make() {}
};
template <>
struct sample<no_default>
{
    static no_default make() { return no_default(7); }
};

using value_types = boost::mpl::list<int, std::string, void, no_default>;

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

/// A task that waits at the gate, then returns sample<T>.
template <typename T>
auto gated_sample(const gate& g)
{
    return [d = g.get_door()]() -> T {
        d.pass();
        return sample<T>::make();
    };
}

/// Lets at least `d` pass on the steady clock. Only ever used to make a duration that the test
/// then measures, never to wait for another thread.
void let_time_pass(std::chrono::milliseconds d)
{
    auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_until(until);
}

template <typename Duration>
std::int64_t ns(Duration d)
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

/// Checks status() and every is_*() predicate against `expected`.
template <typename T>
void check_status(const pal::future<T>& f, pal::task_status expected)
{
    BOOST_TEST(pal::to_string(f.status()) == std::string(pal::to_string(expected)));
    BOOST_TEST(f.is_pending() == (expected == pal::task_status::pending));
    BOOST_TEST(f.is_running() == (expected == pal::task_status::running));
    BOOST_TEST(f.is_completed() == (expected == pal::task_status::completed));
    BOOST_TEST(f.is_failed() == (expected == pal::task_status::failed));
    BOOST_TEST(f.is_cancelled() == (expected == pal::task_status::cancelled));
    BOOST_TEST(f.is_done() ==
               (expected == pal::task_status::completed || expected == pal::task_status::failed ||
                expected == pal::task_status::cancelled));
}

/// collect(long_wait) and compare with sample<T>.
template <typename T>
void check_collect(const pal::future<T>& f)
{
    if constexpr (std::is_void_v<T>)
        f.collect(long_wait);
    else
        BOOST_TEST(f.collect(long_wait) == sample<T>::make());
}

/// result() of a completed future holds sample<T>; of any other, nothing.
template <typename T>
void check_result(const pal::future<T>& f, bool completed)
{
    auto r = f.result();
    if constexpr (std::is_void_v<T>)
    {
        static_assert(std::is_same_v<decltype(r), bool>);
        BOOST_TEST(r == completed);
    }
    else
    {
        static_assert(std::is_same_v<decltype(r), std::optional<T>>);
        BOOST_TEST(r.has_value() == completed);
        if (completed && r)
            BOOST_TEST(*r == sample<T>::make());
    }
}

/// What an async_collect delivered: the value, from T or from std::optional<T>.
template <typename T>
struct outcome
{
    std::optional<T> value;
    void set(T v) { value.emplace(std::move(v)); }
    void set(std::optional<T> v) { value = std::move(v); }
    bool matches() const { return value.has_value() && *value == sample<T>::make(); }
};
template <>
struct outcome<void>
{
    bool value = false;
    void set() { value = true; }
    bool matches() const { return value; }
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

/// Exceptions a pool reports to its on_task_exception hook.
struct exception_sink
{
    std::mutex mutex;
    std::vector<std::exception_ptr> reported;
    std::promise<void> first;

    std::function<void(std::exception_ptr)> hook()
    {
        return [this](std::exception_ptr e) {
            std::lock_guard<std::mutex> lock(mutex);
            reported.push_back(e);
            if (reported.size() == 1)
                first.set_value();
        };
    }

    std::size_t count()
    {
        std::lock_guard<std::mutex> lock(mutex);
        return reported.size();
    }
};

} // namespace

// ---------------------------------------------------------------------------------------------
// collect / wait

BOOST_AUTO_TEST_CASE_TEMPLATE(collect_returns_the_value, T, value_types)
{
    pal::thread_pool pool(2);
    pal::future<T> f = pool.submit([] { return sample<T>::make(); });
    BOOST_TEST(f.valid());
    if constexpr (std::is_void_v<T>)
        f.collect();
    else
        BOOST_TEST(f.collect() == sample<T>::make());
    check_status(f, pal::task_status::completed);
    check_result(f, true);
    BOOST_TEST(!f.exception());
    // Collecting again gives the same value; so does a zero timeout on a finished task.
    check_collect(f);
    if constexpr (!std::is_void_v<T>)
        BOOST_TEST(f.collect(0ms) == sample<T>::make());
    BOOST_TEST(f.wait());
    BOOST_TEST(f.wait(0ms));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(collect_rethrows_the_exception, T, value_types)
{
    pal::thread_pool pool(2);
    pal::future<T> f = pool.submit([]() -> T { throw custom_error("task failed on purpose", 17); });
    BOOST_TEST(f.wait(long_wait));
    check_status(f, pal::task_status::failed);
    for (int round = 0; round < 2; ++round)
    {
        try
        {
            f.collect();
            BOOST_ERROR("collect() returned for a failed task");
        }
        catch (const custom_error& e)
        {
            BOOST_TEST(typeid(e).name() == typeid(custom_error).name());
            BOOST_TEST(std::string(e.what()) == "task failed on purpose");
            BOOST_TEST(e.code() == 17);
        }
    }
    BOOST_CHECK_THROW(f.collect(long_wait), custom_error);
    check_result(f, false);
    BOOST_REQUIRE(f.exception());
    BOOST_CHECK_THROW(std::rethrow_exception(f.exception()), custom_error);
}

BOOST_AUTO_TEST_CASE(collect_keeps_standard_and_non_standard_exception_types)
{
    pal::thread_pool pool(2);
    auto range = pool.submit([]() -> int { throw std::out_of_range("index 9 out of range"); });
    try
    {
        range.collect(long_wait);
        BOOST_ERROR("no exception");
    }
    catch (const std::exception& e)
    {
        BOOST_TEST(typeid(e).name() == typeid(std::out_of_range).name());
        BOOST_TEST(std::string(e.what()) == "index 9 out of range");
    }
    auto number = pool.submit([] { throw 42; });
    try
    {
        number.collect(long_wait);
        BOOST_ERROR("no exception");
    }
    catch (int v)
    {
        BOOST_TEST(v == 42);
    }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(collect_with_timeout_throws_then_succeeds, T, value_types)
{
    pal::thread_pool pool(1);
    gate g;
    pal::future<T> f = pool.submit(gated_sample<T>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    try
    {
        f.collect(20ms);
        BOOST_ERROR("collect(20ms) returned for a blocked task");
    }
    catch (const pal::timeout_error& e)
    {
        BOOST_TEST(e.code() == boost::system::error_code(net::error::timed_out));
    }
    BOOST_CHECK_THROW(f.collect(0ms), pal::timeout_error);
    BOOST_CHECK_THROW(f.collect(-5ms), pal::timeout_error);
    check_status(f, pal::task_status::running);
    check_result(f, false);
    BOOST_TEST(!f.exception());
    g.open();
    check_collect(f);
    check_status(f, pal::task_status::completed);
}

BOOST_AUTO_TEST_CASE(task_status_names)
{
    BOOST_TEST(std::string(pal::to_string(pal::task_status::pending)) == "pending");
    BOOST_TEST(std::string(pal::to_string(pal::task_status::running)) == "running");
    BOOST_TEST(std::string(pal::to_string(pal::task_status::completed)) == "completed");
    BOOST_TEST(std::string(pal::to_string(pal::task_status::failed)) == "failed");
    BOOST_TEST(std::string(pal::to_string(pal::task_status::cancelled)) == "cancelled");
    BOOST_TEST(std::string(pal::to_string(static_cast<pal::task_status>(42))) == "invalid");
    std::ostringstream out;
    out << pal::task_status::cancelled;
    BOOST_TEST(out.str() == "cancelled");
}

BOOST_AUTO_TEST_CASE(wait_reports_whether_done)
{
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    BOOST_TEST(!f.wait(0ms));
    BOOST_TEST(!f.wait(20ms));
    BOOST_TEST(!f.wait(std::chrono::microseconds(1)));
    BOOST_TEST(!f.is_done());
    g.open();
    BOOST_TEST(f.wait(long_wait));
    BOOST_TEST(f.wait());
    BOOST_TEST(f.wait(0ms));
    BOOST_TEST(f.is_done());

    // A failed task is done too: wait() does not throw.
    auto failed = pool.submit([] { throw custom_error("x", 1); });
    BOOST_TEST(failed.wait(long_wait));
    BOOST_TEST(failed.wait());
    BOOST_TEST(failed.is_failed());
}

// ---------------------------------------------------------------------------------------------
// cancel

BOOST_AUTO_TEST_CASE_TEMPLATE(cancel_withdraws_a_pending_task, T, value_types)
{
    pal::thread_pool pool(1);
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));

    auto ran = std::make_shared<std::atomic<bool>>(false);
    pal::future<T> f = pool.submit([ran]() -> T {
        ran->store(true);
        return sample<T>::make();
    });
    check_status(f, pal::task_status::pending);
    BOOST_TEST(pool.count_pending_tasks() == 1u);
    BOOST_TEST(!f.cancel_flag());

    // A callback registered before the cancellation fires on the cancelling thread.
    int callback_calls = 0;
    std::thread::id callback_thread;
    bool callback_saw_cancelled = false;
    f.add_callback([&](const pal::future<T>& done) {
        ++callback_calls;
        callback_thread = std::this_thread::get_id();
        callback_saw_cancelled = done.is_cancelled();
    });

    BOOST_TEST(f.cancel());
    // Cancelled at once, while the only worker is still blocked.
    check_status(f, pal::task_status::cancelled);
    BOOST_TEST(blocker.is_running());
    BOOST_TEST(f.cancel_flag());
    BOOST_TEST(pool.count_pending_tasks() == 0u);
    BOOST_TEST(f.wait(0ms));
    BOOST_TEST(callback_calls == 1);
    BOOST_TEST((callback_thread == std::this_thread::get_id()));
    BOOST_TEST(callback_saw_cancelled);
    try
    {
        f.collect();
        BOOST_ERROR("collect() returned for a cancelled task");
    }
    catch (const pal::cancelled_error& e)
    {
        BOOST_TEST(e.code() == boost::system::error_code(net::error::operation_aborted));
        BOOST_TEST(e.code() == net::error::operation_aborted);
    }
    BOOST_CHECK_THROW(f.collect(long_wait), pal::cancelled_error);
    check_result(f, false);
    BOOST_REQUIRE(f.exception());
    BOOST_CHECK_THROW(std::rethrow_exception(f.exception()), pal::cancelled_error);
    BOOST_TEST(f.duration().running.count() == 0);
    BOOST_TEST(f.cancel()); // already cancelled: still true

    // Once the worker is free, the queue drains in order: a later task runs, the withdrawn one
    // never does.
    g.open();
    BOOST_TEST(pool.submit([] { return 5; }).collect(long_wait) == 5);
    BOOST_TEST(blocker.is_completed());
    BOOST_TEST(!ran->load());
    check_status(f, pal::task_status::cancelled);
    BOOST_TEST(callback_calls == 1);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
    // Cancelling through a future is not a shutdown cancellation.
    BOOST_TEST(pool.cancelled_tasks().empty());
}

BOOST_AUTO_TEST_CASE(cancel_of_a_running_task_returns_false_and_sets_the_flag)
{
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    check_status(f, pal::task_status::running);
    BOOST_TEST(!f.cancel_flag());
    BOOST_TEST(!f.cancel());
    BOOST_TEST(f.cancel_flag());
    check_status(f, pal::task_status::running);
    pal::future<int> copy = f;
    BOOST_TEST(copy.cancel_flag());
    g.open();
    BOOST_TEST(f.collect(long_wait) == 42);
    check_status(f, pal::task_status::completed);
    BOOST_TEST(f.cancel_flag());
}

BOOST_AUTO_TEST_CASE(cancel_of_a_finished_task_returns_false)
{
    pal::thread_pool pool(2);
    auto done = pool.submit([] { return 1; });
    BOOST_TEST(done.collect(long_wait) == 1);
    BOOST_TEST(!done.cancel());
    check_status(done, pal::task_status::completed);
    BOOST_TEST(done.collect() == 1);
    BOOST_TEST(done.cancel_flag()); // cancel was asked, though it changed nothing

    auto failed = pool.submit([]() -> int { throw custom_error("failed", 2); });
    BOOST_TEST(failed.wait(long_wait));
    BOOST_TEST(!failed.cancel());
    check_status(failed, pal::task_status::failed);
    BOOST_CHECK_THROW(failed.collect(), custom_error);
}

// ---------------------------------------------------------------------------------------------
// status, ids, result(), exception(), copies

BOOST_AUTO_TEST_CASE(status_goes_pending_running_completed)
{
    pal::thread_pool pool(1);
    gate first;
    gate second;
    auto a = pool.submit([d = first.get_door()] { d.pass(); });
    BOOST_REQUIRE(first.wait_arrivals(1));
    auto b = pool.submit([d = second.get_door()] {
        d.pass();
        throw custom_error("b fails", 3);
    });
    check_status(a, pal::task_status::running);
    check_status(b, pal::task_status::pending);
    first.open();
    BOOST_REQUIRE(second.wait_arrivals(1));
    BOOST_TEST(a.wait(long_wait));
    check_status(a, pal::task_status::completed);
    check_status(b, pal::task_status::running);
    second.open();
    BOOST_TEST(b.wait(long_wait));
    check_status(b, pal::task_status::failed);
}

BOOST_AUTO_TEST_CASE(task_ids_are_unique_and_nonzero)
{
    pal::thread_pool pool(2);
    pal::thread_pool other(1);
    std::vector<pal::future<int>> futures;
    for (int i = 0; i < 20; ++i)
        futures.push_back(pool.submit([i] { return i; }));
    for (int i = 0; i < 5; ++i)
        futures.push_back(other.submit([i] { return i; }));
    std::set<pal::task_id_t> ids;
    for (auto& f : futures)
    {
        BOOST_TEST(f.task_id() != 0u);
        ids.insert(f.task_id());
        pal::future<int> copy = f;
        BOOST_TEST(copy.task_id() == f.task_id());
        BOOST_TEST(f.wait(long_wait));
        BOOST_TEST(copy.task_id() == f.task_id()); // stable once done
    }
    BOOST_TEST(ids.size() == futures.size());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(result_and_exception_are_empty_until_done, T, value_types)
{
    pal::thread_pool pool(1);
    gate g;
    pal::future<T> running = pool.submit(gated_sample<T>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    pal::future<T> pending = pool.submit([]() -> T { throw custom_error("late failure", 5); });
    check_result(running, false);
    check_result(pending, false);
    BOOST_TEST(!running.exception());
    BOOST_TEST(!pending.exception());
    g.open();
    BOOST_TEST(running.wait(long_wait));
    BOOST_TEST(pending.wait(long_wait));
    check_result(running, true);
    BOOST_TEST(!running.exception());
    check_result(pending, false);
    BOOST_REQUIRE(pending.exception());
    try
    {
        std::rethrow_exception(pending.exception());
    }
    catch (const custom_error& e)
    {
        BOOST_TEST(std::string(e.what()) == "late failure");
        BOOST_TEST(e.code() == 5);
    }
}

BOOST_AUTO_TEST_CASE(copies_share_one_task)
{
    pal::future<int> empty;
    BOOST_TEST(!empty.valid());
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto other = pool.submit([] { return 1; });
    pal::future<int> copy = f;
    pal::future<int> assigned;
    assigned = copy;
    BOOST_TEST((copy == f));
    BOOST_TEST((assigned == f));
    BOOST_TEST(!(other == f));
    BOOST_TEST(!(empty == f));
    pal::future<int> moved = std::move(assigned);
    BOOST_TEST((moved == f));
    // Cancelling through one copy is seen through the others.
    BOOST_TEST(other.cancel());
    pal::future<int> other_copy = other;
    BOOST_TEST(other_copy.is_cancelled());
    BOOST_TEST(other_copy.cancel_flag());
    g.open();
    BOOST_TEST(copy.collect(long_wait) == 42);
    BOOST_TEST(f.is_completed());
    BOOST_TEST(moved.result().value_or(0) == 42);
    BOOST_TEST(f.task_id() == copy.task_id());
}

// ---------------------------------------------------------------------------------------------
// duration

BOOST_AUTO_TEST_CASE(duration_counts_the_queue_wait_apart_from_the_running_time)
{
    using std::chrono::steady_clock;
    pal::thread_pool pool(1);
    gate first;
    gate second;
    auto blocker = pool.submit([d = first.get_door()] { d.pass(); });
    BOOST_REQUIRE(first.wait_arrivals(1));

    auto before_submit = steady_clock::now();
    auto f = pool.submit([d = second.get_door()] {
        d.pass();
        return 5;
    });
    auto after_submit = steady_clock::now();

    // Pending: the queue wait grows, nothing runs.
    let_time_pass(30ms);
    {
        auto read_at = steady_clock::now();
        auto [pending, running] = f.duration();
        static_assert(std::is_same_v<decltype(pending), std::chrono::nanoseconds>);
        static_assert(std::is_same_v<decltype(running), std::chrono::nanoseconds>);
        BOOST_TEST(running.count() == 0);
        BOOST_TEST(ns(pending) >= ns(read_at - after_submit));
        BOOST_TEST(ns(pending) <= ns(steady_clock::now() - before_submit));
    }

    auto released_first = steady_clock::now();
    first.open();
    BOOST_REQUIRE(second.wait_arrivals(1));
    auto entered = steady_clock::now();
    BOOST_TEST(f.is_running());
    pal::task_duration while_running = f.duration();
    BOOST_TEST(ns(while_running.pending) >= ns(released_first - after_submit));
    BOOST_TEST(ns(while_running.pending) <= ns(entered - before_submit));
    BOOST_TEST(ns(while_running.running) <= ns(steady_clock::now() - released_first));

    // Running: held for at least 50 ms that the test measures.
    let_time_pass(50ms);
    auto released_second = steady_clock::now();
    second.open();
    BOOST_TEST(f.collect(long_wait) == 5);
    auto collected = steady_clock::now();

    auto [pending, running] = f.duration();
    // The queue wait does not grow while running, and excludes the running time (asyncpal
    // reports pending + running there, which exceeds this bound by the 50 ms hold).
    BOOST_TEST(ns(pending) == ns(while_running.pending));
    BOOST_TEST(ns(pending) <= ns(entered - before_submit));
    BOOST_TEST(ns(running) >= ns(released_second - entered));
    BOOST_TEST(ns(running) <= ns(collected - released_first));
    // Frozen once done.
    BOOST_TEST(ns(f.duration().pending) == ns(pending));
    BOOST_TEST(ns(f.duration().running) == ns(running));
    // The blocker never waited behind anything: its own running time covers the first hold.
    BOOST_TEST(blocker.wait(long_wait));
    BOOST_TEST(ns(blocker.duration().running) >= ns(released_first - after_submit));
}

BOOST_AUTO_TEST_CASE(duration_of_a_cancelled_task_has_no_running_time)
{
    using std::chrono::steady_clock;
    pal::thread_pool pool(1);
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto before_submit = steady_clock::now();
    auto f = pool.submit([] { return 1; });
    auto after_submit = steady_clock::now();
    let_time_pass(20ms);
    auto before_cancel = steady_clock::now();
    BOOST_TEST(f.cancel());
    auto after_cancel = steady_clock::now();
    auto [pending, running] = f.duration();
    BOOST_TEST(running.count() == 0);
    BOOST_TEST(ns(pending) >= ns(before_cancel - after_submit));
    BOOST_TEST(ns(pending) <= ns(after_cancel - before_submit));
    let_time_pass(5ms);
    BOOST_TEST(ns(f.duration().pending) == ns(pending)); // frozen
    BOOST_TEST(f.duration().running.count() == 0);
}

// ---------------------------------------------------------------------------------------------
// callbacks

BOOST_AUTO_TEST_CASE_TEMPLATE(callbacks_added_before_completion_fire_once, T, value_types)
{
    pal::thread_pool pool(1);
    gate g;
    std::thread::id task_thread;
    pal::future<T> f = pool.submit([&task_thread, d = g.get_door()]() -> T {
        d.pass();
        task_thread = std::this_thread::get_id();
        return sample<T>::make();
    });
    BOOST_REQUIRE(g.wait_arrivals(1));

    struct record
    {
        int calls = 0;
        std::thread::id thread;
        bool same_future = false;
        bool done = false;
        bool value_ok = false;
    };
    record with_future;
    record without_args;
    std::promise<void> fired_with_future;
    std::promise<void> fired_without_args;
    auto id1 = f.add_callback([&](const pal::future<T>& done) {
        ++with_future.calls;
        with_future.thread = std::this_thread::get_id();
        with_future.same_future = done == f;
        with_future.done = done.is_completed();
        if constexpr (std::is_void_v<T>)
            with_future.value_ok = done.result();
        else
            with_future.value_ok = done.result() == std::optional<T>(sample<T>::make());
        fired_with_future.set_value();
    });
    auto id2 = f.add_callback([&] {
        ++without_args.calls;
        without_args.thread = std::this_thread::get_id();
        fired_without_args.set_value();
    });
    BOOST_TEST(id1 != id2);
    BOOST_TEST(with_future.calls == 0);
    BOOST_TEST(without_args.calls == 0);

    g.open();
    BOOST_REQUIRE(fired_with_future.get_future().wait_for(long_wait) == std::future_status::ready);
    BOOST_REQUIRE(fired_without_args.get_future().wait_for(long_wait) == std::future_status::ready);
    check_collect(f);
    BOOST_TEST(pool.join(long_wait)); // nothing else can run a callback after this
    BOOST_TEST(with_future.calls == 1);
    BOOST_TEST(without_args.calls == 1);
    BOOST_TEST(with_future.same_future);
    BOOST_TEST(with_future.done);
    BOOST_TEST(with_future.value_ok);
    // On the completing thread, the worker that ran the task.
    BOOST_TEST((with_future.thread == task_thread));
    BOOST_TEST((without_args.thread == task_thread));
    BOOST_TEST((task_thread != std::this_thread::get_id()));
    BOOST_TEST(!f.remove_callback(id1)); // already fired
    BOOST_TEST(!f.remove_callback(id2));
}

BOOST_AUTO_TEST_CASE(callbacks_fire_for_failed_tasks)
{
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit([d = g.get_door()]() -> int {
        d.pass();
        throw custom_error("failed for the callback", 9);
    });
    BOOST_REQUIRE(g.wait_arrivals(1));
    std::promise<std::exception_ptr> seen;
    f.add_callback([&](const pal::future<int>& done) { seen.set_value(done.exception()); });
    g.open();
    auto sf = seen.get_future();
    BOOST_REQUIRE(sf.wait_for(long_wait) == std::future_status::ready);
    auto e = sf.get();
    BOOST_REQUIRE(e);
    BOOST_CHECK_THROW(std::rethrow_exception(e), custom_error);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(callbacks_added_after_completion_run_before_add_returns, T,
                              value_types)
{
    pal::thread_pool pool(1);
    pal::future<T> f = pool.submit([] { return sample<T>::make(); });
    BOOST_REQUIRE(f.wait(long_wait));
    int calls = 0;
    std::thread::id thread;
    bool same = false;
    f.add_callback([&](const pal::future<T>& done) {
        ++calls;
        thread = std::this_thread::get_id();
        same = done == f;
    });
    BOOST_TEST(calls == 1);
    BOOST_TEST((thread == std::this_thread::get_id()));
    BOOST_TEST(same);
    int no_arg_calls = 0;
    auto id = f.add_callback([&] { ++no_arg_calls; });
    BOOST_TEST(no_arg_calls == 1);
    BOOST_TEST(!f.remove_callback(id));
    BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(remove_callback_before_completion_prevents_it)
{
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    std::atomic<int> removed_calls{0};
    std::promise<void> kept_fired;
    auto removed = f.add_callback([&] { ++removed_calls; });
    auto kept = f.add_callback([&] { kept_fired.set_value(); });
    BOOST_TEST(removed != kept);
    BOOST_TEST(f.remove_callback(removed));
    BOOST_TEST(!f.remove_callback(removed));               // only once
    BOOST_TEST(!f.remove_callback(kept + removed + 1000)); // never issued
    g.open();
    BOOST_REQUIRE(kept_fired.get_future().wait_for(long_wait) == std::future_status::ready);
    BOOST_TEST(!f.remove_callback(kept)); // fired
    BOOST_TEST(pool.join(long_wait));
    BOOST_TEST(removed_calls.load() == 0);
}

BOOST_AUTO_TEST_CASE(callback_exception_goes_to_on_task_exception_not_the_worker)
{
    exception_sink sink;
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .on_task_exception = sink.hook()});
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    f.add_callback([] { throw custom_error("callback failed", 11); });
    std::promise<void> later_fired;
    f.add_callback([&] { later_fired.set_value(); });
    g.open();
    BOOST_TEST(f.collect(long_wait) == 42); // the task's outcome is untouched
    BOOST_REQUIRE(sink.first.get_future().wait_for(long_wait) == std::future_status::ready);
    // The callback after the throwing one still ran, and the worker goes on with more tasks.
    BOOST_REQUIRE(later_fired.get_future().wait_for(long_wait) == std::future_status::ready);
    BOOST_TEST(pool.submit([] { return 3; }).collect(long_wait) == 3);
    BOOST_TEST(f.is_completed());
    BOOST_REQUIRE(sink.count() == 1u);
    try
    {
        std::rethrow_exception(sink.reported.front());
    }
    catch (const custom_error& e)
    {
        BOOST_TEST(std::string(e.what()) == "callback failed");
        BOOST_TEST(e.code() == 11);
    }
    catch (...)
    {
        BOOST_ERROR("on_task_exception received another exception");
    }
}

BOOST_AUTO_TEST_CASE(callback_exception_after_completion_does_not_propagate)
{
    exception_sink sink;
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .on_task_exception = sink.hook()});
    auto f = pool.submit([] { return 1; });
    BOOST_REQUIRE(f.wait(long_wait));
    bool ran = false;
    BOOST_CHECK_NO_THROW(f.add_callback([&] {
        ran = true;
        throw custom_error("inline callback failed", 12);
    }));
    BOOST_TEST(ran);
    // Not on a worker of the pool: reported on stderr, not to the pool's hook.
    BOOST_TEST(sink.count() == 0u);
    BOOST_TEST(f.collect() == 1);
}

// ---------------------------------------------------------------------------------------------
// async_collect / async_wait: completion tokens

BOOST_AUTO_TEST_CASE_TEMPLATE(async_collect_use_awaitable_resumes_on_the_io_context, T, value_types)
{
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    pal::future<T> f = pool.submit(gated_sample<T>(g));
    const auto io_thread = std::this_thread::get_id();
    outcome<T> got;
    bool on_io_executor = false;
    std::thread::id resumed_on;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        if constexpr (std::is_void_v<T>)
        {
            co_await f.async_collect(net::use_awaitable);
            got.set();
        }
        else
        {
            got.set(co_await f.async_collect(net::use_awaitable));
        }
        resumed_on = std::this_thread::get_id();
        on_io_executor = io.get_executor().running_in_this_thread();
    });
    io.poll(); // the coroutine is now suspended in async_collect
    BOOST_TEST(!s->done);
    g.open();
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(got.matches());
    BOOST_TEST((resumed_on == io_thread));
    BOOST_TEST(on_io_executor);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(async_collect_use_awaitable_rethrows, T, value_types)
{
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    pal::future<T> f = pool.submit([d = g.get_door()]() -> T {
        d.pass();
        throw custom_error("awaited failure", 21);
    });
    bool caught = false;
    std::string message;
    int code = 0;
    bool on_io_executor = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        try
        {
            co_await f.async_collect(net::use_awaitable);
        }
        catch (const custom_error& e)
        {
            caught = true;
            message = e.what();
            code = e.code();
            on_io_executor = io.get_executor().running_in_this_thread();
        }
    });
    io.poll();
    BOOST_TEST(!s->done);
    g.open();
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(caught);
    BOOST_TEST(message == "awaited failure");
    BOOST_TEST(code == 21);
    BOOST_TEST(on_io_executor);
}

BOOST_AUTO_TEST_CASE(async_collect_of_a_cancelled_task_gives_cancelled_error)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto f = pool.submit([] { return 1; });
    bool caught = false;
    boost::system::error_code code;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        try
        {
            co_await f.async_collect(net::use_awaitable);
        }
        catch (const pal::cancelled_error& e)
        {
            caught = true;
            code = e.code();
        }
    });
    io.poll();
    BOOST_TEST(!s->done);
    BOOST_TEST(f.cancel());
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(caught);
    BOOST_TEST(code == net::error::operation_aborted);
}

BOOST_AUTO_TEST_CASE(async_wait_use_awaitable_completes_whatever_the_outcome)
{
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    auto good = pool.submit(gated_sample<int>(g));
    auto bad = pool.submit([d = g.get_door()] {
        d.pass();
        throw custom_error("bad", 1);
    });
    int waits = 0;
    boost::system::error_code tuple_ec = net::error::fault;
    bool on_io_executor = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        co_await good.async_wait(net::use_awaitable);
        ++waits;
        co_await bad.async_wait(net::use_awaitable); // no exception: the wait succeeded
        ++waits;
        auto [ec] = co_await bad.async_wait(net::as_tuple(net::use_awaitable));
        tuple_ec = ec;
        on_io_executor = io.get_executor().running_in_this_thread();
    });
    io.poll();
    BOOST_TEST(!s->done);
    BOOST_TEST(waits == 0);
    g.open();
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(waits == 2);
    BOOST_TEST(!tuple_ec);
    BOOST_TEST(on_io_executor);
    BOOST_TEST(good.is_completed());
    BOOST_TEST(bad.is_failed());
}

BOOST_AUTO_TEST_CASE(async_collect_and_async_wait_with_deferred)
{
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    auto v = pool.submit([d = g.get_door()] { d.pass(); });
    int awaited = 0;
    bool void_awaited = false;
    bool waited = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        auto op = f.async_collect(net::deferred);
        awaited = co_await std::move(op)(net::use_awaitable);
        auto vop = v.async_collect(net::deferred);
        co_await std::move(vop)(net::use_awaitable);
        void_awaited = true;
        co_await f.async_wait(net::deferred);
        waited = true;
    });

    // A deferred operation completed with a callback.
    std::optional<int> called_back;
    std::exception_ptr called_back_error;
    auto cb_op = f.async_collect(net::deferred);
    std::move(cb_op)(net::bind_executor(io, [&](std::exception_ptr e, int value) {
        called_back_error = e;
        called_back = value;
    }));
    boost::system::error_code wait_ec = net::error::fault;
    bool wait_called = false;
    f.async_wait(net::deferred)(net::bind_executor(io, [&](boost::system::error_code ec) {
        wait_called = true;
        wait_ec = ec;
    }));

    io.poll();
    BOOST_TEST(!s->done);
    BOOST_TEST(!called_back.has_value());
    BOOST_TEST(!wait_called);
    g.open();
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(awaited == 42);
    BOOST_TEST(void_awaited);
    BOOST_TEST(waited);
    BOOST_TEST(!called_back_error);
    BOOST_TEST(called_back.value_or(0) == 42);
    BOOST_TEST(wait_called);
    BOOST_TEST(!wait_ec);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(async_collect_use_future, T, value_types)
{
    pal::thread_pool pool(1);
    gate g;
    pal::future<T> f = pool.submit(gated_sample<T>(g));
    auto sf = f.async_collect(net::use_future);
    BOOST_TEST((sf.wait_for(0ms) == std::future_status::timeout));
    g.open();
    BOOST_REQUIRE(sf.wait_for(long_wait) == std::future_status::ready);
    if constexpr (std::is_void_v<T>)
    {
        static_assert(std::is_same_v<decltype(sf), std::future<void>>);
        sf.get();
    }
    else if constexpr (std::is_default_constructible_v<T>)
    {
        static_assert(std::is_same_v<decltype(sf), std::future<T>>);
        BOOST_TEST(sf.get() == sample<T>::make());
    }
    else
    {
        static_assert(std::is_same_v<decltype(sf), std::future<std::optional<T>>>);
        auto v = sf.get();
        BOOST_REQUIRE(v.has_value());
        BOOST_TEST(*v == sample<T>::make());
    }

    // The failure path: the std::future rethrows the task's exception.
    pal::future<T> bad = pool.submit([]() -> T { throw custom_error("future failure", 4); });
    auto bf = bad.async_collect(net::use_future);
    BOOST_REQUIRE(bf.wait_for(long_wait) == std::future_status::ready);
    try
    {
        bf.get();
        BOOST_ERROR("no exception");
    }
    catch (const custom_error& e)
    {
        BOOST_TEST(std::string(e.what()) == "future failure");
    }

    // async_wait gives a std::future<void> that does not throw for a failed task.
    auto wf = bad.async_wait(net::use_future);
    static_assert(std::is_same_v<decltype(wf), std::future<void>>);
    BOOST_REQUIRE(wf.wait_for(long_wait) == std::future_status::ready);
    BOOST_CHECK_NO_THROW(wf.get());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(async_collect_as_tuple, T, value_types)
{
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    pal::future<T> good = pool.submit(gated_sample<T>(g));
    pal::future<T> bad = pool.submit([d = g.get_door()]() -> T {
        d.pass();
        throw custom_error("tuple failure", 6);
    });
    std::exception_ptr good_error = std::make_exception_ptr(1);
    std::exception_ptr bad_error;
    outcome<T> got;
    bool bad_value_empty = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        if constexpr (std::is_void_v<T>)
        {
            auto [e] = co_await good.async_collect(net::as_tuple(net::use_awaitable));
            good_error = e;
            got.set();
            auto [be] = co_await bad.async_collect(net::as_tuple(net::use_awaitable));
            bad_error = be;
            bad_value_empty = true;
        }
        else
        {
            auto [e, v] = co_await good.async_collect(net::as_tuple(net::use_awaitable));
            good_error = e;
            got.set(std::move(v));
            auto [be, bv] = co_await bad.async_collect(net::as_tuple(net::use_awaitable));
            bad_error = be;
            if constexpr (std::is_default_constructible_v<T>)
                bad_value_empty = bv == T();
            else
                bad_value_empty = !bv.has_value();
        }
    });
    io.poll();
    BOOST_TEST(!s->done);
    g.open();
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(!good_error);
    BOOST_TEST(got.matches());
    BOOST_REQUIRE(bad_error);
    BOOST_CHECK_THROW(std::rethrow_exception(bad_error), custom_error);
    BOOST_TEST(bad_value_empty);
}

BOOST_AUTO_TEST_CASE(async_collect_and_async_wait_with_plain_callbacks)
{
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    auto v = pool.submit([d = g.get_door()] { d.pass(); });
    std::promise<std::pair<std::exception_ptr, int>> collected;
    std::promise<std::exception_ptr> void_collected;
    std::promise<boost::system::error_code> waited;
    f.async_collect([&](std::exception_ptr e, int value) { collected.set_value({e, value}); });
    v.async_collect([&](std::exception_ptr e) { void_collected.set_value(e); });
    f.async_wait([&](boost::system::error_code ec) { waited.set_value(ec); });
    auto cf = collected.get_future();
    auto vf = void_collected.get_future();
    auto wf = waited.get_future();
    BOOST_TEST((cf.wait_for(0ms) == std::future_status::timeout));
    g.open();
    BOOST_REQUIRE(cf.wait_for(long_wait) == std::future_status::ready);
    BOOST_REQUIRE(vf.wait_for(long_wait) == std::future_status::ready);
    BOOST_REQUIRE(wf.wait_for(long_wait) == std::future_status::ready);
    auto [e, value] = cf.get();
    BOOST_TEST(!e);
    BOOST_TEST(value == 42);
    BOOST_TEST(!vf.get());
    BOOST_TEST(!wf.get());
}

BOOST_AUTO_TEST_CASE(bind_executor_completes_on_that_executor)
{
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    auto strand = net::make_strand(io);
    const auto io_thread = std::this_thread::get_id();
    bool strand_called = false;
    bool in_strand = false;
    std::thread::id strand_thread;
    int strand_value = 0;
    f.async_collect(net::bind_executor(strand, [&](std::exception_ptr e, int value) {
        strand_called = !e;
        in_strand = strand.running_in_this_thread();
        strand_thread = std::this_thread::get_id();
        strand_value = value;
    }));
    bool io_called = false;
    bool in_io = false;
    f.async_wait(net::bind_executor(io.get_executor(), [&](boost::system::error_code ec) {
        io_called = !ec;
        in_io = io.get_executor().running_in_this_thread();
    }));
    io.poll(); // returns at once: nothing is ready, yet the waits keep the io_context busy
    BOOST_TEST(!strand_called);
    BOOST_TEST(!io_called);
    g.open();
    io.run_for(long_wait);
    BOOST_TEST(strand_called);
    BOOST_TEST(in_strand);
    BOOST_TEST((strand_thread == io_thread));
    BOOST_TEST(strand_value == 42);
    BOOST_TEST(io_called);
    BOOST_TEST(in_io);
}

BOOST_AUTO_TEST_CASE(a_pending_async_wait_keeps_io_context_run_going)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    std::jthread opener; // joined before the gate goes
    auto f = pool.submit(gated_sample<int>(g));
    bool called = false;
    boost::system::error_code got = net::error::fault;
    f.async_wait(net::bind_executor(io, [&](boost::system::error_code ec) {
        called = true;
        got = ec;
    }));
    // The gate opens only once run() has run out of ready handlers: without the wait's work
    // count, run() would return there.
    std::promise<void> io_running;
    net::post(io, [&] { io_running.set_value(); });
    opener = std::jthread([&] {
        if (io_running.get_future().wait_for(long_wait) == std::future_status::ready)
            g.open();
    });
    io.run_for(long_wait); // no work guard: returns when the handler has run (or after 30 s)
    BOOST_TEST(called);
    BOOST_TEST(!got);
    BOOST_TEST(f.is_completed());
}

BOOST_AUTO_TEST_CASE(completion_for_an_already_done_future_is_never_inside_the_call)
{
    net::io_context io;
    pal::thread_pool pool(1);
    auto f = pool.submit([] { return 3; });
    BOOST_REQUIRE(f.wait(long_wait));

    bool collect_called = false;
    int collected = 0;
    f.async_collect(net::bind_executor(io, [&](std::exception_ptr, int v) {
        collect_called = true;
        collected = v;
    }));
    BOOST_TEST(!collect_called);
    bool wait_called = false;
    f.async_wait(net::bind_executor(io, [&](boost::system::error_code) { wait_called = true; }));
    BOOST_TEST(!wait_called);

    // A plain callback (system executor) runs elsewhere, not inside async_wait().
    std::promise<std::thread::id> plain;
    f.async_wait([&](boost::system::error_code) { plain.set_value(std::this_thread::get_id()); });
    auto pf = plain.get_future();
    BOOST_REQUIRE(pf.wait_for(long_wait) == std::future_status::ready);
    BOOST_TEST((pf.get() != std::this_thread::get_id()));

    // A coroutine awaiting a done future resumes through its io_context.
    int awaited = 0;
    bool on_io_executor = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        awaited = co_await f.async_collect(net::use_awaitable);
        on_io_executor = io.get_executor().running_in_this_thread();
    });
    io.run_for(long_wait);
    BOOST_TEST(collect_called);
    BOOST_TEST(collected == 3);
    BOOST_TEST(wait_called);
    check_spawned(*s);
    BOOST_TEST(awaited == 3);
    BOOST_TEST(on_io_executor);
}

// ---------------------------------------------------------------------------------------------
// async_collect / async_wait: cancellation

BOOST_AUTO_TEST_CASE(awaitable_or_returns_the_timer_while_the_task_is_blocked)
{
    using namespace net::experimental::awaitable_operators;
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    auto v = pool.submit([d = g.get_door()] { d.pass(); });
    std::size_t collect_index = 99;
    std::size_t void_index = 99;
    std::size_t wait_index = 99;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        net::steady_timer timer(co_await net::this_coro::executor);
        timer.expires_after(10ms);
        auto r1 =
            co_await (f.async_collect(net::use_awaitable) || timer.async_wait(net::use_awaitable));
        collect_index = r1.index();
        timer.expires_after(10ms);
        auto r2 =
            co_await (v.async_collect(net::use_awaitable) || timer.async_wait(net::use_awaitable));
        void_index = r2.index();
        timer.expires_after(10ms);
        auto r3 =
            co_await (f.async_wait(net::use_awaitable) || timer.async_wait(net::use_awaitable));
        wait_index = r3.index();
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(collect_index == 1u);
    BOOST_TEST(void_index == 1u);
    BOOST_TEST(wait_index == 1u);
    // The waits were cancelled, not the tasks.
    BOOST_REQUIRE(g.wait_arrivals(2));
    BOOST_TEST(f.is_running());
    BOOST_TEST(v.is_running());
    BOOST_TEST(!f.cancel_flag());
    BOOST_TEST(!v.cancel_flag());
    g.open();
    BOOST_TEST(f.collect(long_wait) == 42);
    BOOST_TEST(v.wait(long_wait));
    BOOST_TEST(v.is_completed());
}

BOOST_AUTO_TEST_CASE(awaitable_or_returns_the_task_when_it_finishes_first)
{
    using namespace net::experimental::awaitable_operators;
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    std::size_t index = 99;
    int value = 0;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        net::steady_timer timer(co_await net::this_coro::executor, std::chrono::hours(1));
        auto r =
            co_await (f.async_collect(net::use_awaitable) || timer.async_wait(net::use_awaitable));
        index = r.index();
        if (index == 0)
            value = std::get<0>(r);
    });
    io.poll();
    BOOST_TEST(!s->done);
    g.open();
    io.run_for(long_wait); // returns once the timer is cancelled (not after an hour)
    check_spawned(*s);
    BOOST_TEST(index == 0u);
    BOOST_TEST(value == 42);
}

BOOST_AUTO_TEST_CASE(cancellation_signal_ends_an_async_wait_with_operation_aborted)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    for (auto type : {net::cancellation_type::terminal, net::cancellation_type::partial,
                      net::cancellation_type::total})
    {
        BOOST_TEST_CONTEXT("cancellation type " << static_cast<int>(type))
        {
            net::cancellation_signal signal;
            std::optional<boost::system::error_code> got;
            f.async_wait(net::bind_cancellation_slot(
                signal.slot(),
                net::bind_executor(io, [&](boost::system::error_code ec) { got = ec; })));
            io.poll();
            BOOST_TEST(!got.has_value());
            signal.emit(type);
            BOOST_TEST(!got.has_value()); // never inside emit()
            io.restart();
            io.run_for(long_wait);
            BOOST_REQUIRE(got.has_value());
            BOOST_TEST(*got == net::error::operation_aborted);
            BOOST_TEST(f.is_running()); // the task goes on
            BOOST_TEST(!f.cancel_flag());
            io.restart();
        }
    }

    // A plain callback: completed off the emitting thread.
    net::cancellation_signal signal;
    std::promise<std::pair<boost::system::error_code, std::thread::id>> plain;
    f.async_wait(net::bind_cancellation_slot(signal.slot(), [&](boost::system::error_code ec) {
        plain.set_value({ec, std::this_thread::get_id()});
    }));
    signal.emit(net::cancellation_type::terminal);
    auto pf = plain.get_future();
    BOOST_REQUIRE(pf.wait_for(long_wait) == std::future_status::ready);
    auto [ec, thread] = pf.get();
    BOOST_TEST(ec == net::error::operation_aborted);
    BOOST_TEST((thread != std::this_thread::get_id()));

    // A wait that completed before the signal is emitted is not disturbed by it.
    net::cancellation_signal late;
    std::optional<boost::system::error_code> got;
    f.async_wait(net::bind_cancellation_slot(
        late.slot(), net::bind_executor(io, [&](boost::system::error_code e) { got = e; })));
    g.open();
    BOOST_TEST(f.wait(long_wait));
    io.restart();
    io.run_for(long_wait);
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(!*got);
    late.emit(net::cancellation_type::terminal); // no handler left: nothing happens
    io.restart();
    io.poll();
    BOOST_TEST(!*got);
    BOOST_TEST(f.collect() == 42);
}

BOOST_AUTO_TEST_CASE(cancellation_signal_ends_an_async_collect_with_system_error)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit(gated_sample<int>(g));
    BOOST_REQUIRE(g.wait_arrivals(1));
    net::cancellation_signal signal;
    bool called = false;
    std::exception_ptr error;
    int value = -1;
    f.async_collect(net::bind_cancellation_slot(
        signal.slot(), net::bind_executor(io, [&](std::exception_ptr e, int v) {
            called = true;
            error = e;
            value = v;
        })));
    io.poll();
    BOOST_TEST(!called);
    signal.emit(net::cancellation_type::terminal);
    BOOST_TEST(!called);
    io.restart();
    io.run_for(long_wait);
    BOOST_REQUIRE(called);
    BOOST_TEST(value == 0);
    BOOST_REQUIRE(error);
    try
    {
        std::rethrow_exception(error);
    }
    catch (const boost::system::system_error& e)
    {
        BOOST_TEST(e.code() == net::error::operation_aborted);
        // The wait was cancelled, not the task.
        BOOST_TEST(dynamic_cast<const pal::cancelled_error*>(&e) == nullptr);
    }
    catch (...)
    {
        BOOST_ERROR("not a system_error");
    }
    BOOST_TEST(f.is_running());

    // The same future can be awaited again and completes normally.
    bool again = false;
    int again_value = 0;
    f.async_collect(net::bind_executor(io, [&](std::exception_ptr e, int v) {
        again = !e;
        again_value = v;
    }));
    g.open();
    io.restart();
    io.run_for(long_wait);
    BOOST_TEST(again);
    BOOST_TEST(again_value == 42);
}

BOOST_AUTO_TEST_CASE(pool_shutdown_completes_a_pending_async_collect_with_cancelled_error)
{
    net::io_context io;
    pal::thread_pool pool(1);
    std::jthread closer;
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto f = pool.submit([] { return 1; });
    bool called = false;
    std::exception_ptr error;
    f.async_collect(net::bind_executor(io, [&](std::exception_ptr e, int) {
        called = true;
        error = e;
    }));
    bool void_called = false;
    std::exception_ptr void_error;
    auto v = pool.submit([] {});
    v.async_collect(net::bind_executor(io, [&](std::exception_ptr e) {
        void_called = true;
        void_error = e;
    }));
    // shutdown() cancels the queue at once, then waits for the blocked task.
    closer = std::jthread([&] { pool.shutdown(); });
    BOOST_REQUIRE(f.wait(long_wait));
    BOOST_REQUIRE(v.wait(long_wait));
    BOOST_TEST(f.is_cancelled());
    BOOST_TEST(v.is_cancelled());
    g.open();
    closer.join();
    BOOST_TEST(blocker.is_completed());
    io.run_for(long_wait);
    BOOST_REQUIRE(called);
    BOOST_REQUIRE(void_called);
    BOOST_CHECK_THROW(std::rethrow_exception(error), pal::cancelled_error);
    BOOST_CHECK_THROW(std::rethrow_exception(void_error), pal::cancelled_error);
    auto ids = pool.cancelled_tasks();
    BOOST_TEST((std::find(ids.begin(), ids.end(), f.task_id()) != ids.end()));
    BOOST_TEST((std::find(ids.begin(), ids.end(), v.task_id()) != ids.end()));
}

// ---------------------------------------------------------------------------------------------
// Completions triggered by a cancel(), values whose copy throws, futures outliving their pool

BOOST_AUTO_TEST_CASE(a_cancel_never_completes_an_async_collect_inside_the_call)
{
    // The canceller runs on the waiter's own executor (as the cancellation handler of a
    // co_await (op || timer) does): a completion dispatched from inside cancel() would run the
    // handler, and destroy its operation, while cancel() still used it.
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto blocker = pool.submit([d = g.get_door()] { d.pass(); });
    BOOST_REQUIRE(g.wait_arrivals(1));
    auto f = pool.submit([] { return 1; });
    bool called = false;
    bool called_inside_cancel = false;
    std::exception_ptr error;
    net::post(io, [&] {
        f.async_collect(net::bind_executor(io, [&](std::exception_ptr e, int) {
            called = true;
            error = e;
        }));
        BOOST_TEST(f.cancel());
        called_inside_cancel = called;
    });
    io.run_for(long_wait);
    g.open();
    BOOST_TEST(!called_inside_cancel);
    BOOST_REQUIRE(called);
    BOOST_CHECK_THROW(std::rethrow_exception(error), pal::cancelled_error);
}

namespace {

/// A value whose copy throws while `armed` (as a large vector's copy throws bad_alloc); moves
/// never throw, so a task can return it.
struct throwing_copy
{
    static inline std::atomic<bool> armed{false};
    int value = 0;
    throwing_copy() = default;
    explicit throwing_copy(int v) : value(v) {}
    throwing_copy(const throwing_copy& o) : value(o.value)
    {
        if (armed)
            throw std::length_error("throwing_copy: copy refused");
    }
    throwing_copy(throwing_copy&&) noexcept = default;
    throwing_copy& operator=(const throwing_copy&) = default;
    throwing_copy& operator=(throwing_copy&&) noexcept = default;
};

/// Disarms throwing_copy however the test ends.
struct arm_throwing_copy
{
    arm_throwing_copy() { throwing_copy::armed = true; }
    ~arm_throwing_copy() { throwing_copy::armed = false; }
};

} // namespace

BOOST_AUTO_TEST_CASE(async_collect_hands_a_throwing_copy_to_the_handler)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto f = pool.submit([d = g.get_door()] {
        d.pass();
        return throwing_copy(5);
    });
    BOOST_REQUIRE(g.wait_arrivals(1));
    arm_throwing_copy armed;
    std::exception_ptr pending_error;
    bool pending_called = false;
    // Waiting when the value arrives (delivered by the worker) ...
    f.async_collect(net::bind_executor(io, [&](std::exception_ptr e, throwing_copy) {
        pending_called = true;
        pending_error = e;
    }));
    g.open();
    BOOST_REQUIRE(f.wait(long_wait));
    // ... and after it arrived (delivered at once, through the io_context).
    std::exception_ptr done_error;
    bool done_called = false;
    f.async_collect(net::bind_executor(io, [&](std::exception_ptr e, throwing_copy) {
        done_called = true;
        done_error = e;
    }));
    io.run_for(long_wait);
    BOOST_REQUIRE(pending_called);
    BOOST_REQUIRE(done_called);
    BOOST_CHECK_THROW(std::rethrow_exception(pending_error), std::length_error);
    BOOST_CHECK_THROW(std::rethrow_exception(done_error), std::length_error);
}

namespace {

/// A bare task owner, to test the pinning that keeps a state from calling into a gone pool.
class test_owner final : public pal::detail::task_owner
{
public:
    void on_withdrawn() noexcept override {}
    void on_claimed_inline() noexcept override {}
    void report_exception(std::exception_ptr) noexcept override {}
    void retire() noexcept { retire_owner(); }
};

} // namespace

BOOST_AUTO_TEST_CASE(an_owner_can_be_pinned_only_while_it_is_live)
{
    auto a = std::make_unique<test_owner>();
    auto b = std::make_unique<test_owner>();
    BOOST_TEST(a->owner_serial() != b->owner_serial());
    {
        pal::detail::owner_pin pin(a.get(), a->owner_serial());
        BOOST_TEST(static_cast<bool>(pin));
    }
    {
        pal::detail::owner_pin stale(a.get(), b->owner_serial()); // an earlier owner's address
        BOOST_TEST(!static_cast<bool>(stale));
    }
    a->retire();
    pal::detail::owner_pin gone(a.get(), a->owner_serial());
    BOOST_TEST(!static_cast<bool>(gone));
    pal::detail::owner_pin none(nullptr, 0);
    BOOST_TEST(!static_cast<bool>(none));
}

BOOST_AUTO_TEST_CASE(retiring_an_owner_waits_for_the_calls_pinned_on_other_threads)
{
    for (int round = 0; round < 20; ++round)
    {
        test_owner o;
        std::atomic<bool> pinned{false};
        std::atomic<bool> released{false};
        std::jthread caller([&] {
            pal::detail::owner_pin pin(&o, o.owner_serial());
            BOOST_TEST(static_cast<bool>(pin));
            pinned = true;
            // Widens the window in which retire() runs while the pin is held; the check below
            // holds whatever the interleaving.
            let_time_pass(std::chrono::milliseconds(2));
            released = true;
        });
        while (!pinned)
            std::this_thread::yield();
        o.retire();
        BOOST_TEST(released.load());
    }
}

BOOST_AUTO_TEST_CASE(futures_stay_safe_to_use_while_and_after_their_pool_is_destroyed)
{
    // Another thread cancels and waits on a running task while its pool finishes it and is
    // destroyed; under AddressSanitizer any call into the freed pool is reported.
    for (int round = 0; round < 200; ++round)
    {
        auto pool = std::make_unique<pal::thread_pool>(1);
        gate g;
        auto f = pool->submit([d = g.get_door()] {
            d.pass();
            return 1;
        });
        BOOST_REQUIRE(g.wait_arrivals(1));
        std::atomic<bool> pool_gone{false};
        std::jthread user([&, f] {
            int after = 0;
            while (after < 50)
            {
                f.cancel();
                f.wait(std::chrono::nanoseconds(0));
                (void)f.cancel_flag();
                if (pool_gone)
                    ++after;
            }
        });
        g.open();
        pool.reset();
        pool_gone = true;
        user.join();
        BOOST_TEST(f.is_completed());
        BOOST_TEST(f.collect(long_wait) == 1);
        BOOST_TEST(!f.cancel());
    }
}
