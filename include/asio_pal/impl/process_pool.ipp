//
// asio_pal/impl/process_pool.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The pool core of a process pool: its queue, leases, idle and retirement decisions and its
// bookkeeping. How a worker starts and ends is its launcher's (worker_launcher.hpp), how bytes
// reach it its link's (worker_link.hpp); the core holds both without knowing which. Every I/O
// object lives on one strand (the pool's I/O thread, or the user's executor); other threads
// only touch the counters and queue under the mutex.
//

#ifndef ASIO_PAL_IMPL_PROCESS_POOL_IPP
#define ASIO_PAL_IMPL_PROCESS_POOL_IPP

#include "asio_pal/detail/elastic.hpp"
#include "asio_pal/detail/exit_registry.hpp"
#include "asio_pal/detail/pool_support.hpp"
#include "asio_pal/detail/process_policy.hpp"
#include "asio_pal/detail/task_registry.hpp"
#include "asio_pal/detail/worker_launcher.hpp"
#include "asio_pal/detail/worker_link.hpp"
#include "asio_pal/detail/worker_process.hpp"
#include "asio_pal/detail/worker_protocol.hpp"
#include "asio_pal/process_pool.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

namespace asio_pal {
namespace detail {

exit_info decode_wait_status(int status) noexcept
{
    exit_info e;
    if (WIFSIGNALED(status))
        e.signal = WTERMSIG(status);
    else if (WIFEXITED(status))
        e.exit_status = WEXITSTATUS(status);
    return e;
}

std::uint64_t random_nonzero_u64()
{
    std::uint64_t v = 0;
    char* p = reinterpret_cast<char*>(&v);
    std::size_t got = 0;
    while (got < sizeof v)
    {
        ssize_t n = ::getrandom(p + got, sizeof v - got, 0);
        if (n > 0)
            got += static_cast<std::size_t>(n);
        else if (errno != EINTR)
            break;
    }
    if (got < sizeof v) // no getrandom (a very old kernel): the clock and the address space
    {
        v = static_cast<std::uint64_t>(
                std::chrono::steady_clock::now().time_since_epoch().count()) *
                0x9E3779B97F4A7C15ull ^
            reinterpret_cast<std::uintptr_t>(&v);
    }
    return v == 0 ? 1 : v;
}

std::string describe_exit(const exit_info& e)
{
    if (e.signal != 0)
    {
        const char* name = sigabbrev_np(e.signal);
        return "killed by signal " + std::to_string(e.signal) +
               (name ? std::string(" (SIG") + name + ")" : std::string());
    }
    return "exited with status " + std::to_string(e.exit_status);
}

std::exception_ptr undecodable_reply(const task_entry& entry, std::exception_ptr cause) noexcept
{
    try
    {
        return std::make_exception_ptr(protocol_error("asio_pal: the reply of task '" + entry.name +
                                                      "' cannot be decoded: " + describe(cause)));
    }
    catch (...)
    {
        return std::current_exception(); // out of memory building the message
    }
}

process_pool_options resolve_process_options(process_pool_options o)
{
    launch_plan plan = resolve_launcher(o.launcher, &::getenv);
    if (o.max_workers == 0)
        o.max_workers = plan.default_max_workers; // Slurm: the allocation's task count
    if (plan.preset)
    {
        if (o.max_tasks_per_worker != 0)
            throw std::invalid_argument("asio_pal: process_pool_options.max_tasks_per_worker "
                                        "must be 0 with a preset_launcher: its workers cannot "
                                        "be replaced");
        o.max_workers = plan.preset_workers; // all of them, and never more
        o.idle_timeout.reset();              // a fixed set: they do not retire
    }
    pool_options common{.max_workers = o.max_workers,
                        .name = o.name,
                        .idle_timeout = o.idle_timeout,
                        .max_tasks_per_worker = o.max_tasks_per_worker};
    common = resolve_options(std::move(common), hardware_threads());
    o.max_workers = common.max_workers;
    o.idle_timeout = common.idle_timeout;
    if (o.name.empty())
        o.name = "process_pool";
    if (o.max_frame_size < min_max_frame_size || o.max_frame_size > max_max_frame_size)
        throw std::invalid_argument(
            "asio_pal: process_pool_options.max_frame_size must be between " +
            std::to_string(min_max_frame_size) + " and " + std::to_string(max_max_frame_size) +
            " bytes, not " + std::to_string(o.max_frame_size));
    if (o.worker_executable.empty())
        o.worker_executable = "/proc/self/exe";
    else if (::access(o.worker_executable.c_str(), X_OK) != 0)
        throw std::invalid_argument("asio_pal: process_pool_options.worker_executable '" +
                                    o.worker_executable + "' is not an executable file");
    // Another host knows no /proc/self of ours: the same program at the same path.
    if (plan.remote)
        o.worker_executable = absolute_executable(o.worker_executable);
    return o;
}

namespace {

/// How long a thread blocked on a process task's result spins before it sleeps.
constexpr std::chrono::microseconds result_wait_spin{50};

/// How long a worker asked to stop its running task may take before it is killed.
constexpr std::chrono::seconds cancel_grace{2};

/// `t + d`, or the clock's end instead of an overflow (idle_timeout may be nanoseconds::max()).
std::chrono::steady_clock::time_point saturating_add(std::chrono::steady_clock::time_point t,
                                                     std::chrono::nanoseconds d) noexcept
{
    using tp = std::chrono::steady_clock::time_point;
    auto room = tp::max() - t; // t is past the clock's epoch: no overflow
    return d >= room ? tp::max() : t + std::chrono::duration_cast<tp::duration>(d);
}

} // namespace

class process_pool_core final : public task_owner, public exit_participant, private launcher_events
{
public:
    using lock_type = std::unique_lock<std::mutex>;
    using deadline_t = std::optional<std::chrono::steady_clock::time_point>;

    process_pool_core(process_pool_options o, std::optional<net::any_io_executor> user_io)
        : options_(std::move(o))
    {
        struct sigaction chld
        {};
        if (::sigaction(SIGCHLD, nullptr, &chld) == 0 &&
            (chld.sa_handler == SIG_IGN || (chld.sa_flags & SA_NOCLDWAIT) != 0))
            throw std::logic_error("asio_pal: process pools need SIGCHLD not ignored (an ignored "
                                   "SIGCHLD reaps worker processes behind the pool's back)");
        if (user_io)
        {
            strand_.emplace(net::make_strand(*user_io));
        }
        else
        {
            own_io_.emplace(1);
            strand_.emplace(net::make_strand(own_io_->get_executor()));
        }
        // May throw (a port it cannot open, a rendezvous that fails): nothing runs yet.
        launcher_ = make_launcher(options_, pool_handlers{this, gate_, *strand_}, *this);
        if (own_io_)
        {
            guard_.emplace(own_io_->get_executor());
            // Signals stay with the program's threads (as Asio's scheduler does), and the
            // thread lives as long as the pool: children's death signal follows their
            // spawning thread.
            signals_blocked blocked;
            io_thread_ = std::thread([this] { own_io_->run(); });
        }
        launcher_->start();
        if (std::size_t n = launcher_->launch_at_once()) // a fixed set joins at once
        {
            lock_type lock(mutex_);
            reserve_spawns_locked(n);
            kick_locked();
        }
        register_at_exit(this);
    }

