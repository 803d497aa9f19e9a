//
// test/elastic.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/detail/elastic.hpp: the elastic pool's spawn and retire decisions as plain
// functions, table-driven, without threads or clocks (saturating_deadline is given its "now").
//

#include "asio_pal/detail/elastic.hpp"

#define BOOST_TEST_MODULE elastic
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstddef>
#include <limits>
#include <sstream>
#include <string>

namespace d = asio_pal::detail;

namespace {

std::string show(const d::pool_counts& c)
{
    std::ostringstream os;
    os << "{pending " << c.pending << ", alive " << c.alive << ", busy " << c.busy << ", retiring "
       << c.retiring << ", max " << c.max_workers << ", finishing " << c.finishing << "}";
    return os.str();
}

const char* name(d::idle_decision x)
{
    return x == d::idle_decision::wait ? "wait" : "retire";
}

// pool_counts is an aggregate in field order: pending, alive, busy, retiring, max_workers.
d::pool_counts counts(std::size_t pending, std::size_t alive, std::size_t busy,
                      std::size_t retiring, std::size_t max_workers)
{
    return d::pool_counts{pending, alive, busy, retiring, max_workers};
}

} // namespace

BOOST_AUTO_TEST_CASE(pool_counts_defaults_to_zero)
{
    d::pool_counts c;
    BOOST_TEST(c.pending == 0u);
    BOOST_TEST(c.alive == 0u);
    BOOST_TEST(c.busy == 0u);
    BOOST_TEST(c.retiring == 0u);
    BOOST_TEST(c.max_workers == 0u);
    BOOST_TEST(c.free() == 0u);
}

BOOST_AUTO_TEST_CASE(free_excludes_busy_and_retiring)
{
    struct row
    {
        d::pool_counts c;
        std::size_t free;
    };
    const row rows[] = {
        {counts(0, 0, 0, 0, 4), 0}, {counts(0, 1, 0, 0, 4), 1},
        {counts(0, 4, 0, 0, 4), 4}, {counts(0, 4, 4, 0, 4), 0},
        {counts(0, 4, 1, 0, 4), 3}, {counts(0, 4, 0, 4, 4), 0}, // every worker retiring
        {counts(0, 4, 1, 1, 4), 2}, {counts(9, 3, 2, 1, 4), 0}, // pending plays no part
        {counts(0, 7, 3, 2, 8), 2},
    };
    for (const row& r : rows)
        BOOST_TEST(r.c.free() == r.free, show(r.c));
    static_assert(noexcept(d::pool_counts{}.free()));
}

BOOST_AUTO_TEST_CASE(workers_needed_table)
{
    struct row
    {
        d::pool_counts c;
        std::size_t needed;
        const char* why;
    };
    const row rows[] = {
        {counts(0, 0, 0, 0, 4), 0, "nothing pending"},
        {counts(1, 0, 0, 0, 4), 1, "first task on an empty pool"},
        {counts(3, 0, 0, 0, 4), 3, "one worker per pending task"},
        {counts(4, 0, 0, 0, 2), 2, "capped by max_workers"},
        {counts(9, 1, 1, 0, 4), 3, "capped by max_workers - alive"},
        {counts(2, 2, 2, 0, 2), 0, "alive == max_workers"},
        {counts(5, 2, 2, 0, 2), 0, "alive == max_workers, much pending"},
        {counts(5, 3, 3, 0, 2), 0, "alive > max_workers (never spawn)"},
        {counts(1, 1, 0, 0, 4), 0, "pending == free"},
        {counts(2, 3, 0, 0, 4), 0, "pending < free"},
        {counts(2, 3, 1, 0, 4), 0, "pending == free with one busy"},
        {counts(3, 3, 1, 0, 8), 1, "pending - free"},
        {counts(1, 1, 1, 0, 4), 1, "the only worker is busy"},
        {counts(1, 1, 0, 1, 4), 1, "the only worker is retiring: replace it"},
        {counts(2, 2, 0, 2, 8), 2, "retiring workers are not free"},
        {counts(1, 1, 0, 1, 1), 0, "retiring at max_workers: its exit will replace it"},
        {counts(5, 3, 1, 2, 4), 1, "no free worker, one slot left"},
        {counts(2, 4, 1, 1, 8), 0, "pending == free with busy and retiring"},
        {counts(3, 4, 1, 1, 8), 1, "pending - free with busy and retiring"},
        {counts(1, 0, 0, 0, 0), 0, "max_workers 0 (resolved pools never have it)"},
    };
    for (const row& r : rows)
        BOOST_TEST(d::workers_needed(r.c) == r.needed, r.why << ' ' << show(r.c));
    static_assert(noexcept(d::workers_needed(d::pool_counts{})));
}

