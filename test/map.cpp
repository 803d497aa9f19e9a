// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests of the map family of asio_pal::thread_pool (asio_pal/map.hpp): map, map_all, starmap,
// starmap_all and their _unordered variants; every map_options field (chunk_size, buffer_size,
// keep_order, timeout) and asyncpal's defaults; laziness over infinite and single-pass inputs;
// the buffer_size bound seen from the pool; chunk grouping and flattening; completion order;
// timeouts, task failures and early abandonment; the result range with std::ranges algorithms
// and views; async_next from coroutines (values, end, failures, cancellation); invalid options,
// closed pools and thread_pool::test().
//
// Completion order is controlled, never left to timing: tasks wait at gates the test opens, or
// until counters (their own and the pool's) show that other tasks have completed. Every wait a
// bug could make endless is bounded (30 s), so a bug fails a test instead of hanging it.

#include "asio_pal/map.hpp"
#include "asio_pal/thread_pool.hpp"

#define BOOST_TEST_MODULE map
#include <boost/test/unit_test.hpp>

#include "asio_pal/error.hpp"
#include "asio_pal/future.hpp"

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
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <ranges>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

// clang 14 cannot use libstdc++ 12's standard views: every range built on view_interface
// (std::views::iota(0), istream_view, filter, take...) fails std::ranges::range there. With it,
// the tests use hand-written ranges of the same kinds (infinite, single-pass) where g++ uses the
// standard views, and skip the tests of view adaptors over a map.
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
/// How long a task waits at a gate at most: a safety net for a broken test, longer than long_wait
/// so that the test's own bounded waits fail first.
constexpr auto safety_net = std::chrono::seconds(60);

/// Spins (yielding the CPU) until `pred()` holds; false after long_wait. Used for states other
/// threads reach by themselves and that counters show (never as a sleep).
template <typename Pred>
bool eventually(Pred pred)
{
    auto deadline = std::chrono::steady_clock::now() + long_wait;
    while (!pred())
    {
        if (std::chrono::steady_clock::now() >= deadline)
            return pred();
        std::this_thread::yield();
    }
    return true;
}