    ~process_pool_core()
    {
        unregister_at_exit(this);
        stop_io();
        // Last, while every member still lives: futures may call in (cancel) until here.
        retire_owner();
    }

    const process_pool_options& options() const noexcept { return options_; }
    /// Set by the constructor, constant afterwards.
    std::optional<net::ip::tcp::endpoint> listen_endpoint() const
    {
        return launcher_->listen_endpoint();
    }
    net::any_io_executor executor() const { return *strand_; }

    void submit(remote_task* t)
    {
        arm_at_exit();
        lock_type lock(mutex_);
        throw_if_unusable_locked();
        t->state().set_owner(this);
        t->state().mark_submitted();
        queue_push(t);
        ++pending_;
        reserve_spawns_locked(workers_needed(counts_locked()));
        kick_locked();
    }

    /**
     * Runs `t` for a caller that blocks until it ends (process_pool::run). When a worker is
     * idle and nothing is queued, the calling thread leases it: it writes the task itself and
     * reads the reply from the worker's direct pipe, so the round trip involves two processes
     * and no I/O thread. Otherwise `t` is submitted as usual. `t` is settled on return when
     * leased; either way the caller then waits on its state.
     */
    void run(remote_task* t)
    {
        arm_at_exit();
        worker_ptr w;
        {
            lock_type lock(mutex_);
            throw_if_unusable_locked();
            t->state().set_owner(this);
            t->state().mark_submitted();
            if (pending_ > 0 || lendable_.empty())
            {
                queue_push(t);
                ++pending_;
                reserve_spawns_locked(workers_needed(counts_locked()));
                kick_locked();
                return;
            }
            w = lendable_.back(); // the most recently idle: its caches are warm
            set_lendable_locked(w, false);
            w->leased = true;
            ++leases_;
            ++busy_;
            --w->lease_budget;
            w->direct_runs.fetch_add(1);
            t->state().claim(); // nobody else knows the task: it cannot have been cancelled
        }
        bool usable = run_leased(*w, *t);
        t->state().release(); // the queue's reference
        end_lease(std::move(w), usable);
    }

    std::size_t count_workers() const
    {
        lock_type lock(mutex_);
        return closed_ ? 0 : alive_;
    }
    std::size_t count_busy_workers() const
    {
        lock_type lock(mutex_);
        return closed_ ? 0 : busy_;
    }
    std::size_t count_free_workers() const
    {
        lock_type lock(mutex_);
        return closed_ ? 0 : counts_locked().free();
    }
    std::size_t count_pending_tasks() const
    {
        lock_type lock(mutex_);
        return closed_ ? 0 : pending_;
    }

    std::size_t spawn_workers(std::optional<std::size_t> n)
    {
        arm_at_exit();
        lock_type lock(mutex_);
        throw_if_unusable_locked();
        pool_counts c = counts_locked();
        std::size_t k = n ? workers_allowed(c, *n) : workers_needed(c);
        reserve_spawns_locked(k);
        kick_locked();
        return k;
    }

    bool join(deadline_t deadline)
    {
        refuse_on_io_thread("join");
        lock_type lock(mutex_);
        ++joiners_;
        kick_locked();
        auto done = [&] { return (pending_ == 0 && alive_ == 0 && leases_ == 0) || broken_; };
        bool ok = true;
        if (deadline)
            ok = changed_.wait_until(lock, *deadline, done);
        else
            changed_.wait(lock, done);
        --joiners_;
        return ok && !broken_;
    }

    bool shutdown() { return shutdown_impl(false); }

    template <typename F>
    guarded_handler<F> guarded(F f)
    {
        return guarded_handler<F>(this, gate_, std::move(f));
    }

    /**
     * The destructor's shutdown. Returns true when the calling thread runs one of the pool's
     * handlers on a user's executor (a coroutine owning the pool resumed by a reply, a
     * callback): the pool then stopped its workers without waiting, and the caller hands the
     * core to adopt(), since the rest of that handler still uses it. On the pool's own I/O
     * thread that cannot be done (the thread would join itself): reported, then abort.
     */
    bool shutdown_for_destruction() noexcept
    {
        if (!own_io_ && running_handlers_of == this)
        {
            try
            {
                shutdown_impl(false);
            }
            catch (...)
            {
                abandon_io();
            }
            return true;
        }
        if (on_own_io())
        {
            std::fprintf(stderr,
                         "asio_pal: process pool '%s' destroyed from a callback running on its "
                         "own I/O thread (add_callback on a process task runs there); destroy it "
                         "from another thread\n",
                         options_.name.c_str());
            std::fflush(stderr);
            std::abort();
        }
        try
        {
            shutdown_impl(false);
        }
        catch (...)
        {
            abandon_io(); // out of memory: stop the workers at least
        }
        return false;
    }

    /// Takes the core from a destructor run inside the pool's own handler (see above): it is
    /// freed once that handler returns.
    void adopt(std::unique_ptr<process_pool_core> self) noexcept
    {
        gate_->orphan = std::shared_ptr<process_pool_core>(std::move(self));
    }

    void check() const
    {
        lock_type lock(mutex_);
        throw_if_unusable_locked();
    }
    bool is_closed() const
    {
        lock_type lock(mutex_);
        return closed_;
    }
    bool is_terminated() const
    {
        lock_type lock(mutex_);
        return closed_ && alive_ == 0;
    }
    bool is_broken() const
    {
        lock_type lock(mutex_);
        return static_cast<bool>(broken_);
    }
    std::vector<task_id_t> cancelled_tasks() const
    {
        lock_type lock(mutex_);
        return cancelled_;
    }

    // task_owner
    void on_withdrawn() noexcept override
    {
        lock_type lock(mutex_);
        --pending_;
        changed_.notify_all();
    }
    void on_claimed_inline() noexcept override {}
    // A reply passes through the I/O thread: sleeping on it costs a wake-up that often lands on
    // the other CPU (measured: serial round trip ~110 us without the spin, ~16-30 us with it).
    std::chrono::nanoseconds wait_spin() const noexcept override { return result_wait_spin; }
    bool cancel_running(state_base& s) noexcept override
    {
        auto* t = dynamic_cast<remote_task*>(&s);
        if (!t)
            return false;
        if (!t->cancel_running())
        {
            // Another thread is settling it at this moment (a second cancel(), shutdown, its
            // reply): answer with what it settles to, as cancel() of a pending task does when
            // it meets a withdrawal in progress. Settling is short and runs no user code.
            while (!s.is_done())
                std::this_thread::yield();
            return s.status() == task_status::cancelled;
        }
        // Stop it in its worker (the strand knows which one); the state stays alive meanwhile.
        s.add_ref();
        try
        {
            net::post(*strand_, [h = guarded([this, t] { stop_cancelled(t); }), t]() mutable {
                h();
                t->state().release(); // whether or not the pool still runs handlers
            });
        }
        catch (...)
        {
            s.release();
        }
        return true;
    }
    void report_exception(std::exception_ptr e) noexcept override
    {
        report_pool_exception(options_.on_task_exception, options_.name, std::move(e));
    }

    // exit_participant: at exit nothing may wait for long tasks, so running ones are stopped.
    void shutdown_at_exit() noexcept override
    {
        try
        {
            shutdown_impl(true);
        }
        catch (...)
        {}
    }

private:
    using worker_ptr = std::shared_ptr<worker_process>;

