//
// asio_pal.hpp
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
#include "asio_pal/thread_pool.hpp"

#endif // ASIO_PAL_HPP
