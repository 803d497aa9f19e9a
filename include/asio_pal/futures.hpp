//
// asio_pal/futures.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Functions over many futures: wait, collect, as_done, and their asynchronous forms.
//

#ifndef ASIO_PAL_FUTURES_HPP
#define ASIO_PAL_FUTURES_HPP

#include "asio_pal/detail/completion_queue.hpp"
#include "asio_pal/error.hpp"
#include "asio_pal/future.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace asio_pal {

namespace detail {

template <typename T>
struct is_future : std::false_type
{
};
template <typename T>
struct is_future<future<T>> : std::true_type
{
};

/// The T of a range of future<T>.
template <typename Futures>
using future_value_t = typename std::ranges::range_value_t<Futures>::value_type;

using optional_deadline = std::optional<std::chrono::steady_clock::time_point>;

template <typename Futures>
bool wait_all_until(Futures&& futures, optional_deadline deadline)
{
    for (auto&& f : futures)
        if (!future_access::state(f).wait_until(deadline))
            return false;
    return true;
}

template <typename Futures>
auto collect_all_until(Futures&& futures, optional_deadline deadline)
{
    using T = future_value_t<Futures>;
    if (!wait_all_until(futures, deadline))
        throw timeout_error("asio_pal: collect(futures) ran past its timeout");
    if constexpr (std::is_void_v<T>)
    {
        for (auto&& f : futures)
            f.collect();
    }
    else
    {
        std::vector<T> values;
        if constexpr (std::ranges::sized_range<Futures>)
            values.reserve(std::ranges::size(futures));
        for (auto&& f : futures)
            values.push_back(f.collect());
        return values;
    }
}

} // namespace detail

/// A range whose elements are asio_pal futures (vector, list, views...).
template <typename R>
concept future_range =
    std::ranges::input_range<R> && detail::is_future<std::ranges::range_value_t<R>>::value;

/// Blocks until every future is done; true.
template <future_range Futures>
bool wait(Futures&& futures)
{
    return detail::wait_all_until(futures, std::nullopt);
}

/// Blocks until every future is done or `timeout` passed; true when all are done.
template <future_range Futures, typename Rep, typename Period>
bool wait(Futures&& futures, std::chrono::duration<Rep, Period> timeout)
{
    return detail::wait_all_until(futures, detail::deadline_after(timeout));
}

/// The values of all futures in input order (void for future<void>); rethrows the first
/// failure in input order.
template <future_range Futures>
auto collect(Futures&& futures)
{
    return detail::collect_all_until(futures, std::nullopt);
}

/// As collect(futures), throwing timeout_error once `timeout` has passed.
template <future_range Futures, typename Rep, typename Period>
auto collect(Futures&& futures, std::chrono::duration<Rep, Period> timeout)
{
    return detail::collect_all_until(futures, detail::deadline_after(timeout));
}

/**
 * The futures of a range as they finish: an input range yielding `future<T>&` (completion
 * order, or input order with keep_order), plus async_next() for coroutines.
 */
template <typename T>
class as_done_range
{
public:
    /// The input iterator of an as_done_range; equal to `std::default_sentinel` at the end.
    class iterator
    {
    public:
        /// The futures' type.
        using value_type = future<T>;
        /// Required of iterators; unused.
        using difference_type = std::ptrdiff_t;
        /// A single-pass range.
        using iterator_concept = std::input_iterator_tag;

        /// A singular iterator.
        iterator() noexcept = default;
        /// The current finished future.
        future<T>& operator*() const noexcept { return r_->current(); }
        /// Moves to the next finished future; throws timeout_error past the deadline.
        iterator& operator++()
        {
            r_->advance();
            return *this;
        }
        /// As the prefix form; returns nothing (an input iterator).
        void operator++(int) { ++*this; }
        /// Whether every future has been yielded.
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept
        {
            return it.r_->at_end();
        }

    private:
        friend class as_done_range;
        explicit iterator(as_done_range* r) noexcept : r_(r) {}
        as_done_range* r_ = nullptr;
    };

    /// Built by as_done(): yields `futures` as they finish (in input order with `keep_order`),
    /// throwing timeout_error once `deadline` has passed.
    as_done_range(std::vector<future<T>> futures, bool keep_order,
                  detail::optional_deadline deadline)
        : futures_(std::move(futures)), keep_order_(keep_order), deadline_(deadline)
    {
        if (!keep_order_)
        {
            done_ = std::make_shared<detail::completion_queue<std::size_t>>();
            for (std::size_t i = 0; i < futures_.size(); ++i)
                futures_[i].add_callback([q = done_, i] { q->push(i); });
        }
    }

    /// Movable, so that as_done() can return it.
    as_done_range(as_done_range&&) noexcept = default;

    /// Starts the iteration: blocks until the first future is done (async_next() does not
    /// block). Calling it again continues where the iteration is.
    iterator begin()
    {
        if (!begun_)
        {
            begun_ = true;
            advance();
        }
        return iterator(this);
    }
    /// The end of the range.
    std::default_sentinel_t end() const noexcept { return {}; }