    /// "asio_pal: worker process 123 of process pool 'p'": how messages name a worker.
    std::string subject(const worker_process& w) const
    {
        return "asio_pal: " + launcher_->describe(w) + " of process pool '" + options_.name + "'";
    }

    // ---- bookkeeping under the mutex ----

    pool_counts counts_locked() const noexcept
    {
        return pool_counts{.pending = pending_,
                           .alive = alive_,
                           .busy = busy_,
                           .retiring = retiring_,
                           .max_workers = options_.max_workers};
    }

    void throw_if_unusable_locked() const
    {
        // Closed wins over broken, as in a thread pool: the user's own shutdown() is the
        // first thing to know about.
        if (closed_)
            throw pool_closed_error("asio_pal: process pool '" + options_.name + "' is closed");
        if (broken_)
            std::rethrow_exception(broken_);
    }

    bool zero_timeout_locked() const noexcept
    {
        return options_.idle_timeout && options_.idle_timeout->count() == 0;
    }

    void set_lendable_locked(const worker_ptr& w, bool lendable)
    {
        if (w->lendable == lendable || (lendable && !w->link.direct()))
            return; // no short cut yet (a remote worker's second connection): the I/O thread
        w->lendable = lendable;
        if (lendable)
            lendable_.push_back(w);
        else
            lendable_.erase(std::find(lendable_.begin(), lendable_.end(), w));
    }

    void reserve_spawns_locked(std::size_t n) noexcept
    {
        alive_ += n;
        to_spawn_ += n;
    }

    void kick_locked()
    {
        if (kick_posted_)
            return;
        kick_posted_ = true;
        net::post(*strand_, guarded([this] { on_kick(); }));
    }

    void queue_push(remote_task* t) noexcept
    {
        t->next_ = nullptr;
        (tail_ ? tail_->next_ : head_) = t;
        tail_ = t;
    }

    remote_task* queue_pop() noexcept
    {
        remote_task* t = head_;
        if (t)
        {
            head_ = t->next_;
            if (!head_)
                tail_ = nullptr;
            t->next_ = nullptr;
        }
        return t;
    }

    /// Whether the calling thread is inside one of the pool's own handlers (a callback fired
    /// by a reply), where waiting for the pool's I/O would wait for itself.
    bool on_own_io() const noexcept
    {
        return running_handlers_of == this ||
               (own_io_ && std::this_thread::get_id() == io_thread_.get_id());
    }

    void refuse_on_io_thread(const char* what) const
    {
        if (on_own_io())
            throw std::logic_error(std::string("asio_pal: process_pool::") + what +
                                   " called on the pool's own I/O thread (from a callback?) "
                                   "would wait for itself");
    }

    bool shutdown_impl(bool stop_running)
    {
        // On a user's executor, a handler of the pool may shut it down: it stops the workers
        // without waiting (below).
        if (own_io_)
            refuse_on_io_thread("shutdown");
        std::vector<remote_task*> dropped;
        bool was_closed;
        {
            lock_type lock(mutex_);
            was_closed = closed_;
            closed_ = true;
            stopping_ = true;
            if (stop_running)
                stop_running_ = true;
            take_queued_locked(dropped);
            kick_locked();
        }
        drop_tasks(dropped);
        lock_type lock(mutex_);
        // A thread in run() may still be settling its task after its worker died.
        auto done = [&] { return alive_ == 0 && leases_ == 0; };
        if (own_io_)
        {
            changed_.wait(lock, done);
            return !was_closed;
        }
        // A user's executor may not run any more (run() returned, or this thread is the one
        // that runs it): then nothing would read the workers' replies or reap them, and the
        // pool stops them itself. Looked at again now and then, in case it stops meanwhile.
        while (!done())
        {
            if (!user_executor_runs())
            {
                lock.unlock();
                abandon_io();
                lock.lock();
                changed_.wait(lock, done); // lease holders only, and they need no executor
                break;
            }
            changed_.wait_for(lock, std::chrono::milliseconds(100));
        }
        return !was_closed;
    }

    /// Whether a user's executor can still run the pool's handlers for a thread waiting here.
    /// Known for an io_context (stopped, or run by this very thread); any other is trusted.
    bool user_executor_runs() const noexcept
    {
        if (running_handlers_of == this)
            return false;
        using io_executor = net::io_context::executor_type;
        const net::any_io_executor& inner = strand_->get_inner_executor();
        std::optional<io_executor> ex;
        if (const auto* e = inner.target<io_executor>())
            ex = *e;
        else if (const auto* s = inner.target<net::strand<io_executor>>())
            ex = s->get_inner_executor();
        if (!ex)
            return true;
        return !ex->context().stopped() && !ex->running_in_this_thread();
    }

    /**
     * Stops every worker without the executor, which will run none of the pool's handlers from
     * here on (they find the gate closed): tasks the workers hold are cancelled; an idle worker
     * is told to quit (it runs its finalizer), any other is killed; all are reaped here.
     */
    void abandon_io() noexcept
    {
        std::vector<worker_ptr> ws;
        {
            // Held already when a handler of the pool runs on this thread.
            std::unique_lock<std::mutex> gate(gate_->m, std::defer_lock);
            if (running_handlers_of != this)
                gate.lock();
            if (gate_->closed)
                return;
            gate_->closed = true;
            ws.assign(workers_.begin(), workers_.end());
            workers_.clear();
            launcher_->close();
        }
        std::vector<task_id_t> ids;
        std::size_t was_busy = 0;
        {
            lock_type lock(mutex_);
            stop_running_ = true; // a lease holder's task ends cancelled
            for (const worker_ptr& w : ws)
            {
                set_lendable_locked(w, false);
                was_busy += w->counted_busy ? 1 : 0;
            }
        }
        for (const worker_ptr& w : ws)
        {
            for (auto& sent : w->in_flight)
            {
                task_id_t id = sent.task->state().id();
                if (sent.task->cancel_running())
                    ids.push_back(id);
                sent.task->state().release();
            }
            bool had_tasks = !w->in_flight.empty();
            w->in_flight.clear();
            if (w->exited)
                continue;
            bool leased;
            {
                lock_type lock(mutex_);
                leased = w->leased;
            }
            bool quiet = !had_tasks && !leased && !w->failed && !w->writing &&
                         w->writing_buf.empty() && w->queued_buf.empty();
            bool stopped = false;
            if (quiet && w->state == worker_process::phase::retiring)
            {
                stopped = true; // its quit is written
            }
            else if (quiet && w->state == worker_process::phase::ready)
            {
                std::vector<char> quit;
                std::size_t at = begin_frame(quit, frame_type::quit, 0);
                end_frame(quit, at, options_.max_frame_size);
                int err = 0;
                stopped = w->link.write_some(quit.data(), quit.size(), err) ==
                          static_cast<std::ptrdiff_t>(quit.size());
            }
            if (!stopped)
                kill_worker(*w);
            launcher_->abandon(*w);
        }
        for (const worker_ptr& w : ws)
        {
            if (w->exited)
                continue;
            std::optional<int> status = launcher_->reap(*w);
            lock_type lock(mutex_);
            w->exited = true;
            if (status)
                w->exit = decode_wait_status(*status);
            w->exit_known = true;
        }
        // Nothing of the pool may keep the executor busy (an idle timer of 60 s would keep a
        // user's io.run() from returning); the handlers this aborts find the gate closed.
        for (const worker_ptr& w : ws)
            forget(*w);
        lock_type lock(mutex_);
        alive_ = 0;
        to_spawn_ = 0;
        retiring_ = 0;
        busy_ -= was_busy;
        cancelled_.insert(cancelled_.end(), ids.begin(), ids.end());
        changed_.notify_all();
    }

