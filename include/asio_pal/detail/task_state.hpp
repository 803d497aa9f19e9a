//
// asio_pal/detail/task_state.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The shared state behind a future: status word, result, listeners. Also the queue node that
// pools hand to their workers.
//

#ifndef ASIO_PAL_DETAIL_TASK_STATE_HPP
#define ASIO_PAL_DETAIL_TASK_STATE_HPP

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace asio_pal {

/// The life of a task: pending -> running -> completed | failed, or pending -> cancelled.
enum class task_status : std::uint8_t
{
    pending,
    running,
    completed,
    failed,
    cancelled,
};

/// The status's name: "pending", "running", "completed", "failed" or "cancelled".
inline const char* to_string(task_status s) noexcept
{
    switch (s)
    {
    case task_status::pending:
        return "pending";
    case task_status::running:
        return "running";
    case task_status::completed:
        return "completed";
    case task_status::failed:
        return "failed";
    case task_status::cancelled:
        return "cancelled";
    }
    return "invalid";
}

/// Writes to_string(s).
template <typename CharT, typename Traits>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os, task_status s)
{
    return os << to_string(s);
}

/// Time a task spent queued and running (`running` is 0 for a cancelled task).
struct task_duration
{
    std::chrono::nanoseconds pending{0};
    std::chrono::nanoseconds running{0};
};

/// Identifies a task within the process; never 0.
using task_id_t = std::uint64_t;

namespace detail {

/// Something a pool's worker takes off the queue: a submitted task or a posted function.
class task_node
{
public:
    /// The next node in a node_queue or a node_inbox (atomic for the inbox's producers).
    std::atomic<task_node*> next_{nullptr};

    /// Called with the pool's lock held: may the worker run this node? Never blocks.
    virtual bool claim() noexcept = 0;
    /// Runs a claimed node and gives up the queue's hold on it. Never throws.
    virtual void run() noexcept = 0;
    /// First half of giving up a node that will not run: takes a still-pending node out of
    /// play (true; `cancelled_id` then names the task, 0 for a posted function) without yet
    /// publishing anything, so the owner can book it first.
    virtual bool withdraw(task_id_t& cancelled_id) noexcept = 0;
    /// Second half: publishes the cancellation of a node this thread withdrew (`withdrawn`),
    /// or waits out someone else's; then gives up the queue's hold on it.
    virtual void discard(bool withdrawn) noexcept = 0;
    /// Whether someone may be waiting for this node's outcome (a future, a blocking execute):
    /// its worker then watches the queue a moment afterwards, for the waiter's next task. Not
    /// after a fire-and-forget function, whose poster is not waiting: a worker spinning during
    /// a burst of posts takes each post as it comes, in lockstep with the poster, instead of
    /// letting a backlog build and draining it.
    virtual bool awaited() const noexcept { return false; }

    /// Both halves at once; true when the node was still pending.
    bool drop(task_id_t& cancelled_id) noexcept
    {
        bool w = withdraw(cancelled_id);
        discard(w);
        return w;
    }

protected:
    ~task_node() = default;
};

/// FIFO of task nodes, intrusive; the owner locks it.
class node_queue
{
public:
    bool empty() const noexcept { return head_ == nullptr; }

    void push(task_node* n) noexcept
    {
        n->next_.store(nullptr, std::memory_order_relaxed);
        if (tail_)
            tail_->next_.store(n, std::memory_order_relaxed);
        else
            head_ = n;
        tail_ = n;
    }

    task_node* pop() noexcept
    {
        task_node* n = head_;
        if (n)
        {
            head_ = n->next_.load(std::memory_order_relaxed);
            if (!head_)
                tail_ = nullptr;
            n->next_.store(nullptr, std::memory_order_relaxed);
        }
        return n;
    }