/// A gate with a level: a task passes once the level reaches what it needs. Counts arrivals.
/// Declare it after the pool: its destructor opens it, so a failed test never leaves a task
/// stuck at the pool's shutdown.
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
    /// What a task holds (by value).
    class door
    {
    public:
        explicit door(std::shared_ptr<state> s) : s_(std::move(s)) {}

        /// Announces an arrival, then waits until the level is at least `needed`; true when it
        /// was reached (false after the safety net).
        bool pass(long needed = 1) const
        {
            std::unique_lock<std::mutex> lock(s_->mutex);
            ++s_->arrivals;
            s_->changed.notify_all();
            return s_->changed.wait_for(lock, safety_net, [&] { return s_->level >= needed; });
        }

        /// Announces an arrival, then waits until `n` arrivals in all; true when they came.
        bool meet(std::size_t n) const
        {
            std::unique_lock<std::mutex> lock(s_->mutex);
            ++s_->arrivals;
            s_->changed.notify_all();
            return s_->changed.wait_for(lock, safety_net,
                                        [&] { return s_->arrivals >= n || s_->level > 0; }) &&
                   s_->arrivals >= n;
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

    /// Waits until `n` arrivals; false after long_wait.
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

private:
    std::shared_ptr<state> s_ = std::make_shared<state>();
};

/// A sentinel never reached: the end of an infinite range.
struct unreachable
{
};

/// f(0), f(1), f(2)...: an infinite input range of a user-defined type, with a sentinel.
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

/// The ints of a stream, read as the range is iterated: a single-pass input range of a
/// user-defined type (what std::ranges::istream_view<int> is).
class int_stream
{
public:
    class iterator
    {
    public:
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() = default;
        explicit iterator(int_stream* s) : s_(s) {}
        int operator*() const { return s_->value_; }
        iterator& operator++()
        {
            s_->read();
            return *this;
        }
        void operator++(int) { s_->read(); }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept
        {
            return it.at_end();
        }

    private:
        bool at_end() const noexcept { return !s_->good_; }

        int_stream* s_ = nullptr;
    };

    explicit int_stream(std::istream& in) : in_(&in) {}
    iterator begin()
    {
        read();
        return iterator(this);
    }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    void read() { good_ = static_cast<bool>(*in_ >> value_); }

    std::istream* in_;
    int value_ = 0;
    bool good_ = false;
};

/// 0, 1, 2... as int: std::views::iota(0) (a generated range where views are unusable).
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

/// The ints of `in`, single pass: std::ranges::istream_view<int>(in).
auto ints_of(std::istream& in)
{
#if ASIO_PAL_TEST_STD_VIEWS
    return std::ranges::istream_view<int>(in);
#else
    return int_stream(in);
#endif
}

/// The eight members of the map family.
enum class variant
{
    map,
    map_all,
    map_unordered,
    map_all_unordered,
    starmap,
    starmap_all,
    starmap_unordered,
    starmap_all_unordered,
};

constexpr variant all_variants[] = {
    variant::map,     variant::map_all,     variant::map_unordered,     variant::map_all_unordered,
    variant::starmap, variant::starmap_all, variant::starmap_unordered, variant::starmap_all_unordered,
};

constexpr variant lazy_variants[] = {variant::map, variant::map_unordered, variant::starmap,
                                     variant::starmap_unordered};

bool is_lazy(variant v)
{
    return v == variant::map || v == variant::map_unordered || v == variant::starmap ||
           v == variant::starmap_unordered;
}

bool is_ordered(variant v)
{
    return v == variant::map || v == variant::map_all || v == variant::starmap ||
           v == variant::starmap_all;
}

const char* name_of(variant v)
{
    switch (v)
    {
    case variant::map:
        return "map";
    case variant::map_all:
        return "map_all";
    case variant::map_unordered:
        return "map_unordered";
    case variant::map_all_unordered:
        return "map_all_unordered";
    case variant::starmap:
        return "starmap";
    case variant::starmap_all:
        return "starmap_all";
    case variant::starmap_unordered:
        return "starmap_unordered";
    case variant::starmap_all_unordered:
        return "starmap_all_unordered";
    }
    return "?";
}

std::ostream& operator<<(std::ostream& os, variant v)
{
    return os << name_of(v);
}

/// Runs variant `v` of the map family with `f(i, 1000 + i)` for i in [0, n): map and map_all
/// zip two ranges (owned by the map: temporaries), starmap and starmap_all take tuples.
template <typename F>
auto make_map(pal::thread_pool& pool, variant v, F f, int n, const pal::map_options& o)
{
    std::vector<int> xs;
    std::vector<int> ys;
    std::vector<std::tuple<int, int>> ts;
    for (int i = 0; i < n; ++i)
    {
        xs.push_back(i);
        ys.push_back(1000 + i);
        ts.emplace_back(i, 1000 + i);
    }
    switch (v)
    {
    case variant::map:
        return pool.map(f, std::move(xs), std::move(ys), o);
    case variant::map_all:
        return pool.map_all(f, std::move(xs), std::move(ys), o);
    case variant::map_unordered:
        return pool.map_unordered(f, std::move(xs), std::move(ys), o);
    case variant::map_all_unordered:
        return pool.map_all_unordered(f, std::move(xs), std::move(ys), o);
    case variant::starmap:
        return pool.starmap(f, std::move(ts), o);
    case variant::starmap_all:
        return pool.starmap_all(f, std::move(ts), o);
    case variant::starmap_unordered:
        return pool.starmap_unordered(f, std::move(ts), o);
    case variant::starmap_all_unordered:
        return pool.starmap_all_unordered(f, std::move(ts), o);
    }
    throw std::logic_error("unknown variant");
}

/// The value the tests' usual function gives for item i: shows both zipped arguments.
int combine(int i, int j)
{
    return i * 10000 + j;
}

std::vector<int> expected_combined(int n)
{
    std::vector<int> v;
    for (int i = 0; i < n; ++i)
        v.push_back(combine(i, 1000 + i));
    return v;
}

std::vector<int> iota_vector(int n)
{
    std::vector<int> v;
    for (int i = 0; i < n; ++i)
        v.push_back(i);
    return v;
}

/// Every result of a map, through a range-for.
template <typename T>
std::vector<T> drain(pal::map_result<T>& r)
{
    std::vector<T> out;
    for (auto& v : r)
        out.push_back(std::move(v));
    return out;
}

/// Whether `seen` holds every item of [0, n) exactly once, as whole chunks [k*c, k*c + c) each
/// in ascending order (results are flattened per chunk, in any chunk order).
bool whole_chunks(const std::vector<int>& seen, int n, int chunk)
{
    if (static_cast<int>(seen.size()) != n)
        return false;
    std::vector<bool> got(static_cast<std::size_t>(n), false);
    std::size_t p = 0;
    while (p < seen.size())
    {
        int first = seen[p];
        if (first < 0 || first >= n || first % chunk != 0)
            return false;
        for (int i = first; i < std::min(first + chunk, n); ++i, ++p)
        {
            if (p >= seen.size() || seen[p] != i || got[static_cast<std::size_t>(i)])
                return false;
            got[static_cast<std::size_t>(i)] = true;
        }
    }
    return true;
}

std::string to_string(const std::vector<int>& v)
{
    std::ostringstream s;
    s << "[";
    for (std::size_t i = 0; i < v.size(); ++i)
        s << (i ? " " : "") << v[i];
    s << "]";
    return s.str();
}

/// What an iteration that ends with a task's exception gave.
struct failed_iteration
{
    std::vector<int> values;
    std::string message; // what() of the std::runtime_error; empty when none was thrown
    bool ended = false;  // the iterator equals end() after the exception
};

failed_iteration consume_until_failure(pal::map_result<int>& r)
{
    failed_iteration out;
    std::optional<pal::map_result<int>::iterator> it;
    try
    {
        it = r.begin();
        for (; *it != r.end(); ++*it)
            out.values.push_back(**it);
    }
    catch (const std::runtime_error& e)
    {
        out.message = e.what();
    }
    if (!it)
        it = r.begin(); // begin() threw: a second call continues where the iteration is
    out.ended = (*it == r.end());
    return out;
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

/// The coroutine ended, without an exception.
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

/// The message of an exception_ptr holding a std::exception; empty for none.
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

/// Whether `e` holds a boost::system::system_error with operation_aborted.
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

/// A user exception type with a payload.
class custom_error : public std::runtime_error
{
public:
    custom_error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

} // namespace

// --- Options and types ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(map_options_defaults_are_asyncpals)
{
    pal::map_options o;
    BOOST_TEST(o.chunk_size == 1u);
    BOOST_TEST(o.buffer_size == 1u);
    BOOST_TEST(o.keep_order);
    BOOST_TEST(!o.timeout.has_value());

    // An aggregate, fields in the documented order.
    pal::map_options d{.chunk_size = 2, .buffer_size = 3, .keep_order = false, .timeout = 5ms};
    BOOST_TEST(d.chunk_size == 2u);
    BOOST_TEST(d.buffer_size == 3u);
    BOOST_TEST(!d.keep_order);
    BOOST_TEST(d.timeout.has_value());
    if (d.timeout)
        BOOST_TEST(d.timeout->count() == std::chrono::nanoseconds(5ms).count());
}

BOOST_AUTO_TEST_CASE(the_result_is_an_input_range)
{
    using int_map = pal::map_result<int>;
    static_assert(std::ranges::input_range<int_map>);
    static_assert(std::input_iterator<int_map::iterator>);
    static_assert(std::sentinel_for<std::default_sentinel_t, int_map::iterator>);
    static_assert(std::is_same_v<std::ranges::range_value_t<int_map>, int>);
    static_assert(std::is_same_v<int_map::value_type, int>);
    static_assert(std::ranges::viewable_range<int_map>);   // rvalue: views own it
    static_assert(std::ranges::viewable_range<int_map&>);  // lvalue: views refer to it
    static_assert(std::movable<int_map>);

    using void_map = pal::map_result<void>;
    static_assert(std::ranges::input_range<void_map>);
    static_assert(std::is_same_v<void_map::value_type, std::monostate>);
    static_assert(std::is_same_v<std::ranges::range_value_t<void_map>, std::monostate>);

    // Every member of the family returns a map_result of f's result type.
    pal::thread_pool pool(1);
    auto f = [](int a, int b) { return std::to_string(a + b); };
    std::vector<int> xs;
    std::vector<std::tuple<int, int>> ts;
    pal::map_options o;
    using str_map = pal::map_result<std::string>;
    static_assert(std::is_same_v<decltype(pool.map(f, xs, xs)), str_map>);
    static_assert(std::is_same_v<decltype(pool.map(f, xs, xs, o)), str_map>);
    static_assert(std::is_same_v<decltype(pool.map_all(f, xs, xs, o)), str_map>);
    static_assert(std::is_same_v<decltype(pool.map_unordered(f, xs, xs, o)), str_map>);
    static_assert(std::is_same_v<decltype(pool.map_all_unordered(f, xs, xs, o)), str_map>);
    static_assert(std::is_same_v<decltype(pool.starmap(f, ts)), str_map>);
    static_assert(std::is_same_v<decltype(pool.starmap(f, ts, o)), str_map>);
    static_assert(std::is_same_v<decltype(pool.starmap_all(f, ts, o)), str_map>);
    static_assert(std::is_same_v<decltype(pool.starmap_unordered(f, ts, o)), str_map>);
    static_assert(std::is_same_v<decltype(pool.starmap_all_unordered(f, ts, o)), str_map>);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
}

// --- Results --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_variant_yields_f_of_each_item_for_every_chunk_and_buffer_size)
{
    pal::thread_pool pool(3);
    auto f = [](int i, int j) { return combine(i, j); };
    for (variant v : all_variants)
        for (int n : {0, 1, 2, 10, 31})
            for (std::size_t chunk : {1u, 3u, 10u, 40u})
                for (std::size_t buffer : {1u, 2u, 8u})
                {
                    BOOST_TEST_CONTEXT(v << " n=" << n << " chunk_size=" << chunk
                                         << " buffer_size=" << buffer)
                    {
                        auto r = make_map(pool, v, f, n,
                                          pal::map_options{.chunk_size = chunk,
                                                           .buffer_size = buffer});
                        std::vector<int> got = drain(r);
                        if (is_ordered(v))
                        {
                            BOOST_TEST(got == expected_combined(n), boost::test_tools::per_element());
                        }
                        else
                        {
                            std::vector<int> items;
                            for (int x : got)
                                items.push_back(x / 10000);
                            // f's values, flattened per chunk, each chunk whole and in order.
                            bool values_match = got.size() == static_cast<std::size_t>(n);
                            for (int x : got)
                                values_match = values_match && x == combine(x / 10000, 1000 + x / 10000);
                            BOOST_TEST(values_match, "got " << to_string(got));
                            BOOST_TEST(whole_chunks(items, n, static_cast<int>(chunk)),
                                       "items " << to_string(items));
                        }
                    }
                }
    BOOST_TEST(pool.join(long_wait));
}

BOOST_AUTO_TEST_CASE(options_may_be_left_out_or_passed_as_lvalues)
{
    pal::thread_pool pool(2);
    auto square = [](int x) { return x * x; };
    std::vector<int> xs = iota_vector(7);
    std::vector<int> squares;
    for (int x : xs)
        squares.push_back(x * x);

    auto defaults = pool.map(square, xs);
    BOOST_TEST(drain(defaults) == squares, boost::test_tools::per_element());

    const pal::map_options o{.chunk_size = 2, .buffer_size = 2};
    auto with_lvalue_options = pool.map(square, xs, o);
    BOOST_TEST(drain(with_lvalue_options) == squares, boost::test_tools::per_element());

    std::vector<std::tuple<int>> ts;
    for (int x : xs)
        ts.emplace_back(x);
    auto star_defaults = pool.starmap(square, ts);
    BOOST_TEST(drain(star_defaults) == squares, boost::test_tools::per_element());
    auto star_all = pool.starmap_all(square, ts, o);
    BOOST_TEST(drain(star_all) == squares, boost::test_tools::per_element());

    // The inputs are read, not consumed: lvalue ranges are unchanged.
    BOOST_TEST(xs == iota_vector(7), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(map_zips_its_ranges_and_the_shortest_wins)
{
    pal::thread_pool pool(3);
    std::vector<std::string> words{"a", "bb", "ccc"};
    std::list<double> halves{0.5, 1.5, 2.5, 3.5, 4.5};
    auto f = [](long i, const std::string& w, double d) {
        return std::to_string(i) + ":" + w + ":" + std::to_string(static_cast<int>(d * 10));
    };
    const std::vector<std::string> expected{"0:a:5", "1:bb:15", "2:ccc:25"};

    for (std::size_t chunk : {1u, 2u, 5u})
    {
        BOOST_TEST_CONTEXT("chunk_size=" << chunk)
        {
            pal::map_options o{.chunk_size = chunk, .buffer_size = 2};
            auto lazy = pool.map(f, naturals_long(), words, halves, o);
            BOOST_TEST(drain(lazy) == expected, boost::test_tools::per_element());
            // An infinite range with map_all: it stops at the shortest too.
            auto all = pool.map_all(f, naturals_long(), words, halves, o);
            BOOST_TEST(drain(all) == expected, boost::test_tools::per_element());
            // The infinite range last.
            auto last = pool.map([](const std::string& w, int i) { return w + std::to_string(i); },
                                 words, naturals(), o);
            BOOST_TEST(drain(last) == (std::vector<std::string>{"a0", "bb1", "ccc2"}),
                       boost::test_tools::per_element());
        }
    }
    // Zipping with an empty range gives nothing, even next to an infinite one.
    auto none = pool.map([](int a, int b) { return a + b; }, naturals(), std::vector<int>{});
    BOOST_TEST((none.begin() == none.end()));
}

BOOST_AUTO_TEST_CASE(starmap_takes_tuples_and_pairs)
{
    pal::thread_pool pool(2);
    std::vector<std::tuple<int, std::string>> ts{{1, "x"}, {2, "y"}, {3, "z"}};
    auto repeat = [](int n, const std::string& s) {
        std::string out;
        for (int i = 0; i < n; ++i)
            out += s;
        return out;
    };
    auto r = pool.starmap(repeat, ts, pal::map_options{.chunk_size = 2});
    BOOST_TEST(drain(r) == (std::vector<std::string>{"x", "yy", "zzz"}),
               boost::test_tools::per_element());

    std::vector<std::pair<int, int>> ps{{1, 2}, {3, 4}, {5, 6}};
    auto mul = pool.starmap_all([](int a, int b) { return a * b; }, ps);
    BOOST_TEST(drain(mul) == (std::vector<int>{2, 12, 30}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(results_may_be_move_only)
{
    pal::thread_pool pool(2);
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            auto r = make_map(
                pool, v, [](int i, int) { return std::make_unique<int>(i); }, 9,
                pal::map_options{.chunk_size = 2, .buffer_size = 2});
            std::vector<int> got;
            for (std::unique_ptr<int>& p : r)
            {
                BOOST_TEST_REQUIRE(p != nullptr);
                got.push_back(*p);
            }
            if (is_ordered(v))
                BOOST_TEST(got == iota_vector(9), boost::test_tools::per_element());
            else
                BOOST_TEST(whole_chunks(got, 9, 2), "got " << to_string(got));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_void_function_yields_monostate_per_item)
{
    pal::thread_pool pool(3);
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            std::atomic<int> sum{0};
            auto r = make_map(pool, v, [&sum](int i, int) { sum += i; }, 10,
                              pal::map_options{.chunk_size = 3, .buffer_size = 2});
            static_assert(std::is_same_v<decltype(r), pal::map_result<void>>);
            int count = 0;
            for (std::monostate m : r)
            {
                (void)m;
                ++count;
            }
            BOOST_TEST(count == 10);
            BOOST_TEST(sum.load() == 45);
        }
    }
}

// std::vector<bool> hands out proxies, not bool&: maps of bool still work, by value.
BOOST_AUTO_TEST_CASE(a_bool_function_yields_bools)
{
    pal::thread_pool pool(3);
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            auto r = make_map(pool, v, [](int i, int) { return i % 3 == 0; }, 10,
                              pal::map_options{.chunk_size = 3, .buffer_size = 2});
            static_assert(std::is_same_v<decltype(r), pal::map_result<bool>>);
            int count = 0, multiples = 0;
            for (bool b : r)
            {
                ++count;
                multiples += b ? 1 : 0;
            }
            BOOST_TEST(count == 10);
            BOOST_TEST(multiples == 4); // 0, 3, 6, 9
        }
    }
}

BOOST_AUTO_TEST_CASE(an_empty_input_yields_nothing_and_submits_nothing)
{
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            pal::thread_pool pool(2);
            std::atomic<int> calls{0};
            auto r = make_map(pool, v, [&calls](int i, int) { ++calls; return i; }, 0,
                              pal::map_options{.chunk_size = 3, .buffer_size = 2});
            BOOST_TEST((r.begin() == r.end()));
            BOOST_TEST((r.begin() == r.end())); // begin() again continues: still the end
            BOOST_TEST(calls.load() == 0);
            BOOST_TEST(pool.count_workers() == 0u); // no task was ever submitted
            BOOST_TEST(pool.count_pending_tasks() == 0u);
        }
    }
}

// --- Laziness and buffer_size ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(lazy_variants_submit_nothing_before_the_first_step)
{
    for (variant v : lazy_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            pal::thread_pool pool(4);
            std::atomic<int> calls{0};
            auto r = make_map(pool, v, [&calls](int i, int) { ++calls; return i; }, 10,
                              pal::map_options{.chunk_size = 2, .buffer_size = 3});
            // Submitting spawns a worker at once, so no worker means nothing was submitted.
            BOOST_TEST(pool.count_workers() == 0u);
            BOOST_TEST(pool.count_pending_tasks() == 0u);
            BOOST_TEST(pool.count_busy_workers() == 0u);
            BOOST_TEST(calls.load() == 0);

            auto it = r.begin();
            BOOST_TEST_REQUIRE((it != r.end()));
            BOOST_TEST(pool.count_workers() >= 1u);
            std::vector<int> got{*it};
            for (++it; it != r.end(); ++it)
                got.push_back(*it);
            if (is_ordered(v))
                BOOST_TEST(got == iota_vector(10), boost::test_tools::per_element());
            else
                BOOST_TEST(whole_chunks(got, 10, 2), "got " << to_string(got));
            BOOST_TEST(calls.load() == 10);
        }
    }
}

