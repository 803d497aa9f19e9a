//
// asio_pal/impl/thread_pool_core.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The thread pool's workers and lifecycle.
//

#ifndef ASIO_PAL_IMPL_THREAD_POOL_CORE_IPP
#define ASIO_PAL_IMPL_THREAD_POOL_CORE_IPP

#include "asio_pal/detail/pool_support.hpp"
#include "asio_pal/detail/spin.hpp"
#include "asio_pal/detail/thread_pool_core.hpp"
#include "asio_pal/error.hpp"

#include <boost/assert.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <pthread.h>
#include <signal.h>

namespace asio_pal::detail {

thread_pool_core::thread_pool_core(pool_options o) : options_(std::move(o))
{
    idle_.reserve(options_.max_workers);
    register_at_exit(this);
}

thread_pool_core::~thread_pool_core()
{
    shutdown_for_destruction();
    if (running_in_this_thread())
        orphan_this_worker();
    unregister_at_exit(this);
    // Last, while every member still lives: futures may call in (cancel) until here.
    retire_owner();
    BOOST_ASSERT(inbox_.empty());
}

std::size_t thread_pool_core::pending_locked() const noexcept
{
    return static_cast<std::size_t>(inbox_.pushed() - unqueued_);
}

pool_counts thread_pool_core::counts_locked(std::size_t extra) const noexcept
{
    return {pending_locked() + extra,
            alive_count_,
            busy_,
            retiring_,
            options_.max_workers,
            finishing_.load(std::memory_order_acquire)};
}

bool thread_pool_core::may_need_workers_locked(std::size_t extra) const noexcept
{
    // workers_needed() without reading finishing_, a counter every task's worker writes: a post
    // that needs no worker (a full pool, or free workers even not counting the finishing ones)
    // would otherwise take a cache miss inside the lock for it.
    const std::size_t alive = alive_count_;
    return alive < options_.max_workers &&
           pending_locked() + extra > alive - std::min(alive, busy_ + retiring_);
}

bool thread_pool_core::may_push_unlocked() const noexcept
{
    return !refusing_.load(std::memory_order_relaxed) &&
           alive_.load(std::memory_order_relaxed) >= options_.max_workers;
}

void thread_pool_core::push_unlocked(task_node* n) noexcept
{
    inbox_.push(n); // counts it as pending, then queues it
    // After the push (seq_cst loads): a worker that went to sleep, retired or saw the pool
    // close before the push is seen here; one that did so after it sees the node.
    if (refusing_.load(std::memory_order_seq_cst) ||
        alive_.load(std::memory_order_seq_cst) < options_.max_workers ||
        (searching_.load(std::memory_order_seq_cst) == 0 &&
         idle_count_.load(std::memory_order_seq_cst) != 0))
        settle_after_push();
}

void thread_pool_core::settle_after_push() noexcept
{
    lock_type lock(mutex_);
    if (closed_ || broken_)
    {
        // Closed meanwhile: whatever its drain could not reach yet is dropped here, the same way.
        node_queue q = drain_locked(lock);
        lock.unlock();
        drop_drained(std::move(q));
        return;
    }
    std::exception_ptr not_grown;
    if (std::size_t k = may_need_workers_locked() ? workers_needed(counts_locked()) : 0)
    {
        try
        {
            spawn_locked(k);
        }
        catch (...)
        {
            not_grown = std::current_exception();
            if (alive_count_ == 0)
            {
                // Every worker retired while the node went in, and none could start: nobody
                // would ever run what is queued, so it ends cancelled, with the reason reported.
                node_queue q = drain_locked(lock);
                lock.unlock();
                drop_drained(std::move(q));
                report_exception(std::move(not_grown));
                return;
            }
        }
    }
    worker* w = wake_if_unwatched_locked();
    if (!zombies_.empty())
        join_zombies(lock);
    lock.unlock();
    if (w)
        w->wakeup.notify_one();
    if (not_grown)
        report_exception(std::move(not_grown));
}

std::exception_ptr thread_pool_core::closed_error(const char* detail) const
{
    return std::make_exception_ptr(
        pool_closed_error("asio_pal: pool '" + options_.name + "' is closed" + detail));
}

void thread_pool_core::throw_if_unusable_locked() const
{
    // Closed wins over broken, as in asyncpal: the user's own shutdown is the likelier news.
    if (closed_)
        throw pool_closed_error("asio_pal: pool '" + options_.name + "' is closed");
    if (broken_)
        std::rethrow_exception(broken_);
}

std::exception_ptr thread_pool_core::unusable_error() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_ ? closed_error("") : broken_;
}

