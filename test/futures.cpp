// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests of the functions over many futures (asio_pal/futures.hpp): wait, collect and as_done on
// vectors, lists and views, with and without timeouts; collect's input order and first failure;
// as_done's completion order and keep_order; the awaitable forms async_wait_all,
// async_collect_all and as_done(...).async_next with values, failures and cancellation. Also
// split_map_task and split_starmap_task (asio_pal/map.hpp), which cut a map into callables.
//
// Completion order is controlled by gates the test opens, never by timing; every wait a bug
// could make endless is bounded (30 s).

#include "asio_pal/futures.hpp"

#define BOOST_TEST_MODULE futures
#include <boost/test/unit_test.hpp>

#include "asio_pal/detail/completion_queue.hpp"
#include "asio_pal/error.hpp"
#include "asio_pal/future.hpp"
#include "asio_pal/map.hpp"
#include "asio_pal/thread_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

// clang 14 cannot use libstdc++ 12's standard views: every range built on view_interface
// (std::views::filter, iota...) fails std::ranges::range there. With it, the tests use
// hand-written ranges of the same kinds (unsized, infinite) where g++ uses the standard views.
#if defined(__clang__) && __clang_major__ < 15 && defined(__GLIBCXX__)
#define ASIO_PAL_TEST_STD_VIEWS 0
#else
#define ASIO_PAL_TEST_STD_VIEWS 1
#endif

namespace net = boost::asio;
namespace pal = asio_pal;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

/// How long a test waits for something a correct library does at once.
constexpr auto long_wait = std::chrono::seconds(30);
/// The longest a task waits at a gate: a safety net for a broken test.
constexpr auto safety_net = std::chrono::seconds(60);

/// A gate with a level: a task passes once the level reaches what it needs. Declare it after
/// the pool: its destructor opens it, so a failed test never leaves a task stuck at shutdown.
class gate
{
    struct state
    {
        std::mutex mutex;
        std::condition_variable changed;
        long level = 0;
        std::size_t arrivals = 0;
    };

public:
    class door
    {
    public:
        explicit door(std::shared_ptr<state> s) : s_(std::move(s)) {}

        /// Waits until the level is at least `needed`; true when reached.
        bool pass(long needed = 1) const
        {
            std::unique_lock<std::mutex> lock(s_->mutex);
            ++s_->arrivals;
            s_->changed.notify_all();
            return s_->changed.wait_for(lock, safety_net, [&] { return s_->level >= needed; });
        }

    private:
        std::shared_ptr<state> s_;
    };

    gate() = default;
    gate(const gate&) = delete;
    gate& operator=(const gate&) = delete;
    ~gate() { open(); }

    door get_door() const { return door(s_); }

    void raise(long level) const
    {
        std::lock_guard<std::mutex> lock(s_->mutex);
        s_->level = std::max(s_->level, level);
        s_->changed.notify_all();
    }

    void open() const { raise(std::numeric_limits<long>::max()); }

    bool wait_arrivals(std::size_t n) const
    {
        std::unique_lock<std::mutex> lock(s_->mutex);
        return s_->changed.wait_for(lock, long_wait, [&] { return s_->arrivals >= n; });
    }

private:
    std::shared_ptr<state> s_ = std::make_shared<state>();
};

/// Submits `n` tasks returning their index; task i waits until the gate's level reaches
/// `level_of(i)` (0: not at all).
template <typename LevelOf>
std::vector<pal::future<int>> submit_gated(pal::thread_pool& pool, const gate& g, int n,
                                           LevelOf level_of)
{
    std::vector<pal::future<int>> fs;
    for (int i = 0; i < n; ++i)
    {
        long level = level_of(i);
        fs.push_back(pool.submit([d = g.get_door(), i, level] {
            if (level > 0 && !d.pass(level))
                return -1;
            return i;
        }));
    }
    return fs;
}

/// Waits for each future, bounded; true when all are done.
template <typename Futures>
bool all_done(const Futures& fs)
{
    for (const auto& f : fs)
        if (!f.wait(long_wait))
            return false;
    return true;
}

/// The index of `f` in `fs`; -1 when absent.
int index_of(const std::vector<pal::future<int>>& fs, const pal::future<int>& f)
{
    for (std::size_t i = 0; i < fs.size(); ++i)
        if (fs[i] == f)
            return static_cast<int>(i);
    return -1;
}

/// The futures of a vector that satisfy a predicate: an unsized input range of a user-defined
/// type (what `fs | std::views::filter(pred)` is).
template <typename Pred>
class selection
{
public:
    class iterator
    {
    public:
        using value_type = pal::future<int>;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() = default;
        iterator(selection* s, std::size_t i) : s_(s), i_(i) { skip(); }
        pal::future<int>& operator*() const { return (*s_->fs_)[i_]; }
        iterator& operator++()
        {
            ++i_;
            skip();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept
        {
            return it.i_ >= it.s_->fs_->size();
        }

    private:
        void skip()
        {
            while (i_ < s_->fs_->size() && !s_->pred_((*s_->fs_)[i_]))
                ++i_;
        }
        selection* s_ = nullptr;
        std::size_t i_ = 0;
    };

