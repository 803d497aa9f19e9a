//
// src/wire.cpp
//

#include "asio_pal/impl/wire.ipp"
