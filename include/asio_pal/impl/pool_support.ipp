//
// asio_pal/impl/pool_support.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_POOL_SUPPORT_IPP
#define ASIO_PAL_IMPL_POOL_SUPPORT_IPP

#include "asio_pal/detail/pool_support.hpp"

#include <cstdio>

namespace asio_pal::detail {

std::string describe(std::exception_ptr e)
{
    try
    {
        std::rethrow_exception(e);
    }
    catch (const std::exception& ex)
    {
        return ex.what();
    }
    catch (...)
    {
        return "unknown exception";
    }
}

void report_pool_exception(const std::function<void(std::exception_ptr)>& hook,
                           const std::string& pool, std::exception_ptr e) noexcept
{
    if (hook)
    {
        try
        {
            hook(e);
            return;
        }
        catch (...)
        {
            e = std::current_exception(); // the hook itself failed: report that instead
        }
    }
    std::string what;
    try
    {
        what = describe(e);
    }
    catch (...)
    {
    }
    std::fprintf(stderr, "asio_pal: pool '%s': exception escaped a task: %s\n", pool.c_str(),
                 what.c_str());
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_POOL_SUPPORT_IPP