    /// Takes every queued and requeued task out (the caller cancels them without the lock).
    void take_queued_locked(std::vector<remote_task*>& out) noexcept
    {
        while (remote_task* t = queue_pop())
            out.push_back(t);
        for (remote_task* t : requeued_)
            out.push_back(t);
        requeued_.clear();
        pending_ = 0;
    }

    /// Cancels tasks that will not run and books them in cancelled_tasks().
    void drop_tasks(std::vector<remote_task*>& tasks) noexcept
    {
        std::vector<task_id_t> ids;
        for (remote_task* t : tasks)
        {
            state_base& s = t->state();
            task_id_t id = 0;
            if (s.status() == task_status::running) // requeued after its worker died
            {
                if (t->cancel_running())
                    ids.push_back(s.id());
                s.release();
            }
            else if (s.drop(id))
            {
                ids.push_back(id);
            }
        }
        if (!ids.empty())
        {
            lock_type lock(mutex_);
            cancelled_.insert(cancelled_.end(), ids.begin(), ids.end());
        }
        tasks.clear();
    }

    void break_pool(std::exception_ptr e) noexcept
    {
        std::vector<remote_task*> dropped;
        {
            lock_type lock(mutex_);
            if (broken_)
                return;
            broken_ = std::move(e);
            stopping_ = true;
            take_queued_locked(dropped);
            changed_.notify_all();
        }
        drop_tasks(dropped);
        retire_idle();
    }

    // ---- the direct path: a thread holding a worker's lease ----

    /// One task over the leased worker's direct pipes; settles `t`. Returns false when the
    /// worker is of no further use (it died or broke the protocol).
    bool run_leased(worker_process& w, remote_task& t) noexcept
    {
        try
        {
            std::vector<char>& frame = w.direct_frame;
            frame.clear();
            std::size_t at = begin_frame(frame, frame_type::direct_task, w.direct_seq);
            {
                byte_output_archive ar(frame);
                ar(t.entry().name, static_cast<std::uint8_t>(t.mode()));
            }
            frame.insert(frame.end(), t.arguments().begin(), t.arguments().end());
            std::vector<char>().swap(
                t.arguments()); // never sent again: it fails if the worker dies
            try
            {
                end_frame(frame, at, options_.max_frame_size);
            }
            catch (const std::exception& e)
            {
                t.fail(std::make_exception_ptr(
                    protocol_error("asio_pal: the arguments of task '" + t.entry().name +
                                   "' do not fit in a frame: " + e.what())));
                return true;
            }
            if (!write_direct(w, frame))
                return leased_worker_lost(w, t);
            std::optional<frame_view> reply;
            try
            {
                reply = read_direct(w);
                if (!reply)
                    return leased_worker_lost(w, t);
                if ((reply->type != frame_type::result && reply->type != frame_type::failure) ||
                    reply->seq != w.direct_seq || w.direct_decoder.buffered() != 0)
                    throw frame_error(std::string("asio_pal: unexpected ") +
                                      frame_type_name(reply->type) + " frame on the direct pipe");
            }
            catch (const std::exception& e)
            {
                std::string what = subject(w) + " broke the protocol: " + e.what();
                t.fail(std::make_exception_ptr(protocol_error(what)));
                net::post(*strand_, guarded([this, self = w.shared_from_this(), what] {
                    protocol_failure(self, what);
                }));
                return false;
            }
            if (reply->type == frame_type::result)
            {
                t.deliver(reply->body);
            }
            else
            {
                try
                {
                    remote_exception_info info;
                    decode(reply->body, info);
                    t.fail(rebuild_exception(info));
                }
                catch (...)
                {
                    t.fail(undecodable_reply(t.entry(), std::current_exception()));
                }
            }
            return true;
        }
        catch (...)
        {
            t.fail(std::current_exception()); // out of memory
            return true;
        }
    }

    static bool write_direct(worker_process& w, const std::vector<char>& frame)
    {
        return w.link.direct()->write_all(frame.data(), frame.size());
    }

    /// Reads the reply frame; nothing when the worker closed its direct channel (it died, or will
    /// be killed) or died while something else holds it. Throws frame_error on garbage.
    std::optional<frame_view> read_direct(worker_process& w)
    {
        int quiet_after_exit = 0;
        for (;;)
        {
            if (std::optional<frame_view> f = w.direct_decoder.next())
                return f;
            std::ptrdiff_t n = w.link.direct()->read_some(w.direct_decoder.prepare(), 100);
            if (n < 0)
                return std::nullopt;
            if (n > 0)
            {
                w.direct_decoder.commit(static_cast<std::size_t>(n));
                continue;
            }
            // Dead, but a process it started holds the channel open: give bytes in transit a
            // moment, as the I/O thread does.
            lock_type lock(mutex_);
            if (w.exit_known && ++quiet_after_exit >= 2)
                return std::nullopt;
        }
    }

    /// The leased worker's reply will not come: wait until the pool has reaped it, then fail
    /// the task as the I/O thread would (cancelled when the program is exiting).
    bool leased_worker_lost(worker_process& w, remote_task& t)
    {
        net::post(*strand_, guarded([this, self = w.shared_from_this()] {
            kill_worker(*self); // lives on?
        }));
        exit_info exit;
        bool stopping;
        {
            lock_type lock(mutex_);
            changed_.wait(lock, [&] { return w.exit_known; });
            exit = w.exit;
            stopping = stop_running_;
        }
        if (stopping)
        {
            t.cancel_running();
            return false;
        }
        std::string what =
            subject(w) + " " + describe_exit(exit) + " while running task '" + t.entry().name + "'";
        t.fail(std::make_exception_ptr(
            worker_died_error(what, launcher_->worker_pid(w), exit.signal, exit.exit_status)));
        return false;
    }

    /// Gives the worker back: to the next run(), to the queue, or to retirement. Takes the lease
    /// holder's reference: a worker already reaped may have no other, and its I/O objects must
    /// be destroyed before the lease ends, since the pool may be destroyed as soon as it does.
    void end_lease(worker_ptr w, bool usable)
    {
        lock_type lock(mutex_);
        w->leased = false;
        --busy_;
        w->last_lease_end = std::chrono::steady_clock::now();
        if (usable && !w->exit_known)
        {
            if (w->retire_after_lease || stopping_ || w->lease_budget == 0 ||
                (pending_ == 0 && (joiners_ > 0 || zero_timeout_locked())))
            {
                net::post(*strand_, guarded([this, w] {
                    if (w->state == worker_process::phase::ready && w->in_flight.empty())
                        retire(w);
                }));
            }
            else
            {
                set_lendable_locked(w, true);
                if (pending_ > 0) // queued while it was leased: the strand sends it more
                    kick_locked();
            }
        }
        w.reset(); // before the lease ends: see above
        --leases_;
        changed_.notify_all();
    }

    // ---- the strand ----

