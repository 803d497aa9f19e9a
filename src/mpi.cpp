//
// src/mpi.cpp
//

#include "asio_pal/impl/mpi.ipp"