BOOST_AUTO_TEST_CASE(map_all_variants_submit_everything_at_the_call)
{
    for (variant v : all_variants)
    {
        if (is_lazy(v))
            continue;
        BOOST_TEST_CONTEXT(v)
        {
            pal::thread_pool pool(2);
            std::atomic<int> calls{0};
            // buffer_size 1 does not apply to the _all variants: every item runs although no
            // result is requested.
            auto r = make_map(pool, v, [&calls](int i, int) { ++calls; return i; }, 7,
                              pal::map_options{.chunk_size = 1, .buffer_size = 1});
            BOOST_TEST(eventually([&] { return calls.load() == 7; }),
                       "only " << calls.load() << " of 7 items ran before the first step");
            std::vector<int> got = drain(r);
            if (is_ordered(v))
                BOOST_TEST(got == iota_vector(7), boost::test_tools::per_element());
            else
                BOOST_TEST(whole_chunks(got, 7, 1), "got " << to_string(got));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_lazy_map_over_an_infinite_range)
{
    for (bool ordered : {true, false})
    {
        BOOST_TEST_CONTEXT((ordered ? "map" : "map_unordered"))
        {
            pal::thread_pool pool(4);
            std::atomic<long> calls{0};
            {
                auto f = [&calls](long i) {
                    ++calls;
                    return i * i;
                };
                pal::map_options o{.chunk_size = 5, .buffer_size = 4, .keep_order = ordered};
                auto r = pool.map(f, naturals_long(), o);
                std::vector<long> got;
                for (long v : r)
                {
                    got.push_back(v);
                    if (got.size() == 100)
                        break;
                }
                if (ordered)
                {
                    bool exact = true;
                    for (std::size_t i = 0; i < got.size(); ++i)
                        exact = exact && got[i] == static_cast<long>(i * i);
                    BOOST_TEST(exact);
                }
                else
                {
                    std::set<long> distinct(got.begin(), got.end());
                    BOOST_TEST(distinct.size() == 100u);
                }
                // 20 chunks consumed, at most 4 more submitted: never more items than that.
                BOOST_TEST(calls.load() <= 120);
            }
            BOOST_TEST(pool.count_pending_tasks() == 0u);
            BOOST_TEST(pool.join(long_wait));
            BOOST_TEST(calls.load() <= 120);
        }
    }

    // starmap over an infinite view of tuples.
    pal::thread_pool pool(2);
#if ASIO_PAL_TEST_STD_VIEWS
    auto pairs = std::views::iota(0) | std::views::transform([](int i) { return std::tuple{i, i + 1}; });
#else
    auto pairs = generated([](long i) { return std::tuple{static_cast<int>(i), static_cast<int>(i) + 1}; });
#endif
    std::vector<int> got;
    for (int v : pool.starmap([](int a, int b) { return a * b; }, pairs,
                              pal::map_options{.chunk_size = 3, .buffer_size = 2}))
    {
        got.push_back(v);
        if (got.size() == 6)
            break;
    }
    BOOST_TEST(got == (std::vector<int>{0, 2, 6, 12, 20, 30}), boost::test_tools::per_element());
    BOOST_TEST(pool.join(long_wait));
}

BOOST_AUTO_TEST_CASE(a_lazy_map_over_a_user_defined_infinite_range)
{
    // A range type of the user's, with a sentinel type of its own (any compiler).
    pal::thread_pool pool(2);
    auto cubes = generated([](long i) { return i * i * i; });
    auto zipped = pool.map([](long c, const std::string& s) { return s + std::to_string(c); }, cubes,
                           std::vector<std::string>{"a", "b", "c", "d"},
                           pal::map_options{.chunk_size = 3, .buffer_size = 2});
    BOOST_TEST(drain(zipped) == (std::vector<std::string>{"a0", "b1", "c8", "d27"}),
               boost::test_tools::per_element());

    std::vector<long> got;
    for (long v : pool.map_unordered([](long c) { return c + 1; }, cubes,
                                     pal::map_options{.chunk_size = 2, .buffer_size = 3}))
    {
        got.push_back(v);
        if (got.size() == 10)
            break;
    }
    // In completion order: a chunk that a preempted worker holds may be overtaken by the ones
    // after it, but only within the window of chunks in flight (3 chunks of 2 items).
    std::sort(got.begin(), got.end());
    BOOST_TEST((std::adjacent_find(got.begin(), got.end()) == got.end()), "a result came twice");
    for (long v : got)
    {
        long i = 0;
        while (i * i * i + 1 < v)
            ++i;
        BOOST_TEST(i * i * i + 1 == v, v << " is no cube + 1");
        BOOST_TEST(i < 10 + 3 * 2, "item " << i << " is beyond the map's window");
    }

    auto tuples = generated([](long i) { return std::tuple<long, long>{i, 2 * i}; });
    std::vector<long> sums;
    for (long v : pool.starmap([](long a, long b) { return a + b; }, tuples))
    {
        sums.push_back(v);
        if (sums.size() == 4)
            break;
    }
    BOOST_TEST(sums == (std::vector<long>{0, 3, 6, 9}), boost::test_tools::per_element());
    BOOST_TEST(pool.join(long_wait));
}

BOOST_AUTO_TEST_CASE(a_lazy_map_over_a_single_pass_istream_view)
{
    pal::thread_pool pool(3);
    const std::vector<int> squares{9, 1, 16, 1, 25, 81, 4, 36, 25, 9, 25};
    for (std::size_t chunk : {1u, 3u})
    {
        BOOST_TEST_CONTEXT("chunk_size=" << chunk)
        {
            std::istringstream in("3 1 4 1 5 9 2 6 5 3 5");
            auto r = pool.map([](int x) { return x * x; }, ints_of(in),
                              pal::map_options{.chunk_size = chunk, .buffer_size = 2});
            BOOST_TEST(static_cast<long>(in.tellg()) == 0L); // not even read before the first step
            BOOST_TEST(drain(r) == squares, boost::test_tools::per_element());
            BOOST_TEST(in.eof());

            // An lvalue istream view, unordered.
            std::istringstream in2("3 1 4 1 5 9 2 6 5 3 5");
            auto view = ints_of(in2);
            auto u = pool.map_unordered([](int x) { return x * x; }, view,
                                        pal::map_options{.chunk_size = chunk, .buffer_size = 3});
            std::vector<int> got = drain(u);
            std::multiset<int> a(got.begin(), got.end());
            std::multiset<int> b(squares.begin(), squares.end());
            BOOST_TEST((a == b), "got " << to_string(got));

            // Zipped with an infinite range: the indices pair up with the stream's items.
            std::istringstream in3("7 8 9");
            auto z = pool.map([](int i, int x) { return i * 100 + x; }, naturals(), ints_of(in3),
                              pal::map_options{.chunk_size = chunk});
            BOOST_TEST(drain(z) == (std::vector<int>{7, 108, 209}), boost::test_tools::per_element());
        }
    }
}

namespace {

/// Runs lazy variant `v` over 24 items with `chunk` items per chunk and `buffer` chunks of
/// buffer, checking at each chunk the consumer reaches that the chunks submitted and not yet
/// consumed never exceed `buffer` (and that the buffer does fill up to it).
///
/// Chunk c may finish only once the gate's level exceeds c; the consumer raises the level to
/// c + 2 when it reaches chunk c, so exactly one chunk ahead can finish at a time and the
/// others submitted stay started and blocked, in plain sight of the pool's counters (enough
/// workers for all). At each chunk start, the consumer waits until the pool is still: no task
/// pending, and every busy worker is inside a started, unfinished chunk. Then every submitted
/// chunk has started, so "chunks started - chunks consumed" is the number submitted and not
/// consumed, and so is "pending + busy": both must be exactly min(buffer, chunks left).
/// Returns false when the pool never settled (the control of the test was lost).
bool check_buffer_bound(variant v, std::size_t chunk, std::size_t buffer)
{
    const int n = 24;
    const int chunks = (n + static_cast<int>(chunk) - 1) / static_cast<int>(chunk);
    std::atomic<int> started{0};
    std::atomic<int> finished{0};
    pal::thread_pool pool(buffer + 3);
    gate g;
    g.raise(1); // chunk 0 may finish
    auto f = [&started, &finished, d = g.get_door(), chunk](int i, int) {
        const int c = i / static_cast<int>(chunk);
        if (i % static_cast<int>(chunk) == 0)
            ++started;
        d.pass(c + 1);
        if (i % static_cast<int>(chunk) == static_cast<int>(chunk) - 1 || i == n - 1)
            ++finished;
        return i;
    };
    auto r = make_map(pool, v, f, n,
                      pal::map_options{.chunk_size = chunk, .buffer_size = buffer});
    int consumed = 0;
    int max_ahead = 0;
    std::vector<int> got;
    for (int value : r)
    {
        got.push_back(value);
        const int k = consumed++;
        if (k % static_cast<int>(chunk) != 0)
            continue;
        const int c = k / static_cast<int>(chunk); // the chunk being consumed
        bool still = eventually([&] {
            return pool.count_pending_tasks() == 0 &&
                   static_cast<int>(pool.count_busy_workers()) == started.load() - finished.load();
        });
        if (!still)
        {
            BOOST_ERROR("the pool never settled at chunk "
                        << c << ": pending " << pool.count_pending_tasks() << ", busy "
                        << pool.count_busy_workers() << ", started " << started.load()
                        << ", finished " << finished.load());
            return false; // the rest would only wait again
        }
        const int ahead = started.load() - (c + 1);
        const int in_pool =
            static_cast<int>(pool.count_pending_tasks() + pool.count_busy_workers());
        const int expected = std::min(static_cast<int>(buffer), chunks - (c + 1));
        BOOST_TEST(ahead <= static_cast<int>(buffer), "at chunk " << c << ": " << ahead
                                                                 << " chunks submitted ahead");
        BOOST_TEST(in_pool <= static_cast<int>(buffer),
                   "at chunk " << c << ": pending + busy = " << in_pool);
        BOOST_TEST(ahead == expected, "at chunk " << c);
        max_ahead = std::max(max_ahead, ahead);
        g.raise(c + 2); // chunk c + 1 may finish
    }
    BOOST_TEST(max_ahead == std::min(static_cast<int>(buffer), chunks - 1));
    if (is_ordered(v))
        BOOST_TEST(got == iota_vector(n), boost::test_tools::per_element());
    else
        BOOST_TEST(whole_chunks(got, n, static_cast<int>(chunk)), "got " << to_string(got));
    return true;
}

} // namespace

BOOST_AUTO_TEST_CASE(at_most_buffer_size_chunks_are_submitted_and_not_consumed)
{
    for (variant v : lazy_variants)
        for (auto [chunk, buffer] : {std::pair<std::size_t, std::size_t>{1, 1},
                                     {1, 3},
                                     {2, 2},
                                     {3, 4}})
        {
            BOOST_TEST_CONTEXT(v << " chunk_size=" << chunk << " buffer_size=" << buffer)
            {
                if (!check_buffer_bound(v, chunk, buffer))
                    return; // later cases would fail the same way, slowly
            }
        }
}

// --- Chunks and order ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_chunk_runs_its_consecutive_items_in_one_task)
{
    // 10 items, chunk_size 3: chunks {0,1,2} {3,4,5} {6,7,8} {9}. The first item of each chunk
    // waits until the four first items have all arrived, so four tasks run at once, each
    // holding its worker; the items of a chunk must then share their first item's thread, and
    // the four chunks have four different threads. Items grouped otherwise would run on another
    // thread than their chunk's first item (which blocks its own).
    const variant cases[] = {variant::map, variant::map_all, variant::map_unordered,
                             variant::starmap_all_unordered};
    for (variant v : cases)
    {
        BOOST_TEST_CONTEXT(v)
        {
            std::vector<std::thread::id> threads(10);
            std::atomic<int> not_met{0};
            pal::thread_pool pool(4);
            gate g;
            auto f = [&threads, &not_met, d = g.get_door()](int i, int) {
                if (i % 3 == 0 && !d.meet(4))
                    ++not_met;
                threads[static_cast<std::size_t>(i)] = std::this_thread::get_id();
                return i * i;
            };
            auto r = make_map(pool, v, f, 10, pal::map_options{.chunk_size = 3, .buffer_size = 4});
            std::vector<int> got = drain(r);
            BOOST_TEST(not_met.load() == 0);
            std::vector<int> squares;
            for (int i = 0; i < 10; ++i)
                squares.push_back(i * i);
            if (is_ordered(v))
                BOOST_TEST(got == squares, boost::test_tools::per_element());
            else
            {
                std::vector<int> items;
                for (int x : got)
                {
                    int i = 0;
                    while (i * i < x)
                        ++i;
                    items.push_back(i);
                }
                BOOST_TEST(whole_chunks(items, 10, 3), "items " << to_string(items));
            }
            for (int i = 0; i < 10; ++i)
                BOOST_TEST((threads[static_cast<std::size_t>(i)] ==
                            threads[static_cast<std::size_t>(i - i % 3)]),
                           "item " << i << " ran apart from its chunk's first item");
            std::set<std::thread::id> distinct{threads[0], threads[3], threads[6], threads[9]};
            BOOST_TEST(distinct.size() == 4u);
            BOOST_TEST(pool.join(long_wait));
        }
    }
}

namespace {

/// Runs variant `v` over `chunks` chunks of `chunk` items whose completion order is the reverse
/// of the input order: the first item of chunk c waits until every chunk has started, the
/// bodies of chunks c+1.. have ended and their workers have gone back to idle (busy == c + 1:
/// only chunks 0..c, all waiting here, are busy), so that the futures of chunks c+1.. are done.
/// Returns the items in the order yielded.
std::vector<int> run_reverse_completion(variant v, int chunks, int chunk, bool& control_lost)
{
    const int n = chunks * chunk;
    std::atomic<int> started{0};
    std::atomic<int> done{0};
    std::atomic<bool> lost{false};
    pal::thread_pool pool(static_cast<std::size_t>(chunks));
    auto f = [&started, &done, &lost, &pool, chunks, chunk](int i, int) {
        const int c = i / chunk;
        if (i % chunk == 0)
        {
            ++started;
            bool ok = eventually([&] {
                return started.load() == chunks && done.load() == chunks - 1 - c &&
                       static_cast<int>(pool.count_busy_workers()) == c + 1;
            });
            if (!ok)
                lost = true;
        }
        if (i % chunk == chunk - 1)
            ++done;
        return i;
    };
    auto r = make_map(pool, v, f, n,
                      pal::map_options{.chunk_size = static_cast<std::size_t>(chunk),
                                       .buffer_size = static_cast<std::size_t>(chunks)});
    std::vector<int> got = drain(r);
    control_lost = lost.load();
    return got;
}

} // namespace

BOOST_AUTO_TEST_CASE(keep_order_false_yields_in_completion_order)
{
    // The case of the issue: item 0's task waits until item 1's has completed; unordered, the
    // first result is item 1's; ordered, item 0's.
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            bool lost = false;
            std::vector<int> got = run_reverse_completion(v, 2, 1, lost);
            BOOST_TEST(!lost);
            BOOST_TEST_REQUIRE(got.size() == 2u);
            BOOST_TEST(got[0] == (is_ordered(v) ? 0 : 1));
            BOOST_TEST(got[1] == (is_ordered(v) ? 1 : 0));
        }
    }
    // Four chunks completing in reverse, with chunk sizes 1 and 2.
    for (variant v : all_variants)
        for (int chunk : {1, 2})
        {
            BOOST_TEST_CONTEXT(v << " chunk_size=" << chunk)
            {
                bool lost = false;
                std::vector<int> got = run_reverse_completion(v, 4, chunk, lost);
                BOOST_TEST(!lost);
                std::vector<int> expected;
                if (is_ordered(v))
                    expected = iota_vector(4 * chunk);
                else
                    for (int c = 3; c >= 0; --c)
                        for (int i = 0; i < chunk; ++i)
                            expected.push_back(c * chunk + i);
                BOOST_TEST(got == expected, boost::test_tools::per_element());
            }
        }
}