    void on_kick()
    {
        std::size_t n;
        bool stop_running;
        {
            lock_type lock(mutex_);
            kick_posted_ = false;
            stop_running = stop_running_;
            n = std::exchange(to_spawn_, 0);
            // Reserved, but no longer wanted: only when the pool is broken or being stopped at
            // exit. A plain shutdown still starts what spawn_workers reported (as a thread pool
            // does): its initializer runs, and the worker then retires at once.
            std::size_t can = launcher_->can_launch(n); // a fixed set is not replaced
            if (broken_ || stop_running_ || can < n)
            {
                std::size_t dropped = broken_ || stop_running_ ? n : n - can;
                alive_ -= dropped;
                n -= dropped;
                changed_.notify_all();
            }
        }
        for (std::size_t i = 0; i < n; ++i)
            spawn_one();
        if (stop_running)
            stop_all_running();
        settle_listener();
        retire_idle();
        dispatch();
    }

    void spawn_one()
    {
        auto w = std::make_shared<worker_process>(executor(), options_.max_frame_size);
        try
        {
            launcher_->launch(w);
        }
        catch (...)
        {
            std::exception_ptr e = nested_error<broken_pool_error>(
                "asio_pal: process pool '" + options_.name + "' cannot start a worker process",
                std::current_exception());
            {
                lock_type lock(mutex_);
                --alive_;
                changed_.notify_all();
            }
            break_pool(e);
            return;
        }
        w->last_progress = std::chrono::steady_clock::now();
        workers_.push_back(w);
        // The first frame: the initializer and finalizer; the worker answers hello when ready.
        // It waits for the link of a worker that connects back.
        std::vector<char>& buf = w->queued_buf;
        std::size_t at = begin_frame(buf, frame_type::init, 0);
        {
            byte_output_archive ar(buf);
            ar(options_.initializer.name(), options_.initializer.arguments(),
               options_.finalizer.name(), options_.finalizer.arguments());
        }
        end_frame(buf, at, options_.max_frame_size);
        if (w->link.connected())
            worker_linked(w);
    }

    // ---- what the launcher tells (strand) ----

    void worker_linked(const worker_ptr& w) override
    {
        start_read(w);
        flush(w); // its init frame
        settle_listener();
    }

    void worker_linked_direct(worker_process& w, int fd) override
    {
        lock_type lock(mutex_);
        if (!w.link.add_direct(fd))
            ::close(fd);
    }

    void worker_ended(const worker_ptr& w, std::optional<int> status) override
    {
        mark_ended(*w, status);
        if (!w->link.connected())
            w->eof = true; // a worker that never connected back: nothing will come
        if (!w->eof)
        {
            // Normally its output ends with it. A grandchild may still hold the pipe: give the
            // pending bytes a moment, then stop reading.
            w->idle_timer.expires_after(std::chrono::milliseconds(200));
            w->idle_timer.async_wait(guarded([this, w](boost::system::error_code) {
                if (!w->eof)
                {
                    w->link.cancel_reads();
                    w->eof = true;
                    maybe_finished(w);
                    dispatch();
                }
            }));
            return;
        }
        maybe_finished(w);
    }

    void worker_gone(worker_process& w) noexcept override { mark_ended(w, std::nullopt); }

    void worker_lost(const worker_ptr& w, std::string why) override
    {
        w->lost_reason = std::move(why);
        kill_worker(*w);
        if (w->exited && !w->eof && !w->link.connected()) // ended with nothing to read
        {
            w->eof = true;
            maybe_finished(w);
            dispatch();
        }
    }

    /// `w` ended: no lease may take it, a lease holder waiting for its end learns how.
    void mark_ended(worker_process& w, std::optional<int> status) noexcept
    {
        w.exited = true;
        lock_type lock(mutex_);
        if (status)
            w.exit = decode_wait_status(*status);
        w.exit_known = true;
        set_lendable_locked(w.shared_from_this(), false);
        changed_.notify_all();
    }

    /// Once the pool stops, what the launcher listens on closes as soon as no worker is on its
    /// way.
    void settle_listener() noexcept
    {
        bool stopping, stop_running;
        {
            lock_type lock(mutex_);
            stopping = stopping_;
            stop_running = stop_running_;
        }
        if (stopping)
            launcher_->settle(stop_running);
    }

    void start_read(const worker_ptr& w)
    {
        if (w->forgotten || !w->link.connected()) // stopped without its executor (abandon_io)
            return;
        std::span<char> space = w->decoder.prepare();
        w->link.async_read_some(
            net::buffer(space.data(), space.size()),
            guarded([this, w](boost::system::error_code ec, std::size_t n) { on_read(w, ec, n); }));
    }

    void on_read(const worker_ptr& w, boost::system::error_code ec, std::size_t n)
    {
        if (ec)
        {
            w->eof = true;
            launcher_->link_ended(*w); // for a worker without a process here, its end
            // It closed its output but lives on: it is of no use.
            if (!w->exited && !w->failed && ec != net::error::operation_aborted)
                kill_worker(*w);
            maybe_finished(w);
            return;
        }
        w->decoder.commit(n);
        w->last_heard = std::chrono::steady_clock::now();
        try
        {
            while (auto f = w->decoder.next())
            {
                handle_frame(w, *f);
                if (w->failed)
                    break;
            }
        }
        catch (const std::exception& e)
        {
            protocol_failure(w, e.what());
        }
        if (!w->failed)
            start_read(w);
        else
            maybe_finished(w);
        dispatch();
    }

    void handle_frame(const worker_ptr& w, const frame_view& f)
    {
        switch (f.type)
        {
        case frame_type::hello:
            if (w->state != worker_process::phase::starting)
                throw frame_error("asio_pal: unexpected hello frame");
            w->state = worker_process::phase::ready;
            w->last_progress = std::chrono::steady_clock::now();
            became_idle(w);
            return;
        case frame_type::result:
        case frame_type::failure:
        case frame_type::skipped:
            answer(w, f);
            return;
        case frame_type::init_failed:
        case frame_type::fini_failed:
        {
            remote_exception_info info;
            decode(f.body, info);
            bool init = f.type == frame_type::init_failed;
            std::string what = "asio_pal: the " + std::string(init ? "initializer" : "finalizer") +
                               " of process pool '" + options_.name + "' failed in " +
                               launcher_->describe(*w);
            std::exception_ptr cause = rebuild_exception(info);
            break_pool(init ? nested_error<initializer_error>(what, cause)
                            : nested_error<finalizer_error>(what, cause));
            return;
        }
        case frame_type::bye:
            return;
        case frame_type::heartbeat:
            if (!launcher_->heartbeats())
                throw frame_error("asio_pal: unexpected heartbeat frame from a local worker");
            return;
        default:
            throw frame_error(std::string("asio_pal: unexpected ") + frame_type_name(f.type) +
                              " frame from a worker");
        }
    }

