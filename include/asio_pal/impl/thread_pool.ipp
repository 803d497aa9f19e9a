//
// asio_pal/impl/thread_pool.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Non-template bodies of thread_pool.
//

#ifndef ASIO_PAL_IMPL_THREAD_POOL_IPP
#define ASIO_PAL_IMPL_THREAD_POOL_IPP

#include "asio_pal/thread_pool.hpp"

#include <array>
#include <stdexcept>
#include <tuple>

namespace asio_pal {

thread_pool::thread_pool() : thread_pool(pool_options{}) {}

thread_pool::thread_pool(std::size_t max_workers)
    : thread_pool(pool_options{.max_workers = max_workers})
{
}

thread_pool::thread_pool(pool_options options)
{
    if (options.name.empty())
        options.name = "thread_pool";
    core_ = std::make_unique<detail::thread_pool_core>(
        detail::resolve_options(std::move(options), detail::hardware_threads() + 5));
}

thread_pool::~thread_pool()
{
    // Workers first, then the services: handlers they destroy may hold tracked executors
    // that still point at the core. When a task of this pool is destroying it, its worker is
    // the one left running; the core's destructor sends it off without the pool.
    core_->shutdown_for_destruction();
    net::execution_context::shutdown();
    net::execution_context::destroy();
}

thread_pool::executor_type thread_pool::get_executor() noexcept
{
    return executor_type(this, std::allocator<void>(), 0);
}

std::size_t thread_pool::count_workers() const
{
    return core_->count_workers();
}

std::size_t thread_pool::count_busy_workers() const
{
    return core_->count_busy_workers();
}

std::size_t thread_pool::count_free_workers() const
{
    return core_->count_free_workers();
}

std::size_t thread_pool::count_pending_tasks() const
{
    return core_->count_pending_tasks();
}

std::size_t thread_pool::spawn_workers()
{
    return core_->spawn_workers(std::nullopt);
}

std::size_t thread_pool::spawn_workers(std::size_t n)
{
    return core_->spawn_workers(n);
}

bool thread_pool::join()
{
    return core_->join(std::nullopt);
}

bool thread_pool::shutdown()
{
    return core_->shutdown();
}

void thread_pool::check() const
{
    core_->check();
}

void thread_pool::test() const
{
    check();
    pool_options o = options();
    o.max_workers = 1;
    thread_pool replica(std::move(o));
    future<int> f = replica.submit([] { return 42; });
    f.wait();
    replica.check(); // an initializer failure shows here, not as a cancelled task
    int mapped = 0;
    for (int v : replica.map([](int x) { return x * 2; }, std::array{1, 2, 3}))
        mapped += v;
    int starmapped = 0;
    for (int v : replica.starmap([](int a, int b) { return a * b; },
                                 std::array{std::tuple{2, 3}, std::tuple{4, 5}}))
        starmapped += v;
    // Joining lets the worker exit, so a failing finalizer has failed by now.
    replica.join();
    replica.check();
    if (f.collect() != 42 || mapped != 12 || starmapped != 26)
        throw std::logic_error("asio_pal: test() of pool '" + options().name +
                               "': the replica returned a wrong result");
}

bool thread_pool::is_closed() const
{
    return core_->is_closed();
}

bool thread_pool::is_terminated() const
{
    return core_->is_terminated();
}

bool thread_pool::is_broken() const
{
    return core_->is_broken();
}

std::vector<task_id_t> thread_pool::cancelled_tasks() const
{
    return core_->cancelled_tasks();
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_THREAD_POOL_IPP
