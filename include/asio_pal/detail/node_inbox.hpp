//
// asio_pal/detail/node_inbox.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The thread pool's queue: many threads push without a lock, one consumer at a time pops.
//

#ifndef ASIO_PAL_DETAIL_NODE_INBOX_HPP
#define ASIO_PAL_DETAIL_NODE_INBOX_HPP

#include "asio_pal/detail/task_state.hpp"

#include <atomic>
#include <cstdint>

namespace asio_pal::detail {

/// FIFO of task nodes, intrusive, with many producers and one consumer (Dmitry Vyukov's
/// algorithm). A push is one atomic exchange and one store, without a lock and without
/// allocating; pops must not overlap (the thread pool pops under its mutex).
///
/// Between a producer's exchange and its store the node is queued but not yet reachable:
/// the producer is "linking". pop() then returns nothing while empty() is false, until that
/// producer's next instruction. Every node pushed before the consumer's empty() (in the
/// single total order of seq_cst operations) is one it will pop.
class node_inbox
{
public:
    node_inbox() noexcept = default;
    node_inbox(const node_inbox&) = delete;
    node_inbox& operator=(const node_inbox&) = delete;

    /// Any thread. Sequentially consistent: a producer's later seq_cst loads are ordered after
    /// it, for the consumer's "look at the inbox after announcing that I sleep".
    void push(task_node* n) noexcept
    {
        // Counted first, so that pushed() never misses a node that a consumer pops. Same cache
        // line as tail_: a producer pays for one line, not two.
        pushed_.fetch_add(1, std::memory_order_seq_cst);
        link(n);
    }

    /// Any thread: nodes pushed so far (the stub's internal pushes not counted).
    /// Sequentially consistent.
    std::uint64_t pushed() const noexcept { return pushed_.load(std::memory_order_seq_cst); }

    /// Any thread: the last node pushed; it changes with every push (also the consumer's
    /// internal ones), so a thread can watch it for new work without taking a lock.
    const task_node* last() const noexcept { return tail_.load(std::memory_order_acquire); }

    /// Consumer only: nothing queued, not even a node still linking. Sequentially consistent.
    bool empty() const noexcept
    {
        return head_ == &stub_ && tail_.load(std::memory_order_seq_cst) == &stub_;
    }

    /// Consumer only: takes the oldest node; nullptr when empty or while the oldest is linking
    /// (then empty() is false).
    task_node* pop() noexcept
    {
        task_node* head = head_;
        task_node* next = head->next_.load(std::memory_order_acquire);
        if (head == &stub_)
        {
            if (!next)
                return nullptr;
            head_ = next;
            head = next;
            next = next->next_.load(std::memory_order_acquire);
        }
        if (!next)
        {
            // `head` is the last node reachable. Unless a producer is linking after it, put
            // the stub behind it so that it can be taken without leaving the queue headless.
            if (head != tail_.load(std::memory_order_acquire))
                return nullptr;
            link(&stub_);
            next = head->next_.load(std::memory_order_acquire);
            if (!next)
                return nullptr; // a producer's exchange came between: it is linking
        }
        head_ = next;
        head->next_.store(nullptr, std::memory_order_relaxed);
        return head;
    }

private:
    void link(task_node* n) noexcept
    {
        n->next_.store(nullptr, std::memory_order_relaxed);
        task_node* prev = tail_.exchange(n, std::memory_order_seq_cst);
        prev->next_.store(n, std::memory_order_release);
    }

    /// Keeps the queue non-empty internally; never returned by pop().
    struct stub_node final : task_node
    {
        bool claim() noexcept override { return false; }
        void run() noexcept override {}
        bool withdraw(task_id_t&) noexcept override { return false; }
        void discard(bool) noexcept override {}
    };

    // The consumer's cache line, then the producers' own (the alignment rounds the size up to
    // two lines, so that nothing else shares the second).
    stub_node stub_;
    task_node* head_ = &stub_;
    alignas(64) std::atomic<task_node*> tail_{&stub_};
    std::atomic<std::uint64_t> pushed_{0};
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_NODE_INBOX_HPP