    void answer(const worker_ptr& w, const frame_view& f)
    {
        if (w->in_flight.empty() || w->in_flight.front().seq != f.seq)
            throw frame_error("asio_pal: reply for task sequence " + std::to_string(f.seq) +
                              " which the worker does not hold");
        remote_task* t = w->in_flight.front().task;
        w->in_flight.pop_front();
        std::vector<char>().swap(t->arguments()); // answered: never sent again
        auto now = std::chrono::steady_clock::now();
        w->average = update_average(
            w->average,
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - w->last_progress),
            w->has_history);
        w->has_history = true;
        w->last_progress = now;
        // The books first: a caller woken by this reply finds the worker idle (and lendable).
        // The timer waits: arming it costs a system call the caller need not wait for.
        bool idle = w->in_flight.empty();
        bool retire_now = idle && idle_books(w);
        if (f.type == frame_type::result)
        {
            t->deliver(f.body);
        }
        else if (f.type == frame_type::failure)
        {
            try
            {
                remote_exception_info info;
                decode(f.body, info);
                t->fail(rebuild_exception(info));
            }
            catch (...)
            {
                t->fail(undecodable_reply(t->entry(), std::current_exception()));
            }
        }
        else
        {
            t->cancel_running(); // skipped: it was cancelled before it started
        }
        t->state().release();
        if (idle)
            after_idle(w, retire_now);
    }

    /// A worker holds no task now: update the counts, then retire it or arm its idle timer.
    void became_idle(const worker_ptr& w) { after_idle(w, idle_books(w)); }

    /// The bookkeeping half of became_idle (counts, and the worker lendable to run()); returns
    /// whether the worker is to retire now.
    bool idle_books(const worker_ptr& w)
    {
        bool retire_now;
        bool stray = false;
        {
            lock_type lock(mutex_);
            if (w->counted_busy)
            {
                w->counted_busy = false;
                --busy_;
            }
            std::size_t used = w->sent + w->direct_runs.load();
            retire_now = stopping_ || task_limit_reached(used, options_.max_tasks_per_worker) ||
                         (pending_ == 0 && (joiners_ > 0 || zero_timeout_locked()));
            if (!retire_now && w->state == worker_process::phase::ready && !w->failed &&
                w->queued_buf.empty() && !w->leased)
            {
                stray = stray_direct_bytes(*w);
                if (!stray)
                {
                    w->lease_budget = options_.max_tasks_per_worker == 0
                                          ? std::numeric_limits<std::size_t>::max()
                                          : options_.max_tasks_per_worker - used;
                    set_lendable_locked(w, true);
                }
            }
            changed_.notify_all();
        }
        if (stray)
        {
            protocol_failure(w, "a task wrote to (or closed) its direct reply descriptor (fd " +
                                    std::to_string(worker_direct_fd) + ")");
            return false;
        }
        return retire_now;
    }

    /// Whether the worker's direct reply pipe holds bytes, or has been closed, while no run()
    /// holds the worker: a worker writes there only when asked by a run, so a task did it, and
    /// the next run on that worker would read garbage. Call only while the worker is neither
    /// leased nor lendable (then nothing else reads the pipe); consumes what it reads.
    static bool stray_direct_bytes(const worker_process& w) noexcept
    {
        const direct_channel* d = w.link.direct();
        if (!d || d->read_fd < 0)
            return false;
        char c;
        return d->read_some(std::span<char>(&c, 1), 0) != 0; // 0: empty and open
    }

    /// The other half: retire it, or arm its idle timer.
    void after_idle(const worker_ptr& w, bool retire_now)
    {
        if (w->failed || w->forgotten) // protocol_failure stopped it, or the pool is gone
            return;
        if (retire_now)
            retire(w);
        else if (options_.idle_timeout)
            arm_idle_timer(w, *options_.idle_timeout);
    }

    /// Retires an idle worker once it has been idle for the idle timeout, counting the time it
    /// spent leased to run() as busy.
    void arm_idle_timer(const worker_ptr& w, std::chrono::nanoseconds after)
    {
        auto armed = std::chrono::steady_clock::now();
        w->idle_timer.expires_at(saturating_add(armed, after));
        w->idle_timer.async_wait(
            guarded([this, w, armed, sent = w->sent](boost::system::error_code ec) {
                if (ec || w->sent != sent || !w->in_flight.empty() ||
                    w->state != worker_process::phase::ready)
                    return;
                std::chrono::nanoseconds again{0};
                {
                    lock_type lock(mutex_);
                    if (w->leased)
                        again = *options_.idle_timeout;
                    else if (w->last_lease_end > armed)
                        again = saturating_add(w->last_lease_end, *options_.idle_timeout) -
                                std::chrono::steady_clock::now();
                }
                if (again.count() > 0)
                    arm_idle_timer(w, again);
                else
                    retire(w);
            }));
    }

    /// Tells an idle worker to run its finalizer and exit.
    void retire(const worker_ptr& w)
    {
        if (w->state == worker_process::phase::retiring || w->exited)
            return;
        {
            lock_type lock(mutex_);
            if (w->leased) // run() is using it: the lease's end retires it
            {
                w->retire_after_lease = true;
                return;
            }
            set_lendable_locked(w, false);
            w->state = worker_process::phase::retiring;
            w->idle_timer.cancel();
            w->counted_retiring = true;
            ++retiring_;
            // A worker leaving while work is queued is replaced.
            reserve_spawns_locked(workers_needed(counts_locked()));
            if (to_spawn_ > 0)
                kick_locked();
        }
        std::size_t at = begin_frame(w->queued_buf, frame_type::quit, 0);
        end_frame(w->queued_buf, at, options_.max_frame_size);
        flush(w);
    }

    void retire_idle()
    {
        bool stopping, joining;
        {
            lock_type lock(mutex_);
            stopping = stopping_;
            joining = joiners_ > 0 && pending_ == 0;
        }
        if (!stopping && !joining)
            return;
        std::vector<worker_ptr> idle;
        for (const worker_ptr& w : workers_)
            if (w->state == worker_process::phase::ready && w->in_flight.empty())
                idle.push_back(w);
        for (const worker_ptr& w : idle)
            retire(w);
    }

    /// Sends queued tasks to ready workers: first one to each idle worker, then more to the
    /// workers whose recent tasks were short.
    void dispatch()
    {
        for (int pass = 0; pass < 2; ++pass)
        {
            for (const worker_ptr& w : workers_)
            {
                if (w->state != worker_process::phase::ready || w->failed || w->exited || w->eof)
                    continue;
                std::size_t limit = pass == 0 ? 1 : in_flight_limit(w->average, w->has_history);
                std::size_t room =
                    dispatch_capacity(w->in_flight.size(), limit, w->sent + w->direct_runs.load(),
                                      options_.max_tasks_per_worker);
                if (room > 0)
                    send_tasks(w, room);
            }
        }
    }

