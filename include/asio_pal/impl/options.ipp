//
// asio_pal/impl/options.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_OPTIONS_IPP
#define ASIO_PAL_IMPL_OPTIONS_IPP

#include "asio_pal/options.hpp"

#include <stdexcept>
#include <string>
#include <thread>

namespace asio_pal::detail {

std::size_t hardware_threads() noexcept
{
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}

pool_options resolve_options(pool_options o, std::size_t default_max_workers)
{
    if (o.max_workers == 0)
        o.max_workers = default_max_workers;
    if (o.max_workers > max_workers_limit)
        throw std::invalid_argument("asio_pal: pool_options.max_workers = " +
                                    std::to_string(o.max_workers) + " exceeds the limit of " +
                                    std::to_string(max_workers_limit));
    if (o.idle_timeout && o.idle_timeout->count() < 0)
        throw std::invalid_argument("asio_pal: pool_options.idle_timeout must not be negative (" +
                                    std::to_string(o.idle_timeout->count()) + " ns)");
    return o;
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_OPTIONS_IPP