void thread_pool_core::submit(state_base* s)
{
    if (may_push_unlocked())
    {
        s->set_owner(this);
        s->mark_submitted();
        push_unlocked(s);
        return;
    }
    lock_type lock(mutex_);
    throw_if_unusable_locked();
    s->set_owner(this);
    s->mark_submitted();
    std::exception_ptr not_grown;
    if (std::size_t n = may_need_workers_locked(1) ? workers_needed(counts_locked(1)) : 0)
    {
        try
        {
            spawn_locked(n);
        }
        catch (...)
        {
            if (alive_count_ == 0)
            {
                // Nobody could ever run it: refuse the task rather than strand it.
                throw;
            }
            // The live workers run it (the last to leave stays if none could replace it).
            not_grown = std::current_exception();
        }
    }
    inbox_.push(s);
    worker* w = wake_if_unwatched_locked();
    if (!zombies_.empty())
        join_zombies(lock);
    lock.unlock();
    if (w)
        w->wakeup.notify_one();
    if (not_grown)
        report_exception(std::move(not_grown));
}

void thread_pool_core::post(task_node* n) noexcept
{
    if (std::exception_ptr why = try_post(n))
    {
        task_id_t id = 0;
        n->drop(id);
        report_exception(std::move(why));
    }
}

std::exception_ptr thread_pool_core::try_post(task_node* n) noexcept
{
    if (may_push_unlocked())
    {
        push_unlocked(n);
        return nullptr;
    }
    lock_type lock(mutex_);
    if (closed_)
        return closed_error("; a posted function was discarded");
    if (broken_)
        return broken_;
    std::exception_ptr not_grown;
    if (std::size_t k = may_need_workers_locked(1) ? workers_needed(counts_locked(1)) : 0)
    {
        try
        {
            spawn_locked(k);
        }
        catch (...)
        {
            if (alive_count_ == 0)
            {
                // Nobody could ever run it: give it back rather than strand it.
                return std::current_exception();
            }
            not_grown = std::current_exception();
        }
    }
    inbox_.push(n);
    worker* w = wake_if_unwatched_locked();
    if (!zombies_.empty())
        join_zombies(lock);
    lock.unlock();
    if (w)
        w->wakeup.notify_one();
    if (not_grown)
        report_exception(std::move(not_grown));
    return nullptr;
}

std::size_t thread_pool_core::count_workers() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_ ? 0 : alive_count_;
}

std::size_t thread_pool_core::count_busy_workers() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_ ? 0 : busy_;
}

std::size_t thread_pool_core::count_free_workers() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    // Not counts_locked().free(): a worker counts as free for the spawn decision as soon as its
    // task returns, but to the user only once it has published the result and is back.
    return closed_ ? 0 : alive_count_ - busy_ - retiring_;
}

std::size_t thread_pool_core::count_pending_tasks() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_ ? 0 : pending_locked();
}

std::size_t thread_pool_core::spawn_workers(std::optional<std::size_t> n)
{
    lock_type lock(mutex_);
    throw_if_unusable_locked();
    pool_counts c = counts_locked();
    std::size_t k = n ? workers_allowed(c, *n) : workers_needed(c);
    spawn_locked(k);
    join_zombies(lock);
    return k;
}

