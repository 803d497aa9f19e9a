//
// asio_pal/detail/elastic.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The elastic pool's decisions as plain functions: no threads, no clocks.
//

#ifndef ASIO_PAL_DETAIL_ELASTIC_HPP
#define ASIO_PAL_DETAIL_ELASTIC_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace asio_pal::detail {

/// A snapshot of a pool's workers and queue.
struct pool_counts
{
    std::size_t pending = 0;  ///< live tasks queued and not yet claimed
    std::size_t alive = 0;    ///< worker threads, including starting and retiring ones
    std::size_t busy = 0;     ///< workers running a task
    std::size_t retiring = 0; ///< workers on their way out (running their finalizer)
    std::size_t max_workers = 0;
    /// Busy workers whose task has returned and that are about to look at the queue again
    /// (the task's result may already be published); at most `busy`.
    std::size_t finishing = 0;

    /// Workers that will look at the queue without being started: neither retiring nor busy
    /// with a task that has yet to return. A serial caller's next task, submitted as soon as the
    /// previous result is out, thus finds the worker that produced it free.
    std::size_t free() const noexcept { return alive - (busy - finishing) - retiring; }
};

/// How many workers to start so that queued work gets a worker: while pending > free and
/// alive < max_workers (asyncpal's rule, also used to replace a retiring worker).
inline std::size_t workers_needed(const pool_counts& c) noexcept
{
    if (c.pending <= c.free() || c.alive >= c.max_workers)
        return 0;
    return std::min(c.max_workers - c.alive, c.pending - c.free());
}

/// How many workers an explicit spawn_workers(n) may start: never beyond max_workers.
inline std::size_t workers_allowed(const pool_counts& c, std::size_t requested) noexcept
{
    return c.alive >= c.max_workers ? 0 : std::min(requested, c.max_workers - c.alive);
}

/// What an idle worker does after looking at an empty queue.
enum class idle_decision
{
    wait,   ///< sleep until signalled or until the idle timeout
    retire, ///< exit now
};

/// Decides for a worker that found the queue empty. `timed_out`: its idle wait expired
/// without a signal. `has_timeout`/`zero_timeout` describe the pool's idle_timeout.
inline idle_decision decide_idle(bool stopping, bool joining, bool timed_out, bool has_timeout,
                                 bool zero_timeout) noexcept
{
    if (stopping || joining)
        return idle_decision::retire;
    if (has_timeout && (zero_timeout || timed_out))
        return idle_decision::retire;
    return idle_decision::wait;
}

/// `now + timeout`, or the time point's maximum when that is beyond what it can represent (so
/// that a practically infinite timeout, such as nanoseconds::max(), means "never").
template <typename Clock, typename Duration, typename Rep, typename Period>
std::chrono::time_point<Clock, Duration>
saturating_deadline(std::chrono::time_point<Clock, Duration> now,
                    std::chrono::duration<Rep, Period> timeout) noexcept
{
    using time_point = std::chrono::time_point<Clock, Duration>;
    if (timeout <= timeout.zero())
        return now;
    // Converting `timeout` to Duration may itself overflow: anything near Duration's range
    // (centuries, for nanoseconds) is "never" without further precision.
    using seconds = std::chrono::duration<double>;
    if (std::chrono::duration_cast<seconds>(timeout) >=
        std::chrono::duration_cast<seconds>(Duration::max()) * 0.999)
        return time_point::max();
    const auto step = std::chrono::ceil<Duration>(timeout);
    const auto room = time_point::max() - std::max(now, time_point{});
    return step >= room ? time_point::max() : now + step;
}

/// Whether a worker that has run `done` tasks must retire (max_tasks_per_worker, 0 = no limit).
inline bool task_limit_reached(std::size_t done, std::size_t max_tasks_per_worker) noexcept
{
    return max_tasks_per_worker != 0 && done >= max_tasks_per_worker;
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_ELASTIC_HPP
