//
// asio_pal/async_run.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// async_run: run a function on a pool (or any executor) and complete on the caller's executor.
//

#ifndef ASIO_PAL_ASYNC_RUN_HPP
#define ASIO_PAL_ASYNC_RUN_HPP

#include "asio_pal/detail/handler_work.hpp"
#include "asio_pal/detail/task_state.hpp"
#include "asio_pal/future.hpp"
#include "asio_pal/thread_pool.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/post.hpp>

#include <concepts>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace asio_pal {
namespace detail {

/// An async_run in progress: the task, its result slot and the waiting handler.
template <typename R, typename Fn, typename Handler, typename DefaultExecutor>
class run_op final : public result_state<R>
{
public:
    template <typename G>
    run_op(G&& fn, Handler&& h, const DefaultExecutor& fallback)
        : fn_(std::forward<G>(fn)), work_(std::move(h), fallback)
    {
    }

    handler_work<Handler, DefaultExecutor>& work() noexcept { return work_; }

    /// Completes the handler with `e` without running the task (the target refused it).
    void fail_now(std::exception_ptr e) noexcept
    {
        fn_.reset();
        this->set_error(std::move(e));
        this->finish(task_status::failed);
    }

private:
    void execute() noexcept override
    {
        executed_ = true;
        task_status st = this->store_result_of(*fn_);
        fn_.reset();
        this->finish(st);
    }

    void on_finished() noexcept override
    {
        // From a worker: dispatch to the handler's executor. Otherwise (cancellation inside
        // emit(), refusal inside the initiating function, shutdown): post.
        auto args = this->status() == task_status::completed
                        ? collect_args<R>::take_or_failure(*this)
                        : collect_args<R>::failure(this->status() == task_status::failed
                                                       ? this->error()
                                                       : this->cancelled_exception());
        std::apply([&](auto&&... a) { work_.complete(!executed_, std::move(a)...); },
                   std::move(args));
    }

    std::optional<Fn> fn_;
    handler_work<Handler, DefaultExecutor> work_;
    bool executed_ = false;
};

/// Withdraws a task that has not started when its async_run is cancelled.
struct run_canceller
{
    explicit run_canceller(state_ptr<state_base> s) noexcept : state(std::move(s)) {}

    state_ptr<state_base> state;

    void operator()(boost::asio::cancellation_type t) const
    {
        if ((t & withdrawable_cancellation) != boost::asio::cancellation_type::none)
            state->cancel();
    }
};

template <typename T>
concept pool_target = std::derived_from<std::remove_cvref_t<T>, thread_pool>;

template <typename T>
concept executor_target = boost::asio::execution::executor<std::remove_cvref_t<T>> ||
                          boost::asio::is_executor<std::remove_cvref_t<T>>::value;

template <typename T>
concept context_target =
    std::derived_from<std::remove_cvref_t<T>, boost::asio::execution_context> &&
    !pool_target<T> && requires(T& t) { t.get_executor(); };

template <typename Target>
struct run_initiation;

template <>
struct run_initiation<thread_pool>
{
    thread_pool* pool;

    template <typename Handler, typename Fn>
    void operator()(Handler&& handler, Fn&& fn) const
    {
        using R = decltype(std::declval<std::decay_t<Fn>&>()());
        using op_type = run_op<R, std::decay_t<Fn>, std::decay_t<Handler>,
                               boost::asio::system_executor>;
        auto* op = new op_type(std::forward<Fn>(fn), std::forward<Handler>(handler),
                               boost::asio::system_executor());
        op->work().template install_cancellation<run_canceller>(
            state_ptr<state_base>::share(op));
        try
        {
            pool_access::core(*pool).submit(op); // takes the reference op was born with
        }
        catch (...)
        {
            op->fail_now(std::current_exception());
            op->release();
        }
    }
};

template <typename Executor>
struct run_initiation
{
    Executor ex;

    template <typename Handler, typename Fn>
    void operator()(Handler&& handler, Fn&& fn) const
    {
        using R = decltype(std::declval<std::decay_t<Fn>&>()());
        using op_type = run_op<R, std::decay_t<Fn>, std::decay_t<Handler>, Executor>;
        auto* op = new op_type(std::forward<Fn>(fn), std::forward<Handler>(handler), ex);
        op->mark_submitted();
        op->work().template install_cancellation<run_canceller>(
            state_ptr<state_base>::share(op));
        boost::asio::post(ex, [s = state_ptr<op_type>(op)] { s->run_if_claimed(); });
    }
};

template <typename Target>
auto make_run_initiation(Target& target)
{
    if constexpr (pool_target<Target>)
        return run_initiation<thread_pool>{static_cast<thread_pool*>(&target)};
    else if constexpr (context_target<Target>)
        return run_initiation<decltype(target.get_executor())>{target.get_executor()};
    else
        return run_initiation<std::remove_cvref_t<Target>>{target};
}

template <typename Target, typename F, typename Tuple, std::size_t... I>
auto async_run_impl(Target& target, F&& f, Tuple&& all, std::index_sequence<I...>)
{
    constexpr std::size_t token_index = sizeof...(I);
    using token_type = std::tuple_element_t<token_index, std::remove_reference_t<Tuple>>;
    using result_type = std::invoke_result_t<
        std::decay_t<F>, std::decay_t<std::tuple_element_t<I, std::remove_reference_t<Tuple>>>...>;
    return boost::asio::async_initiate<token_type, collect_signature_t<result_type>>(
        make_run_initiation(target), std::get<token_index>(all),
        bind_task(std::forward<F>(f),
                  std::forward<std::tuple_element_t<I, std::remove_reference_t<Tuple>>>(
                      std::get<I>(all))...));
}

} // namespace detail

/**
 * Runs `f(args...)` (arguments decay-copied) on `target` and completes on the caller's side:
 * @code
 * std::string digest = co_await asio_pal::async_run(pool, sha256, body, net::use_awaitable);
 * @endcode
 *
 * `target` is a thread_pool (or a sized pool), any Asio executor, or an execution context with
 * `get_executor()` (e.g. an `io_context`). The completion token comes last.
 *
 * @par Completion Signature
 * `void(std::exception_ptr, R)` (`void(std::exception_ptr)` when R is void; see
 * collect_signature_t): the function's exception, or a cancelled_error when the task was
 * withdrawn, or pool_closed_error / the broken pool's error when the pool refused it.
 *
 * @par Per-Operation Cancellation
 * terminal, partial and total cancellation withdraw a task that has not started (it completes
 * with cancelled_error at once); a started task runs to its end.
 *
 * The handler runs through its associated executor (default: the target executor, or
 * `system_executor` for a pool), never inside this call; work is counted on that executor while
 * the task is pending.
 *
 * @par Thread Safety
 * Safe from any thread, concurrently with any other use of the pool. The arguments are copied
 * before this call returns.
 */
template <typename Target, typename F, typename... ArgsAndToken>
    requires(sizeof...(ArgsAndToken) >= 1 &&
             (detail::pool_target<Target> || detail::executor_target<Target> ||
              detail::context_target<Target>))
auto async_run(Target&& target, F&& f, ArgsAndToken&&... args_and_token)
{
    return detail::async_run_impl(
        target, std::forward<F>(f),
        std::forward_as_tuple(std::forward<ArgsAndToken>(args_and_token)...),
        std::make_index_sequence<sizeof...(ArgsAndToken) - 1>{});
}

} // namespace asio_pal

#endif // ASIO_PAL_ASYNC_RUN_HPP