    /**
     * The next future to finish, without blocking the calling thread.
     *
     * @par Completion Signature
     * `void(std::exception_ptr, std::optional<future<T>>)`: empty at the end; timeout_error once
     * the deadline has passed when a step starts.
     *
     * @par Per-Operation Cancellation
     * terminal, partial and total cancellation end the wait with
     * `system_error(operation_aborted)`.
     *
     * @par Thread Safety
     * One async_next at a time on an as_done sequence, and not mixed with iterating it.
     */
    template <boost::asio::completion_token_for<void(std::exception_ptr,
                                                     std::optional<future<T>>)>
                  CompletionToken>
    auto async_next(CompletionToken&& token)
    {
        return boost::asio::async_compose<CompletionToken,
                                          void(std::exception_ptr, std::optional<future<T>>)>(
            next_op{this}, token);
    }

    /// Whether every future has been yielded (what the iterator compares).
    bool at_end() const noexcept { return current_ == npos && finished_; }
    /// The future the iteration is on (what the iterator yields), between begin() and the end.
    future<T>& current() noexcept { return futures_[current_]; }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    // Positions on the next finished future without blocking; returns the future to wait for
    // when there is none yet.
    std::optional<future<void>> try_next_event(std::optional<future<T>>& wait_on)
    {
        current_ = npos;
        if (taken_ == futures_.size())
        {
            finished_ = true;
            return std::nullopt;
        }
        if (keep_order_)
        {
            if (futures_[taken_].is_done())
            {
                current_ = taken_++;
                return std::nullopt;
            }
            wait_on = futures_[taken_];
            return std::nullopt;
        }
        if (std::optional<std::size_t> i = done_->try_pop())
        {
            ++taken_;
            current_ = *i;
            return std::nullopt;
        }
        return done_->next_event();
    }

    void advance()
    {
        for (;;)
        {
            std::optional<future<T>> wait_on;
            std::optional<future<void>> event = try_next_event(wait_on);
            if (current_ != npos || finished_)
                return;
            if (!wait_on && help_one())
                continue;
            bool ok = wait_on ? detail::future_access::state(*wait_on).wait_until(deadline_)
                              : detail::future_access::state(*event).wait_until(deadline_);
            if (!ok)
                throw timeout_error("asio_pal: as_done ran past its timeout");
        }
    }

    // On a worker of the futures' pool, run one of them that is still pending rather than
    // wait for a worker that may never come.
    bool help_one() noexcept
    {
        for (future<T>& f : futures_)
            if (detail::future_access::state(f).help())
                return true;
        return false;
    }

    struct next_op
    {
        as_done_range* r;
        bool delivering = false;
        bool started = false;
        std::exception_ptr error{};
        std::optional<future<T>> value{};

        template <typename Self>
        void operator()(Self& self, boost::system::error_code ec = {})
        {
            if (delivering)
            {
                self.complete(std::move(error), std::move(value));
                return;
            }
            if (ec)
            {
                self.complete(std::make_exception_ptr(boost::system::system_error(
                                  ec, "asio_pal: async_next cancelled")),
                              std::nullopt);
                return;
            }
            bool first = !started;
            started = true;
            if (first) // honour partial and total cancellation too: they only end the wait
                self.reset_cancellation_state(boost::asio::enable_total_cancellation());
            if (r->deadline_ && std::chrono::steady_clock::now() >= *r->deadline_)
                error = std::make_exception_ptr(
                    timeout_error("asio_pal: as_done ran past its timeout"));
            else
            {
                std::optional<future<T>> wait_on;
                std::optional<future<void>> event = r->try_next_event(wait_on);
                if (wait_on)
                    return wait_on->async_wait(std::move(self));
                if (event)
                    return event->async_wait(std::move(self));
                if (r->current_ != npos)
                    value = r->current();
            }
            if (first)
            {
                delivering = true; // never complete inside the initiating call
                boost::asio::post(std::move(self));
                return;
            }
            self.complete(std::move(error), std::move(value));
        }
    };

    std::vector<future<T>> futures_;
    bool keep_order_;
    detail::optional_deadline deadline_;
    std::shared_ptr<detail::completion_queue<std::size_t>> done_;
    std::size_t taken_ = 0;
    std::size_t current_ = npos;
    bool finished_ = false;
    bool begun_ = false;
};

namespace detail {

template <future_range Futures>
auto make_as_done(Futures&& futures, bool keep_order, optional_deadline deadline)
{
    using T = future_value_t<Futures>;
    std::vector<future<T>> copies;
    for (auto&& f : futures)
        copies.push_back(f);
    return as_done_range<T>(std::move(copies), keep_order, deadline);
}

} // namespace detail

/// Yields the futures as they finish (completion order by default, input order with
/// keep_order); `for (future<T>& f : as_done(futures)) ...`.
template <future_range Futures>
auto as_done(Futures&& futures, bool keep_order = false)
{
    return detail::make_as_done(futures, keep_order, std::nullopt);
}

