//
// test/process_policy.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/detail/process_policy.hpp: the process pool's decisions that need no
// processes (how many tasks a worker holds, task sequence numbers, how a worker's end reads),
// as plain functions without threads, processes or clocks.
//

#include "asio_pal/detail/process_policy.hpp"

#define BOOST_TEST_MODULE process_policy
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>

#include <sys/wait.h>

namespace d = asio_pal::detail;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(in_flight)

BOOST_AUTO_TEST_CASE(a_worker_without_history_gets_one_task)
{
    BOOST_TEST(d::in_flight_limit(0ns, false) == 1u);
    BOOST_TEST(d::in_flight_limit(1ns, false) == 1u);
}

BOOST_AUTO_TEST_CASE(the_limit_falls_as_tasks_grow_slower)
{
    BOOST_TEST(d::in_flight_limit(1us, true) == d::max_tasks_in_flight);
    BOOST_TEST(d::in_flight_limit(19us, true) == d::max_tasks_in_flight);
    BOOST_TEST(d::in_flight_limit(20us, true) == 8u);
    BOOST_TEST(d::in_flight_limit(199us, true) == 8u);
    BOOST_TEST(d::in_flight_limit(200us, true) == 2u);
    BOOST_TEST(d::in_flight_limit(2ms, true) == 1u);
    BOOST_TEST(d::in_flight_limit(1h, true) == 1u);
}

BOOST_AUTO_TEST_CASE(the_average_starts_at_the_first_sample_then_moves_a_quarter)
{
    BOOST_TEST(d::update_average(500ns, 100ns, false).count() == 100);
    BOOST_TEST(d::update_average(100ns, 500ns, true).count() == 200);
    BOOST_TEST(d::update_average(500ns, 100ns, true).count() == 400);
}

BOOST_AUTO_TEST_CASE(capacity_is_the_room_under_the_limit_and_the_life_budget)
{
    BOOST_TEST(d::dispatch_capacity(0, 8, 0, 0) == 8u);
    BOOST_TEST(d::dispatch_capacity(3, 8, 100, 0) == 5u);
    BOOST_TEST(d::dispatch_capacity(8, 8, 0, 0) == 0u);
    BOOST_TEST(d::dispatch_capacity(9, 8, 0, 0) == 0u); // the limit fell below what it holds
    BOOST_TEST(d::dispatch_capacity(0, 8, 7, 10) == 3u);
    BOOST_TEST(d::dispatch_capacity(0, 8, 10, 10) == 0u);
    BOOST_TEST(d::dispatch_capacity(0, 8, 11, 10) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sequences)

BOOST_AUTO_TEST_CASE(numbers_follow_each_other_from_the_start)
{
    d::task_sequence s(41);
    BOOST_TEST(s.next() == 41u);
    BOOST_TEST(s.next() == 42u);
    BOOST_TEST(s.next() == 43u);
}

BOOST_AUTO_TEST_CASE(the_low_32_bits_are_never_0)
{
    // The cancel signal carries the low 32 bits, and a worker reads 0 as "no task".
    d::task_sequence s((std::uint64_t{5} << 32) - 2);
    BOOST_TEST(s.next() == (std::uint64_t{5} << 32) - 2);
    BOOST_TEST(s.next() == (std::uint64_t{5} << 32) - 1);
    BOOST_TEST(s.next() == (std::uint64_t{5} << 32) + 1);
    d::task_sequence at_zero(0);
    BOOST_TEST(at_zero.next() == 1u);
}

BOOST_AUTO_TEST_CASE(numbers_wrap_around_64_bits)
{
    d::task_sequence s(std::numeric_limits<std::uint64_t>::max());
    BOOST_TEST(s.next() == std::numeric_limits<std::uint64_t>::max());
    BOOST_TEST(s.next() == 1u);
}

BOOST_AUTO_TEST_CASE(random_starts_differ_and_are_never_0)
{
    // 64 draws of 64 random bits: a repeat would mean the source is not random (or constant).
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 64; ++i)
    {
        std::uint64_t v = d::random_nonzero_u64();
        BOOST_TEST(v != 0u);
        seen.insert(v);
    }
    BOOST_TEST(seen.size() == 64u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(exits)

BOOST_AUTO_TEST_CASE(a_wait_status_reads_as_a_signal_or_an_exit_status)
{
    // Wait statuses as the kernel encodes them: exit status in bits 8-15, signal in bits 0-6.
    d::exit_info killed = d::decode_wait_status(SIGKILL);
    BOOST_TEST(killed.signal == SIGKILL);
    BOOST_TEST(killed.exit_status == -1);
    d::exit_info exited = d::decode_wait_status(3 << 8);
    BOOST_TEST(exited.signal == 0);
    BOOST_TEST(exited.exit_status == 3);
}

BOOST_AUTO_TEST_CASE(an_exit_is_described_for_a_message)
{
    BOOST_TEST(d::describe_exit({SIGKILL, -1}) == "killed by signal 9 (SIGKILL)");
    BOOST_TEST(d::describe_exit({0, 3}) == "exited with status 3");
}

BOOST_AUTO_TEST_SUITE_END()
