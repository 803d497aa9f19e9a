//
// asio_pal/impl/thread_pool.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Template bodies of thread_pool.
//

#ifndef ASIO_PAL_IMPL_THREAD_POOL_HPP
#define ASIO_PAL_IMPL_THREAD_POOL_HPP

#include "asio_pal/detail/node_memory.hpp"
#include "asio_pal/detail/task_state.hpp"

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>

namespace asio_pal {
namespace detail {

/// A fire-and-forget function posted through the executor, allocated with its allocator; with
/// std::allocator, from node_memory when it fits there.
template <typename F, typename Allocator>
class posted_function final : public task_node
{
public:
    using allocator_type =
        typename std::allocator_traits<Allocator>::template rebind_alloc<posted_function>;

    template <typename G>
    static posted_function* create(G&& g, const Allocator& a)
    {
        if constexpr (recycled)
        {
            void* m = node_memory::allocate();
            try
            {
                return ::new (m) posted_function(std::forward<G>(g), a);
            }
            catch (...)
            {
                node_memory::deallocate(m);
                throw;
            }
        }
        allocator_type alloc(a);
        posted_function* p = std::allocator_traits<allocator_type>::allocate(alloc, 1);
        try
        {
            std::allocator_traits<allocator_type>::construct(alloc, p, std::forward<G>(g), a);
        }
        catch (...)
        {
            std::allocator_traits<allocator_type>::deallocate(alloc, p, 1);
            throw;
        }
        return p;
    }

    template <typename G>
    posted_function(G&& g, const Allocator& a) : f_(std::forward<G>(g)), allocator_(a)
    {
    }

    bool claim() noexcept override { return true; }

    void run() noexcept override
    {
        // Free the node before the call, so the function may post again into warm memory.
        F f(std::move(f_));
        destroy();
        task_body_scope body;
        try
        {
            f(); // an lvalue call: all that Asio's executor requirements ask of a function
        }
        catch (...)
        {
            report_exception("exception escaped a posted function", std::current_exception());
        }
    }

    bool withdraw(task_id_t& cancelled_id) noexcept override
    {
        cancelled_id = 0;
        return true;
    }

    void discard(bool) noexcept override { destroy(); }

private:
    static constexpr bool recycled =
        std::is_same_v<allocator_type, std::allocator<posted_function>> &&
        sizeof(posted_function) <= node_memory::block_size &&
        alignof(posted_function) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;

    void destroy() noexcept
    {
        if constexpr (recycled)
        {
            this->~posted_function();
            node_memory::deallocate(this);
            return;
        }
        allocator_type alloc(allocator_);
        std::allocator_traits<allocator_type>::destroy(alloc, this);
        std::allocator_traits<allocator_type>::deallocate(alloc, this, 1);
    }

    F f_;
    [[no_unique_address]] Allocator allocator_;
};

/// A blocking.always execute() from outside the pool: lives on the caller's stack, which waits
/// until a worker has run the function (or the pool has dropped it).
template <typename F>
class blocking_function final : public task_node
{
public:
    explicit blocking_function(F& f) noexcept : f_(f) {}

    bool awaited() const noexcept override { return true; }
    bool claim() noexcept override { return true; }

    void run() noexcept override
    {
        std::exception_ptr e;
        {
            task_body_scope body;
            try
            {
                f_();
            }
            catch (...)
            {
                e = std::current_exception();
            }
        }
        finish(std::move(e), true);
    }

    bool withdraw(task_id_t& cancelled_id) noexcept override
    {
        cancelled_id = 0;
        return true;
    }

    void discard(bool) noexcept override { finish(nullptr, false); }

    /// Waits for the outcome; rethrows the function's exception. False when it was dropped.
    bool wait()
    {
        std::unique_lock<std::mutex> lock(mutex_);
        done_cv_.wait(lock, [this] { return done_; });
        if (error_)
            std::rethrow_exception(error_);
        return ran_;
    }

private:
    void finish(std::exception_ptr e, bool ran) noexcept
    {
        // Notify with the lock held: the waiter frees this node as soon as it can see done_.
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = std::move(e);
        ran_ = ran;
        done_ = true;
        done_cv_.notify_one();
    }