    void send_tasks(const worker_ptr& w, std::size_t room)
    {
        std::vector<remote_task*> batch;
        std::vector<remote_task*> withdrawn;
        {
            lock_type lock(mutex_);
            if (w->leased)
                return;
            while (batch.size() < room)
            {
                remote_task* t = nullptr;
                if (!requeued_.empty())
                {
                    t = requeued_.front();
                    requeued_.pop_front();
                    --pending_;
                    if (t->is_settled()) // cancelled while waiting for a new worker
                    {
                        withdrawn.push_back(t);
                        continue;
                    }
                }
                else if ((t = queue_pop()) != nullptr)
                {
                    if (!t->state().claim())
                    {
                        withdrawn.push_back(t);
                        continue;
                    }
                    --pending_;
                }
                else
                {
                    break;
                }
                batch.push_back(t);
            }
            if (!batch.empty())
                set_lendable_locked(w, false);
            if (!batch.empty() && !w->counted_busy)
            {
                w->counted_busy = true;
                ++busy_;
            }
        }
        for (remote_task* t : withdrawn)
            t->state().discard(false); // waits out a canceller still booking it, then releases
        if (batch.empty())
            return;
        w->idle_timer.cancel();
        if (w->in_flight.empty())
            w->last_progress = std::chrono::steady_clock::now();
        for (remote_task* t : batch)
        {
            std::uint64_t seq = w->sequence.next();
            std::size_t at = begin_frame(w->queued_buf, frame_type::task, seq);
            {
                byte_output_archive ar(w->queued_buf);
                ar(t->entry().name, static_cast<std::uint8_t>(t->mode()));
            }
            const std::vector<char>& args = t->arguments();
            w->queued_buf.insert(w->queued_buf.end(), args.begin(), args.end());
            try
            {
                end_frame(w->queued_buf, at, options_.max_frame_size);
            }
            catch (const std::exception& e)
            {
                t->fail(std::make_exception_ptr(
                    protocol_error("asio_pal: the arguments of task '" + t->entry().name +
                                   "' do not fit in a frame: " + e.what())));
                t->state().release();
                continue;
            }
            w->in_flight.push_back({t, seq});
            ++w->sent;
        }
        if (w->in_flight.empty())
            became_idle(w);
        flush(w);
    }

    /// Writes what is queued for the worker (itself rather than through async_write, so that
    /// every write to a worker is a non-blocking one of worker_link::write_some).
    void flush(const worker_ptr& w)
    {
        if (w->writing || w->failed || w->forgotten || !w->link.connected())
            return; // a remote worker's frames wait for its connection
        for (;;)
        {
            if (w->written == w->writing_buf.size())
            {
                w->writing_buf.clear();
                w->written = 0;
                if (w->queued_buf.empty())
                    return;
                std::swap(w->writing_buf, w->queued_buf);
            }
            int err = 0;
            std::ptrdiff_t n = w->link.write_some(w->writing_buf.data() + w->written,
                                                  w->writing_buf.size() - w->written, err);
            if (n > 0)
            {
                w->written += static_cast<std::size_t>(n);
                continue;
            }
            if (err == EAGAIN || err == EWOULDBLOCK)
            {
                w->writing = true;
                w->link.async_wait_writable(guarded([this, w](boost::system::error_code ec) {
                    w->writing = false;
                    if (!ec)
                        flush(w);
                }));
                return;
            }
            // Its input is gone (closed by the pool: it died). Should it live on, it is of no
            // use: it is killed.
            w->writing_buf.clear();
            w->written = 0;
            w->queued_buf.clear();
            kill_later(w, 0, cancel_grace);
            return;
        }
    }

    /// Kills the worker after `grace` unless it exited, or (seq != 0) unless the task with that
    /// sequence number no longer runs there.
    void kill_later(const worker_ptr& w, std::uint64_t seq, std::chrono::nanoseconds grace)
    {
        if (w->exited || w->forgotten)
            return;
        auto it = w->kill_timers.emplace(w->kill_timers.end(), executor());
        it->expires_after(grace);
        it->async_wait(guarded([this, w, seq, it](boost::system::error_code ec) {
            if (w->forgotten) // its timers are gone
                return;
            w->kill_timers.erase(it);
            if (ec || w->exited)
                return;
            if (seq == 0 || (!w->in_flight.empty() && w->in_flight.front().seq == seq))
                kill_worker(*w);
        }));
    }

    /// The worker broke the protocol: fail what it holds and stop it.
    void protocol_failure(const worker_ptr& w, const std::string& why)
    {
        if (w->failed)
            return;
        w->failed = true;
        w->eof = true; // nothing it says from now on is read
        {
            lock_type lock(mutex_);
            set_lendable_locked(w, false);
        }
        std::string what = subject(*w) + " broke the protocol: " + why;
        for (auto& sent : w->in_flight)
        {
            sent.task->fail(std::make_exception_ptr(protocol_error(what)));
            sent.task->state().release();
        }
        w->in_flight.clear();
        kill_worker(*w);
    }

    void kill_worker(worker_process& w) noexcept { launcher_->stop(w); }

    /// Ends everything of the pool's on `w`, its timers and its link: handlers still queued
    /// find it forgotten.
    static void forget(worker_process& w) noexcept
    {
        w.forgotten = true;
        w.idle_timer.cancel();
        for (net::steady_timer& t : w.kill_timers)
            t.cancel();
        w.watchdog.cancel();
        w.link.close();
    }

    /// Once a worker's output ended and it was reaped: settle what it held, forget it.
    void maybe_finished(const worker_ptr& w)
    {
        if (!w->eof || !w->exited)
            return;
        auto it = std::find(workers_.begin(), workers_.end(), w);
        if (it == workers_.end())
            return;
        workers_.erase(it);
        forget(*w);
        launcher_->forget(*w);
        settle_listener();
        bool retired = w->state == worker_process::phase::retiring && w->in_flight.empty() &&
                       w->lost_reason.empty() && !w->failed;

        std::vector<remote_task*> rest;
        if (!w->in_flight.empty())
        {
            // The first task was running: it dies with the worker (unless it was cancelled).
            // The others never started: they go back to the queue.
            remote_task* head = w->in_flight.front().task;
            std::string what = subject(*w) + " " + launcher_->ending(*w) + " while running task '" +
                               head->entry().name + "'";
            head->fail(std::make_exception_ptr(worker_died_error(
                what, launcher_->worker_pid(*w), w->exit.signal, w->exit.exit_status)));
            head->state().release();
            for (auto it = w->in_flight.begin() + 1; it != w->in_flight.end(); ++it)
                rest.push_back(it->task);
            w->in_flight.clear();
        }
        std::exception_ptr startup_failure;
        bool all_gone = false;
        bool lost = false;
        bool requeued = false;
        std::vector<remote_task*> dropped;
        {
            lock_type lock(mutex_);
            if (stopping_)
            {
                dropped = std::move(rest);
            }
            else
            {
                for (auto r = rest.rbegin(); r != rest.rend(); ++r)
                    requeued_.push_front(*r);
                pending_ += rest.size();
                requeued = !rest.empty();
                if (w->state == worker_process::phase::starting && !broken_ &&
                    !launcher_->lost_on_the_way(*w))
                    startup_failure = std::make_exception_ptr(broken_pool_error(
                        subject(*w) + " " + launcher_->ending(*w) +
                        " before it was ready (does its main() call asio_pal::run_worker?)" +
                        launcher_->startup_hint(*w)));
            }
        }
        // Settled and listed while the worker still counts as alive: shutdown() returns once
        // none is, and by then every task it held must be settled and in cancelled_tasks().
        drop_tasks(dropped);
        if (startup_failure)
            break_pool(startup_failure);
        {
            lock_type lock(mutex_);
            --alive_;
            if (w->counted_busy)
                --busy_;
            if (w->counted_retiring)
                --retiring_;
            lost = !launcher_->replaces_workers() && !retired;
            if (!launcher_->replaces_workers()) // nothing replaces it
                all_gone = alive_ == 0 && !stopping_ && !broken_ && !startup_failure;
            else if (!stopping_ && !startup_failure)
                reserve_spawns_locked(workers_needed(counts_locked()));
            // Tasks given back go to the idle workers too, which nothing else would wake.
            if (to_spawn_ > 0 || requeued)
                kick_locked();
            changed_.notify_all();
        }
        if (lost)
        {
            try
            {
                launcher_->lost_for_good();
            }
            catch (...)
            {
                report_exception(std::current_exception());
            }
        }
        if (all_gone)
            break_pool(std::make_exception_ptr(
                broken_pool_error("asio_pal: every worker of process pool '" + options_.name +
                                  "' has ended (" + launcher_->describe(*w) + " was the last: it " +
                                  launcher_->ending(*w) + "), and its launcher starts no others")));
    }

