//
// src/registry.cpp
//

#include "asio_pal/impl/task_registry.ipp"
