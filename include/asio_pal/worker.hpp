//
// asio_pal/worker.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The child side of a process pool: the entry point a worker executable calls from main().
//

#ifndef ASIO_PAL_WORKER_HPP
#define ASIO_PAL_WORKER_HPP

namespace asio_pal {

/**
 * Whether this process was started as a process pool's worker. The first lines of main() of
 * every program that uses a process pool (and of a separate worker executable):
 * @code
 * int main(int argc, char** argv)
 * {
 *     if (asio_pal::is_worker_process(argc, argv))
 *         return asio_pal::run_worker(argc, argv);
 *     ...
 * }
 * @endcode
 */
bool is_worker_process(int argc, char** argv) noexcept;

/**
 * Serves the parent pool until it retires this worker (returns 0) or goes away. Runs the
 * registered functions the parent sends; their output to stdout and stderr goes where the
 * parent's goes. Returns a non-zero status when started incorrectly.
 */
int run_worker(int argc, char** argv);

} // namespace asio_pal

#endif // ASIO_PAL_WORKER_HPP
