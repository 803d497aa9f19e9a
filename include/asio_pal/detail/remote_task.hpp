//
// asio_pal/detail/remote_task.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A task of a process pool: its future's state plus the serialised call, and the decoding of
// the worker's reply.
//

#ifndef ASIO_PAL_DETAIL_REMOTE_TASK_HPP
#define ASIO_PAL_DETAIL_REMOTE_TASK_HPP

#include "asio_pal/detail/remote_exception.hpp"
#include "asio_pal/detail/task_registry.hpp"
#include "asio_pal/detail/task_state.hpp"
#include "asio_pal/error.hpp"

#include <atomic>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace asio_pal::detail {

/// The process-pool side of a task: what to send, and how to take the reply.
class remote_task
{
public:
    remote_task* next_ = nullptr;

    remote_task(const task_entry& entry, call_mode mode, std::size_t items = 1) noexcept
        : entry_(&entry), mode_(mode), items_(items)
    {
    }
    remote_task(const remote_task&) = delete;
    remote_task& operator=(const remote_task&) = delete;

    const task_entry& entry() const noexcept { return *entry_; }
    call_mode mode() const noexcept { return mode_; }
    /// How many items the call carries (a chunk's; 1 otherwise): a reply may not hold more.
    std::size_t items() const noexcept { return items_; }
    std::vector<char>& arguments() noexcept { return args_; }

    virtual state_base& state() noexcept = 0;

    /// Settles the task from a result frame's body (failed with protocol_error when the body
    /// cannot be decoded). No-op when already settled (cancelled meanwhile).
    virtual void deliver(std::span<const char> body) noexcept = 0;
    /// Settles the task as failed with `e`; no-op when already settled.
    virtual void fail(std::exception_ptr e) noexcept = 0;
    /// Settles a running task as cancelled; false when already settled.
    virtual bool cancel_running() noexcept = 0;

    /// Whether the outcome is decided (only the first settler publishes it).
    bool is_settled() const noexcept { return settled_.load(std::memory_order_acquire); }

protected:
    ~remote_task() = default;

    bool begin_settle() noexcept { return !settled_.exchange(true, std::memory_order_acq_rel); }

private:
    const task_entry* entry_;
    call_mode mode_;
    std::size_t items_;
    std::vector<char> args_;
    std::atomic<bool> settled_{false};
};

/// Wraps a decoding failure of a reply as a protocol_error naming the task.
std::exception_ptr undecodable_reply(const task_entry& entry, std::exception_ptr cause) noexcept;

/// Decodes the reply body for a result of type T (chunk results carry values and an error).
template <typename T>
struct reply_decoder
{
    static T decode(std::span<const char> body, std::size_t) { return decode_result<T>(body); }
};

template <typename R>
struct reply_decoder<chunk_result<R>>
{
    static chunk_result<R> decode(std::span<const char> body, std::size_t items)
    {
        chunk_result<R> r;
        std::span<const char> rest = decode_chunk_values<R>(body, r.values, items);
        byte_input_archive ar(rest);
        bool failed = false;
        ar(failed);
        if (failed)
        {
            remote_exception_info info;
            ar(info);
            r.error = rebuild_exception(info);
        }
        if (ar.remaining() != 0)
            throw decode_error("asio_pal: trailing bytes after a chunk reply");
        return r;
    }
};

/// The state of a process-pool task returning T.
template <typename T>
class remote_state final : public result_state<T>, public remote_task
{
public:
    remote_state(const task_entry& entry, call_mode mode, std::size_t items = 1) noexcept
        : remote_task(entry, mode, items)
    {
    }

    state_base& state() noexcept override { return *this; }

    void deliver(std::span<const char> body) noexcept override
    {
        if (!begin_settle())
            return;
        auto decode = [&]() -> T {
            try
            {
                if constexpr (std::is_void_v<T>)
                {
                    if (!body.empty())
                        throw decode_error("asio_pal: unexpected bytes in the reply of a void task");
                }
                else
                {
                    return reply_decoder<T>::decode(body, items());
                }
            }
            catch (...)
            {
                std::rethrow_exception(undecodable_reply(entry(), std::current_exception()));
            }
        };
        this->finish(this->store_result_of(decode));
    }

    void fail(std::exception_ptr e) noexcept override
    {
        if (!begin_settle())
            return;
        this->set_error(std::move(e));
        this->finish(task_status::failed);
    }

    bool cancel_running() noexcept override
    {
        if (!begin_settle())
            return false;
        this->finish(task_status::cancelled);
        return true;
    }

private:
    void execute() noexcept override
    {
        // Process tasks are never run by a local worker: claim() only marks them running.
    }
};

/// A state born failed: what a refused operation completes with.
template <typename T>
class failed_state final : public result_state<T>
{
public:
    explicit failed_state(std::exception_ptr e) noexcept
    {
        this->set_error(std::move(e));
        this->finish(task_status::failed);
    }

private:
    void execute() noexcept override {}
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_REMOTE_TASK_HPP
