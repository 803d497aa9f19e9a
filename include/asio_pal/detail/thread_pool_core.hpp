//
// asio_pal/detail/thread_pool_core.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The threaded shell of a thread pool: queue, workers, lifecycle. Decisions come from
// detail/elastic.hpp.
//

#ifndef ASIO_PAL_DETAIL_THREAD_POOL_CORE_HPP
#define ASIO_PAL_DETAIL_THREAD_POOL_CORE_HPP

#include "asio_pal/detail/elastic.hpp"
#include "asio_pal/detail/exit_registry.hpp"
#include "asio_pal/detail/node_inbox.hpp"
#include "asio_pal/detail/task_state.hpp"
#include "asio_pal/options.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace asio_pal::detail {

/// For tests only: while positive, each attempt to start a worker thread fails with
/// std::system_error (resource_unavailable_try_again) and takes one off the count.
inline std::atomic<int> failing_thread_starts{0};

class thread_pool_core final : public task_owner, public exit_participant
{
public:
    using deadline_t = std::optional<std::chrono::steady_clock::time_point>;

    /// `o` must be resolved (detail::resolve_options).
    explicit thread_pool_core(pool_options o);
    ~thread_pool_core();

    thread_pool_core(const thread_pool_core&) = delete;
    thread_pool_core& operator=(const thread_pool_core&) = delete;

    const pool_options& options() const noexcept { return options_; }

    /// Queues a submitted task; throws pool_closed_error or the broken pool's error.
    /// Takes the caller's reference to `s` only on success.
    void submit(state_base* s);

    /// Queues a posted function (executor `execute`); never throws. On a closed or broken pool,
    /// or when no worker is alive and none could be started, the function is destroyed unrun
    /// and the loss is reported to on_task_exception.
    void post(task_node* n) noexcept;

    /// As post(), but a node that is refused is left to the caller, with the reason returned.
    std::exception_ptr try_post(task_node* n) noexcept;

    /// Why the pool takes no work: pool_closed_error, or the broken pool's error.
    std::exception_ptr unusable_error() const;

    std::size_t count_workers() const;
    std::size_t count_busy_workers() const;
    std::size_t count_free_workers() const;
    std::size_t count_pending_tasks() const;

    std::size_t spawn_workers(std::optional<std::size_t> n);
    bool join(deadline_t deadline);
    bool shutdown();
    /// shutdown() for the pool's destructor: also when called by one of the pool's own workers
    /// (a task dropped the pool's last owner), it waits for every other worker to exit.
    void shutdown_for_destruction() noexcept;
    void check() const;
    bool is_closed() const;
    bool is_terminated() const;
    bool is_broken() const;
    std::vector<task_id_t> cancelled_tasks() const;

    bool running_in_this_thread() const noexcept { return current_owner() == this; }
    void work_started() noexcept { work_.fetch_add(1, std::memory_order_relaxed); }
    void work_finished() noexcept;

    // task_owner
    void on_withdrawn() noexcept override;
    void on_claimed_inline() noexcept override;
    void report_exception(std::exception_ptr e) noexcept override;

    // exit_participant
    void shutdown_at_exit() noexcept override { shutdown(); }

private:
    struct worker
    {
        std::thread thread;
        std::condition_variable wakeup;
        bool signalled = false;
        bool searching = false; ///< counted in searching_
        std::size_t tasks_done = 0;
        std::size_t serial = 0;
        std::list<worker>::iterator self;
    };

    using lock_type = std::unique_lock<std::mutex>;

