//
// test/options.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/options.hpp: pool_options defaults, how a thread pool fills them in, and the
// validation of bad values at construction.
//

#include "asio_pal/options.hpp"

#define BOOST_TEST_MODULE options
#include <boost/test/unit_test.hpp>

// The pool that applies the options.
#include "asio_pal/thread_pool.hpp"

#include <chrono>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

namespace pal = asio_pal;
using namespace std::chrono_literals;

namespace {

// What the library documents as the default thread-pool size: hardware threads + 5.
std::size_t expected_default_workers()
{
    unsigned hw = std::thread::hardware_concurrency();
    return (hw == 0 ? 1 : hw) + 5;
}

// Constructs a pool from `o` and returns the std::invalid_argument's message ("" if none).
std::string construction_error(pal::pool_options o)
{
    try
    {
        pal::thread_pool pool(std::move(o));
    }
    catch (const std::invalid_argument& e)
    {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part)
{
    return s.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(defaults)

BOOST_AUTO_TEST_CASE(pool_options_defaults)
{
    static_assert(std::is_aggregate_v<pal::pool_options>);
    static_assert(pal::default_idle_timeout == std::chrono::seconds(60));
    static_assert(pal::max_workers_limit == 4096);

    pal::pool_options o;
    BOOST_TEST(o.max_workers == 0u);
    BOOST_TEST(o.name.empty());
    BOOST_REQUIRE(o.idle_timeout.has_value());
    BOOST_TEST(o.idle_timeout->count() == std::chrono::nanoseconds(60s).count());
    BOOST_TEST(!o.initializer);
    BOOST_TEST(!o.finalizer);
    BOOST_TEST(o.max_tasks_per_worker == 0u);
    BOOST_TEST(!o.on_task_exception);
}

BOOST_AUTO_TEST_CASE(designated_initializers_in_field_order)
{
    int init_calls = 0;
    pal::pool_options o{.max_workers = 3,
                        .name = "cpu",
                        .idle_timeout = 5s,
                        .initializer = [&] { ++init_calls; },
                        .finalizer = {},
                        .max_tasks_per_worker = 7,
                        .on_task_exception = {}};
    BOOST_TEST(o.max_workers == 3u);
    BOOST_TEST(o.name == "cpu");
    BOOST_TEST(o.idle_timeout->count() == std::chrono::nanoseconds(5s).count());
    BOOST_TEST(o.max_tasks_per_worker == 7u);
    o.initializer();
    BOOST_TEST(init_calls == 1);
}

BOOST_AUTO_TEST_CASE(default_pool_is_hardware_threads_plus_five)
{
    pal::thread_pool pool;
    BOOST_TEST(pool.options().max_workers == expected_default_workers());
    BOOST_TEST(pal::detail::hardware_threads() + 5 == expected_default_workers());
    BOOST_REQUIRE(pool.options().idle_timeout.has_value());
    BOOST_TEST(pool.options().idle_timeout->count() == std::chrono::nanoseconds(60s).count());
    BOOST_TEST(pool.options().name == "thread_pool");
    BOOST_TEST(pool.options().max_tasks_per_worker == 0u);
    // Options are applied lazily: nothing started yet.
    BOOST_TEST(pool.count_workers() == 0u);
}

BOOST_AUTO_TEST_CASE(zero_max_workers_means_default)
{
    pal::thread_pool by_count(std::size_t{0});
    BOOST_TEST(by_count.options().max_workers == expected_default_workers());

    pal::thread_pool by_options(pal::pool_options{.max_workers = 0});
    BOOST_TEST(by_options.options().max_workers == expected_default_workers());
}

BOOST_AUTO_TEST_CASE(max_workers_constructor)
{
    pal::thread_pool pool(std::size_t{3});
    BOOST_TEST(pool.options().max_workers == 3u);
    BOOST_TEST(pool.options().name == "thread_pool");
    BOOST_TEST(pool.options().idle_timeout->count() == std::chrono::nanoseconds(60s).count());
}

BOOST_AUTO_TEST_CASE(given_options_are_kept)
{
    int fin_calls = 0;
    pal::thread_pool pool(pal::pool_options{.max_workers = 2,
                                            .name = "cpu",
                                            .idle_timeout = 250ms,
                                            .finalizer = [&] { ++fin_calls; },
                                            .max_tasks_per_worker = 9});
    BOOST_TEST(pool.options().max_workers == 2u);
    BOOST_TEST(pool.options().name == "cpu");
    BOOST_TEST(pool.options().idle_timeout->count() == std::chrono::nanoseconds(250ms).count());
    BOOST_TEST(!pool.options().initializer);
    BOOST_REQUIRE(static_cast<bool>(pool.options().finalizer));
    pool.options().finalizer();
    BOOST_TEST(fin_calls == 1);
    BOOST_TEST(pool.options().max_tasks_per_worker == 9u);
}

BOOST_AUTO_TEST_CASE(empty_name_becomes_thread_pool)
{
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .name = ""});
    BOOST_TEST(pool.options().name == "thread_pool");
}

BOOST_AUTO_TEST_CASE(sized_pools)
{
    static_assert(std::is_base_of_v<pal::thread_pool, pal::single_thread_pool>);
    static_assert(std::is_base_of_v<pal::thread_pool, pal::quad_thread_pool>);
    static_assert(std::is_default_constructible_v<pal::dual_thread_pool>);

    pal::single_thread_pool single;
    pal::dual_thread_pool dual;
    pal::triple_thread_pool triple;
    pal::quad_thread_pool quad;
    BOOST_TEST(single.options().max_workers == 1u);
    BOOST_TEST(dual.options().max_workers == 2u);
    BOOST_TEST(triple.options().max_workers == 3u);
    BOOST_TEST(quad.options().max_workers == 4u);
    for (const pal::thread_pool* p : {static_cast<const pal::thread_pool*>(&single),
                                      static_cast<const pal::thread_pool*>(&dual),
                                      static_cast<const pal::thread_pool*>(&triple),
                                      static_cast<const pal::thread_pool*>(&quad)})
    {
        BOOST_TEST(p->options().name == "thread_pool");
        BOOST_TEST(p->options().idle_timeout->count() == std::chrono::nanoseconds(60s).count());
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(validation)

BOOST_AUTO_TEST_CASE(negative_idle_timeout_is_rejected_naming_the_field)
{
    std::string what = construction_error(pal::pool_options{.idle_timeout = -1ns});
    BOOST_TEST(contains(what, "idle_timeout"), "what() = '" << what << "'");

    what = construction_error(pal::pool_options{.max_workers = 2, .idle_timeout = -5s});
    BOOST_TEST(contains(what, "idle_timeout"), "what() = '" << what << "'");
    BOOST_TEST(!contains(what, "max_workers"), "what() = '" << what << "'");
}

BOOST_AUTO_TEST_CASE(too_many_workers_is_rejected_naming_the_field)
{
    std::string what = construction_error(pal::pool_options{.max_workers = 4097});
    BOOST_TEST(contains(what, "max_workers"), "what() = '" << what << "'");
    BOOST_TEST(contains(what, "4097"), "what() = '" << what << "'");

    what = construction_error(
        pal::pool_options{.max_workers = std::numeric_limits<std::size_t>::max()});
    BOOST_TEST(contains(what, "max_workers"), "what() = '" << what << "'");

    BOOST_CHECK_THROW(pal::thread_pool(std::size_t{5000}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(limit_itself_is_accepted)
{
    // Workers start lazily, so a pool of 4096 costs nothing until it is used.
    pal::thread_pool pool(pal::max_workers_limit);
    BOOST_TEST(pool.options().max_workers == pal::max_workers_limit);
    BOOST_TEST(pool.count_workers() == 0u);
}

BOOST_AUTO_TEST_CASE(empty_idle_timeout_means_never_retire_and_is_accepted)
{
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .idle_timeout = std::nullopt});
    BOOST_TEST(!pool.options().idle_timeout.has_value());
    BOOST_TEST(pool.run([] { return 5; }) == 5);
}

BOOST_AUTO_TEST_CASE(zero_idle_timeout_is_accepted)
{
    pal::thread_pool pool(pal::pool_options{.max_workers = 1, .idle_timeout = 0ns});
    BOOST_REQUIRE(pool.options().idle_timeout.has_value());
    BOOST_TEST(pool.options().idle_timeout->count() == 0);
    BOOST_TEST(pool.run([] { return 6; }) == 6);
}

BOOST_AUTO_TEST_CASE(resolve_options_fills_in_and_checks)
{
    pal::pool_options r = pal::detail::resolve_options(pal::pool_options{}, 7);
    BOOST_TEST(r.max_workers == 7u);
    pal::pool_options kept = pal::detail::resolve_options(pal::pool_options{.max_workers = 2}, 7);
    BOOST_TEST(kept.max_workers == 2u);
    BOOST_CHECK_THROW(pal::detail::resolve_options(pal::pool_options{}, 4097),
                      std::invalid_argument);
    BOOST_CHECK_THROW(pal::detail::resolve_options(pal::pool_options{.idle_timeout = -1ms}, 1),
                      std::invalid_argument);
    BOOST_TEST(pal::detail::hardware_threads() >= 1u);
}

BOOST_AUTO_TEST_SUITE_END()
