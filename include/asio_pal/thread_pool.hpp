//
// asio_pal/thread_pool.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// An elastic thread pool that is an Asio execution context.
//

#ifndef ASIO_PAL_THREAD_POOL_HPP
#define ASIO_PAL_THREAD_POOL_HPP

#include "asio_pal/detail/thread_pool_core.hpp"
#include "asio_pal/future.hpp"
#include "asio_pal/map.hpp"
#include "asio_pal/options.hpp"

#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

namespace asio_pal {

namespace net = boost::asio;

class thread_pool;

namespace detail {
/// The library's way into a pool's core.
struct pool_access
{
    static thread_pool_core& core(thread_pool& p) noexcept;
};
} // namespace detail

/**
 * An elastic pool of threads: workers start on demand up to `max_workers` and retire after
 * `idle_timeout` without work, so a long-lived pool costs nothing while the program is quiet.
 *
 * It is an Asio execution context: its executor works with `post`, `dispatch`, `defer`,
 * `co_spawn`, strands, `bind_executor` and `any_io_executor`. Tasks given to submit() yield a
 * future<T>.
 *
 * Destruction = shutdown(): pending tasks are cancelled, running ones finish. One of the pool's
 * own tasks may destroy it (drop its last owner): the destructor then waits for the other
 * workers, and the destroying task's worker leaves the pool when that task returns.
 *
 * @par Thread Safety
 * Every member function may be called concurrently, except the destructor.
 */
class thread_pool : public net::execution_context, public detail::map_family<thread_pool>
{
public:
    template <typename Allocator, std::uint32_t Bits>
    class basic_executor_type;

    /// The executor type: a standard Asio executor running functions on the pool's workers.
    using executor_type = basic_executor_type<std::allocator<void>, 0>;

    /// A pool with default options (hardware threads + 5 workers, 60 s idle timeout).
    thread_pool();
    /// A pool of at most `max_workers` workers (0 = default), other options default.
    explicit thread_pool(std::size_t max_workers);
    /// A pool with the given options; throws std::invalid_argument naming a bad field.
    explicit thread_pool(pool_options options);

    /// Shuts the pool down (see shutdown()) and destroys the context's services.
    ~thread_pool();

    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    /// The pool's executor. Posted functions run on the same elastic workers as tasks; an
    /// exception escaping one goes to `on_task_exception` (with blocking.always, to the caller).
    executor_type get_executor() noexcept;

    /**
     * Queues `f(args...)` (arguments decay-copied) and returns its future.
     * Throws pool_closed_error on a closed pool and the stored error on a broken one.
     */
    template <typename F, typename... Args>
    future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> submit(F&& f,
                                                                              Args&&... args);

    /// submit() then collect(); holds no pool lock while waiting.
    template <typename F, typename... Args>
    std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...> run(F&& f, Args&&... args);

    // The map family (map, map_all, map_unordered, map_all_unordered, starmap, starmap_all,
    // starmap_unordered, starmap_all_unordered) comes from detail::map_family.

    /// Live workers (0 when closed).
    std::size_t count_workers() const;
    /// Workers running a task (0 when closed).
    std::size_t count_busy_workers() const;
    /// Workers neither running a task nor retiring (0 when closed).
    std::size_t count_free_workers() const;
    /// Tasks queued and not yet started (0 when closed).
    std::size_t count_pending_tasks() const;

    /// Starts the workers that queued work needs; returns how many.
    std::size_t spawn_workers();
    /// Starts up to `n` workers, never beyond max_workers; returns how many.
    std::size_t spawn_workers(std::size_t n);

    /**
     * Waits until every queued and running task (and all outstanding executor work) is done
     * and the workers have exited. The pool stays open: work submitted meanwhile is run too.
     * Throws std::logic_error when called from one of the pool's own workers.
     */
    bool join();
    /// As join(), but gives up after `timeout` and returns false; the pool keeps running.
    template <typename Rep, typename Period>
    bool join(std::chrono::duration<Rep, Period> timeout);