BOOST_AUTO_TEST_CASE(unordered_results_follow_a_chosen_completion_order)
{
    // Item order[k] may finish once the consumer has received k results: the consumer raises
    // the gate as it goes, so only one item can complete at a time, in this order.
    const std::vector<int> order{2, 0, 3, 1};
    const variant cases[] = {variant::map_unordered, variant::map_all_unordered,
                             variant::starmap_unordered, variant::starmap_all_unordered};
    for (variant v : cases)
    {
        BOOST_TEST_CONTEXT(v)
        {
            pal::thread_pool pool(4);
            gate g;
            g.raise(1);
            auto f = [&order, d = g.get_door()](int i, int) {
                long rank = std::find(order.begin(), order.end(), i) - order.begin();
                return d.pass(rank + 1) ? i : -1;
            };
            auto r = make_map(pool, v, f, 4, pal::map_options{.buffer_size = 4});
            std::vector<int> got;
            for (int x : r)
            {
                got.push_back(x);
                g.raise(static_cast<long>(got.size()) + 1);
            }
            BOOST_TEST(got == order, boost::test_tools::per_element());
        }
    }
}

// --- Timeout ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_timeout_throws_timeout_error_from_the_iteration)
{
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            pal::thread_pool pool(2);
            gate g;
            auto f = [d = g.get_door()](int i, int) {
                d.pass();
                return i;
            };
            auto r = make_map(pool, v, f, 3, pal::map_options{.timeout = 50ms});
            BOOST_CHECK_THROW(r.begin(), pal::timeout_error);
            g.open();
        }
    }
}