BOOST_AUTO_TEST_CASE(workers_needed_never_exceeds_max_workers)
{
    // Exhaustive over small counts: the result never takes alive past max_workers and never
    // leaves a pending task without a prospective worker when a slot is left.
    for (std::size_t max = 1; max <= 5; ++max)
        for (std::size_t alive = 0; alive <= max; ++alive)
            for (std::size_t busy = 0; busy <= alive; ++busy)
                for (std::size_t retiring = 0; busy + retiring <= alive; ++retiring)
                    for (std::size_t pending = 0; pending <= 7; ++pending)
                    {
                        d::pool_counts c = counts(pending, alive, busy, retiring, max);
                        std::size_t n = d::workers_needed(c);
                        BOOST_TEST(alive + n <= max, show(c));
                        std::size_t free = alive - busy - retiring;
                        std::size_t want = pending > free ? pending - free : 0;
                        std::size_t room = max - alive;
                        BOOST_TEST(n == (want < room ? want : room), show(c));
                    }
}

BOOST_AUTO_TEST_CASE(workers_allowed_table)
{
    struct row
    {
        d::pool_counts c;
        std::size_t requested;
        std::size_t allowed;
        const char* why;
    };
    const std::size_t huge = std::numeric_limits<std::size_t>::max();
    const row rows[] = {
        {counts(0, 0, 0, 0, 4), 10, 4, "asyncpal defect 6: never beyond max_workers"},
        {counts(0, 0, 0, 0, 4), 4, 4, "exactly max_workers"},
        {counts(0, 0, 0, 0, 4), 2, 2, "fewer than max_workers"},
        {counts(0, 0, 0, 0, 4), 0, 0, "zero requested"},
        {counts(0, 2, 0, 0, 4), 1, 1, "room left"},
        {counts(0, 2, 0, 0, 4), 3, 2, "capped by the room left"},
        {counts(0, 4, 0, 0, 4), 3, 0, "alive == max_workers"},
        {counts(0, 5, 0, 0, 4), 3, 0, "alive > max_workers"},
        {counts(0, 3, 0, 2, 4), 5, 1, "retiring workers still count as alive"},
        {counts(7, 1, 1, 0, 4), 1, 1, "pending plays no part"},
        {counts(0, 0, 0, 0, 4096), huge, 4096, "huge request"},
    };
    for (const row& r : rows)
        BOOST_TEST(d::workers_allowed(r.c, r.requested) == r.allowed,
                   r.why << ' ' << show(r.c) << " requested " << r.requested);
    static_assert(noexcept(d::workers_allowed(d::pool_counts{}, 1)));
}

BOOST_AUTO_TEST_CASE(decide_idle_table)
{
    using d::idle_decision;
    struct row
    {
        bool stopping, joining, timed_out, has_timeout, zero_timeout;
        idle_decision expected;
        const char* why;
    };
    const idle_decision W = idle_decision::wait;
    const idle_decision R = idle_decision::retire;
    const row rows[] = {
        // stop joining timed has   zero
        {false, false, false, true, false, W, "60 s timeout, woken early: keep waiting"},
        {false, false, true, true, false, R, "idle timeout expired"},
        {false, false, false, true, true, R, "zero timeout: retire as soon as idle"},
        {false, false, true, true, true, R, "zero timeout, timed out"},
        {false, false, false, false, false, W, "no timeout: never retire"},
        {false, false, true, false, false, W, "no timeout: a timed-out flag is meaningless"},
        {false, false, false, false, true, W, "zero flag without a timeout is ignored"},
        {false, false, true, false, true, W, "no timeout, every other flag set"},
        {true, false, false, true, false, R, "pool stopping"},
        {true, false, false, false, false, R, "pool stopping, no timeout"},
        {false, true, false, true, false, R, "a joiner waits and the queue is empty"},
        {false, true, false, false, false, R, "joining makes never-retiring workers exit"},
        {true, true, true, true, true, R, "everything"},
    };
    for (const row& r : rows)
    {
        idle_decision got =
            d::decide_idle(r.stopping, r.joining, r.timed_out, r.has_timeout, r.zero_timeout);
        BOOST_TEST(name(got) == name(r.expected), r.why);
    }
    static_assert(noexcept(d::decide_idle(false, false, false, false, false)));
}

