//
// asio_pal/detail/completion_queue.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Items in the order their tasks finished, filled from worker threads by future callbacks.
// A consumer that finds it empty waits on an "event" future that the next push completes, so
// blocking waits (wait_until) and asynchronous ones (async_wait) share one mechanism.
//

#ifndef ASIO_PAL_DETAIL_COMPLETION_QUEUE_HPP
#define ASIO_PAL_DETAIL_COMPLETION_QUEUE_HPP

#include "asio_pal/detail/task_state.hpp"
#include "asio_pal/future.hpp"

#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace asio_pal::detail {

/// A state completed by hand: the event of a completion_queue.
class manual_state final : public result_state<void>
{
public:
    manual_state() noexcept { mark_submitted(); }

    /// Completes the state (once; later calls do nothing).
    void set() noexcept
    {
        if (claim())
        {
            auto nothing = [] {};
            finish(store_result_of(nothing));
        }
    }

private:
    void execute() noexcept override {}
};

template <typename T>
class completion_queue
{
public:
    void push(T item)
    {
        state_ptr<manual_state> event;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            items_.push_back(std::move(item));
            event = std::move(event_);
        }
        if (event)
            event->set();
    }

    std::optional<T> try_pop()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (items_.empty())
            return std::nullopt;
        T item = std::move(items_.front());
        items_.pop_front();
        return item;
    }

    /// A future that completes at the next push, or at once when items are waiting.
    future<void> next_event()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!event_)
            event_ = state_ptr<manual_state>(new manual_state);
        state_ptr<manual_state> e = event_;
        if (!items_.empty())
        {
            // Complete, and no longer the queue's. Not `event_ = {}`: inside a template, clang 14
            // skips destroying a by-value argument made from `{}`, and the reference leaked.
            state_ptr<manual_state> taken = std::move(event_);
            taken->set();
        }
        return make_future(state_ptr<result_state<void>>(e.detach()));
    }

private:
    std::mutex mutex_;
    std::deque<T> items_;
    state_ptr<manual_state> event_;
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_COMPLETION_QUEUE_HPP