    /// The path of a post or submit without the mutex: only into a pool that has all its
    /// workers and takes work (anything else may need the lock's decisions first).
    bool may_push_unlocked() const noexcept;
    /// Queues `n` without the mutex, then takes it only when a worker must be woken or started,
    /// or the pool closed meanwhile (settle_after_push).
    void push_unlocked(task_node* n) noexcept;
    void settle_after_push() noexcept;
    /// Queued and not yet claimed (nor withdrawn, nor run inline by a waiter).
    std::size_t pending_locked() const noexcept;
    /// `extra`: a node about to be queued, counted as pending.
    pool_counts counts_locked(std::size_t extra = 0) const noexcept;
    /// False when workers_needed(counts_locked(extra)) is surely 0 (a cheap test for every
    /// post).
    bool may_need_workers_locked(std::size_t extra = 0) const noexcept;
    void throw_if_unusable_locked() const;
    void spawn_locked(std::size_t n);
    /// Picks the idle worker to wake; the caller notifies it after unlocking (so the worker
    /// does not wake into a held mutex). Worker records are recycled, never freed before the
    /// pool, so a late notify can only cause a spurious wakeup.
    worker* wake_one_locked() noexcept;
    /// wake_one_locked() when work is queued and no worker is searching (bound to look at the
    /// queue on its own): a burst of posts wakes one worker, not one per post.
    worker* wake_if_unwatched_locked() noexcept;
    void start_searching_locked(worker& w) noexcept;
    void stop_searching_locked(worker& w) noexcept;
    void wake_all_locked() noexcept;
    void notify_state_locked() noexcept;
    /// Wakes every idle worker and takes every queued node out, also those still linking,
    /// for dropping. May unlock meanwhile.
    node_queue drain_locked(lock_type& lock) noexcept;
    /// Marks the pool closed or broken for the posters that do not take the lock.
    void refuse_locked() noexcept;
    /// Drops drained nodes (no lock held), then books them as cancelled.
    void drop_drained(node_queue q) noexcept;
    void break_pool(std::exception_ptr e) noexcept;
    void join_zombies(lock_type& lock) noexcept;
    void worker_main(worker* w) noexcept;
    bool idle_wait(lock_type& lock, worker& w);
    /// The destructor's part when a task of this pool destroys it: the calling worker's thread
    /// is detached and its loop told to leave without touching the pool again.
    void orphan_this_worker() noexcept;
    std::exception_ptr closed_error(const char* detail) const;

    /// How long a worker that just ran a task watches for the next before it sleeps.
    static constexpr std::chrono::microseconds worker_spin{50};

    const pool_options options_;
    /// Pushed to without the mutex (push_unlocked) or with it; popped with it.
    node_inbox inbox_;
    mutable std::mutex mutex_;
    std::condition_variable state_changed_; // join / shutdown waiters
    // The counters that push_unlocked reads without the mutex are atomic; every write of them
    // holds the mutex. Each write that may make a poster's look necessary is
    // sequentially consistent and followed by a look at the inbox (the poster's side: it
    // pushes, then reads them), so that one of the two always sees the other.
    // Away from the mutex that workers take per task, on two cache lines: what every post
    // reads and almost nothing writes, then what a post into a full pool reads after pushing
    // and workers write as they search and sleep.
    alignas(64) std::atomic<std::size_t> alive_{0};
    std::atomic<bool> refusing_{false}; ///< closed_ || broken_
    /// Workers awake and bound to look at the queue before they sleep: woken and not yet back,
    /// or spinning after a task.
    alignas(64) std::atomic<std::size_t> searching_{0};
    std::atomic<std::size_t> idle_count_{0}; ///< idle_.size()
    /// Nodes pushed that no longer count as pending: claimed by a worker, withdrawn, run inline
    /// or dropped. pending = inbox_.pushed() - unqueued_.
    alignas(64) std::uint64_t unqueued_ = 0;
    /// alive_ and searching_ as the lock's holders read them, on their own cache line: a
    /// serial hand-off through a pool below max_workers reads neither atomic, whose line then
    /// stays with the worker that writes searching_.
    std::size_t alive_count_ = 0;
    std::size_t searching_count_ = 0;
    std::size_t busy_ = 0;
    std::size_t retiring_ = 0;
    std::size_t joiners_ = 0;
    std::size_t state_waiters_ = 0;
    std::size_t thread_serial_ = 0;
    bool closed_ = false;
    bool stopping_ = false;
    std::exception_ptr broken_;
    std::list<worker> workers_;
    std::list<worker> zombies_;
    std::list<worker> spare_; // joined records, reused by spawn_locked
    std::vector<worker*> idle_; // LIFO: the most recently idle worker gets work first
    std::atomic<bool> spinning_{false}; // a worker is watching inbox_.last()
    std::vector<task_id_t> cancelled_;
    std::atomic<std::size_t> work_{0};
    std::atomic<std::size_t> finishing_{0}; // see pool_counts::finishing
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_THREAD_POOL_CORE_HPP
