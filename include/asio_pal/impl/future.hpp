//
// asio_pal/impl/future.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Template bodies of future<T>.
//

#ifndef ASIO_PAL_IMPL_FUTURE_HPP
#define ASIO_PAL_IMPL_FUTURE_HPP

#include "asio_pal/detail/handler_work.hpp"
#include "asio_pal/detail/task_state.hpp"
#include "asio_pal/error.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace asio_pal {
namespace detail {

template <typename T>
future<T> make_future(state_ptr<result_state<T>> s) noexcept
{
    return future<T>(std::move(s));
}

/// The library's way into a future's state.
struct future_access
{
    template <typename T>
    static result_state<T>& state(const future<T>& f) noexcept
    {
        return *f.s_;
    }
};

/// Turns a relative timeout into a steady-clock deadline; none for absurdly long timeouts.
template <typename Rep, typename Period>
std::optional<std::chrono::steady_clock::time_point>
deadline_after(std::chrono::duration<Rep, Period> timeout)
{
    using namespace std::chrono;
    if (timeout <= duration<Rep, Period>::zero())
        return steady_clock::now();
    if (duration_cast<duration<double>>(timeout) > duration<double>(hours(24 * 365 * 100)))
        return std::nullopt;
    return steady_clock::now() + ceil<steady_clock::duration>(timeout);
}

/// The arguments a collect-style handler receives, for each outcome.
template <typename T>
struct collect_args
{
    using signature = collect_signature_t<T>;

    static auto from(result_state<T>& s)
    {
        switch (s.status())
        {
        case task_status::completed:
            return success(s);
        case task_status::failed:
            return failure(s.error());
        default:
            return failure(s.cancelled_exception());
        }
    }

    static auto success(result_state<T>& s)
    {
        if constexpr (std::is_void_v<T>)
            return std::make_tuple(std::exception_ptr());
        else if constexpr (std::is_default_constructible_v<T>)
            return std::make_tuple(std::exception_ptr(), T(s.value()));
        else
            return std::make_tuple(std::exception_ptr(), std::optional<T>(s.value()));
    }

    /// As success(), moving the value out (the caller is its only reader).
    static auto take(result_state<T>& s)
    {
        if constexpr (std::is_void_v<T>)
            return std::make_tuple(std::exception_ptr());
        else if constexpr (std::is_default_constructible_v<T>)
            return std::make_tuple(std::exception_ptr(), T(std::move(s.value())));
        else
            return std::make_tuple(std::exception_ptr(), std::optional<T>(std::move(s.value())));
    }

    /// from(), or the exception that copying the value threw (bad_alloc on a large vector, a
    /// type whose copy throws): the handler receives it instead of the program terminating.
    static auto from_or_failure(result_state<T>& s)
    {
        try
        {
            return from(s);
        }
        catch (...)
        {
            return failure(std::current_exception());
        }
    }

    /// take(), or the exception that moving the value out threw.
    static auto take_or_failure(result_state<T>& s)
    {
        try
        {
            return take(s);
        }
        catch (...)
        {
            return failure(std::current_exception());
        }
    }

    static auto failure(std::exception_ptr e)
    {
        if constexpr (std::is_void_v<T>)
            return std::make_tuple(std::move(e));
        else if constexpr (std::is_default_constructible_v<T>)
            return std::make_tuple(std::move(e), T());
        else
            return std::make_tuple(std::move(e), std::optional<T>());
    }
};

/// Removes a waiter from its state when its operation is cancelled.
struct listener_canceller
{
    listener_canceller(state_ptr<state_base> s, std::uint64_t i) noexcept
        : state(std::move(s)), id(i)
    {
    }

    state_ptr<state_base> state;
    std::uint64_t id;

    void operator()(boost::asio::cancellation_type t) const
    {
        if ((t & withdrawable_cancellation) != boost::asio::cancellation_type::none)
            state->remove_listener(id);
    }
};

/// An async_wait (Collect = false) or async_collect (Collect = true) in progress.
template <typename T, typename Handler, bool Collect>
class async_waiter final : public listener
{
public:
    explicit async_waiter(Handler&& h) : work_(std::move(h)) {}

    handler_work<Handler>& work() noexcept { return work_; }

    /// Completes with the state's outcome; posted when `post`, else dispatched.
    void deliver(bool post, result_state<T>& s)
    {
        if constexpr (Collect)
            std::apply([&](auto&&... a) { work_.complete(post, std::move(a)...); },
                       collect_args<T>::from_or_failure(s));
        else
            work_.complete(post, boost::system::error_code());
    }

    void fire(state_base& s) noexcept override
    {
        deliver(false, static_cast<result_state<T>&>(s));
        delete this;
    }

