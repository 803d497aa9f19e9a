//
// asio_pal/detail/worker_process.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// One worker of a process pool as the pool holds it, and the gate that every completion
// handler of the pool passes: shared by the pool core, its launcher and its listener.
//

#ifndef ASIO_PAL_DETAIL_WORKER_PROCESS_HPP
#define ASIO_PAL_DETAIL_WORKER_PROCESS_HPP

#include "asio_pal/detail/process_policy.hpp"
#include "asio_pal/detail/remote_task.hpp"
#include "asio_pal/detail/wire.hpp"
#include "asio_pal/detail/worker_link.hpp"

// Process v2 with std::filesystem needs boost/optional first (1.81).
#include <boost/optional.hpp>
#ifndef BOOST_PROCESS_USE_STD_FS
#define BOOST_PROCESS_USE_STD_FS 1
#endif
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/v2/process.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace asio_pal::detail {

/// Where handlers of which pool run on this thread now (see guarded_handler).
inline thread_local const void* running_handlers_of = nullptr;

/// Serialises a pool's handlers with the pool's end (see guarded_handler).
struct io_gate
{
    std::mutex m;
    bool closed = false;
    std::shared_ptr<void> orphan; // a pool destroyed inside its own handler: freed after it
};

/// Marks the thread as running a pool's handlers, restoring what it was.
class handler_scope
{
public:
    explicit handler_scope(const void* pool) noexcept
        : outer_(std::exchange(running_handlers_of, pool))
    {}
    ~handler_scope() { running_handlers_of = outer_; }
    handler_scope(const handler_scope&) = delete;
    handler_scope& operator=(const handler_scope&) = delete;

private:
    const void* outer_;
};

/**
 * Every completion handler of a process pool goes through this: it holds the gate, not the
 * pool, so a handler that a user's executor runs after the pool was destroyed (or after the
 * pool stopped its workers without it) does nothing, and none runs while the pool takes over.
 */
template <typename F>
class guarded_handler
{
public:
    guarded_handler(const void* pool, std::shared_ptr<io_gate> gate, F f)
        : pool_(pool)
        , gate_(std::move(gate))
        , f_(std::move(f))
    {}

    template <typename... Args>
    void operator()(Args&&... args)
    {
        std::unique_lock<std::mutex> lock(gate_->m);
        if (gate_->closed)
            return;
        {
            handler_scope scope(pool_);
            f_(std::forward<Args>(args)...);
        }
        // The pool was destroyed by a callback this handler ran: what follows the callback in
        // the handler still used it; it goes now, without the gate (its destructor takes it).
        std::shared_ptr<void> orphan = std::move(gate_->orphan);
        lock.unlock();
    }

private:
    const void* pool_;
    std::shared_ptr<io_gate> gate_;
    F f_;
};

/// One worker process, owned by the strand.
struct worker_process : std::enable_shared_from_this<worker_process>
{
    enum class phase
    {
        starting, ///< spawned; its hello has not come
        ready,    ///< takes tasks
        retiring, ///< told to quit, or being stopped
    };

    worker_process(const net::any_io_executor& ex, std::size_t max_frame)
        : idle_timer(ex)
        , watchdog(ex)
        , decoder(max_frame)
        , direct_decoder(max_frame)
    {}
    worker_process(const worker_process&) = delete;
    worker_process& operator=(const worker_process&) = delete;

    /// What its launcher knows of it: the core never reads it (see launcher).
    struct launch_record
    {
        pid_t pid = -1; // the local process: the worker, or the command that started it elsewhere
        std::optional<boost::process::v2::basic_process<net::any_io_executor>> process;
        bool connects_back = false; // its link is a connection it opens to the pool
        bool fixed = false;         // started by an engine: no local process; its link is its life
        std::uint64_t token = 0;    // the launch token its connection must name
        std::size_t refusals_at_launch = 0; // the listener's refusals when it was launched
        std::string host;                   // where it runs, once connected
        pid_t remote_pid = 0;               // its pid there
    };

    phase state = phase::starting;
    launch_record launched;
    worker_link link;
    net::steady_timer idle_timer;
    std::string lost_reason; // why the pool gave up on it (a timeout), for messages
    // When it spoke last, and the timer of its launcher that watches it (its connection's
    // arrival, its heartbeats).
    std::chrono::steady_clock::time_point last_heard{};
    net::steady_timer watchdog;
    // One per stop request: a worker that lingers after it is killed. One each, so that a later
    // request never disarms an earlier one.
    std::list<net::steady_timer> kill_timers;
    frame_decoder decoder;
    std::vector<char> writing_buf; // being written
    std::size_t written = 0;       // of writing_buf
    std::vector<char> queued_buf;  // frames waiting for the write in progress
    bool writing = false;          // waiting for room in the pipe
    bool forgotten = false;        // maybe_finished took it out of the pool
    struct sent_task
    {
        remote_task* task;
        std::uint64_t seq; // the frame's sequence number, unique per worker
    };
    std::deque<sent_task> in_flight; // sent, not answered, in order
    task_sequence sequence{random_nonzero_u64()};
    // What the reply of a direct task must carry: a task writing a reply itself cannot know it.
    const std::uint64_t direct_seq = random_nonzero_u64();
    std::size_t sent = 0;
    std::chrono::steady_clock::time_point last_progress{};
    std::chrono::nanoseconds average{0};
    bool has_history = false;
    bool eof = false;
    bool exited = false;
    bool counted_busy = false;
    bool counted_retiring = false;
    bool failed = false; // protocol failure: in-flight tasks already failed

    // The direct path of process_pool::run (local workers): the thread holding the lease
    // writes the task to the input pipe (a duplicate) and reads the reply from the worker's
    // fd 5, which the I/O thread never watches: link.direct(). Only that thread uses them.
    frame_decoder direct_decoder;
    std::vector<char> direct_frame;
    std::atomic<std::size_t> direct_runs{0}; // tasks run through leases (strand reads it)

    // Under the pool's mutex.
    bool lendable = false; // ready, idle, nothing queued for it: run() may lease it
    bool leased = false;
    bool retire_after_lease = false;
    bool exit_known = false;      // reaped; `exit` says how
    std::size_t lease_budget = 0; // leases left before max_tasks_per_worker retires it
    std::chrono::steady_clock::time_point last_lease_end{};
    exit_info exit{};
};

using worker_ptr = std::shared_ptr<worker_process>;

/// What a pool's launcher and listener need to run handlers as the pool does.
struct pool_handlers
{
    const void* pool;
    std::shared_ptr<io_gate> gate;
    net::any_io_executor strand;

    template <typename F>
    guarded_handler<F> guarded(F f) const
    {
        return guarded_handler<F>(pool, gate, std::move(f));
    }
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_WORKER_PROCESS_HPP
