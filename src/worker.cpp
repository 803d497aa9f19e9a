//
// src/worker.cpp
//

#include "asio_pal/impl/worker.ipp"