void thread_pool_core::spawn_locked(std::size_t n)
{
    for (std::size_t i = 0; i < n; ++i)
    {
        if (spare_.empty())
            workers_.emplace_back();
        else
            workers_.splice(workers_.end(), spare_, spare_.begin());
        auto it = std::prev(workers_.end());
        it->self = it;
        it->signalled = false;
        it->searching = false;
        it->tasks_done = 0;
        it->serial = ++thread_serial_;
        ++alive_count_;
        alive_.fetch_add(1, std::memory_order_seq_cst);
        try
        {
            int failing = failing_thread_starts.load(std::memory_order_relaxed);
            while (failing > 0 &&
                   !failing_thread_starts.compare_exchange_weak(failing, failing - 1))
            {
            }
            if (failing > 0)
                throw std::system_error(
                    std::make_error_code(std::errc::resource_unavailable_try_again),
                    "asio_pal: thread start refused (failing_thread_starts)");
            signals_blocked blocked;
            it->thread = std::thread([this, w = &*it] { worker_main(w); });
        }
        catch (...)
        {
            --alive_count_;
            alive_.fetch_sub(1, std::memory_order_seq_cst);
            spare_.splice(spare_.end(), workers_, it);
            throw;
        }
    }
}

thread_pool_core::worker* thread_pool_core::wake_one_locked() noexcept
{
    if (idle_.empty())
        return nullptr;
    worker* w = idle_.back();
    idle_.pop_back();
    idle_count_.fetch_sub(1, std::memory_order_relaxed);
    w->signalled = true;
    start_searching_locked(*w);
    return w;
}

thread_pool_core::worker* thread_pool_core::wake_if_unwatched_locked() noexcept
{
    // Not counting workers whose task has returned (finishing_): one may yet spend long in the
    // future's callbacks.
    if (searching_count_ != 0 || inbox_.empty())
        return nullptr;
    return wake_one_locked();
}

void thread_pool_core::start_searching_locked(worker& w) noexcept
{
    if (!w.searching)
    {
        w.searching = true;
        ++searching_count_;
        searching_.fetch_add(1, std::memory_order_relaxed);
    }
}

void thread_pool_core::stop_searching_locked(worker& w) noexcept
{
    if (w.searching)
    {
        // Followed by a look at the inbox (wake_if_unwatched_locked, idle_wait).
        w.searching = false;
        --searching_count_;
        searching_.fetch_sub(1, std::memory_order_seq_cst);
    }
}

void thread_pool_core::wake_all_locked() noexcept
{
    for (worker* w : idle_)
    {
        w->signalled = true;
        start_searching_locked(*w);
        w->wakeup.notify_one();
    }
    idle_.clear();
    idle_count_.store(0, std::memory_order_relaxed);
}

void thread_pool_core::notify_state_locked() noexcept
{
    if (state_waiters_ != 0)
        state_changed_.notify_all();
}

void thread_pool_core::work_finished() noexcept
{
    if (work_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        notify_state_locked();
    }
}

void thread_pool_core::refuse_locked() noexcept
{
    // Before any drain: a poster that pushes after the drain's last look sees it, and drains.
    refusing_.store(true, std::memory_order_seq_cst);
}

node_queue thread_pool_core::drain_locked(lock_type& lock) noexcept
{
    wake_all_locked();
    node_queue q;
    for (;;)
    {
        while (task_node* n = inbox_.pop())
            q.push(n);
        if (inbox_.empty())
            return q;
        // A poster is linking its node, between two of its instructions.
        lock.unlock();
        std::this_thread::yield();
        lock.lock();
    }
}

void thread_pool_core::drop_drained(node_queue q) noexcept
{
    // Withdraw everything, book the cancellations, and only then publish them: whoever sees a
    // future cancelled by shutdown also finds it in cancelled_tasks().
    node_queue withdrawn;
    node_queue others;
    std::size_t dropped = 0;
    std::vector<task_id_t> ids;
    while (task_node* n = q.pop())
    {
        task_id_t id = 0;
        if (!n->withdraw(id))
        {
            others.push(n);
            continue;
        }
        withdrawn.push(n);
        ++dropped;
        if (id != 0)
        {
            try
            {
                ids.push_back(id);
            }
            catch (...)
            {
            }
        }
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        BOOST_ASSERT(pending_locked() >= dropped);
        unqueued_ += dropped;
        try
        {
            cancelled_.insert(cancelled_.end(), ids.begin(), ids.end());
        }
        catch (...)
        {
        }
        notify_state_locked();
    }
    while (task_node* n = withdrawn.pop())
        n->discard(true);
    while (task_node* n = others.pop())
        n->discard(false);
}

