//
// asio_pal/detail/free_node_queue.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Recycled memory for task nodes and task states. A pool's nodes are allocated on the submitting
// thread and freed on a worker (posted functions) or the other way round (a future's state is
// often freed where it was collected): through malloc, each crosses arenas and costs about 250
// instructions a task, more than the rest of a post. Here freed blocks go to a cache of the
// freeing thread; a full batch of them goes to a process-wide queue of free batches, from which
// a thread whose cache is empty takes a whole batch. One lock per batch, not per task.
//

#ifndef ASIO_PAL_DETAIL_FREE_NODE_QUEUE_HPP
#define ASIO_PAL_DETAIL_FREE_NODE_QUEUE_HPP

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define ASIO_PAL_RECYCLE_NODES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASIO_PAL_RECYCLE_NODES 0
#endif
#endif
#ifndef ASIO_PAL_RECYCLE_NODES
/// 1: task nodes and states are recycled (free_node_queue.hpp); 0: plain operator new, so that
/// AddressSanitizer sees every use after free (a recycled block would hide it).
#define ASIO_PAL_RECYCLE_NODES 1
#endif

namespace asio_pal::detail {

/// Size classes and batch sizes of the recycler.
struct free_node_limits
{
    static constexpr std::size_t classes = 4; ///< 64, 128, 256, 512 bytes
    static constexpr std::size_t smallest = 64;
    static constexpr std::size_t largest = smallest << (classes - 1);
    static constexpr std::size_t batch = 64;          ///< blocks moved at once
    static constexpr std::size_t shared_batches = 32; ///< per class, kept process-wide
    /// Blocks are those of operator new(size_t): at most this alignment.
    static constexpr std::size_t alignment = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

    /// The class of a block of `n` bytes, or `classes` when it is not recycled.
    static constexpr std::size_t class_of(std::size_t n) noexcept
    {
        std::size_t c = 0;
        for (std::size_t size = smallest; c < classes; ++c, size <<= 1)
            if (n <= size)
                return c;
        return classes;
    }
    static constexpr std::size_t size_of(std::size_t c) noexcept { return smallest << c; }
};

/// A free block's first bytes: the link to the next free block.
struct free_block
{
    free_block* next;
};

/// Free blocks of one class, linked.
struct free_batch
{
    free_block* head = nullptr;
    std::size_t count = 0;

    void push(void* p) noexcept
    {
        auto* b = static_cast<free_block*>(p);
        b->next = head;
        head = b;
        ++count;
    }
    void* pop() noexcept
    {
        free_block* b = head;
        head = b->next;
        --count;
        return b;
    }
    void release() noexcept
    {
        while (head)
            ::operator delete(pop());
    }
};

/// The process-wide queue of full batches, by class. Never destroyed: blocks may be freed during
/// static destruction, after any static object of this header would be gone.
class free_node_queue
{
public:
    static free_node_queue& instance()
    {
        static free_node_queue* q = new free_node_queue;
        return *q;
    }

    /// Keeps a full batch, or frees it when enough are kept already.
    void put(std::size_t c, free_batch b) noexcept
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (count_[c] < free_node_limits::shared_batches)
            {
                batches_[c][count_[c]++] = b;
                return;
            }
        }
        b.release();
    }

    /// A full batch, or an empty one when none is kept.
    free_batch take(std::size_t c) noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_[c] == 0 ? free_batch{} : batches_[c][--count_[c]];
    }

    /// Batches kept for class `c` (for tests).
    std::size_t kept(std::size_t c)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_[c];
    }

private:
    std::mutex mutex_;
    std::size_t count_[free_node_limits::classes] = {};
    free_batch batches_[free_node_limits::classes][free_node_limits::shared_batches];
};

