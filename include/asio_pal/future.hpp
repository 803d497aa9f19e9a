//
// asio_pal/future.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// future<T>: a shared, read-only handle to a submitted task.
//

#ifndef ASIO_PAL_FUTURE_HPP
#define ASIO_PAL_FUTURE_HPP

#include "asio_pal/detail/task_state.hpp"
#include "asio_pal/error.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>

namespace asio_pal {

template <typename T>
class future;

namespace detail {
template <typename T>
future<T> make_future(state_ptr<result_state<T>> s) noexcept;
struct future_access;

/// A submitter's before-queued hook that does nothing; no future is made for it.
struct no_before_queued
{
};
} // namespace detail

/// The completion signature of `future<T>::async_collect` (and of `async_run` returning T).
/// T is passed by value; a T that is not default constructible comes as `std::optional<T>`.
template <typename T>
struct collect_signature
{
    /// `void(std::exception_ptr, T)`, or `void(std::exception_ptr, std::optional<T>)`.
    using type = std::conditional_t<std::is_default_constructible_v<T>, void(std::exception_ptr, T),
                                    void(std::exception_ptr, std::optional<T>)>;
};
template <>
struct collect_signature<void>
{
    /// The signature for `future<void>`: the exception only.
    using type = void(std::exception_ptr);
};
/// The completion signature of `future<T>::async_collect`; see collect_signature.
template <typename T>
using collect_signature_t = typename collect_signature<T>::type;

/**
 * A shared handle to one task: copies refer to the same task. Read-only: only the pool that runs
 * the task sets its outcome.
 *
 * @par Thread Safety
 * Distinct objects: safe. Shared objects: safe for every member except assignment.
 */
template <typename T>
class future
{
public:
    /// The task's result type.
    using value_type = T;
    /// What result() returns: `std::optional<T>`, or `bool` (completed) for `future<void>`.
    using result_type = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

    /// An empty future (valid() is false); every other member requires a valid future.
    future() noexcept = default;

    /// Whether this future refers to a task.
    bool valid() const noexcept { return static_cast<bool>(s_); }

    /// Blocks until the task is done; returns its value or rethrows its exception.
    /// Throws cancelled_error for a cancelled task. On a worker of the task's own pool, a task
    /// still pending runs inline instead of waiting.
    T collect() const;

    /// As collect(), but throws timeout_error once `timeout` has passed.
    template <typename Rep, typename Period>
    T collect(std::chrono::duration<Rep, Period> timeout) const;

    /// Blocks until the task is done; always true.
    bool wait() const;

    /// Blocks until the task is done or `timeout` passed; true when done. Never throws.
    template <typename Rep, typename Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) const;

    /**
     * Asks to cancel the task. A pending task is withdrawn at once: its status is cancelled when
     * this returns true. A running thread task cannot be stopped: returns false, but sets
     * cancel_flag(). A running process task is stopped (its worker process is terminated).
     * True also for a task already cancelled; false for one that completed or failed.
     */
    bool cancel() const noexcept { return s_->cancel(); }

    /// Whether cancel() was called.
    bool cancel_flag() const noexcept { return s_->cancel_flag(); }

    /// The task's status now; it may change as soon as this returns, unless it is done.
    task_status status() const noexcept { return s_->status(); }
    /// Queued and not started.
    bool is_pending() const noexcept { return status() == task_status::pending; }
    /// Started and not finished.
    bool is_running() const noexcept { return status() == task_status::running; }
    /// Finished with a value.
    bool is_completed() const noexcept { return status() == task_status::completed; }
    /// Finished with an exception.
    bool is_failed() const noexcept { return status() == task_status::failed; }
    /// Cancelled: withdrawn before it started (cancel(), shutdown) or, for a process task,
    /// stopped while it ran.
    bool is_cancelled() const noexcept { return status() == task_status::cancelled; }
    /// Completed, failed or cancelled: the outcome is final.
    bool is_done() const noexcept { return s_->is_done(); }
    /// The task's id, unique within the process (as in cancelled_tasks()).
    task_id_t task_id() const noexcept { return s_->id(); }

    /// The value of a completed task; empty (false for void) otherwise. Never blocks.
    result_type result() const;

    /// The exception of a failed task, a cancelled_error for a cancelled one, else empty.
    std::exception_ptr exception() const;

    /// Time spent queued (excluding running time) and running so far.
    task_duration duration() const noexcept { return s_->duration(); }

    /**
     * Calls `f(const future<T>&)` (or `f()`) once the task is done, on the thread that finishes
     * it; at once, before returning, when it is already done. An exception from `f` is reported
     * (to the pool's on_task_exception when on a worker, else on stderr), never propagated.
     * @returns an id for remove_callback().
     */
    template <typename F>
    std::uint64_t add_callback(F&& f) const;

    /// Removes a callback that has not run yet; true when removed.
    bool remove_callback(std::uint64_t id) const noexcept { return s_->remove_listener(id); }

    /**
     * Waits asynchronously for the task to be done, whatever its outcome.
     *
     * @par Completion Signature
     * `void(boost::system::error_code)`: success once done; `operation_aborted` when the wait
     * was cancelled.
     *
     * @par Per-Operation Cancellation
     * terminal, partial and total cancellation end the wait (not the task).
     *
     * The handler runs through its associated executor (default: `system_executor`), never
     * inside this call; work is counted on that executor while the wait is pending.
     *
     * @par Thread Safety
     * Safe from any thread, concurrently with any other operation on this future or its copies
     * (they share one locked state); several waits may be pending at once.
     */
    template <boost::asio::completion_token_for<void(boost::system::error_code)> CompletionToken>
    auto async_wait(CompletionToken&& token) const;

    /**
     * Waits asynchronously for the task's outcome:
     * `T v = co_await f.async_collect(boost::asio::use_awaitable);` returns the value or
     * rethrows the task's exception.
     *
     * @par Completion Signature
     * `void(std::exception_ptr, T)` (`void(std::exception_ptr)` for `future<void>`; see
     * collect_signature_t). A cancelled task gives a cancelled_error; a cancelled wait gives
     * `system_error(operation_aborted)`.
     *
     * @par Per-Operation Cancellation
     * terminal, partial and total cancellation end the wait (not the task), so
     * `co_await (f.async_collect(use_awaitable) || timer.async_wait(use_awaitable))` returns
     * when the timer fires.
     *
     * The handler runs through its associated executor (default: `system_executor`), never
     * inside this call; work is counted on that executor while the wait is pending.
     *
     * @par Thread Safety
     * Safe from any thread, concurrently with any other operation on this future or its copies
     * (they share one locked state); several waits may be pending at once.
     */
    template <boost::asio::completion_token_for<collect_signature_t<T>> CompletionToken>
    auto async_collect(CompletionToken&& token) const;

    /// Whether `a` and `b` refer to the same task (or are both empty).
    friend bool operator==(const future& a, const future& b) noexcept { return a.s_ == b.s_; }

private:
    friend struct detail::future_access;
    template <typename U>
    friend future<U> detail::make_future(detail::state_ptr<detail::result_state<U>>) noexcept;

    explicit future(detail::state_ptr<detail::result_state<T>> s) noexcept : s_(std::move(s)) {}

    T get_value() const;

    detail::state_ptr<detail::result_state<T>> s_;
};

} // namespace asio_pal

#include "asio_pal/impl/future.hpp"

#endif // ASIO_PAL_FUTURE_HPP
