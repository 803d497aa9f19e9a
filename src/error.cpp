//
// src/error.cpp
//

#include "asio_pal/impl/error.ipp"
#include "asio_pal/impl/options.ipp"