/// A thread's own free blocks: per class, the batch being filled or emptied and one full spare
/// (so that a thread alternating frees and allocations at a batch's edge does not go to the
/// shared queue every time). Trivially destructible, so that it stays usable after the thread's
/// destructors ran (a pool destroyed at exit frees nodes then); `closed` then sends every block
/// to operator delete.
struct free_node_cache
{
    free_batch current[free_node_limits::classes];
    free_batch spare[free_node_limits::classes];
    std::uint32_t misses[free_node_limits::classes] = {};
    bool armed = false;  ///< the flusher is registered
    bool closed = false; ///< the thread's destructors ran
    bool open = false;   ///< armed and not closed: frees may take the fast path
};

inline thread_local free_node_cache this_thread_free_nodes{};

/// Gives a thread's cached blocks back when the thread ends.
struct free_node_flusher
{
    bool armed = false;

    ~free_node_flusher()
    {
        if (!armed)
            return;
        free_node_cache& c = this_thread_free_nodes;
        c.closed = true;
        c.open = false;
        for (std::size_t k = 0; k < free_node_limits::classes; ++k)
        {
            if (c.spare[k].count)
                free_node_queue::instance().put(k, c.spare[k]);
            c.spare[k] = {};
            c.current[k].release();
        }
    }
};

inline thread_local free_node_flusher this_thread_free_node_flusher;

/// The slow half of allocate_node: the spare batch, the shared queue, or operator new.
[[gnu::noinline]] inline void* allocate_node_slow(std::size_t k)
{
    free_node_cache& c = this_thread_free_nodes;
    if (c.spare[k].count)
    {
        c.current[k] = c.spare[k];
        c.spare[k] = {};
        return c.current[k].pop();
    }
    // After finding the shared queue empty, a batch's worth of blocks comes from operator new
    // before the next look: a burst that outruns the workers takes no lock per task.
    if (!c.closed && c.misses[k] == 0)
    {
        c.current[k] = free_node_queue::instance().take(k);
        if (c.current[k].count)
            return c.current[k].pop();
        c.misses[k] = free_node_limits::batch;
    }
    if (c.misses[k])
        --c.misses[k];
    return ::operator new(free_node_limits::size_of(k));
}

/// The slow half of deallocate_node: a full batch, a thread's first free, or a thread that has
/// ended.
[[gnu::noinline]] inline void deallocate_node_slow(void* p, std::size_t k) noexcept
{
    free_node_cache& c = this_thread_free_nodes;
    if (c.closed)
    {
        ::operator delete(p);
        return;
    }
    if (!c.armed)
    {
        this_thread_free_node_flusher.armed = true; // its first use registers its destructor
        c.armed = true;
        c.open = true;
    }
    if (c.current[k].count == free_node_limits::batch)
    {
        if (c.spare[k].count)
            free_node_queue::instance().put(k, c.spare[k]);
        c.spare[k] = c.current[k];
        c.current[k] = {};
    }
    c.current[k].push(p);
}

/// Memory for a node or state of `n` bytes (alignment at most free_node_limits::alignment).
inline void* allocate_node(std::size_t n)
{
#if ASIO_PAL_RECYCLE_NODES
    const std::size_t k = free_node_limits::class_of(n);
    if (k < free_node_limits::classes)
    {
        free_batch& b = this_thread_free_nodes.current[k];
        return b.count ? b.pop() : allocate_node_slow(k);
    }
#endif
    return ::operator new(n);
}

/// Gives back a block of allocate_node(n).
inline void deallocate_node(void* p, std::size_t n) noexcept
{
#if ASIO_PAL_RECYCLE_NODES
    const std::size_t k = free_node_limits::class_of(n);
    if (k < free_node_limits::classes)
    {
        free_node_cache& c = this_thread_free_nodes;
        if (c.open && c.current[k].count < free_node_limits::batch)
            c.current[k].push(p);
        else
            deallocate_node_slow(p, k);
        return;
    }
#else
    (void)n;
#endif
    ::operator delete(p);
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_FREE_NODE_QUEUE_HPP