    /**
     * Closes the pool, cancels pending tasks (their futures end cancelled; see
     * cancelled_tasks()), waits for running tasks and stops the workers. Returns false when the
     * pool was already closed (it still waits for the workers to stop).
     */
    bool shutdown();

    /// Throws pool_closed_error when closed, or the broken pool's error.
    void check() const;

    /**
     * Builds a replica of this pool with the same options and one worker, runs a task, a map and
     * a starmap through it and joins it, so that initializer and finalizer failures surface here as
     * initializer_error / finalizer_error. Throws pool_closed_error on a closed pool.
     */
    void test() const;

    /// Whether shutdown() has begun (also by the destructor or at program exit).
    bool is_closed() const;
    /// Closed and every worker has exited.
    bool is_terminated() const;
    /// An initializer or finalizer failed; see check().
    bool is_broken() const;
    /// Ids of the tasks that shutdown (or breaking) cancelled.
    std::vector<task_id_t> cancelled_tasks() const;

    /// The options in force (defaults filled in).
    const pool_options& options() const noexcept { return core_->options(); }

private:
    template <typename Allocator, std::uint32_t Bits>
    friend class basic_executor_type;
    friend struct detail::pool_access;
    friend class detail::map_family<thread_pool>;

    /// The map family's way to submit one chunk to this pool.
    auto chunk_submitter();

    std::unique_ptr<detail::thread_pool_core> core_;
};

/**
 * The executor of a thread_pool. Copies compare equal when they refer to the same pool with the
 * same properties. `Bits` carries outstanding_work.tracked.
 */
template <typename Allocator, std::uint32_t Bits>
class thread_pool::basic_executor_type
{
public:
    /// `Bits` flag: outstanding_work.tracked (the executor keeps join() waiting while it lives).
    static constexpr std::uint32_t tracked_bit = 1;
    /// Property flag: blocking.never.
    static constexpr std::uint32_t blocking_never_bit = 2;
    /// Property flag: relationship.continuation.
    static constexpr std::uint32_t continuation_bit = 4;
    /// Property flag: blocking.always.
    static constexpr std::uint32_t blocking_always_bit = 8;

    /// A copy; a tracked copy counts as outstanding work too.
    basic_executor_type(const basic_executor_type& o) noexcept
        : pool_(o.pool_), allocator_(o.allocator_), bits_(o.bits_)
    {
        if constexpr ((Bits & tracked_bit) != 0)
            if (pool_)
                pool_->core_->work_started();
    }

    /// Takes over `o`'s outstanding work, if tracked.
    basic_executor_type(basic_executor_type&& o) noexcept
        : pool_(o.pool_), allocator_(std::move(o.allocator_)), bits_(o.bits_)
    {
        if constexpr ((Bits & tracked_bit) != 0)
            o.pool_ = nullptr;
    }

    /// Ends the outstanding work a tracked executor counts.
    ~basic_executor_type() { release_work(); }

    /// As copying; a tracked executor ends the work it counted.
    basic_executor_type& operator=(const basic_executor_type& o) noexcept
    {
        if (this != &o)
        {
            basic_executor_type copy(o);
            *this = std::move(copy);
        }
        return *this;
    }

    /// As moving; a tracked executor ends the work it counted.
    basic_executor_type& operator=(basic_executor_type&& o) noexcept
    {
        if (this != &o)
        {
            release_work();
            pool_ = o.pool_;
            allocator_ = std::move(o.allocator_);
            bits_ = o.bits_;
            if constexpr ((Bits & tracked_bit) != 0)
                o.pool_ = nullptr;
        }
        return *this;
    }

    // Properties, for boost::asio::require / prefer / query.

