//
// asio_pal/impl/exit_registry.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_EXIT_REGISTRY_IPP
#define ASIO_PAL_IMPL_EXIT_REGISTRY_IPP

#include "asio_pal/detail/exit_registry.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace asio_pal::detail {

namespace {

struct exit_registry
{
    std::mutex mutex;
    std::condition_variable done; // signalled when the handler finishes with a participant
    std::vector<exit_participant*> live;
    // The participant the handler is shutting down (its destructor waits for that to end).
    exit_participant* in_progress = nullptr;
    std::thread::id handler_thread;
    int registrations = 0;
    // A pool was made since the handler was last registered (see arm_at_exit).
    std::atomic<bool> rearm{false};
};

// Upper bound of handler registrations, so a program that makes pools in a loop does not grow
// its atexit list without end.
constexpr int max_registrations = 1024;

// Never destroyed: pools may unregister during static destruction, after our handler ran.
exit_registry& registry()
{
    static exit_registry* r = new exit_registry;
    return *r;
}

extern "C" void asio_pal_shutdown_at_exit()
{
    // One participant at a time, taken off the list under the lock: shutting one down drops its
    // pending tasks, whose captured state may own (and so destroy) another pool of the list, and
    // other threads may create or destroy pools meanwhile. A snapshot of the list would hold
    // dangling pointers; the list itself never does.
    exit_registry& r = registry();
    std::unique_lock<std::mutex> lock(r.mutex);
    while (!r.live.empty())
    {
        // Newest first, as static destruction would.
        exit_participant* p = r.live.back();
        r.live.pop_back();
        r.in_progress = p;
        r.handler_thread = std::this_thread::get_id();
        lock.unlock();
        p->shutdown_at_exit();
        lock.lock();
        r.in_progress = nullptr;
        r.done.notify_all();
    }
}

} // namespace

void register_at_exit(exit_participant* p)
{
    exit_registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    // Registered anew whenever the first of a batch of live pools appears, so that statics
    // constructed while no pool was alive are destroyed after the pools are shut down.
    // (Objects constructed while a pool lives can still be destroyed before it; bounded so a
    // program that creates pools in a loop does not grow its atexit list without end.)
    if (r.live.empty() && r.registrations < max_registrations)
    {
        if (std::atexit(asio_pal_shutdown_at_exit) == 0)
            ++r.registrations;
    }
    r.live.push_back(p);
    r.rearm.store(true, std::memory_order_release);
}

void arm_at_exit() noexcept
{
    exit_registry& r = registry();
    if (!r.rearm.load(std::memory_order_acquire))
        return;
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!r.rearm.exchange(false, std::memory_order_acq_rel) || r.live.empty() ||
        r.registrations >= max_registrations)
        return;
    if (std::atexit(asio_pal_shutdown_at_exit) == 0)
        ++r.registrations;
}

void unregister_at_exit(exit_participant* p) noexcept
{
    exit_registry& r = registry();
    std::unique_lock<std::mutex> lock(r.mutex);
    r.live.erase(std::remove(r.live.begin(), r.live.end(), p), r.live.end());
    // Destroyed on another thread while the exit handler shuts it down: wait for the handler to
    // let go. (On the handler's own thread the participant is destroying itself from inside its
    // shutdown, which its own destructor must cope with.)
    r.done.wait(lock, [&] {
        return r.in_progress != p || r.handler_thread == std::this_thread::get_id();
    });
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_EXIT_REGISTRY_IPP