void thread_pool_core::break_pool(std::exception_ptr e) noexcept
{
    node_queue q;
    {
        lock_type lock(mutex_);
        if (broken_)
            return;
        broken_ = std::move(e);
        refuse_locked();
        q = drain_locked(lock);
        notify_state_locked();
    }
    drop_drained(std::move(q));
}

bool thread_pool_core::join(deadline_t deadline)
{
    if (running_in_this_thread())
        throw std::logic_error("asio_pal: join() called from a worker of pool '" + options_.name +
                               "' would wait for itself");
    lock_type lock(mutex_);
    ++joiners_;
    ++state_waiters_;
    wake_all_locked(); // idle workers see the joiner and exit
    auto idle = [this] {
        return alive_count_ == 0 &&
               (closed_ || (pending_locked() == 0 && busy_ == 0 &&
                            work_.load(std::memory_order_acquire) == 0));
    };
    bool ok = true;
    if (deadline)
        ok = state_changed_.wait_until(lock, *deadline, idle);
    else
        state_changed_.wait(lock, idle);
    --joiners_;
    --state_waiters_;
    join_zombies(lock);
    return ok;
}

bool thread_pool_core::shutdown()
{
    lock_type lock(mutex_);
    bool first = !closed_;
    if (first)
    {
        closed_ = true;
        stopping_ = true;
        refuse_locked();
        node_queue q = drain_locked(lock);
        lock.unlock();
        drop_drained(std::move(q));
        lock.lock();
    }
    // A worker shutting down its own pool cannot wait for itself; the others stop on their own.
    if (!running_in_this_thread())
    {
        ++state_waiters_;
        state_changed_.wait(lock, [this] { return alive_count_ == 0; });
        --state_waiters_;
        join_zombies(lock);
    }
    return first;
}

void thread_pool_core::shutdown_for_destruction() noexcept
{
    const bool own_worker = running_in_this_thread();
    if (!own_worker)
    {
        shutdown();
        return;
    }
    // A task dropped the pool's last owner. Its own worker keeps running that task; every other
    // worker must be gone before the pool's memory is.
    lock_type lock(mutex_);
    if (!closed_)
    {
        closed_ = true;
        stopping_ = true;
        refuse_locked();
        node_queue q = drain_locked(lock);
        lock.unlock();
        drop_drained(std::move(q));
        lock.lock();
    }
    ++state_waiters_;
    state_changed_.wait(lock, [this] { return alive_count_ == 1; });
    --state_waiters_;
    join_zombies(lock);
}

void thread_pool_core::orphan_this_worker() noexcept
{
    // Called on the worker whose task is destroying the pool, after every other worker left.
    const auto me = std::this_thread::get_id();
    for (worker& w : workers_)
        if (w.thread.get_id() == me)
            w.thread.detach();
    worker_context* ctx = this_worker_context;
    if (ctx)
    {
        ctx->orphaned = true;
        ctx->finishing = nullptr;
    }
    // A worker's finalizer runs before it leaves; this one leaves the pool here (unless the
    // pool's end came from its initializer or finalizer).
    if (ctx && !ctx->in_hook && options_.finalizer)
    {
        try
        {
            options_.finalizer();
        }
        catch (...)
        {
            report_exception(nested_error<finalizer_error>(
                "asio_pal: finalizer of pool '" + options_.name + "' failed",
                std::current_exception()));
        }
    }
    set_current_owner(nullptr);
}

void thread_pool_core::check() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    throw_if_unusable_locked();
}

bool thread_pool_core::is_closed() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
}

bool thread_pool_core::is_terminated() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_ && alive_count_ == 0;
}

bool thread_pool_core::is_broken() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<bool>(broken_);
}

std::vector<task_id_t> thread_pool_core::cancelled_tasks() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return cancelled_;
}

void thread_pool_core::on_withdrawn() noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    BOOST_ASSERT(pending_locked() > 0);
    ++unqueued_;
    notify_state_locked();
}

void thread_pool_core::on_claimed_inline() noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    BOOST_ASSERT(pending_locked() > 0);
    ++unqueued_;
}

