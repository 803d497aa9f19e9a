//
// asio_pal/process_pool.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// An elastic pool of child processes running registered functions.
//

#ifndef ASIO_PAL_PROCESS_POOL_HPP
#define ASIO_PAL_PROCESS_POOL_HPP

#include "asio_pal/detail/remote_task.hpp"
#include "asio_pal/future.hpp"
#include "asio_pal/launcher.hpp"
#include "asio_pal/map.hpp"
#include "asio_pal/options.hpp"
#include "asio_pal/registry.hpp"
#include "asio_pal/remote_exception.hpp"
#include "asio_pal/worker.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace asio_pal {

namespace net = boost::asio;

/**
 * Options of a process pool: those of pool_options, except that the initializer and finalizer
 * are registered functions called in each child (remote_call), plus what only processes need.
 */
struct process_pool_options
{
    /// Upper bound on live worker processes; 0 means hardware threads.
    std::size_t max_workers = 0;
    /// Pool name, used in diagnostics; empty means "process_pool".
    std::string name{};
    /// How long a worker process waits for work before it retires (runs its finalizer and
    /// exits). Empty: never retire; 0: retire as soon as it is idle.
    std::optional<std::chrono::nanoseconds> idle_timeout = default_idle_timeout;
    /// Called in each worker process before its first task. An exception breaks the pool.
    remote_call initializer{};
    /// Called in each worker process before it exits. An exception breaks the pool.
    remote_call finalizer{};
    /// A worker process retires after this many tasks and is replaced on demand; 0: unlimited.
    std::size_t max_tasks_per_worker = 0;
    /// Receives exceptions that have no future to go to (failing future callbacks).
    std::function<void(std::exception_ptr)> on_task_exception{};
    /// The program started as worker; empty means this executable (/proc/self/exe), whose
    /// main() must begin with `if (is_worker_process(argc, argv)) return run_worker(argc, argv);`.
    std::string worker_executable{};
    /// The largest frame either side accepts; a longer one fails its task with protocol_error.
    std::size_t max_frame_size = detail::default_max_frame_size;
    /// Where the workers run and what starts them: child processes over pipes (the default),
    /// or a command_launcher or slurm_launcher whose workers connect back over TCP.
    worker_launcher launcher{};
};

namespace detail {
class process_pool_core;

/// Checks `o` and fills in defaults; throws std::invalid_argument naming the bad field.
process_pool_options resolve_process_options(process_pool_options o);
} // namespace detail

/**
 * An elastic pool of child processes: workers start on demand up to `max_workers` and retire
 * after `idle_timeout` without work. It runs free functions registered with
 * ASIO_PAL_REGISTER_TASK; arguments and results cross the process boundary with cereal.
 *
 * The interface is the one of thread_pool (submit, run, the map family, introspection and
 * lifecycle), so code switches pool kinds by changing one type. get_executor() is the pool's
 * I/O executor (pipes, process handles, timers): it cannot run closures in a child.
 *
 * A task's future can be cancelled while it runs: its worker process is stopped (the task
 * ends cancelled) and replaced on demand. A worker that dies fails its task with
 * worker_died_error; the pool keeps serving.
 *
 * @par Thread Safety
 * Every member function may be called concurrently, except the destructor.
 */
class process_pool : public net::execution_context, public detail::map_family<process_pool>
{
public:
    /// The I/O executor of the pool.
    using executor_type = net::any_io_executor;

    /// A pool with default options (hardware threads, 60 s idle timeout).
    process_pool();
    /// A pool of at most `max_workers` worker processes (0 = default), other options default.
    explicit process_pool(std::size_t max_workers);
    /// A pool with the given options; throws std::invalid_argument naming a bad field.
    explicit process_pool(process_pool_options options);
    /// A pool doing its I/O on `io` (which must support I/O objects, e.g. an io_context's
    /// executor) instead of an internal I/O thread. Run the executor's context for as long as
    /// the pool is in use. An io_context that stopped (run() returned) or that the calling
    /// thread runs (a coroutine owning the pool) is not waited for by shutdown() and the
    /// destructor: see shutdown().
    process_pool(const executor_type& io, process_pool_options options);

    /// Shuts the pool down (see shutdown()). Destroying a pool with its own I/O thread from a
    /// callback running on that thread is reported on stderr, then aborts.
    ~process_pool();

    process_pool(const process_pool&) = delete;
    process_pool& operator=(const process_pool&) = delete;

    /// The executor the pool's I/O runs on.
    executor_type get_executor() noexcept;

    /**
     * Queues `f(args...)` for a worker process. `f` is a registered free function; the
     * arguments are converted to its parameter types and serialised now. Throws
     * unregistered_task_error (naming the function) when `f` is not registered,
     * pool_closed_error on a closed pool and the stored error on a broken one.
     */
    template <typename F, typename... Args>
    auto submit(F&& f, Args&&... args);

    /**
     * submit() then collect(), with a shorter path: when a worker is idle and nothing is
     * queued, the calling thread sends the task to that worker and reads its reply itself,
     * without a hop through the pool's I/O thread (the serial round trip of a tiny task is
     * about that of a bare pipe ping-pong). Blocks; do not call it on the pool's I/O executor.
     */
    template <typename F, typename... Args>
    auto run(F&& f, Args&&... args);

    // The map family (map, map_all, map_unordered, map_all_unordered, starmap, starmap_all,
    // starmap_unordered, starmap_all_unordered) comes from detail::map_family.

