//
// asio_pal/impl/process_pool.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Template bodies of process_pool.
//

#ifndef ASIO_PAL_IMPL_PROCESS_POOL_HPP
#define ASIO_PAL_IMPL_PROCESS_POOL_HPP

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace asio_pal {

template <typename R, typename Before>
future<R> process_pool::submit_encoded(const detail::task_entry& entry, detail::call_mode mode,
                                       std::size_t items, std::vector<char>&& args,
                                       bool caller_waits, Before&& before_queued)
{
    auto* s = new detail::remote_state<R>(entry, mode, items);
    s->arguments() = std::move(args);
    detail::state_ptr<detail::result_state<R>> result(s);
    if constexpr (!std::is_same_v<std::decay_t<Before>, detail::no_before_queued>)
        before_queued(detail::make_future(result));
    s->add_ref(); // the queue's reference
    try
    {
        if (caller_waits)
            run_remote(s);
        else
            submit_remote(s);
    }
    catch (...)
    {
        s->release();
        throw;
    }
    return detail::make_future(std::move(result));
}

template <typename F, typename... Args>
auto process_pool::submit(F&& f, Args&&... args)
{
    return submit_call(false, std::forward<F>(f), std::forward<Args>(args)...);
}

template <typename F, typename... Args>
auto process_pool::run(F&& f, Args&&... args)
{
    return submit_call(true, std::forward<F>(f), std::forward<Args>(args)...).collect();
}

template <typename F, typename... Args>
auto process_pool::submit_call(bool caller_waits, F&& f, Args&&... args)
{
    using fn_type = std::decay_t<F>;
    detail::check_remote_signature<fn_type>();
    detail::check_transportable<fn_type>();
    using sig = detail::function_signature<fn_type>;
    using args_tuple = typename sig::args_tuple;
    static_assert(sizeof...(Args) == std::tuple_size_v<args_tuple>,
                  "asio_pal: process_pool::submit: wrong number of arguments for the function");
    const detail::task_entry& entry =
        detail::require_task(detail::key_of(static_cast<fn_type>(f)), "process_pool::submit");
    std::vector<char> bytes;
    detail::encode_args(bytes, args_tuple(std::forward<Args>(args)...));
    return submit_encoded<typename sig::result_type>(entry, detail::call_mode::single, 1,
                                                     std::move(bytes), caller_waits);
}

inline auto process_pool::chunk_submitter()
{
    return [this]<typename R, typename Tuple, typename F>(
               std::type_identity<R>, std::type_identity<Tuple>, std::shared_ptr<F> f) {
        detail::check_remote_signature<F>();
        detail::check_transportable<F>();
        using args_tuple = typename detail::function_signature<F>::args_tuple;
        const detail::task_entry& entry =
            detail::require_task(detail::key_of(*f), "process_pool map");
        return [this, &entry](std::vector<Tuple>&& items, auto&& before_queued) {
            std::vector<char> bytes;
            detail::encode_chunk<args_tuple>(bytes, items);
            return this->submit_encoded<detail::chunk_result<R>>(
                entry, detail::call_mode::chunk, items.size(), std::move(bytes), false,
                before_queued);
        };
    };
}

template <typename Rep, typename Period>
bool process_pool::join(std::chrono::duration<Rep, Period> timeout)
{
    return join_until(detail::deadline_after(timeout));
}

namespace detail {

/// Cancels the task of a process-pool async_run when the operation is cancelled.
template <typename T>
struct remote_run_canceller
{
    future<T> task;

    void operator()(net::cancellation_type t) const
    {
        if ((t & (net::cancellation_type::terminal | net::cancellation_type::partial |
                  net::cancellation_type::total)) != net::cancellation_type::none)
            task.cancel();
    }
};

/// A handler whose cancellation slot is hidden: the task's own canceller is installed there
/// instead. Executor and allocator stay the handler's.
template <typename Handler>
struct slotless_handler
{
    Handler handler;

    template <typename... Args>
    void operator()(Args&&... args)
    {
        std::move(handler)(std::forward<Args>(args)...);
    }
};

struct remote_run_initiation
{
    process_pool* pool;

    template <typename Handler, typename Submit>
    void operator()(Handler&& handler, Submit&& submit) const
    {
        using future_type = decltype(submit(*pool));
        using T = typename future_type::value_type;
        future_type task;
        try
        {
            task = submit(*pool);
        }
        catch (...)
        {
            // Refused: complete through the handler's executor, never inside this call.
            task = detail::make_future(detail::state_ptr<detail::result_state<T>>(
                new detail::failed_state<T>(std::current_exception())));
        }
        auto slot = net::get_associated_cancellation_slot(handler);
        if (slot.is_connected())
            slot.template emplace<remote_run_canceller<T>>(remote_run_canceller<T>{task});
        task.async_collect(
            slotless_handler<std::decay_t<Handler>>{std::forward<Handler>(handler)});
    }
};

} // namespace detail

template <typename Pool, typename F, typename... ArgsAndToken>
    requires(std::derived_from<std::remove_cvref_t<Pool>, process_pool> &&
             sizeof...(ArgsAndToken) >= 1)
auto async_run(Pool& pool, F&& f, ArgsAndToken&&... args_and_token)
{
    auto all = std::forward_as_tuple(std::forward<ArgsAndToken>(args_and_token)...);
    constexpr std::size_t token_index = sizeof...(ArgsAndToken) - 1;
    using fn_type = std::decay_t<F>;
    detail::check_remote_signature<fn_type>();
    using R = typename detail::function_signature<fn_type>::result_type;
    // The initiation may run after this call returns (deferred tokens): own the arguments.
    auto submit = [&]<std::size_t... I>(std::index_sequence<I...>) {
        return [fn = static_cast<fn_type>(f),
                args = std::tuple<std::decay_t<std::tuple_element_t<I, decltype(all)>>...>(
                    std::forward<std::tuple_element_t<I, decltype(all)>>(std::get<I>(all))...)](
                   process_pool& p) mutable {
            return std::apply([&](auto&&... a) { return p.submit(fn, std::move(a)...); },
                              std::move(args));
        };
    }(std::make_index_sequence<token_index>{});
    return net::async_initiate<std::tuple_element_t<token_index, decltype(all)>,
                               collect_signature_t<R>>(
        detail::remote_run_initiation{static_cast<process_pool*>(&pool)},
        std::get<token_index>(all), std::move(submit));
}

} // namespace asio_pal

template <typename Handler, typename Executor>
struct boost::asio::associated_executor<asio_pal::detail::slotless_handler<Handler>, Executor>
{
    using type = boost::asio::associated_executor_t<Handler, Executor>;
    static type get(const asio_pal::detail::slotless_handler<Handler>& h,
                    const Executor& ex = Executor()) noexcept
    {
        return boost::asio::get_associated_executor(h.handler, ex);
    }
};

template <typename Handler, typename Allocator>
struct boost::asio::associated_allocator<asio_pal::detail::slotless_handler<Handler>, Allocator>
{
    using type = boost::asio::associated_allocator_t<Handler, Allocator>;
    static type get(const asio_pal::detail::slotless_handler<Handler>& h,
                    const Allocator& a = Allocator()) noexcept
    {
        return boost::asio::get_associated_allocator(h.handler, a);
    }
};

#endif // ASIO_PAL_IMPL_PROCESS_POOL_HPP
