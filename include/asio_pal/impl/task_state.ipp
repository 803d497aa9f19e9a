//
// asio_pal/impl/task_state.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Non-template bodies of the task state.
//

#ifndef ASIO_PAL_IMPL_TASK_STATE_IPP
#define ASIO_PAL_IMPL_TASK_STATE_IPP

#include "asio_pal/detail/spin.hpp"
#include "asio_pal/detail/task_state.hpp"
#include "asio_pal/error.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <unordered_map>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace asio_pal::detail {

namespace {

std::atomic<task_id_t> next_task_id{1};

thread_local task_owner* this_thread_owner = nullptr;

thread_local int cancel_depth = 0;

// Owners that are live (constructed, not retired), keyed by address, with their serials.
// Never destroyed: owners may retire during static destruction.
struct owner_registry
{
    std::mutex mutex;
    std::unordered_map<const task_owner*, std::uint64_t> live;
    std::uint64_t next_serial = 1;
};

owner_registry& owners()
{
    static owner_registry* r = new owner_registry;
    return *r;
}

std::uint64_t register_owner(const task_owner* o)
{
    owner_registry& r = owners();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::uint64_t serial = r.next_serial++;
    r.live.emplace(o, serial);
    return serial;
}

// Pins this thread holds, by owner: an owner retired from inside a call made through its own pin
// (a callback that drops the last reference to the pool) must not wait for itself.
thread_local const task_owner* pinned_here = nullptr;
thread_local std::uint32_t pinned_here_count = 0;

struct cancel_scope
{
    cancel_scope() noexcept { ++cancel_depth; }
    ~cancel_scope() { --cancel_depth; }
    cancel_scope(const cancel_scope&) = delete;
    cancel_scope& operator=(const cancel_scope&) = delete;
};

// Sleeps while *word == expected, until woken or until the absolute steady-clock deadline.
// Returns false on timeout.
bool futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<std::chrono::steady_clock::time_point> deadline) noexcept
{
    timespec ts{};
    timespec* tsp = nullptr;
    if (deadline)
    {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      deadline->time_since_epoch())
                      .count();
        if (ns < 0)
            ns = 0;
        ts.tv_sec = static_cast<time_t>(ns / 1000000000);
        ts.tv_nsec = static_cast<long>(ns % 1000000000);
        tsp = &ts;
    }
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which is steady_clock on Linux.
    long r = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word),
                       FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, nullptr,
                       FUTEX_BITSET_MATCH_ANY);
    return !(r == -1 && errno == ETIMEDOUT);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept
{
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
              INT_MAX, nullptr, nullptr, 0);
}

} // namespace

task_owner::task_owner() : serial_(register_owner(this)) {}

task_owner::~task_owner()
{
    retire_owner();
}

void task_owner::retire_owner() noexcept
{
    if (retired_)
        return;
    retired_ = true;
    {
        owner_registry& r = owners();
        std::lock_guard<std::mutex> lock(r.mutex);
        r.live.erase(this);
    }
    // No new pin can be taken now; wait for the ones in flight on other threads.
    std::uint32_t mine = pinned_here == this ? pinned_here_count : 0;
    for (std::uint32_t n = pins_.load(std::memory_order_acquire); n > mine;
         n = pins_.load(std::memory_order_acquire))
        pins_.wait(n, std::memory_order_acquire);
}

owner_pin::owner_pin(task_owner* o, std::uint64_t serial) noexcept
{
    if (!o)
        return;
    owner_registry& r = owners();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.live.find(o);
    if (it == r.live.end() || it->second != serial)
        return;
    o->pins_.fetch_add(1, std::memory_order_relaxed);
    o_ = o;
    if (pinned_here == nullptr || pinned_here == o)
    {
        pinned_here = o;
        ++pinned_here_count;
    }
}

owner_pin::~owner_pin()
{
    if (!o_)
        return;
    if (pinned_here == o_ && --pinned_here_count == 0)
        pinned_here = nullptr;
    // The owner may be freed as soon as the count drops: touch nothing of it after that.
    std::atomic<std::uint32_t>& pins = o_->pins_;
    if (pins.fetch_sub(1, std::memory_order_acq_rel) == 1)
        pins.notify_all();
}

bool inside_cancel() noexcept
{
    return cancel_depth > 0;
}

