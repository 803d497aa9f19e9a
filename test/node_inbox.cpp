//
// test/node_inbox.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/detail/node_inbox.hpp, the thread pool's queue: FIFO order, the empty state
// and its internal stub, first on one thread, then with producers racing one consumer.
//

#include "asio_pal/detail/node_inbox.hpp"

#define BOOST_TEST_MODULE node_inbox
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace d = asio_pal::detail;

namespace {

struct test_node final : d::task_node
{
    int producer = 0;
    int seq = 0;

    bool claim() noexcept override { return true; }
    void run() noexcept override {}
    bool withdraw(asio_pal::task_id_t&) noexcept override { return false; }
    void discard(bool) noexcept override {}
};

test_node* pop(d::node_inbox& q)
{
    return static_cast<test_node*>(q.pop());
}

/// `n` nodes numbered 0, 1, 2... in `seq`.
std::vector<test_node> numbered(int n)
{
    std::vector<test_node> nodes(n);
    for (int i = 0; i < n; ++i)
        nodes[i].seq = i;
    return nodes;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_new_inbox_is_empty)
{
    d::node_inbox q;
    BOOST_TEST(q.empty());
    BOOST_TEST(q.pop() == nullptr);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(pops_in_push_order_then_is_empty)
{
    d::node_inbox q;
    std::vector<test_node> nodes = numbered(5);
    for (test_node& n : nodes)
    {
        q.push(&n);
        BOOST_TEST(!q.empty());
    }
    for (int i = 0; i < 5; ++i)
    {
        test_node* n = pop(q);
        BOOST_REQUIRE(n != nullptr);
        BOOST_TEST(n->seq == i);
        BOOST_TEST(n->next_.load() == nullptr);
    }
    BOOST_TEST(q.pop() == nullptr);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(a_single_node_comes_out_and_the_inbox_can_be_refilled)
{
    // The last node is taken by putting the stub behind it: over and over, and with pushes
    // between pops, the order holds and the inbox ends empty.
    d::node_inbox q;
    std::vector<test_node> nodes = numbered(100);
    int pushed = 0;
    int popped = 0;
    for (int round = 0; round < 30; ++round)
    {
        for (int k = 0; k < round % 4 && pushed < 100; ++k)
            q.push(&nodes[pushed++]);
        if (test_node* n = pop(q))
            BOOST_TEST(n->seq == popped++);
        else
            BOOST_TEST(q.empty());
    }
    while (test_node* n = pop(q))
        BOOST_TEST(n->seq == popped++);
    BOOST_TEST(popped == pushed);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(last_changes_with_every_push)
{
    d::node_inbox q;
    test_node a;
    test_node b;
    const d::task_node* before = q.last();
    q.push(&a);
    BOOST_TEST(q.last() == &a);
    BOOST_TEST(q.last() != before);
    q.push(&b);
    BOOST_TEST(q.last() == &b);
}

BOOST_AUTO_TEST_CASE(racing_producers_lose_nothing_and_keep_each_ones_order,
                     *boost::unit_test::timeout(120))
{
    // Four producers push while one consumer pops: every node arrives once, each producer's in
    // its own order; a pop that finds nothing while empty() is false saw a producer linking.
    constexpr int producers = 4;
    constexpr int per_producer = 100'000;
    std::vector<std::unique_ptr<test_node[]>> nodes;
    for (int p = 0; p < producers; ++p)
        nodes.push_back(std::make_unique<test_node[]>(per_producer));
    d::node_inbox q;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
        threads.emplace_back([&, p] {
            for (int i = 0; i < per_producer; ++i)
            {
                nodes[p][i].producer = p;
                nodes[p][i].seq = i;
                q.push(&nodes[p][i]);
            }
        });
    std::vector<int> next(producers, 0);
    bool in_order = true;
    int received = 0;
    while (received < producers * per_producer)
    {
        test_node* n = pop(q);
        if (!n)
        {
            std::this_thread::yield();
            continue;
        }
        in_order = in_order && n->seq == next[n->producer];
        next[n->producer] = n->seq + 1;
        ++received;
    }
    for (std::thread& t : threads)
        t.join();
    BOOST_TEST(in_order);
    for (int p = 0; p < producers; ++p)
        BOOST_TEST(next[p] == per_producer);
    BOOST_TEST(q.pop() == nullptr);
    BOOST_TEST(q.empty());
}
