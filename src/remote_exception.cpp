//
// src/remote_exception.cpp
//

#include "asio_pal/impl/remote_exception.ipp"
