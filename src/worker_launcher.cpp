//
// src/worker_launcher.cpp
//

#include "asio_pal/impl/worker_launcher.ipp"