    selection(std::vector<pal::future<int>>& fs, Pred pred) : fs_(&fs), pred_(std::move(pred)) {}
    iterator begin() { return iterator(this, 0); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    std::vector<pal::future<int>>* fs_;
    Pred pred_;
};

/// `fs | std::views::filter(pred)` (a selection where views are unusable).
template <typename Pred>
auto choose(std::vector<pal::future<int>>& fs, Pred pred)
{
#if ASIO_PAL_TEST_STD_VIEWS
    return fs | std::views::filter(std::move(pred));
#else
    return selection<Pred>(fs, std::move(pred));
#endif
}

/// A sentinel never reached: the end of an infinite range.
struct unreachable
{
};

/// f(0), f(1), f(2)...: an infinite input range of a user-defined type.
template <typename F>
class generated
{
public:
    class iterator
    {
    public:
        using value_type = std::invoke_result_t<const F&, long>;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() = default;
        iterator(const F* f, long i) : f_(f), i_(i) {}
        value_type operator*() const { return (*f_)(i_); }
        iterator& operator++()
        {
            ++i_;
            return *this;
        }
        void operator++(int) { ++i_; }
        friend bool operator==(const iterator&, unreachable) noexcept { return false; }

    private:
        const F* f_ = nullptr;
        long i_ = 0;
    };

