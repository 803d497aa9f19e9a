//
// asio_pal/detail/handler_work.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A completion handler held while its operation is pending: keeps work counted on the handler's
// associated executor and completes through that executor, never inline.
//

#ifndef ASIO_PAL_DETAIL_HANDLER_WORK_HPP
#define ASIO_PAL_DETAIL_HANDLER_WORK_HPP

#include "asio_pal/detail/task_state.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_executor.hpp>

#include <tuple>
#include <utility>

namespace asio_pal::detail {

namespace net = boost::asio;

/// Cancellation types an operation that can withdraw its work without side effects honours.
inline constexpr net::cancellation_type withdrawable_cancellation =
    net::cancellation_type::terminal | net::cancellation_type::partial |
    net::cancellation_type::total;

template <typename Handler, typename DefaultExecutor = net::system_executor>
class handler_work
{
public:
    using executor_type = net::associated_executor_t<Handler, DefaultExecutor>;

    handler_work(Handler&& h, const DefaultExecutor& fallback = DefaultExecutor())
        : work_(net::get_associated_executor(h, fallback)), handler_(std::move(h))
    {
    }

    /// The handler's cancellation slot (read it before anything moves the handler).
    net::cancellation_slot slot() const noexcept
    {
        return net::get_associated_cancellation_slot(handler_);
    }

    /// Installs a cancellation handler in the handler's slot, when it has one. The slot is
    /// cleared on the handler's executor right before the handler runs.
    template <typename CancelHandler, typename... Args>
    void install_cancellation(Args&&... args)
    {
        net::cancellation_slot s = slot();
        if (s.is_connected())
        {
            s.template emplace<CancelHandler>(std::forward<Args>(args)...);
            slot_ = s;
        }
    }

    /// Completes with `args` through the handler's executor: dispatched when `post` is false
    /// (the caller is a worker, not the initiating function), else posted. Always posted from
    /// inside a cancel(): the handler could otherwise run, and destroy its operation, while the
    /// canceller is still using it.
    template <typename... Args>
    void complete(bool post, Args&&... args)
    {
        auto ex = work_.get_executor();
        auto f = [h = std::move(handler_), slot = slot_,
                  a = std::make_tuple(std::forward<Args>(args)...)]() mutable {
            if (slot.is_connected())
                slot.clear();
            std::apply(std::move(h), std::move(a));
        };
        if (post || inside_cancel())
            net::post(ex, std::move(f));
        else
            net::dispatch(ex, std::move(f));
        work_.reset();
    }

private:
    net::executor_work_guard<executor_type> work_;
    Handler handler_;
    net::cancellation_slot slot_;
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_HANDLER_WORK_HPP