    /// A running task was cancelled: stop it in its worker, or skip it there if not started.
    void stop_cancelled(remote_task* t)
    {
        for (const worker_ptr& w : workers_)
        {
            for (const auto& sent : w->in_flight)
            {
                if (sent.task != t)
                    continue;
                if (w->exited)
                    return;
                std::uint64_t seq = sent.seq;
                if (!launcher_->signal_cancel(*w, seq)) // signals do not cross machines
                {
                    std::size_t at = begin_frame(w->queued_buf, frame_type::cancel, seq);
                    end_frame(w->queued_buf, at, options_.max_frame_size);
                    flush(w);
                }
                // The worker exits at once when it runs the task, or skips it later. If the task
                // runs and blocks the signal, the worker is killed after a grace period (the
                // tasks behind it have not started, so they lose nothing).
                kill_later(w, seq, cancel_grace);
                return;
            }
        }
    }

    /// At exit: every running task is cancelled, its worker stopped.
    void stop_all_running()
    {
        for (const worker_ptr& w : workers_)
        {
            bool leased;
            {
                lock_type lock(mutex_);
                leased = w->leased;
            }
            if (w->in_flight.empty() && !leased)
                continue;
            for (auto& sent : w->in_flight)
                sent.task->cancel_running();
            kill_worker(*w); // a lease holder sees the end of its reply pipe
        }
    }

    void stop_io() noexcept
    {
        if (own_io_)
        {
            if (launcher_->listen_endpoint()) // its accept would keep the I/O thread running
                net::post(*strand_, guarded([this] { launcher_->close(); }));
            guard_.reset();
            if (io_thread_.joinable())
                io_thread_.join();
        }
        // A user's executor may still hold handlers of the pool (cancelled timers, a stop
        // request), and may run them after the pool is gone, or never: they keep the gate alive
        // and find it closed. Waits for one that runs now.
        std::unique_lock<std::mutex> gate(gate_->m, std::defer_lock);
        if (running_handlers_of != this)
            gate.lock();
        gate_->closed = true;
    }

    const process_pool_options options_;
    std::shared_ptr<io_gate> gate_ = std::make_shared<io_gate>();
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    remote_task* head_ = nullptr;
    remote_task* tail_ = nullptr;
    std::deque<remote_task*> requeued_; // claimed tasks whose worker died before they started
    std::vector<std::shared_ptr<worker_process>> lendable_; // idle workers run() may lease
    std::size_t pending_ = 0;
    std::size_t alive_ = 0;
    std::size_t busy_ = 0;
    std::size_t retiring_ = 0;
    std::size_t leases_ = 0; // threads in run() holding a worker
    std::size_t to_spawn_ = 0;
    std::size_t joiners_ = 0;
    bool closed_ = false;
    bool stopping_ = false;
    bool stop_running_ = false;
    bool kick_posted_ = false;
    std::exception_ptr broken_;
    std::vector<task_id_t> cancelled_;

    // Declared before the workers, destroyed after them.
    std::optional<net::io_context> own_io_;
    std::optional<net::strand<net::any_io_executor>> strand_;

    // Strand only.
    std::list<worker_ptr> workers_;
    // How workers start and end; what remote ones connect to. Set by the constructor.
    std::unique_ptr<launcher> launcher_;

    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_;
    std::thread io_thread_;
};

} // namespace detail

process_pool::process_pool()
    : process_pool(process_pool_options{})
{}

process_pool::process_pool(std::size_t max_workers)
    : process_pool(process_pool_options{.max_workers = max_workers})
{}

process_pool::process_pool(process_pool_options options)
    : core_(std::make_unique<detail::process_pool_core>(
          detail::resolve_process_options(std::move(options)), std::nullopt))
{}

process_pool::process_pool(const executor_type& io, process_pool_options options)
    : core_(std::make_unique<detail::process_pool_core>(
          detail::resolve_process_options(std::move(options)), io))
{}

process_pool::~process_pool()
{
    if (core_->shutdown_for_destruction())
        core_->adopt(std::move(core_));
    else
        core_.reset();
    net::execution_context::shutdown();
    net::execution_context::destroy();
}

process_pool::executor_type process_pool::get_executor() noexcept
{
    return core_->executor();
}

void process_pool::submit_remote(detail::remote_task* t)
{
    core_->submit(t);
}

void process_pool::run_remote(detail::remote_task* t)
{
    core_->run(t);
}

std::size_t process_pool::count_workers() const
{
    return core_->count_workers();
}

std::size_t process_pool::count_busy_workers() const
{
    return core_->count_busy_workers();
}

std::size_t process_pool::count_free_workers() const
{
    return core_->count_free_workers();
}

std::size_t process_pool::count_pending_tasks() const
{
    return core_->count_pending_tasks();
}

std::size_t process_pool::spawn_workers()
{
    return core_->spawn_workers(std::nullopt);
}

std::size_t process_pool::spawn_workers(std::size_t n)
{
    return core_->spawn_workers(n);
}

bool process_pool::join()
{
    return core_->join(std::nullopt);
}

bool process_pool::join_until(std::optional<std::chrono::steady_clock::time_point> deadline)
{
    return core_->join(deadline);
}

bool process_pool::shutdown()
{
    return core_->shutdown();
}

void process_pool::check() const
{
    core_->check();
}

void process_pool::test() const
{
    check();
    process_pool_options o = options();
    o.max_workers = 1;
    process_pool replica(std::move(o));
    future<int> f = replica.submit(&detail::probe_task, 21);
    f.wait();
    replica.check(); // an initializer failure shows here, not as a cancelled task
    int mapped = 0;
    for (int v : replica.map(&detail::probe_task, std::vector<int>{1, 2, 3}))
        mapped += v;
    int starmapped = 0;
    for (int v : replica.starmap(&detail::probe_task, std::vector<std::tuple<int>>{{2}, {3}}))
        starmapped += v;
    replica.join(); // the worker runs its finalizer and exits
    replica.check();
    if (f.collect() != 42 || mapped != 12 || starmapped != 10)
        throw std::logic_error("asio_pal: test() of pool '" + options().name +
                               "': the replica returned a wrong result");
}

bool process_pool::is_closed() const
{
    return core_->is_closed();
}

bool process_pool::is_terminated() const
{
    return core_->is_terminated();
}

bool process_pool::is_broken() const
{
    return core_->is_broken();
}

std::vector<task_id_t> process_pool::cancelled_tasks() const
{
    return core_->cancelled_tasks();
}

const process_pool_options& process_pool::options() const noexcept
{
    return core_->options();
}

std::optional<net::ip::tcp::endpoint> process_pool::listen_endpoint() const
{
    return core_->listen_endpoint();
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_PROCESS_POOL_IPP