    explicit generated(F f) : f_(std::move(f)) {}
    iterator begin() const { return iterator(&f_, 0); }
    unreachable end() const noexcept { return {}; }

private:
    F f_;
};

/// 0, 1, 2... as int: std::views::iota(0).
auto naturals()
{
#if ASIO_PAL_TEST_STD_VIEWS
    return std::views::iota(0);
#else
    return generated([](long i) { return static_cast<int>(i); });
#endif
}

/// 0, 1, 2... as long: std::views::iota(0L).
auto naturals_long()
{
#if ASIO_PAL_TEST_STD_VIEWS
    return std::views::iota(0L);
#else
    return generated([](long i) { return i; });
#endif
}

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

void check_spawned(const spawned& s)
{
    BOOST_TEST_REQUIRE(s.done, "the coroutine did not finish within " << long_wait.count()
                                                                       << " s");
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

std::string message_of(const std::exception_ptr& e)
{
    if (!e)
        return {};
    try
    {
        std::rethrow_exception(e);
    }
    catch (const std::exception& x)
    {
        return x.what();
    }
    catch (...)
    {
        return "(not a std::exception)";
    }
}

template <typename E>
bool holds(const std::exception_ptr& e)
{
    if (!e)
        return false;
    try
    {
        std::rethrow_exception(e);
    }
    catch (const E&)
    {
        return true;
    }
    catch (...)
    {
        return false;
    }
}

bool is_operation_aborted(const std::exception_ptr& e)
{
    if (!e)
        return false;
    try
    {
        std::rethrow_exception(e);
    }
    catch (const boost::system::system_error& x)
    {
        return x.code() == net::error::operation_aborted;
    }
    catch (...)
    {
        return false;
    }
}

/// The cancellation types async operations document, with their names.
const std::pair<net::cancellation_type, const char*> cancellation_types[] = {
    {net::cancellation_type::terminal, "terminal"},
    {net::cancellation_type::partial, "partial"},
    {net::cancellation_type::total, "total"},
};

bool is_odd_index(const std::vector<pal::future<int>>& all, const pal::future<int>& f)
{
    return index_of(all, f) % 2 == 1;
}

} // namespace

// --- wait ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(wait_on_a_vector_with_and_without_timeout)
{
    pal::thread_pool pool(3);
    gate g;
    auto fs = submit_gated(pool, g, 3, [](int i) { return i == 1 ? 1 : 0; });
    BOOST_TEST_REQUIRE(fs[0].wait(long_wait));
    BOOST_TEST_REQUIRE(fs[2].wait(long_wait));
    BOOST_TEST(!pal::wait(fs, 50ms)); // fs[1] waits at the gate
    BOOST_TEST(!pal::wait(fs, 0ms));
    BOOST_TEST(!fs[1].is_done());
    g.open();
    BOOST_TEST(pal::wait(fs, long_wait));
    BOOST_TEST(pal::wait(fs));
    for (auto& f : fs)
        BOOST_TEST(f.is_done());
    const std::vector<pal::future<int>>& cfs = fs;
    BOOST_TEST(pal::wait(cfs, 0ms));

    std::vector<pal::future<int>> none;
    BOOST_TEST(pal::wait(none, 0ms));
    BOOST_TEST(pal::wait(none));
}

BOOST_AUTO_TEST_CASE(wait_on_a_list_and_on_a_filter_view)
{
    pal::thread_pool pool(3);
    gate g;
    auto fs = submit_gated(pool, g, 4, [](int i) { return i == 2 ? 1 : 0; });
    BOOST_TEST_REQUIRE(all_done(std::vector<pal::future<int>>{fs[0], fs[1], fs[3]}));

    std::list<pal::future<int>> list(fs.begin(), fs.end());
    BOOST_TEST(!pal::wait(list, 20ms));

    // The odd ones (1 and 3) are done; a view selecting them has nothing to wait for.
    auto odd = choose(fs, [&fs](const pal::future<int>& f) { return is_odd_index(fs, f); });
    BOOST_TEST(pal::wait(odd, 0ms));
    BOOST_TEST(pal::wait(odd));
    auto even = choose(fs, [&fs](const pal::future<int>& f) { return !is_odd_index(fs, f); });
    BOOST_TEST(!pal::wait(even, 20ms));
    g.open();
    BOOST_TEST(pal::wait(even, long_wait));
    BOOST_TEST(pal::wait(list, long_wait));
    BOOST_TEST(pal::wait(choose(fs, [&fs](const pal::future<int>& f) { return index_of(fs, f) < 2; })));
}

// --- collect ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(collect_returns_values_in_input_order)
{
    pal::thread_pool pool(4);
    gate g;
    // Task 0 finishes last: it waits at the gate until the others are done.
    auto fs = submit_gated(pool, g, 4, [](int i) { return i == 0 ? 1 : 0; });
    BOOST_TEST_REQUIRE(all_done(std::vector<pal::future<int>>{fs[1], fs[2], fs[3]}));
    g.open();
    BOOST_TEST(pal::collect(fs) == (std::vector<int>{0, 1, 2, 3}), boost::test_tools::per_element());
    BOOST_TEST(pal::collect(fs, long_wait) == (std::vector<int>{0, 1, 2, 3}),
               boost::test_tools::per_element());

    std::list<pal::future<int>> list(fs.rbegin(), fs.rend());
    BOOST_TEST(pal::collect(list) == (std::vector<int>{3, 2, 1, 0}), boost::test_tools::per_element());

    auto odd = choose(fs, [&fs](const pal::future<int>& f) { return is_odd_index(fs, f); });
    BOOST_TEST(pal::collect(odd, long_wait) == (std::vector<int>{1, 3}), boost::test_tools::per_element());

    std::vector<pal::future<int>> none;
    BOOST_TEST(pal::collect(none).empty());
    static_assert(std::is_same_v<decltype(pal::collect(none)), std::vector<int>>);
}

BOOST_AUTO_TEST_CASE(collect_with_a_timeout_throws_timeout_error)
{
    pal::thread_pool pool(2);
    gate g;
    auto fs = submit_gated(pool, g, 2, [](int i) { return i == 1 ? 1 : 0; });
    BOOST_CHECK_THROW(pal::collect(fs, 50ms), pal::timeout_error);
    std::list<pal::future<int>> list(fs.begin(), fs.end());
    BOOST_CHECK_THROW(pal::collect(list, 0ms), pal::timeout_error);
    g.open();
    BOOST_TEST(pal::collect(fs, long_wait) == (std::vector<int>{0, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(collect_rethrows_the_first_failure_in_input_order)
{
    // Task 1 fails with "one" after task 2 has failed with "two": input order wins.
    pal::thread_pool pool(3);
    gate g;
    std::vector<pal::future<int>> fs;
    fs.push_back(pool.submit([] { return 0; }));
    fs.push_back(pool.submit([d = g.get_door()]() -> int {
        d.pass();
        throw std::runtime_error("one");
    }));
    fs.push_back(pool.submit([]() -> int { throw std::runtime_error("two"); }));
    BOOST_TEST_REQUIRE(fs[2].wait(long_wait));
    g.open();
    for (bool with_timeout : {false, true})
    {
        BOOST_TEST_CONTEXT("with timeout: " << with_timeout)
        {
            std::string message;
            try
            {
                if (with_timeout)
                    pal::collect(fs, long_wait);
                else
                    pal::collect(fs);
            }
            catch (const std::runtime_error& e)
            {
                message = e.what();
            }
            BOOST_TEST(message == "one");
        }
    }
}

BOOST_AUTO_TEST_CASE(collect_of_a_cancelled_future_throws_cancelled_error)
{
    pal::thread_pool pool(1);
    gate g;
    auto fs = submit_gated(pool, g, 2, [](int) { return 1; }); // task 1 queued behind task 0
    BOOST_TEST_REQUIRE(g.wait_arrivals(1));
    BOOST_TEST_REQUIRE(fs[1].cancel());
    g.open();
    BOOST_CHECK_THROW(pal::collect(fs, long_wait), pal::cancelled_error);
}

BOOST_AUTO_TEST_CASE(collect_of_void_futures)
{
    pal::thread_pool pool(2);
    std::atomic<int> ran{0};
    std::vector<pal::future<void>> fs;
    for (int i = 0; i < 3; ++i)
        fs.push_back(pool.submit([&ran] { ++ran; }));
    static_assert(std::is_void_v<decltype(pal::collect(fs))>);
    pal::collect(fs, long_wait);
    BOOST_TEST(ran.load() == 3);
    pal::collect(fs);

    fs.push_back(pool.submit([] { throw std::runtime_error("void failed"); }));
    std::string message;
    try
    {
        pal::collect(fs, long_wait);
    }
    catch (const std::runtime_error& e)
    {
        message = e.what();
    }
    BOOST_TEST(message == "void failed");
}

BOOST_AUTO_TEST_CASE(waiting_inside_a_worker_of_the_futures_own_pool_does_not_deadlock)
{
    // DESIGN.md: collecting a task of the same pool from one of its workers must not deadlock
    // when every worker is busy. The single worker runs an outer task that submits two tasks to
    // the same pool and waits for them with each function; the inner tasks are queued behind the
    // waiter. as_done gets a 30 s timeout so that a deadlock turns into a failure.
    const char* names[] = {"collect", "wait", "as_done keep_order", "as_done completion order"};
    for (int which = 0; which < 4; ++which)
    {
        BOOST_TEST_CONTEXT(names[which])
        {
            pal::thread_pool pool(1);
            pal::future<int> outer = pool.submit([&pool, which] {
                std::vector<pal::future<int>> inner{pool.submit([] { return 1; }),
                                                    pool.submit([] { return 2; })};
                int sum = 0;
                if (which == 0)
                    for (int v : pal::collect(inner, long_wait))
                        sum += v;
                else if (which == 1)
                {
                    if (pal::wait(inner, long_wait))
                        sum = inner[0].collect() + inner[1].collect();
                }
                else
                    for (pal::future<int>& f : pal::as_done(inner, which == 2, long_wait))
                        sum += f.collect();
                return sum;
            });
            BOOST_TEST_REQUIRE(outer.wait(long_wait + 30s));
            std::string error = message_of(outer.exception());
            BOOST_TEST(error.empty(), "the outer task failed: " << error);
            if (error.empty())
                BOOST_TEST(outer.collect() == 3);
        }
    }
}

// --- as_done ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(as_done_yields_futures_in_completion_order)
{
    // Task order[k] may finish once the loop has received k futures.
    const std::vector<int> order{2, 0, 3, 1};
    auto rank = [&order](int i) {
        return static_cast<long>(std::find(order.begin(), order.end(), i) - order.begin()) + 1;
    };
    for (int container = 0; container < 3; ++container)
    {
        BOOST_TEST_CONTEXT((container == 0 ? "vector" : container == 1 ? "list" : "view"))
        {
            pal::thread_pool pool(4);
            gate g;
            g.raise(1);
            auto fs = submit_gated(pool, g, 4, rank);
            std::list<pal::future<int>> list(fs.begin(), fs.end());
            auto view = choose(fs, [](const pal::future<int>&) { return true; });
            std::vector<int> got;
            std::vector<int> values;
            auto consume = [&](auto&& range) {
                for (pal::future<int>& f : range)
                {
                    got.push_back(index_of(fs, f));
                    values.push_back(f.collect(long_wait));
                    g.raise(static_cast<long>(got.size()) + 1);
                }
            };
            if (container == 0)
                consume(pal::as_done(fs));
            else if (container == 1)
                consume(pal::as_done(list));
            else
                consume(pal::as_done(view));
            BOOST_TEST(got == order, boost::test_tools::per_element());
            BOOST_TEST(values == order, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(as_done_with_keep_order_yields_input_order)
{
    // The tasks complete in reverse order (each released after the next one is done).
    pal::thread_pool pool(4);
    gate g;
    auto fs = submit_gated(pool, g, 4, [](int i) { return 4 - i; });
    for (long level = 1; level <= 4; ++level)
    {
        g.raise(level);
        BOOST_TEST_REQUIRE(fs[static_cast<std::size_t>(4 - level)].wait(long_wait));
    }
    std::vector<int> got;
    for (pal::future<int>& f : pal::as_done(fs, true))
        got.push_back(index_of(fs, f));
    BOOST_TEST(got == (std::vector<int>{0, 1, 2, 3}), boost::test_tools::per_element());

    std::vector<int> timed;
    for (pal::future<int>& f : pal::as_done(fs, true, long_wait))
        timed.push_back(f.collect());
    BOOST_TEST(timed == (std::vector<int>{0, 1, 2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(as_done_keep_order_waits_for_an_earlier_future)
{
    // keep_order: task 0 (at the gate) comes first although 1 and 2 are done. The gate is opened
    // by another thread once the loop waits; the loop must not yield 1 or 2 before 0.
    pal::thread_pool pool(3);
    gate g;
    auto fs = submit_gated(pool, g, 3, [](int i) { return i == 0 ? 1 : 0; });
    BOOST_TEST_REQUIRE(all_done(std::vector<pal::future<int>>{fs[1], fs[2]}));
    BOOST_TEST_REQUIRE(g.wait_arrivals(1));
    std::thread opener([&g] { g.open(); });
    std::vector<int> got;
    for (pal::future<int>& f : pal::as_done(fs, true, long_wait))
        got.push_back(f.collect());
    opener.join();
    BOOST_TEST(got == (std::vector<int>{0, 1, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(as_done_yields_future_references_and_defaults_to_completion_order)
{
    std::vector<pal::future<int>> fs;
    static_assert(std::is_same_v<decltype(*pal::as_done(fs).begin()), pal::future<int>&>);
    static_assert(std::ranges::input_range<decltype(pal::as_done(fs))>);

    // Default keep_order is false: task 1 (done) comes before task 0 (at the gate).
    pal::thread_pool pool(2);
    gate g;
    fs = submit_gated(pool, g, 2, [](int i) { return i == 0 ? 1 : 0; });
    BOOST_TEST_REQUIRE(fs[1].wait(long_wait));
    std::vector<int> got;
    for (pal::future<int>& f : pal::as_done(fs))
    {
        got.push_back(index_of(fs, f));
        g.open();
    }
    BOOST_TEST(got == (std::vector<int>{1, 0}), boost::test_tools::per_element());

    std::vector<pal::future<int>> none;
    auto empty = pal::as_done(none);
    BOOST_TEST((empty.begin() == empty.end()));
}

BOOST_AUTO_TEST_CASE(as_done_timeout_throws_timeout_error)
{
    pal::thread_pool pool(2);
    gate g;
    auto fs = submit_gated(pool, g, 2, [](int i) { return i == 1 ? 1 : 0; });
    BOOST_TEST_REQUIRE(fs[0].wait(long_wait));

    // Completion order: the done future first, then the deadline.
    std::vector<int> got;
    bool timed_out = false;
    try
    {
        for (pal::future<int>& f : pal::as_done(fs, false, 50ms))
            got.push_back(index_of(fs, f));
    }
    catch (const pal::timeout_error&)
    {
        timed_out = true;
    }
    BOOST_TEST(timed_out);
    BOOST_TEST(got == (std::vector<int>{0}), boost::test_tools::per_element());

    // keep_order: the blocked future is first, so begin() times out.
    std::vector<pal::future<int>> reversed{fs[1], fs[0]};
    auto r = pal::as_done(reversed, true, 50ms);
    BOOST_CHECK_THROW(r.begin(), pal::timeout_error);
    g.open();
}

BOOST_AUTO_TEST_CASE(as_done_of_void_futures)
{
    pal::thread_pool pool(2);
    std::vector<pal::future<void>> fs;
    std::atomic<int> ran{0};
    for (int i = 0; i < 4; ++i)
        fs.push_back(pool.submit([&ran] { ++ran; }));
    int count = 0;
    for (pal::future<void>& f : pal::as_done(fs, false, long_wait))
    {
        BOOST_TEST(f.is_completed());
        ++count;
    }
    BOOST_TEST(count == 4);
    BOOST_TEST(ran.load() == 4);
}

// --- async_wait_all / async_collect_all ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(async_wait_all_completes_once_every_future_is_done)
{
    net::io_context io;
    pal::thread_pool pool(3);
    gate g;
    auto fs = submit_gated(pool, g, 3, [](int) { return 1; });
    std::list<pal::future<int>> list(fs.begin(), fs.end());
    bool all_were_done = false;
    bool list_done = false;
    bool view_done = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        co_await pal::async_wait_all(fs, net::use_awaitable);
        all_were_done = std::all_of(fs.begin(), fs.end(), [](auto& f) { return f.is_done(); });
        co_await pal::async_wait_all(list, net::use_awaitable);
        list_done = true;
        co_await pal::async_wait_all(
            choose(fs, [&fs](const pal::future<int>& f) { return index_of(fs, f) < 2; }),
            net::use_awaitable);
        view_done = true;
    });
    // The gate opens from the io_context's own thread, after the coroutine started waiting:
    // async_wait_all must not block that thread.
    net::post(io, [&g] { g.open(); });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(all_were_done);
    BOOST_TEST(list_done);
    BOOST_TEST(view_done);
}

BOOST_AUTO_TEST_CASE(async_wait_all_of_nothing_or_of_done_futures_completes_through_the_executor)
{
    net::io_context io;
    pal::thread_pool pool(2);
    std::vector<pal::future<int>> none;
    std::vector<pal::future<int>> done{pool.submit([] { return 1; })};
    BOOST_TEST_REQUIRE(done[0].wait(long_wait));
    int called = 0;
    boost::system::error_code ec1 = net::error::fault;
    boost::system::error_code ec2 = net::error::fault;
    pal::async_wait_all(none, net::bind_executor(io, [&](boost::system::error_code ec) {
        ++called;
        ec1 = ec;
    }));
    pal::async_wait_all(done, net::bind_executor(io, [&](boost::system::error_code ec) {
        ++called;
        ec2 = ec;
    }));
    BOOST_TEST(called == 0); // never inside the initiating call
    io.run_for(long_wait);
    BOOST_TEST(called == 2);
    BOOST_TEST(!ec1);
    BOOST_TEST(!ec2);
}

BOOST_AUTO_TEST_CASE(async_wait_all_cancelled_by_a_timer)
{
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    auto fs = submit_gated(pool, g, 2, [](int i) { return i == 1 ? 1 : 0; });
    bool timer_won = false;
    bool after = false;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        net::steady_timer timer(co_await net::this_coro::executor, 1ms);
        auto r = co_await (pal::async_wait_all(fs, net::use_awaitable) ||
                           timer.async_wait(net::use_awaitable));
        timer_won = r.index() == 1;
        g.open();
        co_await pal::async_wait_all(fs, net::use_awaitable);
        after = fs[1].is_done();
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(timer_won);
    BOOST_TEST(after);
}

BOOST_AUTO_TEST_CASE(async_wait_all_honours_every_cancellation_type)
{
    // Documented: terminal, partial and total cancellation end the wait with operation_aborted.
    // The signal is emitted while a task waits at the gate, and the gate opens only after, so an
    // ignored cancellation shows as a success.
    for (auto [type, type_name] : cancellation_types)
    {
        BOOST_TEST_CONTEXT(type_name << " cancellation")
        {
            net::io_context io;
            pal::thread_pool pool(2);
            gate g;
            auto fs = submit_gated(pool, g, 2, [](int i) { return i == 1 ? 1 : 0; });
            BOOST_TEST_REQUIRE(g.wait_arrivals(1));
            net::cancellation_signal signal;
            bool called = false;
            boost::system::error_code result;
            pal::async_wait_all(fs, net::bind_cancellation_slot(
                                        signal.slot(),
                                        net::bind_executor(io, [&](boost::system::error_code ec) {
                                            called = true;
                                            result = ec;
                                        })));
            signal.emit(type);
            g.open();
            io.run_for(long_wait);
            BOOST_TEST_REQUIRE(called);
            BOOST_TEST((result == net::error::operation_aborted), "got " << result.message());
        }
    }
}

BOOST_AUTO_TEST_CASE(async_collect_all_delivers_values_in_input_order)
{
    net::io_context io;
    pal::thread_pool pool(4);
    gate g;
    // Task 0 finishes last.
    auto fs = submit_gated(pool, g, 4, [](int i) { return i == 0 ? 1 : 0; });
    std::vector<int> values;
    std::vector<int> from_list;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        values = co_await pal::async_collect_all(fs, net::use_awaitable);
        std::list<pal::future<int>> list(fs.rbegin(), fs.rend());
        from_list = co_await pal::async_collect_all(list, net::use_awaitable);
    });
    net::post(io, [&] {
        // Open only once the others are done, from the io thread (the coroutine waits by then).
        if (all_done(std::vector<pal::future<int>>{fs[1], fs[2], fs[3]}))
            g.open();
    });
    io.run_for(long_wait);
    g.open();
    check_spawned(*s);
    BOOST_TEST(values == (std::vector<int>{0, 1, 2, 3}), boost::test_tools::per_element());
    BOOST_TEST(from_list == (std::vector<int>{3, 2, 1, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(async_collect_all_delivers_the_first_failure_in_input_order)
{
    net::io_context io;
    pal::thread_pool pool(3);
    gate g;
    std::vector<pal::future<int>> fs;
    fs.push_back(pool.submit([] { return 0; }));
    fs.push_back(pool.submit([d = g.get_door()]() -> int {
        d.pass();
        throw std::runtime_error("one");
    }));
    fs.push_back(pool.submit([]() -> int { throw std::runtime_error("two"); }));
    BOOST_TEST_REQUIRE(fs[2].wait(long_wait));
    g.open();
    std::exception_ptr error;
    std::vector<int> values{-1};
    std::string thrown;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        std::tie(error, values) = co_await pal::async_collect_all(fs, net::as_tuple(net::use_awaitable));
        try
        {
            co_await pal::async_collect_all(fs, net::use_awaitable);
        }
        catch (const std::runtime_error& e)
        {
            thrown = e.what();
        }
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(message_of(error) == "one");
    BOOST_TEST(values.empty());
    BOOST_TEST(thrown == "one");
}

BOOST_AUTO_TEST_CASE(async_collect_all_of_void_futures_and_of_a_cancelled_one)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    std::atomic<int> ran{0};
    std::vector<pal::future<void>> fs;
    fs.push_back(pool.submit([&ran, d = g.get_door()] {
        d.pass();
        ++ran;
    }));
    fs.push_back(pool.submit([&ran] { ++ran; }));
    BOOST_TEST_REQUIRE(g.wait_arrivals(1));
    BOOST_TEST_REQUIRE(fs[1].cancel()); // queued behind task 0: withdrawn
    g.open();
    std::exception_ptr with_cancelled;
    std::exception_ptr only_first{std::make_exception_ptr(std::logic_error("not set"))};
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        std::tie(with_cancelled) = co_await pal::async_collect_all(fs, net::as_tuple(net::use_awaitable));
        std::vector<pal::future<void>> first{fs[0]};
        std::tie(only_first) = co_await pal::async_collect_all(first, net::as_tuple(net::use_awaitable));
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(holds<pal::cancelled_error>(with_cancelled));
    BOOST_TEST(!only_first);
    BOOST_TEST(ran.load() == 1);
}

BOOST_AUTO_TEST_CASE(async_collect_all_honours_every_cancellation_type)
{
    for (auto [type, type_name] : cancellation_types)
    {
        BOOST_TEST_CONTEXT(type_name << " cancellation")
        {
            net::io_context io;
            pal::thread_pool pool(2);
            gate g;
            auto fs = submit_gated(pool, g, 2, [](int i) { return i == 1 ? 1 : 0; });
            BOOST_TEST_REQUIRE(g.wait_arrivals(1));
            net::cancellation_signal signal;
            bool called = false;
            std::exception_ptr error;
            std::vector<int> values{-1};
            pal::async_collect_all(
                fs, net::bind_cancellation_slot(
                        signal.slot(),
                        net::bind_executor(io, [&](std::exception_ptr e, std::vector<int> v) {
                            called = true;
                            error = e;
                            values = std::move(v);
                        })));
            signal.emit(type);
            g.open();
            io.run_for(long_wait);
            BOOST_TEST_REQUIRE(called);
            BOOST_TEST(is_operation_aborted(error),
                       "got " << (error ? message_of(error) : "success with "
                                                                  + std::to_string(values.size())
                                                                  + " values"));
            BOOST_TEST(values.empty());
        }
    }
}

// --- as_done(...).async_next ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(as_done_async_next_yields_one_by_one_in_completion_order)
{
    const std::vector<int> order{2, 0, 3, 1};
    net::io_context io;
    pal::thread_pool pool(4);
    gate g;
    g.raise(1);
    auto fs = submit_gated(pool, g, 4, [&order](int i) {
        return static_cast<long>(std::find(order.begin(), order.end(), i) - order.begin()) + 1;
    });
    std::vector<int> got;
    std::vector<int> values;
    bool ended = false;
    bool on_io_thread = true;
    const auto io_thread = std::this_thread::get_id();
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        auto done = pal::as_done(fs);
        while (std::optional<pal::future<int>> f = co_await done.async_next(net::use_awaitable))
        {
            on_io_thread = on_io_thread && std::this_thread::get_id() == io_thread;
            got.push_back(index_of(fs, *f));
            values.push_back(co_await f->async_collect(net::use_awaitable));
            g.raise(static_cast<long>(got.size()) + 1);
        }
        std::optional<pal::future<int>> again = co_await done.async_next(net::use_awaitable);
        ended = !again.has_value();
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(got == order, boost::test_tools::per_element());
    BOOST_TEST(values == order, boost::test_tools::per_element());
    BOOST_TEST(ended);
    BOOST_TEST(on_io_thread);
}

BOOST_AUTO_TEST_CASE(as_done_async_next_with_keep_order)
{
    // Task 0 finishes last, yet comes first.
    net::io_context io;
    pal::thread_pool pool(3);
    gate g;
    auto fs = submit_gated(pool, g, 3, [](int i) { return i == 0 ? 1 : 0; });
    BOOST_TEST_REQUIRE(all_done(std::vector<pal::future<int>>{fs[1], fs[2]}));
    std::vector<int> got;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        auto done = pal::as_done(std::list<pal::future<int>>(fs.begin(), fs.end()), true);
        while (std::optional<pal::future<int>> f = co_await done.async_next(net::use_awaitable))
            got.push_back(index_of(fs, *f));
    });
    net::post(io, [&g] { g.open(); });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(got == (std::vector<int>{0, 1, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(as_done_async_next_timeout_and_cancellation)
{
    net::io_context io;
    pal::thread_pool pool(2);
    gate g;
    auto fs = submit_gated(pool, g, 2, [](int i) { return i == 1 ? 1 : 0; });
    BOOST_TEST_REQUIRE(fs[0].wait(long_wait));
    bool timed_out = false;
    bool timer_won = false;
    std::vector<int> after;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        // A deadline already passed when the step starts.
        auto expired = pal::as_done(fs, false, 0ns);
        auto [e, f] = co_await expired.async_next(net::as_tuple(net::use_awaitable));
        timed_out = holds<pal::timeout_error>(e) && !f;

        // Cancelled while waiting for task 1; the iteration then goes on.
        auto done = pal::as_done(fs);
        std::optional<pal::future<int>> first = co_await done.async_next(net::use_awaitable);
        if (first)
            after.push_back(index_of(fs, *first));
        net::steady_timer timer(co_await net::this_coro::executor, 1ms);
        auto r = co_await (done.async_next(net::use_awaitable) || timer.async_wait(net::use_awaitable));
        timer_won = r.index() == 1;
        g.open();
        while (std::optional<pal::future<int>> x = co_await done.async_next(net::use_awaitable))
            after.push_back(index_of(fs, *x));
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(timed_out);
    BOOST_TEST(timer_won);
    BOOST_TEST(after == (std::vector<int>{0, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(as_done_async_next_honours_every_cancellation_type)
{
    // Documented like async_wait_all. Task 0 waits at the gate; the signal comes first.
    for (auto [type, type_name] : cancellation_types)
        for (bool keep_order : {false, true})
        {
            BOOST_TEST_CONTEXT(type_name << " cancellation, keep_order " << keep_order)
            {
                net::io_context io;
                pal::thread_pool pool(1);
                gate g;
                auto fs = submit_gated(pool, g, 1, [](int) { return 1; });
                BOOST_TEST_REQUIRE(g.wait_arrivals(1));
                auto done = pal::as_done(fs, keep_order);
                net::cancellation_signal signal;
                bool called = false;
                std::exception_ptr error;
                std::optional<pal::future<int>> value;
                done.async_next(net::bind_cancellation_slot(
                    signal.slot(), net::bind_executor(io, [&](std::exception_ptr e,
                                                              std::optional<pal::future<int>> f) {
                        called = true;
                        error = e;
                        value = std::move(f);
                    })));
                signal.emit(type);
                g.open();
                io.run_for(long_wait);
                BOOST_TEST_REQUIRE(called);
                BOOST_TEST(is_operation_aborted(error),
                           "got " << (error ? message_of(error) : std::string("a future")));
                BOOST_TEST(!value.has_value());
            }
        }
}

// --- split_map_task / split_starmap_task ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(split_map_task_cuts_chunks_of_the_given_size)
{
    auto square = [](int x) { return x * x; };
    std::vector<int> xs{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    auto tasks = pal::split_map_task(square, xs, pal::map_options{.chunk_size = 3});
    std::vector<std::vector<int>> results;
    for (auto& task : tasks)
    {
        static_assert(std::is_same_v<decltype(task()), std::vector<int>>);
        results.push_back(task());
        BOOST_TEST(task() == results.back(), boost::test_tools::per_element()); // callable again
    }
    const std::vector<std::vector<int>> expected{{0, 1, 4}, {9, 16, 25}, {36, 49, 64}, {81}};
    BOOST_TEST_REQUIRE(results.size() == expected.size());
    for (std::size_t i = 0; i < results.size(); ++i)
        BOOST_TEST(results[i] == expected[i], boost::test_tools::per_element());

    // Default options: one item per chunk.
    std::vector<std::vector<int>> singles;
    for (auto& task : pal::split_map_task(square, std::vector<int>{4, 5}))
        singles.push_back(task());
    BOOST_TEST_REQUIRE(singles.size() == 2u);
    BOOST_TEST(singles[0] == std::vector<int>{16}, boost::test_tools::per_element());
    BOOST_TEST(singles[1] == std::vector<int>{25}, boost::test_tools::per_element());

    // Exactly divisible: no empty last chunk.
    int count = 0;
    for (auto& task : pal::split_map_task(square, std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8},
                                                pal::map_options{.chunk_size = 3}))
    {
        BOOST_TEST(task().size() == 3u);
        ++count;
    }
    BOOST_TEST(count == 3);

    auto none = pal::split_map_task(square, std::vector<int>{}, pal::map_options{.chunk_size = 2});
    BOOST_TEST((none.begin() == none.end()));
}

BOOST_AUTO_TEST_CASE(split_map_task_zips_its_ranges_and_the_shortest_wins)
{
    std::vector<std::string> words{"a", "b", "c", "d", "e"};
    auto tasks = pal::split_map_task([](int i, const std::string& w) { return w + std::to_string(i); },
                                     naturals(), words, pal::map_options{.chunk_size = 2});
    std::vector<std::vector<std::string>> results;
    for (auto& task : tasks)
        results.push_back(task());
    const std::vector<std::vector<std::string>> expected{{"a0", "b1"}, {"c2", "d3"}, {"e4"}};
    BOOST_TEST_REQUIRE(results.size() == expected.size());
    for (std::size_t i = 0; i < results.size(); ++i)
        BOOST_TEST(results[i] == expected[i], boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(split_map_task_is_lazy_over_an_infinite_range)
{
    std::atomic<int> calls{0};
    auto tasks = pal::split_map_task(
        [&calls](long i) {
            ++calls;
            return i + 1;
        },
        naturals_long(), pal::map_options{.chunk_size = 4});
    std::vector<long> flat;
    int chunks = 0;
    for (auto& task : tasks)
    {
        for (long v : task())
            flat.push_back(v);
        if (++chunks == 3)
            break;
    }
    BOOST_TEST(flat == (std::vector<long>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
               boost::test_tools::per_element());
    BOOST_TEST(calls.load() == 12); // only what was called
}

BOOST_AUTO_TEST_CASE(split_tasks_run_on_a_pool_and_rethrow_failures)
{
    pal::thread_pool pool(3);
    auto f = [](int x) {
        if (x == 7)
            throw std::runtime_error("item 7 failed");
        return x * 10;
    };
    std::vector<pal::future<std::vector<int>>> fs;
    for (auto& task : pal::split_map_task(f, std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8},
                                          pal::map_options{.chunk_size = 3}))
        fs.push_back(pool.submit(task));
    BOOST_TEST_REQUIRE(fs.size() == 3u);
    BOOST_TEST(fs[0].collect(long_wait) == (std::vector<int>{10, 20, 30}), boost::test_tools::per_element());
    BOOST_TEST(fs[1].collect(long_wait) == (std::vector<int>{40, 50, 60}), boost::test_tools::per_element());
    std::string message;
    try
    {
        fs[2].collect(long_wait);
    }
    catch (const std::runtime_error& e)
    {
        message = e.what();
    }
    BOOST_TEST(message == "item 7 failed");
}

BOOST_AUTO_TEST_CASE(split_map_task_of_a_void_function)
{
    std::vector<int> seen;
    auto tasks = pal::split_map_task([&seen](int x) { seen.push_back(x); }, std::vector<int>{3, 4, 5},
                                     pal::map_options{.chunk_size = 2});
    std::vector<std::size_t> sizes;
    for (auto& task : tasks)
    {
        std::vector<std::monostate> r = task();
        sizes.push_back(r.size());
    }
    BOOST_TEST(sizes == (std::vector<std::size_t>{2, 1}), boost::test_tools::per_element());
    BOOST_TEST(seen == (std::vector<int>{3, 4, 5}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(split_tasks_reject_a_zero_chunk_size)
{
    auto f = [](int x) { return x; };
    for (int which = 0; which < 2; ++which)
    {
        bool thrown = false;
        try
        {
            if (which == 0)
                (void)pal::split_map_task(f, std::vector<int>{1}, pal::map_options{.chunk_size = 0});
            else
                (void)pal::split_starmap_task(f, std::vector<std::tuple<int>>{{1}},
                                              pal::map_options{.chunk_size = 0});
        }
        catch (const std::invalid_argument& e)
        {
            thrown = true;
            BOOST_TEST(std::string(e.what()).find("chunk_size") != std::string::npos,
                       "message: " << e.what());
        }
        BOOST_TEST(thrown, (which == 0 ? "split_map_task" : "split_starmap_task"));
    }
}

BOOST_AUTO_TEST_CASE(split_starmap_task_applies_f_to_each_tuple)
{
    std::vector<std::tuple<int, int>> ts{{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}};
    auto tasks = pal::split_starmap_task([](int a, int b) { return a * b; }, ts,
                                         pal::map_options{.chunk_size = 2});
    std::vector<std::vector<int>> results;
    for (auto& task : tasks)
    {
        static_assert(std::is_same_v<decltype(task()), std::vector<int>>);
        results.push_back(task());
    }
    const std::vector<std::vector<int>> expected{{2, 12}, {30, 56}, {90}};
    BOOST_TEST_REQUIRE(results.size() == expected.size());
    for (std::size_t i = 0; i < results.size(); ++i)
        BOOST_TEST(results[i] == expected[i], boost::test_tools::per_element());

    // Default options, pairs, and a temporary input owned by the range.
    std::vector<std::vector<int>> singles;
    for (auto& task : pal::split_starmap_task([](int a, int b) { return a - b; },
                                              std::vector<std::pair<int, int>>{{5, 1}, {9, 2}}))
        singles.push_back(task());
    BOOST_TEST_REQUIRE(singles.size() == 2u);
    BOOST_TEST(singles[0] == std::vector<int>{4}, boost::test_tools::per_element());
    BOOST_TEST(singles[1] == std::vector<int>{7}, boost::test_tools::per_element());
}

// --- The completion queue under as_done and the unordered maps ---------------------------------

// Its "event" futures are reference counted by hand: each must end up held by its future alone
// once complete, or it outlives everything (a leak clang 14 once caused, see next_event).
BOOST_AUTO_TEST_CASE(completion_queue_events_are_held_by_their_futures_alone_once_complete)
{
    using pal::detail::future_access;
    pal::detail::completion_queue<int> q;

    pal::future<void> waiting = q.next_event(); // nothing queued: the queue keeps it too
    BOOST_TEST(!waiting.is_done());
    BOOST_TEST(future_access::state(waiting).use_count() == 2u);
    BOOST_TEST((q.next_event() == waiting)); // the same event until a push
    q.push(1);
    BOOST_TEST(waiting.is_done());
    BOOST_TEST(future_access::state(waiting).use_count() == 1u);

    pal::future<void> ready = q.next_event(); // an item waits: complete at once, not kept
    BOOST_TEST(ready.is_done());
    BOOST_TEST(future_access::state(ready).use_count() == 1u);
    BOOST_TEST((q.try_pop() == std::optional<int>(1)));
    BOOST_TEST(!q.try_pop().has_value());
}