BOOST_AUTO_TEST_CASE(a_timeout_in_the_middle_of_an_iteration)
{
    // Items 0 and 1 come at once; item 2 never does (before the gate opens): the iteration
    // yields at most items 0 and 1, then throws timeout_error. (How many of 0 and 1 arrive
    // before the deadline is up to the scheduler; their values and the exception are not.)
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            pal::thread_pool pool(3);
            gate g;
            auto f = [d = g.get_door()](int i, int) {
                if (i == 2)
                    d.pass();
                return i;
            };
            auto r = make_map(pool, v, f, 3, pal::map_options{.buffer_size = 3, .timeout = 50ms});
            std::vector<int> got;
            bool timed_out = false;
            try
            {
                for (int x : r)
                    got.push_back(x);
            }
            catch (const pal::timeout_error&)
            {
                timed_out = true;
            }
            BOOST_TEST(timed_out);
            BOOST_TEST(got.size() <= 2u);
            std::set<int> distinct(got.begin(), got.end());
            BOOST_TEST(distinct.size() == got.size());
            for (int x : got)
                BOOST_TEST((x == 0 || x == 1));
            if (is_ordered(v))
                for (std::size_t i = 0; i < got.size(); ++i)
                    BOOST_TEST(got[i] == static_cast<int>(i));
            g.open();
        }
    }
}

BOOST_AUTO_TEST_CASE(a_timeout_of_zero_expires_at_the_first_wait)
{
    pal::thread_pool pool(1);
    gate g;
    auto r = pool.map(
        [d = g.get_door()](int i) {
            d.pass();
            return i;
        },
        std::vector<int>{1, 2}, pal::map_options{.timeout = 0ns});
    BOOST_CHECK_THROW(r.begin(), pal::timeout_error);
    g.open();
}

BOOST_AUTO_TEST_CASE(the_timeout_is_one_deadline_that_a_quick_iteration_does_not_reach)
{
    pal::thread_pool pool(3);
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            auto r = make_map(pool, v, [](int i, int j) { return combine(i, j); }, 20,
                              pal::map_options{.chunk_size = 3, .buffer_size = 2, .timeout = long_wait});
            std::vector<int> got = drain(r);
            std::vector<int> expected = expected_combined(20);
            if (!is_ordered(v))
                std::sort(got.begin(), got.end());
            BOOST_TEST(got == expected, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_timeout_leaves_outstanding_tasks_until_the_range_is_destroyed)
{
    // One worker, two chunks both waiting at the gate: chunk 0 runs (blocked), chunk 1 stays
    // queued. The timeout does not withdraw chunk 1; destroying the range does.
    const variant cases[] = {variant::map, variant::map_all_unordered};
    for (variant v : cases)
    {
        BOOST_TEST_CONTEXT(v)
        {
            pal::thread_pool pool(1);
            gate g;
            auto f = [d = g.get_door()](int i, int) {
                d.pass();
                return i;
            };
            std::optional<pal::map_result<int>> r;
            r.emplace(make_map(pool, v, f, 2, pal::map_options{.buffer_size = 2, .timeout = 50ms}));
            BOOST_CHECK_THROW(r->begin(), pal::timeout_error);
            BOOST_TEST(g.wait_arrivals(1));
            BOOST_TEST(pool.count_pending_tasks() == 1u); // still queued after the timeout
            BOOST_TEST(pool.count_busy_workers() == 1u);
            r.reset();
            BOOST_TEST(pool.count_pending_tasks() == 0u); // withdrawn with the range
            g.open();
            BOOST_TEST(pool.join(long_wait));
            BOOST_TEST(g.arrivals() == 1u); // chunk 1 never ran
        }
    }
}

// --- Failures ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_task_exception_is_rethrown_at_its_position)
{
    // Items 0-4 are yielded, then item 5's exception with its message, then the iteration is
    // over. Unordered variants run on a single worker, so that completion order is input order.
    for (variant v : all_variants)
        for (std::size_t chunk : {1u, 3u, 4u})
        {
            BOOST_TEST_CONTEXT(v << " chunk_size=" << chunk)
            {
                pal::thread_pool pool(is_ordered(v) ? 3u : 1u);
                auto f = [](int i, int) {
                    if (i == 5)
                        throw std::runtime_error("item 5 failed");
                    return i;
                };
                auto r = make_map(pool, v, f, 10,
                                  pal::map_options{.chunk_size = chunk, .buffer_size = 2});
                failed_iteration out = consume_until_failure(r);
                BOOST_TEST(out.values == iota_vector(5), boost::test_tools::per_element());
                BOOST_TEST(out.message == "item 5 failed");
                BOOST_TEST(out.ended);
                BOOST_TEST(pool.join(long_wait));
            }
        }
}

BOOST_AUTO_TEST_CASE(an_exception_of_the_first_item_comes_from_begin)
{
    pal::thread_pool pool(2);
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            auto r = make_map(
                pool, v,
                [](int i, int) -> int {
                    if (i == 0)
                        throw custom_error("item 0 failed", 42);
                    return i;
                },
                1, pal::map_options{});
            bool caught = false;
            try
            {
                r.begin();
            }
            catch (const custom_error& e)
            {
                caught = true;
                BOOST_TEST(std::string(e.what()) == "item 0 failed");
                BOOST_TEST(e.code() == 42);
            }
            BOOST_TEST(caught);
            BOOST_TEST((r.begin() == r.end()));
        }
    }
}

