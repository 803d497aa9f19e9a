//
// asio_pal/mpi.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A program started by Open MPI's mpirun: rank 0 runs the program and its process pool, the
// other ranks are the pool's workers. In library asio_pal::mpi (CMake) or /asio_pal//asio_pal_mpi
// (b2), which links MPI; the rest of asio_pal does not.
//

#ifndef ASIO_PAL_MPI_HPP
#define ASIO_PAL_MPI_HPP

#include "asio_pal/launcher.hpp"

#include <atomic>
#include <memory>

namespace asio_pal {

/**
 * The ranks of `mpirun -np N prog` as one process pool: rank 0 is the program, ranks 1 to N-1
 * are the workers of the one pool it makes with launcher(). They learn the pool's address and
 * secret through MPI (a broadcast from rank 0), then connect back over TCP as other remote
 * workers do; tasks never travel through MPI.
 * @code
 * int main(int argc, char** argv)
 * {
 *     asio_pal::mpi_workers mpi(argc, argv); // MPI_Init
 *     if (mpi.is_worker())
 *         return mpi.run_worker();           // ranks 1..N-1, until the pool retires them
 *     asio_pal::process_pool pool(asio_pal::process_pool_options{.launcher = mpi.launcher()});
 *     ...
 * }
 * @endcode
 *
 * The workers are a fixed set (see preset_launcher): none is added or replaced. Rank 0 must
 * make exactly one pool with launcher(): the worker ranks wait for it. Open MPI ends the whole
 * job when one rank dies, unless mpirun runs with `--enable-recovery`; then the pool fails the
 * dead worker's task with worker_died_error and goes on with the others, and rank 0 skips
 * MPI_Finalize (which may hang once a rank has died).
 */
class mpi_workers
{
public:
    /// Initialises MPI unless the program did already (then it also finalises it).
    mpi_workers(int& argc, char**& argv);
    /// Finalises MPI if this object initialised it, unless a worker was lost.
    ~mpi_workers();
    mpi_workers(const mpi_workers&) = delete;
    mpi_workers& operator=(const mpi_workers&) = delete;

    /// This process's rank in MPI_COMM_WORLD (0: the program).
    int rank() const noexcept { return rank_; }
    /// The number of ranks in MPI_COMM_WORLD: the program and size() - 1 workers.
    int size() const noexcept { return size_; }
    /// Whether this rank is a worker (any rank but 0).
    bool is_worker() const noexcept { return rank_ != 0; }

    /// On a worker rank: waits for the pool's address and secret from rank 0, connects back,
    /// serves until retired. Returns the status for main() (0 when retired).
    int run_worker();

    /// On rank 0: the launcher of the one pool whose workers the other ranks are.
    /// Throws std::logic_error on a worker rank, or when there is no other rank.
    preset_launcher launcher(remote_options remote = {});

private:
    int rank_ = 0;
    int size_ = 1;
    bool initialised_here_ = false;
    std::shared_ptr<std::atomic<bool>> lost_ = std::make_shared<std::atomic<bool>>(false);
};

} // namespace asio_pal

#endif // ASIO_PAL_MPI_HPP