/// As as_done(futures, keep_order), with one deadline for the whole iteration (timeout_error).
template <future_range Futures, typename Rep, typename Period>
auto as_done(Futures&& futures, bool keep_order, std::chrono::duration<Rep, Period> timeout)
{
    return detail::make_as_done(futures, keep_order, detail::deadline_after(timeout));
}

namespace detail {

template <typename T, bool Collect>
struct wait_all_op
{
    std::vector<future<T>> futures;
    std::size_t next = 0;
    bool started = false;

    template <typename Self>
    void operator()(Self& self, boost::system::error_code ec = {})
    {
        if (ec)
            return deliver(self, ec);
        bool first = !started;
        started = true;
        if (first) // honour partial and total cancellation too: they only end the wait
            self.reset_cancellation_state(boost::asio::enable_total_cancellation());
        while (next < futures.size() && futures[next].is_done())
            ++next;
        if (next < futures.size())
            return futures[next].async_wait(std::move(self));
        if (first)
            return boost::asio::post(std::move(self)); // never complete inside the initiation
        deliver(self, {});
    }

    template <typename Self>
    void deliver(Self& self, boost::system::error_code ec)
    {
        if constexpr (!Collect)
            self.complete(ec);
        else
            deliver_values(self, ec);
    }

    template <typename Self>
    void deliver_values(Self& self, boost::system::error_code ec)
    {
        if (ec)
        {
            auto e = std::make_exception_ptr(
                boost::system::system_error(ec, "asio_pal: async_collect_all cancelled"));
            if constexpr (std::is_void_v<T>)
                self.complete(e);
            else
                self.complete(e, std::vector<T>());
            return;
        }
        for (future<T>& f : futures)
        {
            if (std::exception_ptr e = f.exception())
            {
                if constexpr (std::is_void_v<T>)
                    self.complete(e);
                else
                    self.complete(e, std::vector<T>());
                return;
            }
        }
        if constexpr (std::is_void_v<T>)
            self.complete(std::exception_ptr());
        else
        {
            std::vector<T> values;
            values.reserve(futures.size());
            for (future<T>& f : futures)
                values.push_back(*f.result());
            self.complete(std::exception_ptr(), std::move(values));
        }
    }
};

template <future_range Futures>
auto copy_futures(Futures&& futures)
{
    std::vector<future<future_value_t<Futures>>> copies;
    for (auto&& f : futures)
        copies.push_back(f);
    return copies;
}

} // namespace detail

/// The completion signature of async_collect_all over future<T>.
template <typename T>
struct collect_all_signature
{
    /// The values in input order, or the first failure in input order.
    using type = void(std::exception_ptr, std::vector<T>);
};
template <>
struct collect_all_signature<void>
{
    /// For `future<void>`: the first failure only.
    using type = void(std::exception_ptr);
};
/// The completion signature of async_collect_all over `future<T>`; see collect_all_signature.
template <typename T>
using collect_all_signature_t = typename collect_all_signature<T>::type;

/**
 * Waits asynchronously until every future is done.
 *
 * @par Completion Signature
 * `void(boost::system::error_code)`: success, or `operation_aborted` when cancelled.
 *
 * @par Per-Operation Cancellation
 * terminal, partial and total cancellation end the wait (not the tasks).
 *
 * @par Thread Safety
 * Takes copies of the futures before it returns: safe from any thread, and the range may change
 * afterwards.
 */
template <future_range Futures,
          boost::asio::completion_token_for<void(boost::system::error_code)> CompletionToken>
auto async_wait_all(Futures&& futures, CompletionToken&& token)
{
    using T = detail::future_value_t<Futures>;
    return boost::asio::async_compose<CompletionToken, void(boost::system::error_code)>(
        detail::wait_all_op<T, false>{detail::copy_futures(futures)}, token);
}

/**
 * Waits asynchronously for every future and delivers their values in input order:
 * `std::vector<int> v = co_await async_collect_all(futures, use_awaitable);`
 *
 * @par Completion Signature
 * `void(std::exception_ptr, std::vector<T>)` (`void(std::exception_ptr)` for future<void>):
 * the first failure in input order, if any.
 *
 * @par Per-Operation Cancellation
 * terminal, partial and total cancellation end the wait with `system_error(operation_aborted)`.
 *
 * @par Thread Safety
 * Takes copies of the futures before it returns: safe from any thread, and the range may change
 * afterwards.
 */
template <future_range Futures,
          boost::asio::completion_token_for<collect_all_signature_t<detail::future_value_t<Futures>>>
              CompletionToken>
auto async_collect_all(Futures&& futures, CompletionToken&& token)
{
    using T = detail::future_value_t<Futures>;
    return boost::asio::async_compose<CompletionToken, collect_all_signature_t<T>>(
        detail::wait_all_op<T, true>{detail::copy_futures(futures)}, token);
}

} // namespace asio_pal

#endif // ASIO_PAL_FUTURES_HPP
