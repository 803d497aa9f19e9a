//
// src/task_state.cpp
//

#include "asio_pal/impl/task_state.ipp"