    /// Live worker processes, including starting and retiring ones (0 when closed).
    std::size_t count_workers() const;
    /// Worker processes holding a task (0 when closed).
    std::size_t count_busy_workers() const;
    /// Worker processes neither busy nor retiring (0 when closed).
    std::size_t count_free_workers() const;
    /// Tasks queued and not yet sent to a worker (0 when closed).
    std::size_t count_pending_tasks() const;

    /// Starts the workers that queued work needs; returns how many.
    std::size_t spawn_workers();
    /// Starts up to `n` workers, never beyond max_workers; returns how many. They start even
    /// when shutdown() follows at once (their initializer runs, then they retire).
    std::size_t spawn_workers(std::size_t n);

    /// Waits until every queued and running task is done and the worker processes have
    /// exited; the pool stays open.
    bool join();
    /// As join(), but gives up after `timeout` and returns false; the pool keeps running.
    template <typename Rep, typename Period>
    bool join(std::chrono::duration<Rep, Period> timeout);

    /**
     * Closes the pool, cancels pending tasks (see cancelled_tasks()), waits for running tasks,
     * lets every worker run its finalizer and exit, and reaps them. Returns false when the pool
     * was already closed. Every task is settled, and cancelled_tasks() complete, on return.
     *
     * On a user's io_context that has stopped, or that the calling thread runs, no reply can be
     * read: the pool then stops its workers itself (idle ones run their finalizer and exit,
     * busy ones are killed and their tasks cancelled) and reaps them.
     */
    bool shutdown();

    /// Throws pool_closed_error when closed (even if broken too), else the broken pool's error.
    void check() const;

    /**
     * Builds a replica of this pool with the same options and one worker, runs a task, a map and
     * a starmap of a function the library registers itself, and joins the replica, so that
     * initializer and finalizer failures surface here as initializer_error / finalizer_error.
     * Throws pool_closed_error on a closed pool.
     */
    void test() const;

    /// Whether shutdown() has begun (also by the destructor or at program exit).
    bool is_closed() const;
    /// Closed and every worker process has exited.
    bool is_terminated() const;
    /// An initializer or finalizer failed; see check().
    bool is_broken() const;
    /// Ids of the tasks that shutdown (or breaking) cancelled.
    std::vector<task_id_t> cancelled_tasks() const;

    /// The options in force (defaults filled in).
    const process_pool_options& options() const noexcept;

    /// Where the pool listens for workers that connect back (command_launcher,
    /// slurm_launcher); nothing for local workers.
    std::optional<net::ip::tcp::endpoint> listen_endpoint() const;

private:
    friend class detail::map_family<process_pool>;

    /// Queues a prepared task (takes one reference); throws like submit().
    void submit_remote(detail::remote_task* t);
    /// Runs a prepared task for a caller about to wait for it (takes one reference).
    void run_remote(detail::remote_task* t);
    bool join_until(std::optional<std::chrono::steady_clock::time_point> deadline);

    template <typename F, typename... Args>
    auto submit_call(bool caller_waits, F&& f, Args&&... args);
    // Calls `before_queued(f)` with the task's future before a worker can take it.
    template <typename R, typename Before = detail::no_before_queued>
    future<R> submit_encoded(const detail::task_entry& entry, detail::call_mode mode,
                             std::size_t items, std::vector<char>&& args,
                             bool caller_waits = false, Before&& before_queued = Before{});
    auto chunk_submitter();

    std::unique_ptr<detail::process_pool_core> core_;
};

/// A process pool of one worker process at most.
class single_process_pool : public process_pool
{
public:
    single_process_pool() : process_pool(std::size_t{1}) {}
};

/// A process pool of two worker processes at most.
class dual_process_pool : public process_pool
{
public:
    dual_process_pool() : process_pool(std::size_t{2}) {}
};

/// A process pool of three worker processes at most.
class triple_process_pool : public process_pool
{
public:
    triple_process_pool() : process_pool(std::size_t{3}) {}
};

/// A process pool of four worker processes at most.
class quad_process_pool : public process_pool
{
public:
    quad_process_pool() : process_pool(std::size_t{4}) {}
};

/**
 * Runs the registered function `f(args...)` on a process pool and completes on the caller's
 * side, as async_run does for thread pools.
 *
 * @par Completion Signature
 * `void(std::exception_ptr, R)` (`void(std::exception_ptr)` when R is void).
 *
 * @par Per-Operation Cancellation
 * terminal, partial and total cancellation cancel the task: a pending one is withdrawn, a
 * running one has its worker process stopped; the operation completes with cancelled_error.
 *
 * The handler runs through its associated executor (default: `system_executor`), never inside
 * this call; the reply is awaited on the pool's I/O executor, not on the caller's thread.
 *
 * @par Thread Safety
 * Safe from any thread, concurrently with any other use of the pool. The arguments are
 * serialised before this call returns.
 */
template <typename Pool, typename F, typename... ArgsAndToken>
    requires(std::derived_from<std::remove_cvref_t<Pool>, process_pool> &&
             sizeof...(ArgsAndToken) >= 1)
auto async_run(Pool& pool, F&& f, ArgsAndToken&&... args_and_token);

} // namespace asio_pal

#include "asio_pal/impl/process_pool.hpp"

#endif // ASIO_PAL_PROCESS_POOL_HPP