BOOST_AUTO_TEST_CASE(decide_idle_stopping_or_joining_always_retires)
{
    for (int bits = 0; bits < 8; ++bits)
    {
        bool timed_out = (bits & 1) != 0;
        bool has_timeout = (bits & 2) != 0;
        bool zero = (bits & 4) != 0;
        BOOST_TEST(name(d::decide_idle(true, false, timed_out, has_timeout, zero)) ==
                       std::string("retire"),
                   "stopping, bits " << bits);
        BOOST_TEST(name(d::decide_idle(false, true, timed_out, has_timeout, zero)) ==
                       std::string("retire"),
                   "joining, bits " << bits);
        BOOST_TEST(name(d::decide_idle(false, false, timed_out, false, zero)) ==
                       std::string("wait"),
                   "no timeout, bits " << bits);
    }
}

BOOST_AUTO_TEST_CASE(task_limit_reached_table)
{
    struct row
    {
        std::size_t done, limit;
        bool reached;
    };
    const row rows[] = {
        {0, 0, false},
        {1, 0, false},
        {1000000, 0, false}, // 0 = unlimited
        {0, 1, false},
        {1, 1, true},
        {2, 1, true},
        {2, 3, false},
        {3, 3, true},
        {4, 3, true},
        {0, 5, false},
        {4, 5, false},
        {5, 5, true},
        {std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max(), true},
    };
    for (const row& r : rows)
        BOOST_TEST(d::task_limit_reached(r.done, r.limit) == r.reached,
                   "done " << r.done << " limit " << r.limit);
    static_assert(noexcept(d::task_limit_reached(0, 0)));
}

// Issue 10 item 14: a worker whose task has returned (its result may already be out) is free.
BOOST_AUTO_TEST_CASE(a_finishing_worker_counts_as_free)
{
    // The serial caller: one worker, busy with a task that returned, and the next task queued.
    d::pool_counts serial{.pending = 1, .alive = 1, .busy = 1, .max_workers = 4, .finishing = 1};
    BOOST_TEST(serial.free() == 1u);
    BOOST_TEST(d::workers_needed(serial) == 0u);

    // Still running: the queued task needs a worker of its own.
    d::pool_counts running{.pending = 1, .alive = 1, .busy = 1, .max_workers = 4};
    BOOST_TEST(d::workers_needed(running) == 1u);

    // Two busy workers, one finishing: two queued tasks need one more worker.
    d::pool_counts mixed{.pending = 2, .alive = 2, .busy = 2, .max_workers = 4, .finishing = 1};
    BOOST_TEST(mixed.free() == 1u);
    BOOST_TEST(d::workers_needed(mixed) == 1u);

    // A retiring worker is never free, finishing or not.
    d::pool_counts leaving{
        .pending = 1, .alive = 2, .busy = 1, .retiring = 1, .max_workers = 4, .finishing = 1};
    BOOST_TEST(leaving.free() == 1u);
    BOOST_TEST(d::workers_needed(leaving) == 0u);
}

// Issue 10 item 13: deadlines saturate instead of overflowing.
BOOST_AUTO_TEST_CASE(saturating_deadline_table)
{
    using clock = std::chrono::steady_clock;
    using std::chrono::nanoseconds;
    const clock::time_point now{std::chrono::hours(1000)};
    const clock::time_point max = clock::time_point::max();

    BOOST_TEST((d::saturating_deadline(now, nanoseconds(0)) == now));
    BOOST_TEST((d::saturating_deadline(now, nanoseconds(-5)) == now));
    BOOST_TEST((d::saturating_deadline(now, std::chrono::seconds(60)) ==
                now + std::chrono::seconds(60)));
    BOOST_TEST((d::saturating_deadline(now, nanoseconds::max()) == max));
    BOOST_TEST((d::saturating_deadline(now, std::chrono::hours::max()) == max));
    BOOST_TEST((d::saturating_deadline(now, max - now) == max));
    const clock::time_point late = max - std::chrono::hours(1);
    BOOST_TEST((d::saturating_deadline(late, max - late) == max));
    BOOST_TEST((d::saturating_deadline(late, (max - late) - nanoseconds(1)) ==
                max - nanoseconds(1)));
    BOOST_TEST((d::saturating_deadline(late, std::chrono::hours(2)) == max));
    BOOST_TEST((d::saturating_deadline(max, nanoseconds(1)) == max));
    // A coarser clock duration than the timeout's: rounded up, never early.
    using coarse = std::chrono::time_point<clock, std::chrono::milliseconds>;
    BOOST_TEST((d::saturating_deadline(coarse{std::chrono::milliseconds(5)}, nanoseconds(1)) ==
                coarse{std::chrono::milliseconds(6)}));
    const nanoseconds zero{0};
    static_assert(noexcept(d::saturating_deadline(now, zero)));
}