    /// execute() may run the function inline when called on one of the pool's workers (the
    /// default).
    basic_executor_type require(net::execution::blocking_t::possibly_t) const
    {
        return basic_executor_type(pool_, allocator_, bits_ & ~blocking_bits);
    }
    /// execute() always queues the function (as post does).
    basic_executor_type require(net::execution::blocking_t::never_t) const
    {
        return basic_executor_type(pool_, allocator_,
                                   (bits_ & ~blocking_bits) | blocking_never_bit);
    }
    /// execute() returns once the function has run: inline on one of the pool's workers, else
    /// on a worker while the caller waits. An exception the function throws reaches the caller.
    basic_executor_type require(net::execution::blocking_t::always_t) const
    {
        return basic_executor_type(pool_, allocator_,
                                   (bits_ & ~blocking_bits) | blocking_always_bit);
    }
    /// The function is a new piece of work (the default).
    basic_executor_type require(net::execution::relationship_t::fork_t) const
    {
        return basic_executor_type(pool_, allocator_, bits_ & ~continuation_bit);
    }
    /// The function continues the caller (as defer does).
    basic_executor_type require(net::execution::relationship_t::continuation_t) const
    {
        return basic_executor_type(pool_, allocator_, bits_ | continuation_bit);
    }
    /// An executor that counts as outstanding work while it lives: join() waits for it.
    basic_executor_type<Allocator, Bits | tracked_bit>
    require(net::execution::outstanding_work_t::tracked_t) const
    {
        return basic_executor_type<Allocator, Bits | tracked_bit>(pool_, allocator_, bits_);
    }
    /// An executor that does not count as outstanding work (the default).
    basic_executor_type<Allocator, Bits & ~tracked_bit>
    require(net::execution::outstanding_work_t::untracked_t) const
    {
        return basic_executor_type<Allocator, Bits & ~tracked_bit>(pool_, allocator_, bits_);
    }
    /// An executor that allocates queued functions with `a`'s allocator.
    template <typename OtherAllocator>
    basic_executor_type<OtherAllocator, Bits>
    require(net::execution::allocator_t<OtherAllocator> a) const
    {
        return basic_executor_type<OtherAllocator, Bits>(pool_, a.value(), bits_);
    }
    /// An executor that allocates queued functions with `std::allocator`.
    basic_executor_type<std::allocator<void>, Bits> require(net::execution::allocator_t<void>) const
    {
        return basic_executor_type<std::allocator<void>, Bits>(pool_, std::allocator<void>(),
                                                               bits_);
    }

    /// mapping.thread: functions run on threads of their own (the workers).
    static constexpr net::execution::mapping_t query(net::execution::mapping_t) noexcept
    {
        return net::execution::mapping.thread;
    }
    /// The pool.
    thread_pool& query(net::execution::context_t) const noexcept { return *pool_; }
    /// The blocking property required (possibly by default).
    net::execution::blocking_t query(net::execution::blocking_t) const noexcept
    {
        if (bits_ & blocking_always_bit)
            return net::execution::blocking.always;
        return (bits_ & blocking_never_bit)
                   ? net::execution::blocking_t(net::execution::blocking.never)
                   : net::execution::blocking_t(net::execution::blocking.possibly);
    }
    /// The relationship property required (fork by default).
    net::execution::relationship_t query(net::execution::relationship_t) const noexcept
    {
        return (bits_ & continuation_bit)
                   ? net::execution::relationship_t(net::execution::relationship.continuation)
                   : net::execution::relationship_t(net::execution::relationship.fork);
    }
    /// Whether this executor type tracks outstanding work (untracked by default).
    static constexpr net::execution::outstanding_work_t
    query(net::execution::outstanding_work_t) noexcept
    {
        return (Bits & tracked_bit)
                   ? net::execution::outstanding_work_t(net::execution::outstanding_work.tracked)
                   : net::execution::outstanding_work_t(
                         net::execution::outstanding_work.untracked);
    }
    /// The allocator of queued functions.
    template <typename OtherAllocator>
    Allocator query(net::execution::allocator_t<OtherAllocator>) const noexcept
    {
        return allocator_;
    }
    /// The allocator of queued functions.
    Allocator query(net::execution::allocator_t<void>) const noexcept { return allocator_; }
    /// The pool's max_workers: how many functions can run at once.
    std::size_t query(net::execution::occupancy_t) const noexcept
    {
        return pool_->options().max_workers;
    }

    /// Whether the calling thread is one of the pool's workers.
    bool running_in_this_thread() const noexcept { return pool_->core_->running_in_this_thread(); }