BOOST_AUTO_TEST_CASE(a_failure_withdraws_the_chunks_not_yet_started)
{
    // One worker; item 0 fails at once; items 1-9 wait at the gate. Whichever item the worker
    // took after item 0 blocks it; every other chunk is still queued when the consumer sees the
    // failure, and must be withdrawn then.
    pal::thread_pool pool(1);
    gate g;
    std::atomic<int> ran{0};
    auto f = [&ran, d = g.get_door()](int i, int) -> int {
        if (i == 0)
            throw std::runtime_error("item 0 failed");
        ++ran;
        d.pass();
        return i;
    };
    auto r = make_map(pool, variant::map_all, f, 10, pal::map_options{});
    BOOST_CHECK_THROW(r.begin(), std::runtime_error);
    BOOST_TEST(pool.count_pending_tasks() == 0u);
    g.open();
    BOOST_TEST(pool.join(long_wait));
    BOOST_TEST(ran.load() <= 1);
}

// --- Abandoning an iteration ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(breaking_out_of_a_lazy_map_over_iota_cancels_the_rest)
{
    for (bool ordered : {true, false})
    {
        BOOST_TEST_CONTEXT((ordered ? "map" : "map_unordered"))
        {
            pal::thread_pool pool(3);
            std::atomic<int> calls{0};
            int seen = 0;
            for (int v : pool.map(
                     [&calls](int i) {
                         ++calls;
                         return i;
                     },
                     naturals(), pal::map_options{.buffer_size = 4, .keep_order = ordered}))
            {
                (void)v;
                if (++seen == 10)
                    break;
            }
            BOOST_TEST(pool.count_pending_tasks() == 0u);
            BOOST_TEST(pool.join(long_wait));
            BOOST_TEST(calls.load() <= 14);
        }
    }
}

BOOST_AUTO_TEST_CASE(abandoning_a_map_with_running_and_queued_chunks)
{
    // Two workers, buffer_size 4, map over iota(0): item 0 returns at once, every later item
    // waits at the gate. Once item 0 is yielded, items 1 and 2 run (blocked) and 3 and 4 are
    // queued. Breaking out must withdraw 3 and 4 at once and must not wait for 1 and 2 (the loop
    // runs on another thread so that a destructor that blocks fails the test instead of hanging
    // it); no later item ever runs.
    for (bool ordered : {true, false})
    {
        BOOST_TEST_CONTEXT((ordered ? "map" : "map_unordered"))
        {
            pal::thread_pool pool(2);
            gate g;
            std::atomic<bool> settled{false};
            std::vector<int> got;
            auto f = [d = g.get_door()](int i) {
                if (i > 0)
                    d.pass();
                return i;
            };
            std::packaged_task<void()> loop([&] {
                for (int v : pool.map(f, naturals(),
                                      pal::map_options{.buffer_size = 4, .keep_order = ordered}))
                {
                    got.push_back(v);
                    settled = eventually([&] {
                        return g.arrivals() == 2 && pool.count_busy_workers() == 2 &&
                               pool.count_pending_tasks() == 2;
                    });
                    break;
                }
            });
            std::future<void> finished = loop.get_future();
            std::thread consumer(std::move(loop));
            bool returned = finished.wait_for(long_wait) == std::future_status::ready;
            std::size_t pending_after = pool.count_pending_tasks();
            g.open();
            consumer.join();
            BOOST_TEST(returned, "destroying the map blocked on its running chunks");
            BOOST_TEST(settled.load());
            BOOST_TEST(got == std::vector<int>{0}, boost::test_tools::per_element());
            BOOST_TEST(pending_after == 0u);
            BOOST_TEST(pool.join(long_wait));
            BOOST_TEST(g.arrivals() == 2u); // items 3 and 4 never ran
        }
    }
}

BOOST_AUTO_TEST_CASE(a_map_result_can_be_moved_mid_iteration)
{
    pal::thread_pool pool(2);
    auto r1 = pool.map([](int i) { return i * 2; }, iota_vector(6),
                       pal::map_options{.chunk_size = 2, .buffer_size = 2});
    auto it = r1.begin();
    BOOST_TEST_REQUIRE((it != r1.end()));
    BOOST_TEST(*it == 0);
    ++it;
    BOOST_TEST(*it == 2);
    pal::map_result<int> r2 = std::move(r1);
    std::vector<int> rest;
    for (int v : r2) // begin() continues where the iteration is
        rest.push_back(v);
    BOOST_TEST(rest == (std::vector<int>{2, 4, 6, 8, 10}), boost::test_tools::per_element());
}

// --- std::ranges ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(std_ranges_algorithms_and_views_accept_a_map)
{
    pal::thread_pool pool(3);
    auto square = [](int x) { return x * x; };

    auto even = std::ranges::count_if(pool.map(square, iota_vector(100), pal::map_options{.chunk_size = 7}),
                                      [](int x) { return x % 2 == 0; });
    BOOST_TEST(even == 50);

    // find_if on an infinite lazy map, then go on from where it stopped.
    auto r = pool.map(square, naturals(), pal::map_options{.buffer_size = 3});
    auto it = std::ranges::find_if(r, [](int x) { return x > 50; });
    BOOST_TEST_REQUIRE((it != r.end()));
    BOOST_TEST(*it == 64);
    ++it;
    BOOST_TEST(*it == 81);

    auto r2 = pool.map_all(square, iota_vector(10));
    auto found = std::ranges::find(r2, 49);
    BOOST_TEST_REQUIRE((found != r2.end()));
    BOOST_TEST(*found == 49);

    BOOST_TEST(std::ranges::equal(pool.starmap([](int a, int b) { return a + b; },
                                               std::vector<std::tuple<int, int>>{{1, 2}, {3, 4}}),
                                  std::vector<int>{3, 7}));

#if ASIO_PAL_TEST_STD_VIEWS
    std::vector<int> first;
    for (int v : pool.map(square, std::views::iota(0)) | std::views::take(5))
        first.push_back(v);
    BOOST_TEST(first == (std::vector<int>{0, 1, 4, 9, 16}), boost::test_tools::per_element());

    std::vector<std::string> texts;
    auto r3 = pool.map(square, iota_vector(4));
    for (const std::string& s : r3 | std::views::transform([](int x) { return std::to_string(x); }))
        texts.push_back(s);
    BOOST_TEST(texts == (std::vector<std::string>{"0", "1", "4", "9"}),
               boost::test_tools::per_element());
#endif

    int sum = 0;
    std::ranges::for_each(pool.map_unordered(square, iota_vector(10), pal::map_options{.buffer_size = 4}),
                          [&sum](int x) { sum += x; });
    BOOST_TEST(sum == 285);
    BOOST_TEST(pool.join(long_wait));
}

// --- Invalid options and closed pools -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(invalid_options_throw_invalid_argument_naming_the_field)
{
    pal::thread_pool pool(2);
    std::atomic<int> calls{0};
    auto f = [&calls](int i, int) {
        ++calls;
        return i;
    };
    struct bad
    {
        pal::map_options options;
        const char* field;
        bool lazy_only;
    };
    const bad cases[] = {
        {pal::map_options{.chunk_size = 0}, "chunk_size", false},
        {pal::map_options{.buffer_size = 0}, "buffer_size", true},
        {pal::map_options{.timeout = -1ms}, "timeout", false},
    };
    for (const bad& b : cases)
        for (variant v : all_variants)
        {
            if (b.lazy_only && !is_lazy(v))
                continue;
            BOOST_TEST_CONTEXT(v << " " << b.field)
            {
                bool thrown = false;
                try
                {
                    auto r = make_map(pool, v, f, 5, b.options);
                }
                catch (const std::invalid_argument& e)
                {
                    thrown = true;
                    BOOST_TEST(std::string(e.what()).find(b.field) != std::string::npos,
                               "message: " << e.what());
                }
                BOOST_TEST(thrown);
            }
        }
    BOOST_TEST(calls.load() == 0);
    BOOST_TEST(pool.count_workers() == 0u);
}