    F& f_;
    std::mutex mutex_;
    std::condition_variable done_cv_;
    std::exception_ptr error_;
    bool done_ = false;
    bool ran_ = false;
};

/// Binds `f` to decay-copied `args`; invoked once, with rvalues (as std::thread does).
template <typename F, typename... Args>
auto bind_task(F&& f, Args&&... args)
{
    return [f = std::forward<F>(f), ... a = std::forward<Args>(args)]() mutable -> decltype(auto) {
        return std::invoke(std::move(f), std::move(a)...);
    };
}

inline thread_pool_core& pool_access::core(thread_pool& p) noexcept
{
    return *p.core_;
}

/// Queues the bound task `fn` (returning T) on `core`, calling `before_queued(f)` with its future
/// before a worker can take it; returns the future.
template <typename T, typename Fn, typename Before>
future<T> submit_packaged(thread_pool_core& core, Fn&& fn, Before&& before_queued)
{
    auto* s = new packaged_state<T, std::decay_t<Fn>>(std::forward<Fn>(fn));
    state_ptr<result_state<T>> result(s);
    if constexpr (!std::is_same_v<std::decay_t<Before>, no_before_queued>)
        before_queued(make_future(result));
    s->add_ref(); // the queue's reference
    try
    {
        core.submit(s);
    }
    catch (...)
    {
        s->release();
        throw;
    }
    return make_future(std::move(result));
}

/// Queues the bound task `fn` (returning T) on `core`; returns its future.
template <typename T, typename Fn>
future<T> submit_packaged(thread_pool_core& core, Fn&& fn)
{
    return submit_packaged<T>(core, std::forward<Fn>(fn), no_before_queued{});
}

} // namespace detail

template <typename F, typename... Args>
future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>
thread_pool::submit(F&& f, Args&&... args)
{
    using result_type = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
    return detail::submit_packaged<result_type>(
        *core_, detail::bind_task(std::forward<F>(f), std::forward<Args>(args)...));
}

template <typename F, typename... Args>
std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...> thread_pool::run(F&& f,
                                                                            Args&&... args)
{
    return submit(std::forward<F>(f), std::forward<Args>(args)...).collect();
}

inline auto thread_pool::chunk_submitter()
{
    return [core = core_.get()]<typename R, typename Tuple, typename F>(
               std::type_identity<R>, std::type_identity<Tuple>, std::shared_ptr<F> f) {
        return [core, f = std::move(f)](std::vector<Tuple>&& items, auto&& before_queued) {
            return detail::submit_packaged<detail::chunk_result<R>>(
                *core,
                [f, items = std::move(items)]() mutable { return detail::run_chunk<R>(*f, items); },
                before_queued);
        };
    };
}

template <typename Rep, typename Period>
bool thread_pool::join(std::chrono::duration<Rep, Period> timeout)
{
    return core_->join(detail::deadline_after(timeout));
}

template <typename Allocator, std::uint32_t Bits>
template <typename Function>
void thread_pool::basic_executor_type<Allocator, Bits>::execute(Function&& f) const
{
    using function_type = std::decay_t<Function>;
    detail::thread_pool_core& core = *pool_->core_;
    if ((bits_ & blocking_always_bit) != 0)
    {
        // A synchronous call, on a worker: the exception is the caller's.
        function_type tmp(std::forward<Function>(f));
        if (core.running_in_this_thread())
        {
            tmp();
            return;
        }
        detail::blocking_function<function_type> node(tmp);
        if (std::exception_ptr why = core.try_post(&node))
            std::rethrow_exception(why);
        if (!node.wait())
            std::rethrow_exception(core.unusable_error());
        return;
    }
    if ((bits_ & blocking_never_bit) == 0 && core.running_in_this_thread())
    {
        function_type tmp(std::forward<Function>(f));
        try
        {
            tmp();
        }
        catch (...)
        {
            core.report_exception(std::current_exception());
        }
        return;
    }
    core.post(detail::posted_function<function_type, Allocator>::create(std::forward<Function>(f),
                                                                        allocator_));
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_THREAD_POOL_HPP
