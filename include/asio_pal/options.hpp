//
// asio_pal/options.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Options shared by every pool kind.
//

#ifndef ASIO_PAL_OPTIONS_HPP
#define ASIO_PAL_OPTIONS_HPP

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>

namespace asio_pal {

/// The idle timeout used when none is given: 60 seconds, as in asyncpal.
inline constexpr std::chrono::nanoseconds default_idle_timeout = std::chrono::seconds(60);

/// The largest `max_workers` a pool accepts; larger values are rejected as a mistake.
inline constexpr std::size_t max_workers_limit = 4096;

/**
 * Options of a thread pool (an aggregate; designated initializers read best).
 *
 * @code
 * asio_pal::thread_pool pool(asio_pal::pool_options{
 *     .max_workers = 4, .name = "cpu", .idle_timeout = std::chrono::seconds(5)});
 * @endcode
 */
struct pool_options
{
    /// Upper bound on live workers; 0 means hardware threads + 5.
    std::size_t max_workers = 0;

    /// Pool name, used for thread names and diagnostics; empty means the pool kind
    /// ("thread_pool").
    std::string name{};

    /// How long a worker waits for work before it retires. Empty: never retire; 0: retire as
    /// soon as the queue is empty.
    std::optional<std::chrono::nanoseconds> idle_timeout = default_idle_timeout;

    /// Runs in each worker before its first task. An exception breaks the pool.
    std::function<void()> initializer{};

    /// Runs in each worker before it exits. An exception breaks the pool.
    std::function<void()> finalizer{};

    /// A worker retires after this many tasks and is replaced on demand; 0 means unlimited.
    std::size_t max_tasks_per_worker = 0;

    /// Receives exceptions that escape fire-and-forget work (executor `post`, `dispatch`,
    /// `defer`) and future callbacks. Empty: report on stderr with the pool's name.
    std::function<void(std::exception_ptr)> on_task_exception{};
};

namespace detail {

/// Checks `o` and fills in defaults; throws std::invalid_argument naming the bad field.
pool_options resolve_options(pool_options o, std::size_t default_max_workers);

/// hardware_concurrency(), at least 1.
std::size_t hardware_threads() noexcept;

} // namespace detail
} // namespace asio_pal

#endif // ASIO_PAL_OPTIONS_HPP