    /// Moves every node out (for draining outside the lock).
    node_queue take() noexcept { return std::exchange(*this, node_queue{}); }

private:
    task_node* head_ = nullptr;
    task_node* tail_ = nullptr;
};

class state_base;

/// The pool side of a task's life, seen from its state.
///
/// A future may outlive its pool, and may call into it (cancel a running task) at the moment the
/// pool is being destroyed on another thread. So a state never calls its owner through a bare
/// pointer: it pins the owner first (owner_pin), which succeeds only while the owner is live, and
/// an owner's destructor calls retire_owner() first, which waits for every pin to go.
class task_owner
{
public:
    /// A pending task of this owner was withdrawn by its future (no lock held).
    virtual void on_withdrawn() noexcept = 0;
    /// A pending task was claimed outside a worker loop (inline run on a worker thread).
    virtual void on_claimed_inline() noexcept = 0;
    /// Stops a running task if the pool kind can (process pools); false for thread pools.
    virtual bool cancel_running(state_base&) noexcept { return false; }
    /// Reports an exception that has no future to go to.
    virtual void report_exception(std::exception_ptr e) noexcept = 0;
    /// How long a blocking wait on one of this owner's tasks spins before it sleeps (0: none).
    /// Read once, when a task is given to the owner.
    virtual std::chrono::nanoseconds wait_spin() const noexcept { return {}; }

    /// Identifies this owner among every owner the process ever had (addresses are reused).
    std::uint64_t owner_serial() const noexcept { return serial_; }

protected:
    task_owner();
    ~task_owner();

    /// Call first in the derived destructor: from its return on, no state calls into this
    /// owner. Waits for calls in progress on other threads. Idempotent.
    void retire_owner() noexcept;

private:
    friend class owner_pin;

    const std::uint64_t serial_;
    std::atomic<std::uint32_t> pins_{0};
    bool retired_ = false;
};

/// A call into an owner that may be gone: holds it live for the pin's scope, or is empty when the
/// owner (identified by address and serial) has retired.
class owner_pin
{
public:
    owner_pin(task_owner* o, std::uint64_t serial) noexcept;
    ~owner_pin();
    owner_pin(const owner_pin&) = delete;
    owner_pin& operator=(const owner_pin&) = delete;

    explicit operator bool() const noexcept { return o_ != nullptr; }
    task_owner* operator->() const noexcept { return o_; }

private:
    task_owner* o_ = nullptr;
};

/// True while this thread is inside a cancel() of some task. Completions that such a cancel
/// triggers are posted, never dispatched: a dispatched handler could destroy the operation (and
/// the canceller running in its cancellation slot) before the cancel returns.
bool inside_cancel() noexcept;

/// The owner whose worker is running on this thread, if any.
task_owner* current_owner() noexcept;
void set_current_owner(task_owner* o) noexcept;

/// Reports `e` through the current thread's pool, or on stderr.
void report_exception(const char* what, std::exception_ptr e) noexcept;

/// Something waiting for a state to finish: a callback or an asynchronous waiter.
class listener
{
public:
    listener* next_ = nullptr;
    listener* prev_ = nullptr;
    std::uint64_t id_ = 0;

    /// The state finished; called once, on the finishing thread, without locks. Must free this.
    virtual void fire(state_base& s) noexcept = 0;
    /// The listener was removed before it fired (remove_callback, cancelled wait). Must free this.
    virtual void discard() noexcept = 0;

protected:
    ~listener() = default;
};

/**
 * Status word, reference count, timestamps, listeners and the exception of a task.
 *
 * Transitions: pending -> running (claim), pending -> withdrawing -> cancelled (cancel),
 * running -> completed | failed (finish). Whoever moves a task out of pending owns its next step.
 * "withdrawing" is held while the canceller updates the owner's counters; a thread that removes
 * the node from the owner's queue waits it out, so the owner cannot vanish under the canceller.
 */
class state_base : public task_node
{
public:
    static constexpr std::uint32_t state_mask = 7;
    static constexpr std::uint32_t withdrawing = 5;
    static constexpr std::uint32_t sleepers_bit = 8;
    static constexpr std::uint32_t listeners_bit = 16;

    state_base(const state_base&) = delete;
    state_base& operator=(const state_base&) = delete;

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    /// How many references there are (a snapshot, as shared_ptr::use_count; for tests).
    std::uint32_t use_count() const noexcept { return refs_.load(std::memory_order_relaxed); }
    void release() noexcept
    {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
            destroy();
    }