void thread_pool_core::report_exception(std::exception_ptr e) noexcept
{
    report_pool_exception(options_.on_task_exception, options_.name, std::move(e));
}

void thread_pool_core::join_zombies(lock_type& lock) noexcept
{
    if (zombies_.empty())
        return;
    std::list<worker> done = std::move(zombies_);
    zombies_.clear();
    lock.unlock();
    for (worker& w : done)
        if (w.thread.joinable())
            w.thread.join();
    lock.lock();
    spare_.splice(spare_.end(), done);
}

bool thread_pool_core::idle_wait(lock_type& lock, worker& w)
{
    const bool has_timeout = options_.idle_timeout.has_value();
    const bool zero = has_timeout && options_.idle_timeout->count() <= 0;
    auto decide = [&](bool timed_out) {
        return decide_idle(stopping_ || broken_,
                           joiners_ != 0 && pending_locked() == 0,
                           timed_out, has_timeout, zero);
    };
    if (decide(false) == idle_decision::retire)
        return false;
    stop_searching_locked(w);
    w.signalled = false;
    idle_.push_back(&w);
    idle_count_.fetch_add(1, std::memory_order_seq_cst);
    if (!inbox_.empty())
    {
        // A poster that pushed without the lock before this worker counted as idle.
        idle_.pop_back();
        idle_count_.fetch_sub(1, std::memory_order_relaxed);
        return true;
    }
    bool timed_out = false;
    const auto deadline =
        has_timeout ? saturating_deadline(std::chrono::steady_clock::now(), *options_.idle_timeout)
                    : std::chrono::steady_clock::time_point::max();
    if (deadline != std::chrono::steady_clock::time_point::max())
    {
        while (!w.signalled)
        {
            if (w.wakeup.wait_until(lock, deadline) == std::cv_status::timeout)
            {
                timed_out = !w.signalled;
                break;
            }
        }
    }
    else
    {
        while (!w.signalled)
            w.wakeup.wait(lock);
    }
    if (!w.signalled)
    {
        idle_.erase(std::find(idle_.begin(), idle_.end(), &w));
        idle_count_.fetch_sub(1, std::memory_order_seq_cst);
    }
    if (!inbox_.empty())
        return true;
    return decide(timed_out) == idle_decision::wait;
}

