//
// test/error.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/error.hpp: the exception hierarchy, the error codes and the "asio_pal" error
// category.
//

#include "asio_pal/error.hpp"

#define BOOST_TEST_MODULE error
#include <boost/test/unit_test.hpp>

// Asio's codes, which cancelled_error and timeout_error carry.
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace pal = asio_pal;
namespace sys = boost::system;

namespace {

// The what() that boost::system::system_error builds in Boost 1.81: "prefix: message [name:value]".
std::string system_what(const std::string& prefix, const sys::error_code& ec)
{
    return prefix + ": " + ec.message() + " [" + ec.category().name() + ":" +
           std::to_string(ec.value()) + "]";
}

template <typename E>
constexpr bool is_pal_error_v =
    std::conjunction_v<std::is_base_of<pal::error, E>, std::is_base_of<sys::system_error, E>,
                       std::is_base_of<std::runtime_error, E>, std::is_base_of<std::exception, E>>;

} // namespace

BOOST_AUTO_TEST_SUITE(hierarchy)

BOOST_AUTO_TEST_CASE(every_exception_derives_from_pal_error_and_system_error)
{
    static_assert(std::is_base_of_v<sys::system_error, pal::error>);
    static_assert(std::is_base_of_v<std::runtime_error, pal::error>);
    static_assert(is_pal_error_v<pal::pool_closed_error>);
    static_assert(is_pal_error_v<pal::broken_pool_error>);
    static_assert(is_pal_error_v<pal::initializer_error>);
    static_assert(is_pal_error_v<pal::finalizer_error>);
    static_assert(is_pal_error_v<pal::cancelled_error>);
    static_assert(is_pal_error_v<pal::timeout_error>);
    static_assert(is_pal_error_v<pal::remote_error>);
    static_assert(is_pal_error_v<pal::worker_died_error>);
    static_assert(is_pal_error_v<pal::unregistered_task_error>);
    BOOST_TEST(true);
}

BOOST_AUTO_TEST_CASE(initializer_and_finalizer_errors_are_broken_pool_errors)
{
    static_assert(std::is_base_of_v<pal::broken_pool_error, pal::initializer_error>);
    static_assert(std::is_base_of_v<pal::broken_pool_error, pal::finalizer_error>);
    static_assert(!std::is_base_of_v<pal::broken_pool_error, pal::pool_closed_error>);
    static_assert(!std::is_base_of_v<pal::broken_pool_error, pal::cancelled_error>);
    static_assert(!std::is_base_of_v<pal::initializer_error, pal::finalizer_error>);
    static_assert(!std::is_base_of_v<pal::finalizer_error, pal::initializer_error>);

    // And they are caught as such at run time.
    bool caught = false;
    try
    {
        throw pal::initializer_error("init");
    }
    catch (const pal::broken_pool_error& e)
    {
        caught = true;
        BOOST_TEST(e.code() == make_error_code(pal::errc::initializer_failed));
    }
    BOOST_TEST(caught);

    caught = false;
    try
    {
        throw pal::finalizer_error("fini");
    }
    catch (const pal::broken_pool_error& e)
    {
        caught = true;
        BOOST_TEST(e.code() == make_error_code(pal::errc::finalizer_failed));
    }
    BOOST_TEST(caught);
}

