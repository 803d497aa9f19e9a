//
// asio_pal.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Umbrella header: every public header of asio_pal.
//

#ifndef ASIO_PAL_HPP
#define ASIO_PAL_HPP

#include "asio_pal/async_run.hpp"
#include "asio_pal/error.hpp"
#include "asio_pal/future.hpp"
#include "asio_pal/futures.hpp"
#include "asio_pal/map.hpp"
#include "asio_pal/options.hpp"
#include "asio_pal/process_pool.hpp"
#include "asio_pal/registry.hpp"
#include "asio_pal/remote_exception.hpp"
#include "asio_pal/thread_pool.hpp"
#include "asio_pal/version.hpp"
#include "asio_pal/worker.hpp"

#endif // ASIO_PAL_HPP
