//
// asio_pal/detail/node_memory.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Memory for posted functions, recycled between the threads that post and those that run.
//

#ifndef ASIO_PAL_DETAIL_NODE_MEMORY_HPP
#define ASIO_PAL_DETAIL_NODE_MEMORY_HPP

#include <cstddef>

namespace asio_pal::detail {

/// Blocks of `block_size` bytes for the thread pool's posted functions whose allocator is
/// std::allocator. A function is allocated on the thread that posts it and freed on the worker
/// that runs it; the general-purpose heap makes that hand-over costly. Here the worker pushes
/// the block onto one shared stack (lock-free); a thread that allocates takes from a list of
/// its own, and when that is empty takes the whole shared stack at once (one exchange, so the
/// stack never pops a single block and has no ABA problem).
///
/// Bounded: the shared stack holds about `shared_limit` blocks, beyond which blocks go back to
/// the heap; a thread's own list holds at most what it took, and is freed when the thread exits.
struct node_memory
{
    static constexpr std::size_t block_size = 128;
    static constexpr std::size_t shared_limit = 512;

    /// A block of block_size bytes, aligned for any fundamental type. Throws std::bad_alloc.
    static void* allocate();
    /// Any thread; `p` came from allocate(), on any thread.
    static void deallocate(void* p) noexcept;
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_NODE_MEMORY_HPP
