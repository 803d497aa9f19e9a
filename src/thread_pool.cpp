//
// src/thread_pool.cpp
//

#include "asio_pal/impl/thread_pool_core.ipp"
#include "asio_pal/impl/thread_pool.ipp"
