//
// src/thread_pool.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#include "asio_pal/impl/node_memory.ipp"
#include "asio_pal/impl/thread_pool_core.ipp"
#include "asio_pal/impl/thread_pool.ipp"
