//
// src/pool_support.cpp
//

#include "asio_pal/impl/pool_support.ipp"
