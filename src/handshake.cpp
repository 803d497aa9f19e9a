//
// src/handshake.cpp
//

#include "asio_pal/impl/handshake.ipp"

#include "asio_pal/impl/handshake_worker.ipp"
