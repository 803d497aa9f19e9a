//
// test/node_memory.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/detail/node_memory.hpp: blocks freed on one thread serve allocations on
// another, and the shared stack keeps no more than its limit. The heap calls of each thread
// are counted by replacing the global operator new and delete in this program.
//

#include "asio_pal/detail/node_memory.hpp"

#define BOOST_TEST_MODULE node_memory
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

namespace d = asio_pal::detail;

namespace {

thread_local std::size_t heap_news = 0;
thread_local std::size_t heap_deletes = 0;
// The first pointers this thread gave back to the heap (recorded without allocating).
thread_local void* heap_deleted[64];

void count_delete(void* p) noexcept
{
    if (!p)
        return;
    if (heap_deletes < std::size(heap_deleted))
        heap_deleted[heap_deletes] = p;
    ++heap_deletes;
}

// Runs `f` on a new thread (whose own list of blocks starts empty) and waits for it.
template <typename F>
void on_new_thread(F f)
{
    std::thread t(f);
    t.join();
}

} // namespace

void* operator new(std::size_t n)
{
    ++heap_news;
    if (void* p = std::malloc(n ? n : 1))
        return p;
    throw std::bad_alloc();
}

void operator delete(void* p) noexcept
{
    count_delete(p);
    std::free(p);
}

void operator delete(void* p, std::size_t) noexcept
{
    count_delete(p);
    std::free(p);
}

BOOST_AUTO_TEST_CASE(a_block_freed_on_one_thread_serves_another)
{
    void* block = nullptr;
    on_new_thread([&] { block = d::node_memory::allocate(); });
    on_new_thread([&] { d::node_memory::deallocate(block); });
    void* again = nullptr;
    std::size_t news = 0;
    on_new_thread([&] {
        again = d::node_memory::allocate();
        news = heap_news;
        d::node_memory::deallocate(again);
    });
    BOOST_TEST(again == block);
    BOOST_TEST(news == 0u);
}

BOOST_AUTO_TEST_CASE(the_shared_stack_keeps_at_most_its_limit)
{
    constexpr std::size_t limit = d::node_memory::shared_limit;
    constexpr std::size_t n = 3 * limit;
    // A new thread's first allocation takes the whole shared stack, and its n allocations use
    // all it took (the stack never holds much more than `limit`): the stack is then empty.
    std::vector<void*> blocks(n);
    on_new_thread([&] {
        for (void*& b : blocks)
            b = d::node_memory::allocate();
    });
    std::size_t deletes = 0;
    on_new_thread([&] {
        for (void* b : blocks)
            d::node_memory::deallocate(b);
        deletes = heap_deletes;
    });
    BOOST_TEST(deletes == n - limit); // beyond the limit, blocks went back to the heap
    std::size_t news = 0;
    on_new_thread([&] {
        for (void*& b : blocks)
            b = d::node_memory::allocate();
        news = heap_news;
        for (void* b : blocks)
            d::node_memory::deallocate(b);
    });
    BOOST_TEST(news == n - limit); // the shared stack served `limit`, the heap the rest
}

BOOST_AUTO_TEST_CASE(a_threads_own_blocks_go_back_to_the_heap_when_it_exits)
{
    // Leave exactly 10 blocks on the shared stack (the first thread's first allocation empties
    // it), then let a thread take them, use one and exit: its exit frees the other 9.
    std::vector<void*> blocks(10);
    on_new_thread([&] {
        for (void*& b : blocks)
            b = d::node_memory::allocate();
    });
    on_new_thread([&] {
        for (void* b : blocks)
            d::node_memory::deallocate(b);
    });
    std::size_t freed_at_exit = 0; // of those 10 blocks
    on_new_thread([&] {
        struct count_at_exit
        {
            const std::vector<void*>& watched;
            std::size_t& out;
            ~count_at_exit()
            {
                for (std::size_t i = 0; i < std::min(heap_deletes, std::size(heap_deleted)); ++i)
                    out += std::count(watched.begin(), watched.end(), heap_deleted[i]);
            }
        };
        // Constructed before the thread's list of blocks, so destroyed after it.
        thread_local count_at_exit probe{blocks, freed_at_exit};
        (void)probe;
        d::node_memory::deallocate(d::node_memory::allocate());
    });
    BOOST_TEST(freed_at_exit == 9u);
}