BOOST_AUTO_TEST_CASE(a_closed_pool_throws_at_the_first_step_or_at_the_call)
{
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            pal::thread_pool pool(2);
            pool.shutdown();
            auto f = [](int i, int) { return i; };
            if (is_lazy(v))
            {
                std::optional<pal::map_result<int>> r;
                BOOST_CHECK_NO_THROW(r.emplace(make_map(pool, v, f, 3, pal::map_options{})));
                if (r)
                    BOOST_CHECK_THROW(r->begin(), pal::pool_closed_error);
            }
            else
            {
                BOOST_CHECK_THROW(make_map(pool, v, f, 3, pal::map_options{}), pal::pool_closed_error);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_pool_shut_down_mid_iteration_yields_what_it_ran_then_pool_closed_error)
{
    // Each consumed chunk is replaced by a new one; once the pool is shut down that submit is
    // refused. The chunks submitted before it still yield their items, then pool_closed_error
    // comes at the refused chunk's position, and the iteration is over.
    pal::thread_pool pool(1);
    auto r = pool.map([](int i) { return i; }, iota_vector(6),
                      pal::map_options{.chunk_size = 1, .buffer_size = 2});
    std::vector<int> got;
    auto it = r.begin(); // submits items 0 and 1; taking 0 submits 2
    got.push_back(*it);
    BOOST_TEST_REQUIRE(pool.join(long_wait)); // items 1 and 2 are done
    BOOST_TEST(pool.shutdown());
    bool refused = false;
    try
    {
        for (++it; it != r.end(); ++it)
            got.push_back(*it);
    }
    catch (const pal::pool_closed_error&)
    {
        refused = true;
    }
    BOOST_TEST(refused);
    BOOST_TEST(got == std::vector<int>({0, 1, 2}), "got " << got.size() << " items");
    BOOST_TEST((it == r.end()));
}

// --- async_next --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(async_next_yields_every_value_then_an_empty_optional)
{
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            net::io_context io;
            pal::thread_pool pool(3);
            auto r = make_map(pool, v, [](int i, int j) { return combine(i, j); }, 10,
                              pal::map_options{.chunk_size = 3, .buffer_size = 2});
            std::vector<int> got;
            bool end_stays = false;
            bool on_io_thread = true;
            const auto io_thread = std::this_thread::get_id(); // run_for runs here
            auto s = spawn(io, [&]() -> net::awaitable<void> {
                for (;;)
                {
                    std::optional<int> x = co_await r.async_next(net::use_awaitable);
                    on_io_thread = on_io_thread && std::this_thread::get_id() == io_thread;
                    if (!x)
                        break;
                    got.push_back(*x);
                }
                std::optional<int> again = co_await r.async_next(net::use_awaitable);
                end_stays = !again.has_value();
            });
            io.run_for(long_wait);
            check_spawned(*s);
            if (is_ordered(v))
                BOOST_TEST(got == expected_combined(10), boost::test_tools::per_element());
            else
            {
                std::vector<int> items;
                for (int x : got)
                    items.push_back(x / 10000);
                BOOST_TEST(whole_chunks(items, 10, 3), "items " << to_string(items));
            }
            BOOST_TEST(end_stays);
            BOOST_TEST(on_io_thread);
        }
    }
}

BOOST_AUTO_TEST_CASE(async_next_unordered_follows_completion_order)
{
    // The coroutine lets item order[k] finish once it has received k results.
    const std::vector<int> order{2, 0, 3, 1};
    const variant cases[] = {variant::map_unordered, variant::map_all_unordered,
                             variant::starmap_unordered, variant::starmap_all_unordered};
    for (variant v : cases)
    {
        BOOST_TEST_CONTEXT(v)
        {
            net::io_context io;
            pal::thread_pool pool(4);
            gate g;
            g.raise(1);
            auto f = [&order, d = g.get_door()](int i, int) {
                long rank = std::find(order.begin(), order.end(), i) - order.begin();
                return d.pass(rank + 1) ? i : -1;
            };
            auto r = make_map(pool, v, f, 4, pal::map_options{.buffer_size = 4});
            std::vector<int> got;
            bool ended = false;
            auto s = spawn(io, [&]() -> net::awaitable<void> {
                while (std::optional<int> x = co_await r.async_next(net::use_awaitable))
                {
                    got.push_back(*x);
                    g.raise(static_cast<long>(got.size()) + 1);
                }
                ended = true;
            });
            io.run_for(long_wait);
            check_spawned(*s);
            BOOST_TEST(got == order, boost::test_tools::per_element());
            BOOST_TEST(ended);
        }
    }
}

BOOST_AUTO_TEST_CASE(async_next_delivers_a_task_exception_as_exception_ptr)
{
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            net::io_context io;
            pal::thread_pool pool(is_ordered(v) ? 2u : 1u); // one worker: completion = input order
            auto r = make_map(
                pool, v,
                [](int i, int) {
                    if (i == 2)
                        throw std::runtime_error("item 2 failed");
                    return i;
                },
                5, pal::map_options{.chunk_size = 1, .buffer_size = 2});
            std::vector<int> got;
            std::exception_ptr error;
            bool value_with_error = true;
            bool end_after = false;
            auto s = spawn(io, [&]() -> net::awaitable<void> {
                for (;;)
                {
                    auto [e, x] = co_await r.async_next(net::as_tuple(net::use_awaitable));
                    if (e)
                    {
                        error = e;
                        value_with_error = x.has_value();
                        break;
                    }
                    if (!x)
                        break;
                    got.push_back(*x);
                }
                auto [e2, x2] = co_await r.async_next(net::as_tuple(net::use_awaitable));
                end_after = !e2 && !x2;
            });
            io.run_for(long_wait);
            check_spawned(*s);
            BOOST_TEST(got == (std::vector<int>{0, 1}), boost::test_tools::per_element());
            BOOST_TEST(message_of(error) == "item 2 failed");
            BOOST_TEST(holds<std::runtime_error>(error));
            BOOST_TEST(!value_with_error);
            BOOST_TEST(end_after);
        }
    }
}

BOOST_AUTO_TEST_CASE(async_next_does_not_block_the_coroutine_thread)
{
    // One io_context thread. The coroutine waits for item 0, which waits at the gate; the gate
    // is opened by a handler posted to the same io_context after the coroutine started. If
    // async_next blocked the thread, that handler could not run before item 0 gave up.
    for (bool ordered : {true, false})
    {
        BOOST_TEST_CONTEXT((ordered ? "map" : "map_unordered"))
        {
            net::io_context io;
            pal::thread_pool pool(2);
            gate g;
            auto r = pool.map(
                [d = g.get_door()](int i) { return d.pass() ? i : -1; }, std::vector<int>{0},
                pal::map_options{.keep_order = ordered});
            std::optional<int> got;
            auto s = spawn(io, [&]() -> net::awaitable<void> {
                got = co_await r.async_next(net::use_awaitable);
            });
            net::post(io, [&g] { g.open(); });
            io.run_for(long_wait);
            check_spawned(*s);
            BOOST_TEST((got == std::optional<int>(0)));
        }
    }
}