    task_status status() const noexcept
    {
        std::uint32_t s = status_.load(std::memory_order_acquire) & state_mask;
        return s == withdrawing ? task_status::pending : static_cast<task_status>(s);
    }
    bool is_done() const noexcept { return is_final(status_.load(std::memory_order_acquire)); }
    task_id_t id() const noexcept { return id_; }
    bool cancel_flag() const noexcept { return cancel_flag_.load(std::memory_order_acquire); }
    std::exception_ptr error() const noexcept { return error_; }
    task_duration duration() const noexcept;

    /// Withdraws a pending task (true), or flags a running one and asks its owner to stop it.
    bool cancel() noexcept;

    /// Blocks until done or until `deadline` (steady clock); helps its own pool when called on
    /// one of that pool's workers. True when done.
    bool wait_until(std::optional<std::chrono::steady_clock::time_point> deadline);

    /// A fresh listener id (set it on the listener before add_listener).
    std::uint64_t new_listener_id() noexcept
    {
        return listener_ids_.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    /// Registers `l`; false (and `l` untouched) when the state is already done.
    bool add_listener(listener* l) noexcept;
    /// Unregisters listener `id` and discards it; false when it already fired or was removed.
    bool remove_listener(std::uint64_t id) noexcept;

    // task_node
    bool awaited() const noexcept override { return true; }
    bool claim() noexcept override;
    bool withdraw(task_id_t& cancelled_id) noexcept override;
    void discard(bool withdrawn) noexcept override;

    /// Rethrows the failure or cancellation of a finished task; returns for completed ones.
    void rethrow_if_unsuccessful() const;
    /// The exception a cancelled task reports.
    std::exception_ptr cancelled_exception() const;

    /// Called by the owner just before it queues the state.
    void set_owner(task_owner* o) noexcept
    {
        owner_ = o;
        owner_serial_ = o->owner_serial();
        wait_spin_ = o->wait_spin();
    }
    void mark_submitted() noexcept;

protected:
    state_base() noexcept;
    virtual ~state_base() = default;

    /// Runs the task body after a successful claim; stores the outcome and calls finish().
    virtual void execute() noexcept = 0;
    /// Called at the end of finish(), after listeners fired (asynchronous operations complete
    /// their handler here).
    virtual void on_finished() noexcept {}
    virtual void destroy() noexcept { delete this; }

    /// Publishes the final status, wakes sleepers, fires listeners.
    void finish(task_status final_status) noexcept;
    void set_error(std::exception_ptr e) noexcept { error_ = std::move(e); }

    /// Runs a claimed task here and now.
    void run_claimed() noexcept;

public:
    void run() noexcept override;

    /// Claims a pending task for running outside the queue (inline help). True when claimed.
    bool claim_inline() noexcept;

    /// On a worker of this task's own pool, runs the task here if it is still pending (so a
    /// waiting worker cannot starve its pool); true when it ran.
    bool help() noexcept;

    /// For states run by a plain executor rather than a pool's queue: runs the task unless it
    /// was cancelled first.
    void run_if_claimed() noexcept
    {
        if (claim())
            run_claimed();
    }

private:
    static bool is_final(std::uint32_t s) noexcept
    {
        std::uint32_t st = s & state_mask;
        return st >= static_cast<std::uint32_t>(task_status::completed) && st != withdrawing;
    }
    bool try_withdraw() noexcept;
    void wait_out_withdrawal() noexcept;
    static std::int64_t now_ns() noexcept;

    std::atomic<std::uint32_t> status_{static_cast<std::uint32_t>(task_status::pending)};
    std::atomic<std::uint32_t> refs_{1};
    std::atomic<bool> cancel_flag_{false};
    // Call the owner only through an owner_pin (it may be gone), except from one of its own
    // workers (current_owner() == owner_), which it cannot outlive.
    task_owner* owner_ = nullptr;
    std::uint64_t owner_serial_ = 0;
    std::chrono::nanoseconds wait_spin_{0};
    task_id_t id_;
    std::atomic<std::int64_t> t_submit_{0};
    std::atomic<std::int64_t> t_start_{0};
    std::atomic<std::int64_t> t_end_{0};
    std::exception_ptr error_;
    std::mutex listeners_mutex_;
    listener* first_ = nullptr;
    listener* last_ = nullptr;
    std::atomic<std::uint64_t> listener_ids_{0};
};

/// Intrusive owning pointer to a state.
template <typename State>
class state_ptr
{
public:
    state_ptr() noexcept = default;
    /// Adopts one reference already counted.
    explicit state_ptr(State* s) noexcept : s_(s) {}
    state_ptr(const state_ptr& o) noexcept : s_(o.s_)
    {
        if (s_)
            s_->add_ref();
    }
    state_ptr(state_ptr&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    state_ptr& operator=(state_ptr o) noexcept
    {
        std::swap(s_, o.s_);
        return *this;
    }
    ~state_ptr()
    {
        if (s_)
            s_->release();
    }
    static state_ptr share(State* s) noexcept
    {
        s->add_ref();
        return state_ptr(s);
    }
    State* get() const noexcept { return s_; }
    State* operator->() const noexcept { return s_; }
    State& operator*() const noexcept { return *s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }
    State* detach() noexcept { return std::exchange(s_, nullptr); }
    friend bool operator==(const state_ptr& a, const state_ptr& b) noexcept { return a.s_ == b.s_; }

private:
    State* s_ = nullptr;
};

/// What a pool's worker thread shares with the bodies of the tasks it runs; lives on the worker's
/// stack.
struct worker_context
{
    /// The pool's count of busy workers whose task has returned; null once a task of the worker
    /// has destroyed the pool.
    std::atomic<std::size_t>* finishing = nullptr;
    /// Set while the worker runs a node from its queue and no task body has started yet: the
    /// first body to start is that node's (tasks run inline inside it start later).
    bool loop_task = false;
    /// That body has returned and was counted in *finishing.
    bool returned = false;
    /// A task of this worker destroyed the pool: the worker must touch nothing of it.
    bool orphaned = false;
    /// The worker is running the pool's initializer or finalizer.
    bool in_hook = false;
};

/// The context of the worker running on this thread, if any.
inline thread_local worker_context* this_worker_context = nullptr;

/// Brackets the body of a task that a pool's worker runs: once the body has returned, the
/// worker counts as free even though it has yet to publish the result, so a caller who submits
/// its next task as soon as it has that result does not make the pool start a worker for it.
class task_body_scope
{
public:
    task_body_scope() noexcept
    {
        worker_context* c = this_worker_context;
        if (c && c->loop_task)
        {
            c->loop_task = false;
            c_ = c;
        }
    }
    ~task_body_scope()
    {
        if (c_ && c_->finishing)
        {
            c_->returned = true;
            c_->finishing->fetch_add(1, std::memory_order_release);
        }
    }
    task_body_scope(const task_body_scope&) = delete;
    task_body_scope& operator=(const task_body_scope&) = delete;

private:
    worker_context* c_ = nullptr;
};

/// A state that stores a result of type T (`bool` "has completed" for void).
template <typename T>
class result_state : public state_base
{
public:
    using stored_type = std::conditional_t<std::is_void_v<T>, bool, T>;

