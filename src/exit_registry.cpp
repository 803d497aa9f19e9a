//
// src/exit_registry.cpp
//

#include "asio_pal/impl/exit_registry.ipp"
