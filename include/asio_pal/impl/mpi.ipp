//
// asio_pal/impl/mpi.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_MPI_IPP
#define ASIO_PAL_IMPL_MPI_IPP

#include "asio_pal/detail/wire.hpp"
#include "asio_pal/detail/worker_protocol.hpp"
#include "asio_pal/mpi.hpp"

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <mpi.h>

namespace asio_pal {

namespace {

/// The longest rendezvous message a worker rank accepts.
constexpr int max_rendezvous_size = 1 << 20;

void check_mpi(int rc, const char* what)
{
    if (rc != MPI_SUCCESS)
    {
        char text[MPI_MAX_ERROR_STRING] = {};
        int n = 0;
        MPI_Error_string(rc, text, &n);
        throw std::runtime_error(std::string("asio_pal: ") + what + ": " + text);
    }
}

} // namespace

mpi_workers::mpi_workers(int& argc, char**& argv)
{
    int done = 0;
    check_mpi(MPI_Initialized(&done), "MPI_Initialized");
    if (!done)
    {
        check_mpi(MPI_Init(&argc, &argv), "MPI_Init");
        initialised_here_ = true;
    }
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

mpi_workers::~mpi_workers()
{
    // Once a rank has died, MPI_Finalize may wait for it for good: leave it to the job's end.
    if (initialised_here_ && !lost_->load())
        MPI_Finalize();
}

preset_launcher mpi_workers::launcher(remote_options remote)
{
    if (is_worker())
        throw std::logic_error("asio_pal: mpi_workers::launcher() on worker rank " +
                               std::to_string(rank_) + ": only rank 0 makes the pool");
    if (size_ < 2)
        throw std::logic_error("asio_pal: mpi_workers::launcher(): the job has no other rank "
                               "(start it with mpirun -np 2 or more)");
    preset_launcher l;
    l.workers = static_cast<std::size_t>(size_ - 1);
    l.remote = std::move(remote);
    l.on_worker_lost = [lost = lost_] { lost->store(true); };
    l.rendezvous = [](const rendezvous_info& info) {
        std::vector<char> bytes;
        {
            detail::byte_output_archive ar(bytes);
            ar(info.host, info.port, info.secret_hex, info.tokens,
               static_cast<std::uint64_t>(info.max_frame_size),
               static_cast<std::int64_t>(info.heartbeat_interval.count()), info.pool_name,
               info.tls_fingerprint);
        }
        int size = static_cast<int>(bytes.size());
        check_mpi(MPI_Bcast(&size, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
        check_mpi(MPI_Bcast(bytes.data(), size, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
    };
    return l;
}

int mpi_workers::run_worker()
{
    if (!is_worker())
    {
        std::fprintf(stderr, "asio_pal: mpi_workers::run_worker() on rank 0\n");
        return 64;
    }
    rendezvous_info info;
    try
    {
        int size = 0;
        check_mpi(MPI_Bcast(&size, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
        if (size <= 0 || size > max_rendezvous_size)
            throw std::runtime_error("asio_pal: a rendezvous of " + std::to_string(size) +
                                     " bytes from rank 0");
        std::vector<char> bytes(static_cast<std::size_t>(size));
        check_mpi(MPI_Bcast(bytes.data(), size, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
        std::uint64_t max_frame = 0;
        std::int64_t heartbeat = 0;
        detail::decode(bytes, info.host, info.port, info.secret_hex, info.tokens, max_frame,
                       heartbeat, info.pool_name, info.tls_fingerprint);
        info.max_frame_size = static_cast<std::size_t>(max_frame);
        info.heartbeat_interval = std::chrono::milliseconds(heartbeat);
        if (info.tokens.size() != static_cast<std::size_t>(size_ - 1))
            throw std::runtime_error("asio_pal: the rendezvous names " +
                                     std::to_string(info.tokens.size()) + " workers, the job has " +
                                     std::to_string(size_ - 1));
    }
    catch (const std::exception& e)
    {
        std::fprintf(stderr, "asio_pal: worker rank %d: %s\n", rank_, e.what());
        return 69;
    }
    return detail::serve_pool_at(info.host, info.port, info.secret_hex,
                                 info.tokens[static_cast<std::size_t>(rank_ - 1)],
                                 info.max_frame_size, info.heartbeat_interval, info.pool_name,
                                 info.tls_fingerprint, detail::session_descriptors::own);
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_MPI_IPP
