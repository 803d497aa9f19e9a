//
// test/helpers/process_worker.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A separate worker executable for the process_pool test: it registers `square` (as the test
// does) but not `add`, so a task naming `add` must fail with a clear error, not hang.
//

#include "asio_pal/process_pool.hpp"

int square(int x)
{
    return x * x;
}
ASIO_PAL_REGISTER_TASK(square);

int main(int argc, char** argv)
{
    if (asio_pal::is_worker_process(argc, argv))
        return asio_pal::run_worker(argc, argv);
    return 2; // only ever started by a pool
}
