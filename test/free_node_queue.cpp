//
// test/free_node_queue.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/detail/free_node_queue.hpp, the recycler of task nodes and states: size
// classes, reuse on one thread, blocks freed on one thread and reused on another through the
// shared queue of batches, the bound on that queue, and a thread's cache given back when the
// thread ends. Under AddressSanitizer recycling is off (ASIO_PAL_RECYCLE_NODES is 0) and only
// what holds either way is checked.
//

#include "asio_pal/detail/free_node_queue.hpp"

#define BOOST_TEST_MODULE free_node_queue
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace detail = asio_pal::detail;
using limits = detail::free_node_limits;

namespace {

constexpr bool recycling = ASIO_PAL_RECYCLE_NODES != 0;

std::vector<void*> allocate_many(std::size_t count, std::size_t size)
{
    std::vector<void*> v;
    for (std::size_t i = 0; i < count; ++i)
    {
        void* p = detail::allocate_node(size);
        std::memset(p, static_cast<int>(i & 0xff), size); // the whole block is the caller's
        v.push_back(p);
    }
    return v;
}

void free_all(const std::vector<void*>& v, std::size_t size)
{
    for (void* p : v)
        detail::deallocate_node(p, size);
}

} // namespace

BOOST_AUTO_TEST_CASE(size_classes)
{
    BOOST_TEST(limits::class_of(1) == 0u);
    BOOST_TEST(limits::class_of(64) == 0u);
    BOOST_TEST(limits::class_of(65) == 1u);
    BOOST_TEST(limits::class_of(128) == 1u);
    BOOST_TEST(limits::class_of(256) == 2u);
    BOOST_TEST(limits::class_of(257) == 3u);
    BOOST_TEST(limits::class_of(512) == 3u);
    BOOST_TEST(limits::class_of(513) == limits::classes);
    for (std::size_t c = 0; c < limits::classes; ++c)
        BOOST_TEST(limits::class_of(limits::size_of(c)) == c);
}

BOOST_AUTO_TEST_CASE(live_blocks_are_distinct_and_aligned)
{
    for (std::size_t size : {8u, 64u, 100u, 200u, 500u, 4000u})
    {
        auto v = allocate_many(3 * limits::batch, size);
        std::set<void*> distinct(v.begin(), v.end());
        BOOST_TEST(distinct.size() == v.size());
        for (void* p : v)
            BOOST_TEST(reinterpret_cast<std::uintptr_t>(p) % limits::alignment == 0u);
        free_all(v, size);
    }
}

BOOST_AUTO_TEST_CASE(a_block_freed_on_this_thread_comes_back)
{
    void* p = detail::allocate_node(48);
    detail::deallocate_node(p, 48);
    void* q = detail::allocate_node(40); // same class
    if (recycling)
        BOOST_TEST(q == p);
    detail::deallocate_node(q, 40);
    // Too large to recycle: plain operator new and delete, whatever the build.
    void* big = detail::allocate_node(limits::largest + 1);
    detail::deallocate_node(big, limits::largest + 1);
}

// Blocks allocated on one thread and freed on another (as a posted function's node is) reach a
// third thread through the shared queue of batches, a whole batch at a time.
BOOST_AUTO_TEST_CASE(blocks_freed_on_another_thread_are_reused_through_the_shared_queue)
{
    constexpr std::size_t size = 300; // class 2: nothing else in this program uses it
    const std::size_t c = limits::class_of(size);
    std::vector<void*> blocks;
    std::thread([&] { blocks = allocate_many(3 * limits::batch, size); }).join();
    const std::size_t kept_before = detail::free_node_queue::instance().kept(c);
    // The freeing thread keeps one batch being filled and one spare; the third batch pushes the
    // spare to the shared queue. Its end gives its spare back too.
    std::thread([&] { free_all(blocks, size); }).join();
    const std::size_t kept_after = detail::free_node_queue::instance().kept(c);
    if (!recycling)
    {
        BOOST_TEST(kept_after == kept_before);
        return;
    }
    BOOST_TEST(kept_after == kept_before + 2);
    std::vector<void*> again;
    std::thread([&] { again = allocate_many(limits::batch, size); }).join();
    std::set<void*> freed(blocks.begin(), blocks.end());
    for (void* p : again)
        BOOST_TEST(freed.count(p) == 1u);
    BOOST_TEST(detail::free_node_queue::instance().kept(c) == kept_after - 1);
    // The last thread only fills a batch, which its end gives to operator delete.
    std::thread([&] { free_all(again, size); }).join();
}

BOOST_AUTO_TEST_CASE(the_shared_queue_is_bounded)
{
    constexpr std::size_t size = 400; // class 3
    const std::size_t c = limits::class_of(size);
    std::vector<void*> blocks;
    const std::size_t many = (limits::shared_batches + 8) * limits::batch;
    std::thread([&] { blocks = allocate_many(many, size); }).join();
    std::thread([&] { free_all(blocks, size); }).join();
    BOOST_TEST(detail::free_node_queue::instance().kept(c) <= limits::shared_batches);
    if (recycling)
        BOOST_TEST(detail::free_node_queue::instance().kept(c) == limits::shared_batches);
}
