//
// asio_pal/impl/node_memory.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_NODE_MEMORY_IPP
#define ASIO_PAL_IMPL_NODE_MEMORY_IPP

#include "asio_pal/detail/node_memory.hpp"

#include <atomic>
#include <new>

namespace asio_pal::detail {

namespace {

/// A free block's first bytes.
struct free_block
{
    free_block* next;
};

/// The stack that workers push freed blocks onto; its count is a soft limit (an exchange
/// resets it while pushes may still land: they are taken with the next exchange).
struct shared_stack
{
    alignas(64) std::atomic<free_block*> head{nullptr};
    std::atomic<std::size_t> count{0};
};

shared_stack& shared() noexcept
{
    static shared_stack s; // constant-initialised: no guard, and it outlives every pool
    return s;
}

/// What this thread took from the shared stack; freed when the thread exits.
struct local_list
{
    free_block* head = nullptr;
    bool gone = false; ///< destroyed: a post from a later thread-exit hook uses the heap

    ~local_list()
    {
        gone = true;
        while (free_block* b = head)
        {
            head = b->next;
            ::operator delete(b);
        }
    }
};

thread_local local_list local;

} // namespace

void* node_memory::allocate()
{
    free_block* b = local.head;
    if (!b)
    {
        if (local.gone)
            return ::operator new(block_size);
        shared_stack& s = shared();
        if (s.head.load(std::memory_order_relaxed))
        {
            b = s.head.exchange(nullptr, std::memory_order_acquire);
            s.count.store(0, std::memory_order_relaxed);
        }
        if (!b)
            return ::operator new(block_size);
    }
    local.head = b->next;
    return b;
}

void node_memory::deallocate(void* p) noexcept
{
    shared_stack& s = shared();
    if (s.count.load(std::memory_order_relaxed) >= shared_limit)
    {
        ::operator delete(p);
        return;
    }
    s.count.fetch_add(1, std::memory_order_relaxed);
    auto* b = static_cast<free_block*>(p);
    free_block* head = s.head.load(std::memory_order_relaxed);
    do
        b->next = head; // only this block is written: pushing needs no look at `head`
    while (!s.head.compare_exchange_weak(head, b, std::memory_order_release,
                                         std::memory_order_relaxed));
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_NODE_MEMORY_IPP