void thread_pool_core::worker_main(worker* w) noexcept
{
    worker_context ctx;
    ctx.finishing = &finishing_;
    this_worker_context = &ctx;
    set_current_owner(this);
    {
        std::string name = options_.name.substr(0, 10) + "-" + std::to_string(w->serial % 10000);
        pthread_setname_np(pthread_self(), name.c_str());
    }
    // A task, initializer or finalizer that destroys the pool leaves this worker orphaned: from
    // then on `this` is gone.
    auto leave_orphaned = [&ctx] {
        if (!ctx.orphaned)
            return false;
        this_worker_context = nullptr;
        return true;
    };
    for (;;)
    {
        bool initialized = true;
        if (options_.initializer)
        {
            try
            {
                ctx.in_hook = true;
                options_.initializer();
                ctx.in_hook = false;
            }
            catch (...)
            {
                ctx.in_hook = false;
                if (leave_orphaned())
                    return;
                initialized = false;
                break_pool(nested_error<initializer_error>("asio_pal: initializer of pool '" +
                                                           options_.name + "' failed",
                                                           std::current_exception()));
            }
            if (leave_orphaned())
                return;
        }
        lock_type lock(mutex_);
        bool just_ran = false;
        while (initialized && !stopping_ && !broken_)
        {
            if (task_node* n = inbox_.pop())
            {
                // The submitter woke at most one worker for its burst: whoever finds work
                // while others are queued behind it wakes the next (it pays the wake-up, not
                // the submitter), so a burst still reaches every idle worker.
                stop_searching_locked(*w);
                worker* next = wake_if_unwatched_locked();
                if (!n->claim())
                {
                    // Withdrawn or run inline by its waiter: only the queue's hold is left.
                    lock.unlock();
                    if (next)
                        next->wakeup.notify_one();
                    task_id_t id = 0;
                    n->drop(id);
                    lock.lock();
                    continue;
                }
                ++unqueued_;
                ++busy_;
                lock.unlock();
                if (next)
                    next->wakeup.notify_one();
                const bool awaited = n->awaited(); // before run(): a posted node frees itself
                ctx.loop_task = true;
                n->run();
                ctx.loop_task = false;
                if (leave_orphaned())
                    return;
                const bool returned = std::exchange(ctx.returned, false);
                lock.lock();
                --busy_;
                if (returned)
                    finishing_.fetch_sub(1, std::memory_order_relaxed);
                ++w->tasks_done;
                // Not reading the producers' line (pending_locked) per task, only for a waiter.
                if (state_waiters_ != 0 && busy_ == 0 && pending_locked() == 0)
                    notify_state_locked();
                if (task_limit_reached(w->tasks_done, options_.max_tasks_per_worker))
                    break;
                just_ran = awaited;
                continue;
            }
            if (!inbox_.empty())
            {
                // A poster is linking its node, between two of its instructions.
                lock.unlock();
                std::this_thread::yield();
                lock.lock();
                continue;
            }
            if (std::exchange(just_ran, false) && !spinning_.exchange(true))
            {
                start_searching_locked(*w); // a post meanwhile need not wake anyone
                // Work often comes right back (a serial caller submits its next task as soon as
                // it has the result): one worker at a time watches for it a moment before
                // sleeping, which would cost the submitter a wake-up, often on the other CPU.
                // Posts meanwhile wake nobody (this worker is not in idle_): whatever the spin
                // saw, look at the queue again before sleeping.
                const task_node* seen = inbox_.last();
                lock.unlock();
                (void)spin_until([&] { return inbox_.last() != seen; }, worker_spin);
                spinning_.store(false, std::memory_order_relaxed);
                lock.lock();
                continue;
            }
            if (!idle_wait(lock, *w))
                break;
        }
        ++retiring_;
        stop_searching_locked(*w);
        // Leaving with work queued (max_tasks_per_worker, or a post that counted on this worker
        // to look): hand it to a sleeper. The replacement below only covers what the sleepers
        // cannot take.
        worker* heir = wake_if_unwatched_locked();
        lock.unlock();
        if (heir)
            heir->wakeup.notify_one();
        if (initialized && options_.finalizer)
        {
            try
            {
                ctx.in_hook = true;
                options_.finalizer();
                ctx.in_hook = false;
            }
            catch (...)
            {
                ctx.in_hook = false;
                if (leave_orphaned())
                    return;
                break_pool(nested_error<finalizer_error>("asio_pal: finalizer of pool '" +
                                                         options_.name + "' failed",
                                                         std::current_exception()));
            }
            if (leave_orphaned())
                return;
        }
        lock.lock();
        --retiring_;
        // Followed by a look at the pending count (counts_locked): a poster that read alive_
        // before this pushed a node that is counted there.
        --alive_count_;
        alive_.fetch_sub(1, std::memory_order_seq_cst);
        std::exception_ptr not_replaced;
        if (!closed_ && !broken_)
        {
            // Replace this worker when work is waiting (max_tasks_per_worker recycling, or work
            // that arrived while it retired).
            if (std::size_t k = workers_needed(counts_locked()))
            {
                try
                {
                    spawn_locked(k);
                }
                catch (...)
                {
                    not_replaced = std::current_exception();
                }
            }
        }
        if (not_replaced)
        {
            // No thread for a replacement: this one takes its place, initializer first, rather
            // than leave queued work to workers that may all be leaving too (or none at all).
            // It reports while still counted, so the pool cannot be destroyed under it.
            ++alive_count_;
            alive_.fetch_add(1, std::memory_order_seq_cst);
            w->tasks_done = 0;
            lock.unlock();
            report_exception(std::move(not_replaced));
            continue;
        }
        zombies_.splice(zombies_.end(), workers_, w->self);
        notify_state_locked();
        lock.unlock();
        break;
    }
    this_worker_context = nullptr;
    set_current_owner(nullptr);
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_THREAD_POOL_CORE_IPP
