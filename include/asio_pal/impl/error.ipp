//
// asio_pal/impl/error.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_ERROR_IPP
#define ASIO_PAL_IMPL_ERROR_IPP

#include "asio_pal/error.hpp"

#include <boost/asio/error.hpp>

#include <string>

namespace asio_pal {

namespace {

class pal_category_impl final : public boost::system::error_category
{
public:
    const char* name() const noexcept override { return "asio_pal"; }

    std::string message(int ev) const override
    {
        switch (static_cast<errc>(ev))
        {
        case errc::pool_closed:
            return "the pool is closed";
        case errc::broken_pool:
            return "the pool is broken";
        case errc::initializer_failed:
            return "a worker's initializer failed";
        case errc::finalizer_failed:
            return "a worker's finalizer failed";
        case errc::worker_died:
            return "the worker process died";
        case errc::unregistered_task:
            return "the function is not registered for process pools";
        case errc::remote_failure:
            return "the task failed in a worker process";
        case errc::protocol_error:
            return "a worker process broke the protocol";
        }
        return "asio_pal error " + std::to_string(ev);
    }
};

} // namespace

const boost::system::error_category& pal_category() noexcept
{
    static const pal_category_impl category;
    return category;
}

cancelled_error::cancelled_error(const std::string& what)
    : error(boost::asio::error::operation_aborted, what)
{
}

timeout_error::timeout_error(const std::string& what) : error(boost::asio::error::timed_out, what)
{
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_ERROR_IPP
