//
// asio_pal/detail/process_policy.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The process pool's decisions that need no processes: how many tasks a worker may hold, and
// how a worker's end reads.
//

#ifndef ASIO_PAL_DETAIL_PROCESS_POLICY_HPP
#define ASIO_PAL_DETAIL_PROCESS_POLICY_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace asio_pal::detail {

/// The most tasks a worker process holds (one running, the rest queued in its pipe).
inline constexpr std::size_t max_tasks_in_flight = 64;

/**
 * How many tasks a worker may hold, from the moving average of its recent task times. Sending
 * several tiny tasks per write is what makes tiny tasks cheap; holding back slow ones keeps
 * them spread over the workers. A worker with no history gets one task.
 */
inline std::size_t in_flight_limit(std::chrono::nanoseconds average_task_time,
                                   bool has_history) noexcept
{
    using namespace std::chrono_literals;
    if (!has_history || average_task_time >= 2ms)
        return 1;
    if (average_task_time >= 200us)
        return 2;
    if (average_task_time >= 20us)
        return 8;
    return max_tasks_in_flight;
}

/// Moves the average task time towards `sample` (weight 1/4).
inline std::chrono::nanoseconds update_average(std::chrono::nanoseconds average,
                                               std::chrono::nanoseconds sample,
                                               bool has_history) noexcept
{
    if (!has_history)
        return sample;
    return average + (sample - average) / 4;
}

/// How many tasks a worker may be given now: up to its in-flight limit, and never beyond
/// max_tasks_per_worker (0 = unlimited) over its life.
inline std::size_t dispatch_capacity(std::size_t in_flight, std::size_t limit, std::size_t sent,
                                     std::size_t max_tasks_per_worker) noexcept
{
    std::size_t room = in_flight >= limit ? 0 : limit - in_flight;
    if (max_tasks_per_worker != 0)
    {
        std::size_t left = sent >= max_tasks_per_worker ? 0 : max_tasks_per_worker - sent;
        if (left < room)
            room = left;
    }
    return room;
}

/**
 * The sequence numbers of one worker's tasks, which its replies must echo. They start at a
 * random point, so a task cannot write a reply on its worker's descriptor that the pool takes
 * for the worker's own: it would have to know its number, which only the worker's frame buffer
 * holds. The low 32 bits, which the cancel signal carries, are never 0 (a worker reads 0 as "no
 * task") and repeat only after 2^32 tasks.
 */
class task_sequence
{
public:
    explicit task_sequence(std::uint64_t start) noexcept : next_(start) {}

    std::uint64_t next() noexcept
    {
        while (static_cast<std::uint32_t>(next_) == 0)
            ++next_;
        return next_++;
    }

private:
    std::uint64_t next_;
};

/// 64 unpredictable bits (the kernel's random source); never 0.
std::uint64_t random_nonzero_u64();

/// "10 s" or "1500 ms", for a message.
inline std::string describe_duration(std::chrono::milliseconds d)
{
    if (d.count() % 1000 == 0)
        return std::to_string(d.count() / 1000) + " s";
    return std::to_string(d.count()) + " ms";
}

/// How a worker process ended, from a wait status.
struct exit_info
{
    int signal = 0;       ///< the terminating signal, or 0
    int exit_status = -1; ///< the exit status, or -1 when killed by a signal
};

/// Decodes a waitpid status.
exit_info decode_wait_status(int status) noexcept;

/// "killed by signal 9 (SIGKILL)" or "exited with status 3".
std::string describe_exit(const exit_info& e);

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_PROCESS_POLICY_HPP