    /// The value of a completed task (valid only once status() is completed).
    const stored_type& value() const noexcept { return *value_; }
    stored_type& value() noexcept { return *value_; }

protected:
    /// Runs `fn`, keeps its value or exception; returns the final status to publish. On a
    /// thread-pool worker the body counts the worker free once it returns (task_body_scope).
    template <typename Fn>
    task_status store_result_of(Fn& fn) noexcept
    {
        try
        {
            task_body_scope body;
            if constexpr (std::is_void_v<T>)
            {
                fn();
                value_.emplace(true);
            }
            else
            {
                value_.emplace(fn());
            }
            return task_status::completed;
        }
        catch (...)
        {
            this->set_error(std::current_exception());
            return task_status::failed;
        }
    }

private:
    std::optional<stored_type> value_;
};

/// A task body bound to its arguments, with a result slot.
template <typename T, typename Fn>
class packaged_state final : public result_state<T>
{
public:
    explicit packaged_state(Fn&& fn) : fn_(std::move(fn)) {}

private:
    void execute() noexcept override
    {
        task_status st = this->store_result_of(*fn_);
        fn_.reset(); // release captured arguments on the worker, before waiters wake
        this->finish(st);
    }

    std::optional<Fn> fn_;
};

} // namespace detail
} // namespace asio_pal

#endif // ASIO_PAL_DETAIL_TASK_STATE_HPP