task_owner* current_owner() noexcept
{
    return this_thread_owner;
}

void set_current_owner(task_owner* o) noexcept
{
    this_thread_owner = o;
}

void report_exception(const char* what, std::exception_ptr e) noexcept
{
    if (task_owner* o = current_owner())
    {
        o->report_exception(e);
        return;
    }
    try
    {
        std::rethrow_exception(e);
    }
    catch (const std::exception& ex)
    {
        std::fprintf(stderr, "asio_pal: %s: %s\n", what, ex.what());
    }
    catch (...)
    {
        std::fprintf(stderr, "asio_pal: %s: unknown exception\n", what);
    }
}

state_base::state_base() noexcept : id_(next_task_id.fetch_add(1, std::memory_order_relaxed)) {}

std::int64_t state_base::now_ns() noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void state_base::mark_submitted() noexcept
{
    t_submit_.store(now_ns(), std::memory_order_relaxed);
}

task_duration state_base::duration() const noexcept
{
    std::uint32_t st = status_.load(std::memory_order_acquire) & state_mask;
    std::int64_t sub = t_submit_.load(std::memory_order_relaxed);
    std::int64_t start = t_start_.load(std::memory_order_relaxed);
    std::int64_t end = t_end_.load(std::memory_order_relaxed);
    std::int64_t now = now_ns();
    auto ns = [](std::int64_t v) { return std::chrono::nanoseconds(v > 0 ? v : 0); };
    switch (st)
    {
    case static_cast<std::uint32_t>(task_status::running):
        return {ns(start - sub), ns(now - start)};
    case static_cast<std::uint32_t>(task_status::completed):
    case static_cast<std::uint32_t>(task_status::failed):
        return {ns(start - sub), ns(end - start)};
    case static_cast<std::uint32_t>(task_status::cancelled):
        return {ns(end - sub), ns(0)};
    default: // pending or being withdrawn
        return {ns(now - sub), ns(0)};
    }
}

bool state_base::claim() noexcept
{
    std::uint32_t s = status_.load(std::memory_order_relaxed);
    while ((s & state_mask) == static_cast<std::uint32_t>(task_status::pending))
    {
        // Stamped before the transition so that a reader seeing "running" sees a start time.
        t_start_.store(now_ns(), std::memory_order_relaxed);
        if (status_.compare_exchange_weak(
                s, (s & ~state_mask) | static_cast<std::uint32_t>(task_status::running),
                std::memory_order_acq_rel, std::memory_order_relaxed))
            return true;
    }
    return false;
}

bool state_base::claim_inline() noexcept
{
    if (!claim())
        return false;
    if (owner_)
        owner_->on_claimed_inline();
    return true;
}

bool state_base::help() noexcept
{
    if (!owner_ || owner_ != current_owner() || !claim_inline())
        return false;
    run_claimed();
    return true;
}

bool state_base::try_withdraw() noexcept
{
    std::uint32_t s = status_.load(std::memory_order_relaxed);
    while ((s & state_mask) == static_cast<std::uint32_t>(task_status::pending))
    {
        if (status_.compare_exchange_weak(s, (s & ~state_mask) | withdrawing,
                                          std::memory_order_acq_rel, std::memory_order_relaxed))
            return true;
    }
    return false;
}

void state_base::wait_out_withdrawal() noexcept
{
    // A canceller holds "withdrawing" only while it updates the owner's counters.
    while ((status_.load(std::memory_order_acquire) & state_mask) == withdrawing)
        std::this_thread::yield();
}

bool state_base::withdraw(task_id_t& cancelled_id) noexcept
{
    if (!try_withdraw())
        return false;
    cancelled_id = id_;
    return true;
}

void state_base::discard(bool withdrawn) noexcept
{
    if (withdrawn)
        finish(task_status::cancelled);
    else
        wait_out_withdrawal();
    release();
}