BOOST_AUTO_TEST_CASE(async_next_never_completes_inside_the_initiating_call)
{
    for (variant v : all_variants)
    {
        BOOST_TEST_CONTEXT(v)
        {
            net::io_context io;
            pal::thread_pool pool(2);
            // Empty input: the end is known at once.
            auto empty = make_map(pool, v, [](int i, int) { return i; }, 0, pal::map_options{});
            bool called = false;
            std::optional<int> value{-1};
            empty.async_next(net::bind_executor(io, [&](std::exception_ptr e, std::optional<int> x) {
                called = true;
                BOOST_TEST(!e);
                value = x;
            }));
            BOOST_TEST(!called);
            io.run_for(long_wait);
            BOOST_TEST(called);
            BOOST_TEST(!value.has_value());

            // A result already computed (map_all) is also delivered through the executor.
            if (!is_lazy(v))
            {
                std::atomic<int> calls{0};
                auto ready = make_map(pool, v, [&calls](int i, int) { ++calls; return i; }, 1,
                                      pal::map_options{});
                BOOST_TEST(eventually([&] {
                    return calls.load() == 1 && pool.count_busy_workers() == 0;
                }));
                called = false;
                ready.async_next(net::bind_executor(io, [&](std::exception_ptr, std::optional<int> x) {
                    called = true;
                    value = x;
                }));
                BOOST_TEST(!called);
                io.restart();
                io.run_for(long_wait);
                BOOST_TEST(called);
                BOOST_TEST((value == std::optional<int>(0)));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(async_next_with_use_future)
{
    pal::thread_pool pool(2);
    auto r = pool.map(
        [](int i) {
            if (i == 2)
                throw std::runtime_error("item 2 failed");
            return i * 3;
        },
        iota_vector(4));
    std::future<std::optional<int>> a = r.async_next(net::use_future);
    BOOST_TEST_REQUIRE((a.wait_for(long_wait) == std::future_status::ready));
    BOOST_TEST((a.get() == std::optional<int>(0)));
    std::future<std::optional<int>> b = r.async_next(net::use_future);
    BOOST_TEST_REQUIRE((b.wait_for(long_wait) == std::future_status::ready));
    BOOST_TEST((b.get() == std::optional<int>(3)));
    std::future<std::optional<int>> c = r.async_next(net::use_future);
    BOOST_TEST_REQUIRE((c.wait_for(long_wait) == std::future_status::ready));
    bool thrown = false;
    try
    {
        c.get();
    }
    catch (const std::runtime_error& e)
    {
        thrown = true;
        BOOST_TEST(std::string(e.what()) == "item 2 failed");
    }
    BOOST_TEST(thrown);
}

BOOST_AUTO_TEST_CASE(async_next_of_a_void_map_gives_monostate)
{
    net::io_context io;
    pal::thread_pool pool(2);
    std::atomic<int> sum{0};
    auto r = pool.map_unordered([&sum](int i) { sum += i; }, iota_vector(5),
                                pal::map_options{.chunk_size = 2, .buffer_size = 2});
    int count = 0;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        while (std::optional<std::monostate> x = co_await r.async_next(net::use_awaitable))
            ++count;
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(count == 5);
    BOOST_TEST(sum.load() == 10);
}

BOOST_AUTO_TEST_CASE(async_next_cancelled_by_a_timer_leaves_the_map_usable)
{
    // Item 0 waits at the gate; `async_next || timer` returns with the timer; after the gate
    // opens, async_next resumes the map where it was: no item is lost or repeated.
    for (bool ordered : {true, false})
    {
        BOOST_TEST_CONTEXT((ordered ? "map" : "map_unordered"))
        {
            net::io_context io;
            pal::thread_pool pool(2);
            gate g;
            auto r = pool.map(
                [d = g.get_door()](int i) {
                    if (i == 0)
                        d.pass();
                    return i;
                },
                iota_vector(5), pal::map_options{.chunk_size = 1, .buffer_size = 1, .keep_order = ordered});
            bool timer_won = false;
            std::vector<int> got;
            auto s = spawn(io, [&]() -> net::awaitable<void> {
                net::steady_timer timer(co_await net::this_coro::executor, 1ms);
                auto first = co_await (r.async_next(net::use_awaitable) ||
                                       timer.async_wait(net::use_awaitable));
                timer_won = first.index() == 1;
                g.open();
                while (std::optional<int> x = co_await r.async_next(net::use_awaitable))
                    got.push_back(*x);
            });
            io.run_for(long_wait);
            check_spawned(*s);
            BOOST_TEST(timer_won);
            BOOST_TEST(got == iota_vector(5), boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(async_next_honours_every_cancellation_type)
{
    // async_next documents terminal, partial and total cancellation. The signal is emitted while
    // item 0 is blocked; only then does the gate open, so an ignored cancellation shows as a
    // value delivered instead of operation_aborted.
    const std::pair<net::cancellation_type, const char*> types[] = {
        {net::cancellation_type::terminal, "terminal"},
        {net::cancellation_type::partial, "partial"},
        {net::cancellation_type::total, "total"}};
    for (auto [type, type_name] : types)
        for (bool ordered : {true, false})
        {
            BOOST_TEST_CONTEXT(type_name << " cancellation, "
                                         << (ordered ? "map" : "map_unordered"))
            {
                net::io_context io;
                pal::thread_pool pool(2);
                gate g;
                auto r = pool.map(
                    [d = g.get_door()](int i) {
                        if (i == 0)
                            d.pass();
                        return i;
                    },
                    iota_vector(3), pal::map_options{.keep_order = ordered});
                net::cancellation_signal signal;
                bool called = false;
                std::exception_ptr error;
                std::optional<int> value;
                r.async_next(net::bind_cancellation_slot(
                    signal.slot(),
                    net::bind_executor(io, [&](std::exception_ptr e, std::optional<int> x) {
                        called = true;
                        error = e;
                        value = x;
                    })));
                BOOST_TEST(g.wait_arrivals(1));
                signal.emit(type);
                g.open();
                io.run_for(long_wait);
                BOOST_TEST_REQUIRE(called);
                BOOST_TEST(is_operation_aborted(error),
                           "expected operation_aborted; got "
                               << (error ? message_of(error)
                                         : "value " + (value ? std::to_string(*value) : "none")));
                BOOST_TEST(!value.has_value());
                // The map goes on from where it was.
                std::vector<int> rest;
                for (;;)
                {
                    std::future<std::optional<int>> next = r.async_next(net::use_future);
                    BOOST_TEST_REQUIRE((next.wait_for(long_wait) == std::future_status::ready));
                    std::optional<int> x = next.get();
                    if (!x)
                        break;
                    rest.push_back(*x);
                }
                if (error)
                    BOOST_TEST(rest == iota_vector(3), boost::test_tools::per_element());
            }
        }
}

BOOST_AUTO_TEST_CASE(async_next_reports_an_expired_deadline)
{
    net::io_context io;
    pal::thread_pool pool(1);
    gate g;
    auto r = pool.map(
        [d = g.get_door()](int i) {
            d.pass();
            return i;
        },
        iota_vector(2), pal::map_options{.timeout = 0ns});
    std::exception_ptr error;
    std::optional<int> value;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        std::tie(error, value) = co_await r.async_next(net::as_tuple(net::use_awaitable));
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(holds<pal::timeout_error>(error));
    BOOST_TEST(!value.has_value());
    g.open();
}

BOOST_AUTO_TEST_CASE(async_next_on_a_closed_pool_delivers_pool_closed_error)
{
    net::io_context io;
    pal::thread_pool pool(1);
    pool.shutdown();
    auto r = pool.map([](int i) { return i; }, iota_vector(2));
    std::exception_ptr error;
    std::optional<int> value{7};
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        std::tie(error, value) = co_await r.async_next(net::as_tuple(net::use_awaitable));
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(holds<pal::pool_closed_error>(error));
    BOOST_TEST(!value.has_value());
}

BOOST_AUTO_TEST_CASE(async_next_on_a_pool_shut_down_mid_iteration_yields_what_it_ran_first)
{
    // As a_pool_shut_down_mid_iteration_yields_what_it_ran_then_pool_closed_error, through
    // async_next: the refused refill comes after the items submitted before it.
    net::io_context io;
    pal::thread_pool pool(1);
    auto r = pool.map([](int i) { return i; }, iota_vector(6),
                      pal::map_options{.chunk_size = 1, .buffer_size = 2});
    std::vector<int> got;
    std::exception_ptr error;
    auto s = spawn(io, [&]() -> net::awaitable<void> {
        std::optional<int> v = co_await r.async_next(net::use_awaitable);
        got.push_back(v.value_or(-1));
        BOOST_TEST_REQUIRE(pool.join(long_wait)); // items 1 and 2 are done
        BOOST_TEST(pool.shutdown());
        for (;;)
        {
            std::tie(error, v) = co_await r.async_next(net::as_tuple(net::use_awaitable));
            if (error || !v)
                break;
            got.push_back(*v);
        }
    });
    io.run_for(long_wait);
    check_spawned(*s);
    BOOST_TEST(holds<pal::pool_closed_error>(error));
    BOOST_TEST(got == std::vector<int>({0, 1, 2}), "got " << got.size() << " items");
}

// --- Maps inside the pool, and test() ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_map_consumed_inside_a_worker_of_its_own_pool_does_not_deadlock)
{
    // DESIGN.md: collecting a task of the same pool from one of its workers must not deadlock
    // when every worker is busy. The single worker runs the outer task, which iterates a map
    // over the same pool. A 30 s map timeout turns a deadlock into a failure.
    for (bool ordered : {true, false})
    {
        BOOST_TEST_CONTEXT((ordered ? "map" : "map_unordered"))
        {
            pal::thread_pool pool(1);
            pal::future<int> outer = pool.submit([&pool, ordered] {
                int sum = 0;
                for (int v : pool.map([](int x) { return x * x; }, std::vector<int>{1, 2, 3},
                                      pal::map_options{.buffer_size = 2,
                                                       .keep_order = ordered,
                                                       .timeout = long_wait}))
                    sum += v;
                return sum;
            });
            BOOST_TEST_REQUIRE(outer.wait(long_wait + 30s));
            std::string error = message_of(outer.exception());
            BOOST_TEST(error.empty(), "the inner map failed: " << error);
            if (error.empty())
                BOOST_TEST(outer.collect() == 14);
        }
    }
}

BOOST_AUTO_TEST_CASE(test_runs_tasks_maps_and_starmaps_on_a_replica)
{
    // With max_tasks_per_worker = 1 every task of the replica gets a fresh worker, so the
    // initializer counts the replica's tasks: a task, a map and a starmap make at least three.
    std::atomic<int> initialized{0};
    pal::thread_pool pool(pal::pool_options{
        .max_workers = 2,
        .initializer = [&initialized] { ++initialized; },
        .max_tasks_per_worker = 1,
    });
    BOOST_CHECK_NO_THROW(pool.test());
    BOOST_TEST(initialized.load() >= 3);
    BOOST_TEST(pool.count_workers() == 0u); // the replica ran it all

    pal::single_thread_pool single;
    BOOST_CHECK_NO_THROW(single.test());

    pool.shutdown();
    BOOST_CHECK_THROW(pool.test(), pal::pool_closed_error);
}