    friend bool operator==(const basic_executor_type& a, const basic_executor_type& b) noexcept
    {
        return a.pool_ == b.pool_ && a.allocator_ == b.allocator_ && a.bits_ == b.bits_;
    }
    friend bool operator!=(const basic_executor_type& a, const basic_executor_type& b) noexcept
    {
        return !(a == b);
    }

    /**
     * Runs `f` on the pool: inline when possibly-blocking and called on a worker, else queued.
     * `f` is called as a non-const lvalue. An exception escaping a queued or inline
     * possibly-blocking call goes to `on_task_exception` (Asio's pool does not return it to the
     * caller of dispatch either: it rethrows it from the pool's run loop). With blocking.always
     * the call is synchronous and the exception propagates to the caller; on a closed or broken
     * pool, or when shutdown drops the queued function, the caller gets pool_closed_error or the
     * broken pool's error.
     */
    template <typename Function>
    void execute(Function&& f) const;

    // The Networking TS executor requirements as well, as boost::asio::thread_pool's executor
    // has them: a strand over this executor (make_strand(pool.get_executor())) and
    // executor_work_guard use them.

    /// The pool.
    thread_pool& context() const noexcept { return *pool_; }
    /// Counts one more piece of outstanding work (join() waits for it).
    void on_work_started() const noexcept { pool_->core_->work_started(); }
    /// Ends a piece of outstanding work counted by on_work_started().
    void on_work_finished() const noexcept { pool_->core_->work_finished(); }

    /// Runs `f` here when called on a worker, else queues it; `a` allocates the queued copy.
    template <typename Function, typename OtherAllocator>
    void dispatch(Function&& f, const OtherAllocator& a) const
    {
        basic_executor_type<OtherAllocator, Bits & ~tracked_bit>(pool_, a, bits_ & ~blocking_bits)
            .execute(std::forward<Function>(f));
    }
    /// Queues `f`, never running it here.
    template <typename Function, typename OtherAllocator>
    void post(Function&& f, const OtherAllocator& a) const
    {
        basic_executor_type<OtherAllocator, Bits & ~tracked_bit>(
            pool_, a, (bits_ & ~blocking_bits) | blocking_never_bit)
            .execute(std::forward<Function>(f));
    }
    /// As post; `f` continues the caller.
    template <typename Function, typename OtherAllocator>
    void defer(Function&& f, const OtherAllocator& a) const
    {
        basic_executor_type<OtherAllocator, Bits & ~tracked_bit>(
            pool_, a, (bits_ & ~blocking_bits) | blocking_never_bit | continuation_bit)
            .execute(std::forward<Function>(f));
    }

private:
    friend class thread_pool;
    template <typename, std::uint32_t>
    friend class basic_executor_type;

    static constexpr std::uint32_t blocking_bits = blocking_never_bit | blocking_always_bit;

    basic_executor_type(thread_pool* p, const Allocator& a, std::uint32_t bits) noexcept
        : pool_(p), allocator_(a), bits_(bits)
    {
        if constexpr ((Bits & tracked_bit) != 0)
            if (pool_)
                pool_->core_->work_started();
    }

    void release_work() noexcept
    {
        if constexpr ((Bits & tracked_bit) != 0)
            if (pool_)
                pool_->core_->work_finished();
    }

    thread_pool* pool_;
    [[no_unique_address]] Allocator allocator_;
    std::uint32_t bits_;
};

/// A thread pool of exactly one worker at most.
class single_thread_pool : public thread_pool
{
public:
    single_thread_pool() : thread_pool(std::size_t{1}) {}
};

/// A thread pool of two workers at most.
class dual_thread_pool : public thread_pool
{
public:
    dual_thread_pool() : thread_pool(std::size_t{2}) {}
};

/// A thread pool of three workers at most.
class triple_thread_pool : public thread_pool
{
public:
    triple_thread_pool() : thread_pool(std::size_t{3}) {}
};

/// A thread pool of four workers at most.
class quad_thread_pool : public thread_pool
{
public:
    quad_thread_pool() : thread_pool(std::size_t{4}) {}
};

} // namespace asio_pal

#include "asio_pal/impl/thread_pool.hpp"

#endif // ASIO_PAL_THREAD_POOL_HPP