    void discard() noexcept override
    {
        // Cancelled wait: the caller is inside cancellation_signal::emit(), so post.
        if constexpr (Collect)
            std::apply([&](auto&&... a) { work_.complete(true, std::move(a)...); },
                       collect_args<T>::failure(
                           std::make_exception_ptr(boost::system::system_error(
                               boost::asio::error::operation_aborted, "asio_pal: wait cancelled"))));
        else
            work_.complete(true, boost::system::error_code(boost::asio::error::operation_aborted));
        delete this;
    }

private:
    handler_work<Handler> work_;
};

template <typename T, bool Collect, typename Handler>
void start_async_wait(Handler&& handler, const state_ptr<result_state<T>>& s)
{
    using waiter = async_waiter<T, std::decay_t<Handler>, Collect>;
    auto* w = new waiter(std::forward<Handler>(handler));
    w->id_ = s->new_listener_id();
    if (!s->is_done())
    {
        // The cancellation handler is in place before the waiter is published (a worker may
        // complete it at once, and the slot must not change under the handler's executor).
        w->work().template install_cancellation<listener_canceller>(
            state_ptr<state_base>::share(s.get()), w->id_);
        if (s->add_listener(w))
            return;
    }
    w->deliver(true, *s); // already done: never complete inside the initiating function
    delete w;
}

/// Calls a user callback with the finished future; reports what it throws.
template <typename T, typename F>
class callback_listener final : public listener
{
public:
    template <typename G>
    explicit callback_listener(G&& f) : f_(std::forward<G>(f))
    {
    }

    void fire(state_base& s) noexcept override
    {
        try
        {
            if constexpr (std::is_invocable_v<F&, const future<T>&>)
                f_(make_future(state_ptr<result_state<T>>::share(static_cast<result_state<T>*>(&s))));
            else
                f_();
        }
        catch (...)
        {
            report_exception("exception escaped a future callback", std::current_exception());
        }
        delete this;
    }

    void discard() noexcept override { delete this; }

private:
    F f_;
};

} // namespace detail

template <typename T>
T future<T>::get_value() const
{
    s_->rethrow_if_unsuccessful();
    if constexpr (!std::is_void_v<T>)
        return s_->value();
}

template <typename T>
T future<T>::collect() const
{
    s_->wait_until(std::nullopt);
    return get_value();
}

template <typename T>
template <typename Rep, typename Period>
T future<T>::collect(std::chrono::duration<Rep, Period> timeout) const
{
    if (!s_->wait_until(detail::deadline_after(timeout)))
        throw timeout_error("asio_pal: task " + std::to_string(s_->id()) +
                            " was not done before the timeout");
    return get_value();
}

template <typename T>
bool future<T>::wait() const
{
    return s_->wait_until(std::nullopt);
}

template <typename T>
template <typename Rep, typename Period>
bool future<T>::wait(std::chrono::duration<Rep, Period> timeout) const
{
    return s_->wait_until(detail::deadline_after(timeout));
}

template <typename T>
typename future<T>::result_type future<T>::result() const
{
    if constexpr (std::is_void_v<T>)
        return is_completed();
    else
    {
        if (!is_completed())
            return std::nullopt;
        return s_->value();
    }
}

template <typename T>
std::exception_ptr future<T>::exception() const
{
    switch (status())
    {
    case task_status::failed:
        return s_->error();
    case task_status::cancelled:
        return s_->cancelled_exception();
    default:
        return nullptr;
    }
}

template <typename T>
template <typename F>
std::uint64_t future<T>::add_callback(F&& f) const
{
    using cb = detail::callback_listener<T, std::decay_t<F>>;
    static_assert(std::is_invocable_v<std::decay_t<F>&, const future<T>&> ||
                      std::is_invocable_v<std::decay_t<F>&>,
                  "asio_pal: a callback must be callable as f(const future<T>&) or f()");
    auto* l = new cb(std::forward<F>(f));
    std::uint64_t id = s_->new_listener_id();
    l->id_ = id;
    if (!s_->add_listener(l))
        l->fire(*s_);
    return id;
}

template <typename T>
template <boost::asio::completion_token_for<void(boost::system::error_code)> CompletionToken>
auto future<T>::async_wait(CompletionToken&& token) const
{
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [](auto handler, detail::state_ptr<detail::result_state<T>> s) {
            detail::start_async_wait<T, false>(std::move(handler), s);
        },
        token, s_);
}

template <typename T>
template <boost::asio::completion_token_for<collect_signature_t<T>> CompletionToken>
auto future<T>::async_collect(CompletionToken&& token) const
{
    return boost::asio::async_initiate<CompletionToken, collect_signature_t<T>>(
        [](auto handler, detail::state_ptr<detail::result_state<T>> s) {
            detail::start_async_wait<T, true>(std::move(handler), s);
        },
        token, s_);
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_FUTURE_HPP