bool state_base::cancel() noexcept
{
    cancel_scope scope;
    cancel_flag_.store(true, std::memory_order_release);
    for (;;)
    {
        std::uint32_t st = status_.load(std::memory_order_acquire) & state_mask;
        if (st == static_cast<std::uint32_t>(task_status::pending))
        {
            if (!try_withdraw())
                continue;
            if (owner_)
            {
                // A pending task keeps its pool from finishing its shutdown (the pool waits
                // out "withdrawing"), so the pin cannot fail here; it guards the call all the
                // same, since the pool's bookkeeping is not this file's to rely on.
                if (owner_pin pin(owner_, owner_serial_); pin)
                    pin->on_withdrawn();
            }
            finish(task_status::cancelled);
            return true;
        }
        if (st == withdrawing)
        {
            wait_out_withdrawal();
            continue;
        }
        if (st == static_cast<std::uint32_t>(task_status::running))
        {
            if (!owner_)
                return false;
            // The task may finish and its pool be destroyed between the status read above and
            // this call: the pin fails once the pool has retired.
            owner_pin pin(owner_, owner_serial_);
            return pin ? pin->cancel_running(*this) : false;
        }
        return st == static_cast<std::uint32_t>(task_status::cancelled);
    }
}

void state_base::run_claimed() noexcept
{
    execute();
}

void state_base::run() noexcept
{
    run_claimed();
    release();
}

void state_base::finish(task_status final_status) noexcept
{
    t_end_.store(now_ns(), std::memory_order_relaxed);
    std::uint32_t old =
        status_.exchange(static_cast<std::uint32_t>(final_status), std::memory_order_acq_rel);
    if (old & sleepers_bit)
        futex_wake_all(status_);
    if (old & listeners_bit)
    {
        listener* l;
        {
            std::lock_guard<std::mutex> lock(listeners_mutex_);
            l = std::exchange(first_, nullptr);
            last_ = nullptr;
        }
        while (l)
        {
            listener* next = l->next_;
            l->fire(*this);
            l = next;
        }
    }
    on_finished();
}

bool state_base::wait_until(std::optional<std::chrono::steady_clock::time_point> deadline)
{
    if (is_done())
        return true;
    // Waiting on a task of our own pool from one of its workers: run it here rather than wait
    // for a worker that may never come (every worker may be waiting like us).
    if (help())
        return true;
    // Pools whose results arrive through another thread may ask for a short spin first: a
    // result often comes within microseconds, and a futex sleep adds a wake-up that may land on
    // another CPU. Bounded, so a waiter that has to wait longer sleeps.
    if (wait_spin_.count() > 0 && spin_until([this] { return is_done(); }, wait_spin_))
        return true;
    std::uint32_t s = status_.load(std::memory_order_acquire);
    for (;;)
    {
        if (is_final(s))
            return true;
        if (!(s & sleepers_bit))
        {
            if (!status_.compare_exchange_weak(s, s | sleepers_bit, std::memory_order_acq_rel,
                                               std::memory_order_acquire))
                continue;
            s |= sleepers_bit;
        }
        if (!futex_wait(status_, s, deadline))
            return is_done();
        s = status_.load(std::memory_order_acquire);
    }
}

bool state_base::add_listener(listener* l) noexcept
{
    std::lock_guard<std::mutex> lock(listeners_mutex_);
    std::uint32_t s = status_.load(std::memory_order_acquire);
    do
    {
        if (is_final(s))
            return false;
    } while (!status_.compare_exchange_weak(s, s | listeners_bit, std::memory_order_acq_rel,
                                            std::memory_order_acquire));
    l->next_ = nullptr;
    l->prev_ = last_;
    if (last_)
        last_->next_ = l;
    else
        first_ = l;
    last_ = l;
    return true;
}

bool state_base::remove_listener(std::uint64_t id) noexcept
{
    listener* found = nullptr;
    {
        std::lock_guard<std::mutex> lock(listeners_mutex_);
        for (listener* l = first_; l; l = l->next_)
        {
            if (l->id_ == id)
            {
                found = l;
                break;
            }
        }
        if (!found)
            return false;
        (found->prev_ ? found->prev_->next_ : first_) = found->next_;
        (found->next_ ? found->next_->prev_ : last_) = found->prev_;
    }
    found->discard();
    return true;
}

std::exception_ptr state_base::cancelled_exception() const
{
    return std::make_exception_ptr(
        cancelled_error("asio_pal: task " + std::to_string(id_) + " was cancelled"));
}

void state_base::rethrow_if_unsuccessful() const
{
    switch (status())
    {
    case task_status::failed:
        std::rethrow_exception(error_);
    case task_status::cancelled:
        throw cancelled_error("asio_pal: task " + std::to_string(id_) + " was cancelled");
    default:
        return;
    }
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_TASK_STATE_IPP
