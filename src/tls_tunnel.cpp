//
// src/tls_tunnel.cpp
//

#include "asio_pal/impl/tls_tunnel.ipp"
