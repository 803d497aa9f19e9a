//
// example/readme_mpi.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The README's mpirun block, in a program: rank 0 runs main, the other ranks serve its pool.
// Built where asio_pal::mpi is (MPI found); its test runs it as a 3-rank job when mpirun is
// installed. test/readme_blocks.py checks that the README quotes the region byte for byte.
//

#include <asio_pal.hpp>
#include <asio_pal/mpi.hpp>

#include <iostream>

namespace pal = asio_pal;

int triple(int x)
{
    return 3 * x;
}
ASIO_PAL_REGISTER_TASK(triple);

void use(pal::process_pool& pool)
{
    std::cout << "3 * 14 = " << pool.submit(triple, 14).collect() << "\n";
}

// [readme-mpi]
int main(int argc, char** argv)
{
    pal::mpi_workers mpi(argc, argv); // MPI_Init
    if (mpi.is_worker())
        return mpi.run_worker(); // ranks 1..N-1, until retired
    pal::process_pool pool(pal::process_pool_options{.launcher = mpi.launcher()});
    use(pool); // submit, map, async_run as anywhere
}
// [/readme-mpi]
