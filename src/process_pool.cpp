//
// src/process_pool.cpp
//

#include "asio_pal/impl/process_pool.ipp"