BOOST_AUTO_TEST_CASE(a_pal_error_is_caught_as_std_runtime_error)
{
    bool caught = false;
    try
    {
        throw pal::pool_closed_error("closed");
    }
    catch (const std::runtime_error& e)
    {
        caught = true;
        BOOST_TEST(std::string(e.what()) ==
                   system_what("closed", make_error_code(pal::errc::pool_closed)));
    }
    BOOST_TEST(caught);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(category)

BOOST_AUTO_TEST_CASE(category_is_named_asio_pal_and_unique)
{
    BOOST_TEST(std::string(pal::pal_category().name()) == "asio_pal");
    BOOST_TEST(&pal::pal_category() == &pal::pal_category());
    BOOST_TEST((pal::pal_category() != sys::system_category()));
    BOOST_TEST((pal::pal_category() != sys::generic_category()));
}

BOOST_AUTO_TEST_CASE(codes_have_fixed_values)
{
    BOOST_TEST(static_cast<int>(pal::errc::pool_closed) == 1);
    BOOST_TEST(static_cast<int>(pal::errc::broken_pool) == 2);
    BOOST_TEST(static_cast<int>(pal::errc::initializer_failed) == 3);
    BOOST_TEST(static_cast<int>(pal::errc::finalizer_failed) == 4);
    BOOST_TEST(static_cast<int>(pal::errc::worker_died) == 5);
    BOOST_TEST(static_cast<int>(pal::errc::unregistered_task) == 6);
    BOOST_TEST(static_cast<int>(pal::errc::remote_failure) == 7);
}

BOOST_AUTO_TEST_CASE(messages)
{
    struct row
    {
        pal::errc code;
        const char* message;
    };
    const row rows[] = {
        {pal::errc::pool_closed, "the pool is closed"},
        {pal::errc::broken_pool, "the pool is broken"},
        {pal::errc::initializer_failed, "a worker's initializer failed"},
        {pal::errc::finalizer_failed, "a worker's finalizer failed"},
        {pal::errc::worker_died, "the worker process died"},
        {pal::errc::unregistered_task, "the function is not registered for process pools"},
        {pal::errc::remote_failure, "the task failed in a worker process"},
    };
    for (const row& r : rows)
    {
        sys::error_code ec = make_error_code(r.code);
        BOOST_TEST_CONTEXT("code " << static_cast<int>(r.code))
        {
            BOOST_TEST(ec.message() == r.message);
            BOOST_TEST(pal::pal_category().message(static_cast<int>(r.code)) == r.message);
        }
    }
    // A value outside the enumeration still gets a message, naming the value.
    BOOST_TEST(pal::pal_category().message(99) == "asio_pal error 99");
}

BOOST_AUTO_TEST_CASE(make_error_code_and_is_error_code_enum)
{
    static_assert(sys::is_error_code_enum<pal::errc>::value);

    sys::error_code ec = make_error_code(pal::errc::broken_pool);
    BOOST_TEST(ec.value() == 2);
    BOOST_TEST(&ec.category() == &pal::pal_category());
    BOOST_TEST(static_cast<bool>(ec));

    // The enum converts implicitly and compares with codes (is_error_code_enum).
    sys::error_code implicit = pal::errc::worker_died;
    BOOST_TEST(implicit.value() == 5);
    BOOST_TEST(&implicit.category() == &pal::pal_category());
    BOOST_TEST((implicit == pal::errc::worker_died));
    BOOST_TEST((implicit != pal::errc::pool_closed));
    BOOST_TEST(ec != implicit);

    // Same value, another category: not equal.
    BOOST_TEST((sys::error_code(1, sys::system_category()) != pal::errc::pool_closed));

    // make_error_code is found by argument-dependent lookup and is noexcept.
    static_assert(noexcept(make_error_code(pal::errc::pool_closed)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(exceptions)

BOOST_AUTO_TEST_CASE(pool_closed_error_code_and_message)
{
    pal::pool_closed_error e("the pool 'p' is closed");
    BOOST_TEST(e.code() == make_error_code(pal::errc::pool_closed));
    BOOST_TEST((e.code() == pal::errc::pool_closed));
    BOOST_TEST(std::string(e.what()) == "the pool 'p' is closed: the pool is closed [asio_pal:1]");
}

BOOST_AUTO_TEST_CASE(broken_pool_error_code_and_message)
{
    pal::broken_pool_error e("broken");
    BOOST_TEST((e.code() == pal::errc::broken_pool));
    BOOST_TEST(std::string(e.what()) == "broken: the pool is broken [asio_pal:2]");

    // The code can be given explicitly (that is how the derived types use it).
    pal::broken_pool_error e2("other", make_error_code(pal::errc::worker_died));
    BOOST_TEST((e2.code() == pal::errc::worker_died));
}

BOOST_AUTO_TEST_CASE(initializer_error_code_message_and_nested_cause)
{
    pal::initializer_error e("init failed");
    BOOST_TEST((e.code() == pal::errc::initializer_failed));
    BOOST_TEST(std::string(e.what()) == "init failed: a worker's initializer failed [asio_pal:3]");

    // The library attaches the cause with std::throw_with_nested; it must be reachable.
    std::string cause;
    try
    {
        try
        {
            throw std::out_of_range("the cause");
        }
        catch (...)
        {
            std::throw_with_nested(pal::initializer_error("init failed"));
        }
    }
    catch (const pal::initializer_error& outer)
    {
        BOOST_TEST((outer.code() == pal::errc::initializer_failed));
        try
        {
            std::rethrow_if_nested(outer);
        }
        catch (const std::out_of_range& inner)
        {
            cause = inner.what();
        }
    }
    BOOST_TEST(cause == "the cause");
}

BOOST_AUTO_TEST_CASE(finalizer_error_code_and_message)
{
    pal::finalizer_error e("fini failed");
    BOOST_TEST((e.code() == pal::errc::finalizer_failed));
    BOOST_TEST(std::string(e.what()) == "fini failed: a worker's finalizer failed [asio_pal:4]");
}

BOOST_AUTO_TEST_CASE(cancelled_error_is_operation_aborted)
{
    pal::cancelled_error e("task 7 was cancelled");
    BOOST_TEST((e.code() == boost::asio::error::operation_aborted));
    BOOST_TEST(e.code() == sys::error_code(boost::asio::error::operation_aborted));
    BOOST_TEST(&e.code().category() == &sys::system_category());
    BOOST_TEST((e.code() != pal::errc::pool_closed));
    BOOST_TEST(std::string(e.what()) ==
               system_what("task 7 was cancelled",
                           sys::error_code(boost::asio::error::operation_aborted)));
}

BOOST_AUTO_TEST_CASE(timeout_error_is_timed_out)
{
    pal::timeout_error e("too slow");
    BOOST_TEST((e.code() == boost::asio::error::timed_out));
    BOOST_TEST(&e.code().category() == &sys::system_category());
    BOOST_TEST((e.code() != boost::asio::error::operation_aborted));
    BOOST_TEST(std::string(e.what()) ==
               system_what("too slow", sys::error_code(boost::asio::error::timed_out)));
}

BOOST_AUTO_TEST_CASE(remote_error_type_name_and_message)
{
    pal::remote_error e("my::bad_thing", "it went wrong");
    BOOST_TEST(e.type_name() == "my::bad_thing");
    BOOST_TEST((e.code() == pal::errc::remote_failure));
    BOOST_TEST(std::string(e.what()) ==
               "my::bad_thing: it went wrong: the task failed in a worker process [asio_pal:7]");
    static_assert(std::is_base_of_v<std::runtime_error, pal::remote_error>);

    // Copies keep the type name.
    pal::remote_error copy = e;
    BOOST_TEST(copy.type_name() == "my::bad_thing");
    BOOST_TEST(std::string(copy.what()) == std::string(e.what()));
}

BOOST_AUTO_TEST_CASE(worker_died_error_fields)
{
    pal::worker_died_error killed("task 'f' lost its worker", 4242, 9, -1);
    BOOST_TEST(killed.pid() == 4242);
    BOOST_TEST(killed.signal() == 9);
    BOOST_TEST(killed.exit_status() == -1);
    BOOST_TEST((killed.code() == pal::errc::worker_died));
    BOOST_TEST(std::string(killed.what()) ==
               "task 'f' lost its worker: the worker process died [asio_pal:5]");

    pal::worker_died_error exited("exit", std::int64_t{1} << 40, 0, 3);
    BOOST_TEST(exited.pid() == (std::int64_t{1} << 40));
    BOOST_TEST(exited.signal() == 0);
    BOOST_TEST(exited.exit_status() == 3);
}

BOOST_AUTO_TEST_CASE(unregistered_task_error_code)
{
    pal::unregistered_task_error e("function 'g' is not registered");
    BOOST_TEST((e.code() == pal::errc::unregistered_task));
    BOOST_TEST(std::string(e.what()) ==
               "function 'g' is not registered: the function is not registered for process pools "
               "[asio_pal:6]");
}

BOOST_AUTO_TEST_CASE(pal_error_carries_any_code)
{
    pal::error e(make_error_code(pal::errc::remote_failure), "x");
    BOOST_TEST((e.code() == pal::errc::remote_failure));
    const sys::system_error& base = e;
    BOOST_TEST((base.code() == pal::errc::remote_failure));
}

BOOST_AUTO_TEST_SUITE_END()
