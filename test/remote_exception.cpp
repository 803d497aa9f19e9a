//
// test/remote_exception.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/remote_exception.hpp: capturing an exception chain into plain data (as a worker
// process does), sending it through a cereal archive, rebuilding it (as the parent does), the
// registry of user exception types and the table of remote tracebacks.
//

#include "asio_pal/remote_exception.hpp"

#define BOOST_TEST_MODULE remote_exception
#include "asio_pal/detail/remote_task.hpp"
#include "asio_pal/detail/wire.hpp"
#include "asio_pal/error.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <boost/test/unit_test.hpp>

#include <cereal/archives/binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <future>
#include <ios>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

namespace pal = asio_pal;
namespace detail = asio_pal::detail;
namespace sys = boost::system;

namespace rex_test {

/// Registered below, twice (a repeated registration is harmless).
class registered_error : public std::runtime_error
{
public:
    explicit registered_error(const std::string& what)
        : std::runtime_error(what)
    {}
};

/// Derives from a registered type but is not registered itself.
class derived_error : public registered_error
{
public:
    using registered_error::registered_error;
};

/// Never registered.
class unregistered_error : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

/// Registered under a name of its own.
class renamed_error : public std::logic_error
{
public:
    explicit renamed_error(const std::string& what)
        : std::logic_error(what)
    {}
};

/// A template: its name has a comma and, nested, a "> >".
template <class A, class B>
class pair_error : public std::runtime_error
{
public:
    explicit pair_error(const std::string& what)
        : std::runtime_error(what)
    {}
};

/// Counts its live objects, to see the traceback table let go of old exceptions.
class counted_error : public std::runtime_error
{
public:
    static inline std::atomic<int> live{0};

    explicit counted_error(const std::string& what)
        : std::runtime_error(what)
    {
        ++live;
    }
    counted_error(const counted_error& other)
        : std::runtime_error(other)
    {
        ++live;
    }
    ~counted_error() override { --live; }
};

/// Not derived from std::exception.
struct plain
{};

} // namespace rex_test

ASIO_PAL_REGISTER_EXCEPTION(rex_test::registered_error);
ASIO_PAL_REGISTER_EXCEPTION(rex_test::registered_error);
ASIO_PAL_REGISTER_EXCEPTION(rex_test::pair_error<int, long>);
ASIO_PAL_REGISTER_EXCEPTION(rex_test::counted_error);

namespace rex_test {
// The macro also works inside a namespace.
ASIO_PAL_REGISTER_EXCEPTION(registered_error);
const bool renamed_registered = pal::register_exception<renamed_error>("rex_test.renamed");
} // namespace rex_test

namespace {

using kind = detail::remote_exception_kind;

constexpr std::int64_t test_pid = 4242;

detail::remote_exception_info through_cereal(const detail::remote_exception_info& in)
{
    std::stringstream buffer;
    {
        cereal::BinaryOutputArchive out(buffer);
        out(in);
    }
    detail::remote_exception_info result;
    {
        cereal::BinaryInputArchive archive(buffer);
        archive(result);
    }
    return result;
}

detail::remote_exception_info capture(std::exception_ptr e, std::string_view task = "task_a")
{
    return detail::capture_exception(std::move(e), task, test_pid);
}

// What a worker sends and the parent rebuilds.
std::exception_ptr transport(std::exception_ptr e, std::string_view task = "task_a")
{
    return detail::rebuild_exception(through_cereal(capture(std::move(e), task)));
}

// Rethrows `e`, calling `f` with the std::exception caught; fails for anything else.
template <class F>
void inspect(const std::exception_ptr& e, F f)
{
    BOOST_TEST_REQUIRE(static_cast<bool>(e));
    try
    {
        std::rethrow_exception(e);
    }
    catch (const std::exception& x)
    {
        f(x);
        return;
    }
    catch (...)
    {}
    BOOST_FAIL("the exception is not a std::exception");
}

std::string demangled(const std::type_info& t)
{
    return detail::demangled_name(t);
}

// Sends `original` across and checks that it comes back with its exact type and what() text.
template <class E>
void check_same_type_and_text(const E& original, kind expected_kind)
{
    BOOST_TEST_CONTEXT(demangled(typeid(E)))
    {
        detail::remote_exception_info info = capture(std::make_exception_ptr(original));
        BOOST_TEST_REQUIRE(info.chain.size() == 1u);
        BOOST_TEST(info.chain[0].kind == static_cast<std::uint32_t>(expected_kind));
        BOOST_TEST(info.chain[0].type_name == demangled(typeid(E)));
        BOOST_TEST(info.chain[0].message == std::string(original.what()));

        inspect(detail::rebuild_exception(through_cereal(info)), [&](const std::exception& x) {
            BOOST_TEST(demangled(typeid(x)) == demangled(typeid(E)));
            BOOST_TEST((typeid(x) == typeid(E)));
            BOOST_TEST(std::string(x.what()) == std::string(original.what()));
        });
    }
}

// Walks `e` with std::rethrow_if_nested: (type, what) of each layer, outermost first.
std::vector<std::pair<std::string, std::string>> walk(std::exception_ptr e)
{
    std::vector<std::pair<std::string, std::string>> layers;
    while (e)
    {
        std::exception_ptr next;
        try
        {
            std::rethrow_exception(e);
        }
        catch (const std::exception& x)
        {
            std::string type = demangled(typeid(x));
            layers.emplace_back(type, x.what());
            try
            {
                std::rethrow_if_nested(x);
            }
            catch (...)
            {
                next = std::current_exception();
            }
        }
        catch (...)
        {
            layers.emplace_back("?", "?");
        }
        e = next;
    }
    return layers;
}

// A three-level chain: out_of_range inside registered_error inside initializer_error.
std::exception_ptr three_level_chain()
{
    try
    {
        try
        {
            try
            {
                throw std::out_of_range("index 7 is out of range");
            }
            catch (...)
            {
                std::throw_with_nested(rex_test::registered_error("cannot load the table"));
            }
        }
        catch (...)
        {
            std::throw_with_nested(pal::initializer_error("worker setup failed"));
        }
    }
    catch (...)
    {
        return std::current_exception();
    }
    return nullptr;
}

class test_category : public std::error_category
{
public:
    const char* name() const noexcept override { return "rex_test.category"; }
    std::string message(int ev) const override { return "test error " + std::to_string(ev); }
};

const test_category& the_test_category()
{
    static const test_category c;
    return c;
}

} // namespace

BOOST_AUTO_TEST_SUITE(standard_types)

BOOST_AUTO_TEST_CASE(message_types_come_back_as_themselves)
{
    check_same_type_and_text(std::runtime_error("runtime"), kind::standard);
    check_same_type_and_text(std::logic_error("logic"), kind::standard);
    check_same_type_and_text(std::invalid_argument("bad argument 'x'"), kind::standard);
    check_same_type_and_text(std::domain_error("domain"), kind::standard);
    check_same_type_and_text(std::length_error("too long"), kind::standard);
    check_same_type_and_text(std::out_of_range("out of range"), kind::standard);
    check_same_type_and_text(std::range_error("range"), kind::standard);
    check_same_type_and_text(std::overflow_error("overflow"), kind::standard);
    check_same_type_and_text(std::underflow_error("underflow"), kind::standard);
    // Empty and multi-line texts survive too.
    check_same_type_and_text(std::runtime_error(""), kind::standard);
    check_same_type_and_text(std::runtime_error("line 1\nline 2\n"), kind::standard);
}

BOOST_AUTO_TEST_CASE(types_without_message_come_back_with_their_own_text)
{
    check_same_type_and_text(std::exception(), kind::standard);
    check_same_type_and_text(std::bad_alloc(), kind::standard);
    check_same_type_and_text(std::bad_array_new_length(), kind::standard);
    check_same_type_and_text(std::bad_cast(), kind::standard);
    check_same_type_and_text(std::bad_typeid(), kind::standard);
    check_same_type_and_text(std::bad_exception(), kind::standard);
    check_same_type_and_text(std::bad_weak_ptr(), kind::standard);
    check_same_type_and_text(std::bad_function_call(), kind::standard);
    check_same_type_and_text(std::bad_optional_access(), kind::standard);
    check_same_type_and_text(std::bad_variant_access(), kind::standard);
}

BOOST_AUTO_TEST_CASE(thrown_by_the_library_keeps_the_type)
{
    // std::get's bad_variant_access has its own text, which has no constructor: the type comes
    // back, with the type's default text.
    std::exception_ptr e;
    try
    {
        std::variant<int, double> v = 1;
        (void)std::get<double>(v);
    }
    catch (...)
    {
        e = std::current_exception();
    }
    inspect(transport(e), [](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(std::bad_variant_access)));
        BOOST_TEST(std::string(x.what()) == std::bad_variant_access().what());
    });
}

BOOST_AUTO_TEST_CASE(system_error_keeps_code_and_text)
{
    const std::system_error originals[] = {
        std::system_error(std::make_error_code(std::errc::no_such_file_or_directory), "open '/x'"),
        std::system_error(std::error_code(13, std::system_category()), "bind"),
        std::system_error(std::error_code(5, std::system_category())),
        std::system_error(std::make_error_code(std::io_errc::stream), "stream"),
        std::system_error(std::make_error_code(std::future_errc::no_state), "future"),
    };
    for (const std::system_error& original : originals)
    {
        BOOST_TEST_CONTEXT(original.what())
        {
            check_same_type_and_text(original, kind::standard);
            inspect(transport(std::make_exception_ptr(original)), [&](const std::exception& x) {
                const auto& s = dynamic_cast<const std::system_error&>(x);
                BOOST_TEST(s.code().value() == original.code().value());
                BOOST_TEST((s.code() == original.code()));
                BOOST_TEST(&s.code().category() == &original.code().category());
            });
        }
    }
}

BOOST_AUTO_TEST_CASE(system_error_of_an_unknown_category_keeps_value_and_category_name)
{
    std::system_error original(std::error_code(17, the_test_category()), "custom");
    detail::remote_exception_info info = capture(std::make_exception_ptr(original));
    BOOST_TEST(info.chain[0].code == 17);
    BOOST_TEST(info.chain[0].category == "rex_test.category");

    // The parent may not have the category: a stand-in of the same name carries the value.
    info.chain[0].category = "elsewhere.category";
    inspect(detail::rebuild_exception(through_cereal(info)), [&](const std::exception& x) {
        const auto& s = dynamic_cast<const std::system_error&>(x);
        BOOST_TEST((typeid(x) == typeid(std::system_error)));
        BOOST_TEST(std::string(x.what()) == std::string(original.what()));
        BOOST_TEST(s.code().value() == 17);
        BOOST_TEST(std::string(s.code().category().name()) == "elsewhere.category");
        BOOST_TEST(!s.code().message().empty());
    });
    // The same name gives the same category object, so codes compare equal.
    std::error_code a;
    std::error_code b;
    inspect(detail::rebuild_exception(info),
            [&](const std::exception& x) { a = dynamic_cast<const std::system_error&>(x).code(); });
    inspect(detail::rebuild_exception(info),
            [&](const std::exception& x) { b = dynamic_cast<const std::system_error&>(x).code(); });
    BOOST_TEST((a == b));
}

BOOST_AUTO_TEST_CASE(ios_base_failure_and_future_error)
{
    std::ios_base::failure failure("stream went bad");
    check_same_type_and_text(failure, kind::standard);
    inspect(transport(std::make_exception_ptr(failure)), [](const std::exception& x) {
        const auto& f = dynamic_cast<const std::ios_base::failure&>(x);
        BOOST_TEST((f.code() == std::io_errc::stream));
    });

    // One the library throws.
    std::exception_ptr e;
    try
    {
        std::promise<int> p;
        (void)p.get_future();
        (void)p.get_future();
    }
    catch (...)
    {
        e = std::current_exception();
    }
    std::string original_what;
    inspect(e, [&](const std::exception& x) { original_what = x.what(); });
    inspect(transport(e), [&](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(std::future_error)));
        BOOST_TEST(std::string(x.what()) == original_what);
        const auto& f = dynamic_cast<const std::future_error&>(x);
        BOOST_TEST((f.code() == std::future_errc::future_already_retrieved));
    });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(library_types)

BOOST_AUTO_TEST_CASE(asio_pal_exceptions_come_back_as_themselves_with_their_codes)
{
    const pal::error errors[] = {pal::error(pal::make_error_code(pal::errc::remote_failure), "e")};
    check_same_type_and_text(errors[0], kind::library);
    check_same_type_and_text(pal::pool_closed_error("the pool 'p' is closed"), kind::library);
    check_same_type_and_text(pal::cancelled_error("task 3 was cancelled"), kind::library);
    check_same_type_and_text(pal::timeout_error("too slow"), kind::library);
    check_same_type_and_text(pal::unregistered_task_error("no 'f'"), kind::library);
    check_same_type_and_text(pal::worker_died_error("lost", 17, 9, -1), kind::library);
    check_same_type_and_text(pal::broken_pool_error("broken"), kind::library);
    check_same_type_and_text(pal::initializer_error("init"), kind::library);
    check_same_type_and_text(pal::finalizer_error("fini"), kind::library);

    auto same_code = [](const sys::system_error& original) {
        inspect(transport(std::make_exception_ptr(original)), [&](const std::exception& x) {
            const auto& s = dynamic_cast<const sys::system_error&>(x);
            BOOST_TEST(s.code() == original.code());
        });
    };
    // A deeper worker's death keeps its pid, signal and exit status.
    inspect(transport(std::make_exception_ptr(pal::worker_died_error("lost", 17, 9, -1))),
            [](const std::exception& x) {
                const auto& d = dynamic_cast<const pal::worker_died_error&>(x);
                BOOST_TEST(d.pid() == 17);
                BOOST_TEST(d.signal() == 9);
                BOOST_TEST(d.exit_status() == -1);
            });
    inspect(transport(std::make_exception_ptr(pal::worker_died_error("exited", 4242, 0, 3))),
            [](const std::exception& x) {
                const auto& d = dynamic_cast<const pal::worker_died_error&>(x);
                BOOST_TEST(d.pid() == 4242);
                BOOST_TEST(d.signal() == 0);
                BOOST_TEST(d.exit_status() == 3);
            });
    same_code(pal::pool_closed_error("closed"));
    same_code(pal::cancelled_error("cancelled"));
    same_code(pal::timeout_error("late"));
    same_code(pal::initializer_error("init"));
    // broken_pool_error takes any code; asio's categories are known to the parent.
    same_code(pal::broken_pool_error("x", pal::make_error_code(pal::errc::worker_died)));
    same_code(pal::broken_pool_error("x", boost::asio::error::eof));
    same_code(pal::broken_pool_error("x", sys::error_code(2, sys::generic_category())));
}

BOOST_AUTO_TEST_CASE(boost_system_error_comes_back_as_itself)
{
    check_same_type_and_text(sys::system_error(boost::asio::error::host_not_found, "resolve"),
                             kind::library);
    check_same_type_and_text(sys::system_error(sys::error_code(32, sys::system_category())),
                             kind::library);
}

BOOST_AUTO_TEST_CASE(remote_error_keeps_its_type_name_and_text)
{
    pal::remote_error original("some::other_error", "it failed: badly");
    detail::remote_exception_info info = capture(std::make_exception_ptr(original));
    BOOST_TEST(info.chain[0].kind == static_cast<std::uint32_t>(kind::relayed));
    BOOST_TEST(info.chain[0].type_name == "some::other_error");
    BOOST_TEST(info.chain[0].message == "it failed: badly");
    inspect(detail::rebuild_exception(through_cereal(info)), [&](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(pal::remote_error)));
        BOOST_TEST(dynamic_cast<const pal::remote_error&>(x).type_name() == "some::other_error");
        BOOST_TEST(std::string(x.what()) == std::string(original.what()));
    });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(user_types)

BOOST_AUTO_TEST_CASE(registered_type_comes_back_as_itself)
{
    check_same_type_and_text(rex_test::registered_error("registered"), kind::registered);
    check_same_type_and_text(rex_test::pair_error<int, long>("pair"), kind::registered);
}

BOOST_AUTO_TEST_CASE(registered_under_a_name_travels_by_that_name)
{
    BOOST_TEST(rex_test::renamed_registered);
    detail::remote_exception_info info =
        capture(std::make_exception_ptr(rex_test::renamed_error("renamed")));
    BOOST_TEST(info.chain[0].type_name == "rex_test.renamed");
    BOOST_TEST(info.chain[0].kind == static_cast<std::uint32_t>(kind::registered));
    inspect(detail::rebuild_exception(through_cereal(info)), [](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(rex_test::renamed_error)));
        BOOST_TEST(std::string(x.what()) == "renamed");
    });
}

BOOST_AUTO_TEST_CASE(repeated_and_conflicting_registrations)
{
    // Again, with the same name: harmless, and still registered.
    BOOST_TEST(pal::register_exception<rex_test::registered_error>());
    BOOST_TEST(pal::register_exception<rex_test::renamed_error>("rex_test.renamed"));
    // Another type under a taken name, or a registered type under another name: refused.
    BOOST_TEST(!pal::register_exception<rex_test::unregistered_error>("rex_test.renamed"));
    BOOST_TEST(!pal::register_exception<rex_test::unregistered_error>(
        detail::demangled_name<rex_test::registered_error>()));
    BOOST_TEST(!pal::register_exception<rex_test::registered_error>("another.name"));
    BOOST_TEST(!pal::register_exception<rex_test::unregistered_error>(""));

    // Nothing changed: the unregistered type is still unregistered, the others still work.
    inspect(transport(std::make_exception_ptr(rex_test::unregistered_error("u"))),
            [](const std::exception& x) { BOOST_TEST((typeid(x) == typeid(pal::remote_error))); });
    check_same_type_and_text(rex_test::registered_error("r"), kind::registered);
    inspect(transport(std::make_exception_ptr(rex_test::renamed_error("n"))),
            [](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(rex_test::renamed_error)));
    });
}

BOOST_AUTO_TEST_CASE(unregistered_type_comes_back_as_remote_error)
{
    detail::remote_exception_info info =
        capture(std::make_exception_ptr(rex_test::unregistered_error("it broke")));
    BOOST_TEST(info.chain[0].kind == static_cast<std::uint32_t>(kind::unknown));
    BOOST_TEST(info.chain[0].type_name == "rex_test::unregistered_error");
    inspect(detail::rebuild_exception(through_cereal(info)), [](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(pal::remote_error)));
        const auto& r = dynamic_cast<const pal::remote_error&>(x);
        BOOST_TEST(r.type_name() == "rex_test::unregistered_error");
        BOOST_TEST(std::string(x.what()) ==
                   pal::remote_error("rex_test::unregistered_error", "it broke").what());
        BOOST_TEST((r.code() == pal::errc::remote_failure));
    });
}

BOOST_AUTO_TEST_CASE(derived_from_a_registered_type_is_not_registered)
{
    inspect(transport(std::make_exception_ptr(rex_test::derived_error("derived"))),
            [](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(pal::remote_error)));
        BOOST_TEST(dynamic_cast<const pal::remote_error&>(x).type_name() ==
                   "rex_test::derived_error");
    });
}

BOOST_AUTO_TEST_CASE(registration_from_the_parent_side_only_is_not_used)
{
    // A layer that the worker did not know as registered stays a remote_error in the parent.
    detail::remote_exception_info info =
        capture(std::make_exception_ptr(rex_test::registered_error("x")));
    info.chain[0].kind = static_cast<std::uint32_t>(kind::unknown);
    inspect(detail::rebuild_exception(info),
            [](const std::exception& x) { BOOST_TEST((typeid(x) == typeid(pal::remote_error))); });
    // And a registered name the parent does not know gives a remote_error too.
    info.chain[0].kind = static_cast<std::uint32_t>(kind::registered);
    info.chain[0].type_name = "not.known.here";
    inspect(detail::rebuild_exception(info), [](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(pal::remote_error)));
        BOOST_TEST(dynamic_cast<const pal::remote_error&>(x).type_name() == "not.known.here");
    });
    // So does a standard name the parent does not have.
    info.chain[0].kind = static_cast<std::uint32_t>(kind::standard);
    info.chain[0].type_name = "std::no_such_error";
    inspect(detail::rebuild_exception(info),
            [](const std::exception& x) { BOOST_TEST((typeid(x) == typeid(pal::remote_error))); });
}

BOOST_AUTO_TEST_CASE(non_std_exceptions)
{
    detail::remote_exception_info info = capture(std::make_exception_ptr(42));
    BOOST_TEST_REQUIRE(info.chain.size() == 1u);
    BOOST_TEST(info.chain[0].type_name == "int");
    BOOST_TEST(info.chain[0].kind == static_cast<std::uint32_t>(kind::unknown));
    BOOST_TEST(info.chain[0].message.find("std::exception") != std::string::npos);
    inspect(detail::rebuild_exception(through_cereal(info)), [](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(pal::remote_error)));
        BOOST_TEST(dynamic_cast<const pal::remote_error&>(x).type_name() == "int");
    });

    info = capture(std::make_exception_ptr(rex_test::plain{}));
    BOOST_TEST(info.chain[0].type_name == "rex_test::plain");
    info = capture(std::make_exception_ptr(std::string("a string")));
    BOOST_TEST(info.chain[0].type_name.find("basic_string") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(null_and_empty)
{
    detail::remote_exception_info info = capture(nullptr);
    BOOST_TEST_REQUIRE(info.chain.size() == 1u);
    BOOST_TEST(info.chain[0].type_name == "unknown exception type");
    inspect(detail::rebuild_exception(info),
            [](const std::exception& x) { BOOST_TEST((typeid(x) == typeid(pal::remote_error))); });

    inspect(detail::rebuild_exception(detail::remote_exception_info{}),
            [](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(pal::remote_error)));
        BOOST_TEST(dynamic_cast<const pal::remote_error&>(x).type_name() ==
                   "unknown exception type");
    });
    // Found by the failure-frame fuzzer: without a chain, the traceback was dropped.
    detail::remote_exception_info bare;
    bare.traceback = "task 'bare' in worker process 1 failed:\n";
    inspect(detail::rebuild_exception(bare), [&](const std::exception& x) {
        BOOST_TEST(pal::get_remote_traceback(x) == bare.traceback);
    });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nested)

BOOST_AUTO_TEST_CASE(three_level_chain_is_walked_in_the_parent)
{
    std::exception_ptr original = three_level_chain();
    detail::remote_exception_info info = capture(original);
    BOOST_TEST_REQUIRE(info.chain.size() == 3u);
    // Layer names are the thrown types, not the library's nested wrappers.
    BOOST_TEST(info.chain[0].type_name == "asio_pal::initializer_error");
    BOOST_TEST(info.chain[1].type_name == "rex_test::registered_error");
    BOOST_TEST(info.chain[2].type_name == "std::out_of_range");

    std::exception_ptr rebuilt = detail::rebuild_exception(through_cereal(info));
    auto expected = walk(original);
    auto got = walk(rebuilt);
    BOOST_TEST_REQUIRE(got.size() == 3u);
    BOOST_TEST_REQUIRE(expected.size() == 3u);
    for (std::size_t i = 0; i < 3; ++i)
    {
        BOOST_TEST_CONTEXT("layer " << i)
        {
            BOOST_TEST(got[i].first == expected[i].first);
            BOOST_TEST(got[i].second == expected[i].second);
        }
    }
    BOOST_TEST(got[2].first == "std::out_of_range");
    BOOST_TEST(got[2].second == "index 7 is out of range");

    // Each layer is caught as its type.
    try
    {
        std::rethrow_exception(rebuilt);
    }
    catch (const pal::initializer_error& outer)
    {
        BOOST_TEST((outer.code() == pal::errc::initializer_failed));
        try
        {
            std::rethrow_if_nested(outer);
        }
        catch (const rex_test::registered_error& middle)
        {
            BOOST_TEST(std::string(middle.what()) == "cannot load the table");
            try
            {
                std::rethrow_if_nested(middle);
            }
            catch (const std::out_of_range& inner)
            {
                BOOST_TEST(std::string(inner.what()) == "index 7 is out of range");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(nested_template_and_non_std_layers)
{
    std::exception_ptr e;
    try
    {
        try
        {
            try
            {
                throw 7;
            }
            catch (...)
            {
                std::throw_with_nested(rex_test::plain{});
            }
        }
        catch (...)
        {
            std::throw_with_nested(rex_test::pair_error<int, long>("pair"));
        }
    }
    catch (...)
    {
        e = std::current_exception();
    }
    detail::remote_exception_info info = capture(e);
    BOOST_TEST_REQUIRE(info.chain.size() == 3u);
    BOOST_TEST(info.chain[0].type_name == "rex_test::pair_error<int, long>");
    BOOST_TEST(info.chain[0].kind == static_cast<std::uint32_t>(kind::registered));
    BOOST_TEST(info.chain[1].type_name == "rex_test::plain");
    BOOST_TEST(info.chain[2].type_name == "int");

    auto got = walk(detail::rebuild_exception(through_cereal(info)));
    BOOST_TEST_REQUIRE(got.size() == 3u);
    BOOST_TEST(got[0].first == "std::_Nested_exception<rex_test::pair_error<int, long> >");
    BOOST_TEST(got[0].second == "pair");
    BOOST_TEST(got[1].first == "std::_Nested_exception<asio_pal::remote_error>");
    BOOST_TEST(got[2].first == "asio_pal::remote_error");
}

BOOST_AUTO_TEST_CASE(traceback_text)
{
    detail::remote_exception_info info = capture(three_level_chain(), "load_table");
    const std::string expected = "task 'load_table' in worker process 4242 failed:\n"
                                 "  asio_pal::initializer_error: " +
                                 std::string(pal::initializer_error("worker setup failed").what()) +
                                 "\n"
                                 "  caused by rex_test::registered_error: cannot load the table\n"
                                 "  caused by std::out_of_range: index 7 is out of range\n";
    BOOST_TEST(info.traceback == expected);
    BOOST_TEST(through_cereal(info).traceback == expected);
}

BOOST_AUTO_TEST_CASE(traceback_indents_continuation_lines)
{
    detail::remote_exception_info info =
        capture(std::make_exception_ptr(std::runtime_error("first\nsecond")), "t");
    BOOST_TEST(info.traceback == "task 't' in worker process 4242 failed:\n"
                                 "  std::runtime_error: first\n"
                                 "    second\n");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(remote_traceback)

BOOST_AUTO_TEST_CASE(local_exception_has_none)
{
    BOOST_TEST(pal::get_remote_traceback(std::runtime_error("local")).empty());
    inspect(std::make_exception_ptr(std::logic_error("local")),
            [](const std::exception& x) { BOOST_TEST(pal::get_remote_traceback(x).empty()); });
}

BOOST_AUTO_TEST_CASE(rethrow_exception_rethrows_the_same_object)
{
    // What the table relies on: catching a rethrown exception_ptr twice gives one object.
    std::exception_ptr e = std::make_exception_ptr(std::runtime_error("x"));
    const void* first = nullptr;
    const void* second = nullptr;
    inspect(e, [&](const std::exception& x) { first = &x; });
    inspect(e, [&](const std::exception& x) { second = &x; });
    BOOST_TEST(first == second);
    std::exception_ptr copy = e;
    inspect(copy, [&](const std::exception& x) { second = &x; });
    BOOST_TEST(first == second);
}

BOOST_AUTO_TEST_CASE(rebuilt_exception_has_the_traceback_on_every_layer)
{
    detail::remote_exception_info info = capture(three_level_chain(), "load_table");
    std::exception_ptr rebuilt = detail::rebuild_exception(through_cereal(info));
    try
    {
        std::rethrow_exception(rebuilt);
    }
    catch (const pal::initializer_error& outer)
    {
        BOOST_TEST(pal::get_remote_traceback(outer) == info.traceback);
        try
        {
            std::rethrow_if_nested(outer);
        }
        catch (const rex_test::registered_error& middle)
        {
            // Looked up through another base of the same object.
            BOOST_TEST(pal::get_remote_traceback(middle) == info.traceback);
            try
            {
                std::rethrow_if_nested(middle);
            }
            catch (const std::exception& inner)
            {
                BOOST_TEST(pal::get_remote_traceback(inner) == info.traceback);
            }
        }
    }
    // A copy of the object is a local exception.
    inspect(rebuilt, [](const std::exception& x) {
        pal::initializer_error copy = dynamic_cast<const pal::initializer_error&>(x);
        BOOST_TEST(pal::get_remote_traceback(copy).empty());
    });
}

BOOST_AUTO_TEST_CASE(standard_type_has_the_traceback)
{
    detail::remote_exception_info info =
        capture(std::make_exception_ptr(std::bad_alloc()), "allocate");
    inspect(detail::rebuild_exception(info), [&](const std::exception& x) {
        BOOST_TEST((typeid(x) == typeid(std::bad_alloc)));
        BOOST_TEST(pal::get_remote_traceback(x) == info.traceback);
        BOOST_TEST(pal::get_remote_traceback(x).find("std::bad_alloc: std::bad_alloc") !=
                   std::string::npos);
    });
}

BOOST_AUTO_TEST_CASE(failure_passed_on_from_a_deeper_worker_keeps_its_account)
{
    // A worker rebuilt a failure of its own worker, then failed with it.
    std::exception_ptr deeper = detail::rebuild_exception(
        capture(std::make_exception_ptr(rex_test::unregistered_error("deep failure")), "inner"));
    detail::remote_exception_info info = capture(deeper, "outer");
    BOOST_TEST(
        info.traceback ==
        "task 'outer' in worker process 4242 failed:\n"
        "  asio_pal::remote_error: " +
            std::string(pal::remote_error("rex_test::unregistered_error", "deep failure").what()) +
            "\n"
            "    task 'inner' in worker process 4242 failed:\n"
            "      rex_test::unregistered_error: deep failure\n");
    inspect(detail::rebuild_exception(info), [](const std::exception& x) {
        BOOST_TEST(dynamic_cast<const pal::remote_error&>(x).type_name() ==
                   "rex_test::unregistered_error");
    });
}

BOOST_AUTO_TEST_CASE(attach_to_any_exception)
{
    std::exception_ptr e = std::make_exception_ptr(std::runtime_error("x"));
    detail::attach_remote_traceback(e, "first");
    detail::attach_remote_traceback(e, "second");
    inspect(e,
            [](const std::exception& x) { BOOST_TEST(pal::get_remote_traceback(x) == "second"); });
    // Not a std::exception: ignored.
    detail::attach_remote_traceback(std::make_exception_ptr(1), "ignored");
    detail::attach_remote_traceback(nullptr, "ignored");
}

BOOST_AUTO_TEST_CASE(the_table_is_bounded)
{
    const std::size_t capacity = detail::remote_traceback_capacity;
    auto rebuild_counted = [](std::size_t i) {
        return detail::rebuild_exception(capture(
            std::make_exception_ptr(rex_test::counted_error("n" + std::to_string(i))), "t"));
    };

    std::exception_ptr oldest = rebuild_counted(0);
    inspect(oldest,
            [](const std::exception& x) { BOOST_TEST(!pal::get_remote_traceback(x).empty()); });

    // Many more, dropped at once: the table keeps at most `capacity` of them alive.
    for (std::size_t i = 1; i <= capacity + 100; ++i)
        rebuild_counted(i);
    BOOST_TEST(detail::remote_traceback_count() == capacity);
    BOOST_TEST(rex_test::counted_error::live.load() <= static_cast<int>(capacity) + 1);

    // The oldest was evicted (but is alive: `oldest` holds it); the newest is there.
    inspect(oldest, [](const std::exception& x) {
        BOOST_TEST(std::string(x.what()) == "n0");
        BOOST_TEST(pal::get_remote_traceback(x).empty());
    });
    std::exception_ptr newest = rebuild_counted(capacity + 101);
    inspect(newest, [](const std::exception& x) {
        BOOST_TEST(pal::get_remote_traceback(x).find(
                       "n" + std::to_string(detail::remote_traceback_capacity + 101)) !=
                   std::string::npos);
    });

    // Pushing more through lets go of everything it held.
    const int held = rex_test::counted_error::live.load();
    for (std::size_t i = 0; i < capacity; ++i)
        detail::attach_remote_traceback(std::make_exception_ptr(std::runtime_error("filler")), "f");
    BOOST_TEST(detail::remote_traceback_count() == capacity);
    BOOST_TEST(rex_test::counted_error::live.load() < held);
    oldest = nullptr;
    newest = nullptr;
    BOOST_TEST(rex_test::counted_error::live.load() == 0);
}

BOOST_AUTO_TEST_CASE(registry_and_table_from_many_threads)
{
    constexpr int threads = 4;
    constexpr int rounds = 200;
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
    {
        workers.emplace_back([t, &failures] {
            for (int i = 0; i < rounds; ++i)
            {
                if (!pal::register_exception<rex_test::registered_error>())
                    ++failures;
                const std::string text = "t" + std::to_string(t) + "." + std::to_string(i);
                std::exception_ptr e = detail::rebuild_exception(
                    capture(std::make_exception_ptr(rex_test::registered_error(text)), text));
                try
                {
                    std::rethrow_exception(e);
                }
                catch (const rex_test::registered_error& x)
                {
                    if (std::string(x.what()) != text ||
                        pal::get_remote_traceback(x).find("task '" + text + "'") ==
                            std::string::npos)
                        ++failures;
                }
                catch (...)
                {
                    ++failures;
                }
            }
        });
    }
    for (std::thread& w : workers)
        w.join();
    BOOST_TEST(failures.load() == 0);
    BOOST_TEST(detail::remote_traceback_count() <= detail::remote_traceback_capacity);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// A worker is another program: what it sends is checked before the parent acts on it.

namespace {

template <class T>
void put_raw(std::vector<char>& buf, T v)
{
    std::size_t at = buf.size();
    buf.resize(at + sizeof(v));
    std::memcpy(buf.data() + at, &v, sizeof(v));
}

void put_string(std::vector<char>& buf, std::string_view s)
{
    put_raw<std::uint64_t>(buf, s.size());
    buf.insert(buf.end(), s.begin(), s.end());
}

// One layer as the wire carries it, written byte by byte as a hostile worker would.
void put_layer(std::vector<char>& buf, std::string_view type, std::string_view message,
               kind k = kind::standard, std::uint64_t details = 0)
{
    put_string(buf, type);
    put_string(buf, message);
    put_raw(buf, static_cast<std::uint32_t>(k));
    put_raw<std::int64_t>(buf, 0); // code
    put_string(buf, "");           // category
    put_raw<std::uint64_t>(buf, details);
}

// The body of a failure frame whose chain has `layers` runtime_errors.
std::vector<char> failure_body(std::uint64_t layers)
{
    std::vector<char> body;
    put_raw(body, layers);
    for (std::uint64_t i = 0; i < layers; ++i)
        put_layer(body, "std::runtime_error", "layer " + std::to_string(i));
    put_string(body, "task 'deep' in worker process 1 failed:\n");
    return body;
}

// What the parent does with a failure frame's bytes: frame, decode, rebuild. A decoding error
// becomes the protocol_error the pool completes the task with.
std::exception_ptr parent_receives(const std::vector<char>& body)
{
    std::vector<char> stream;
    detail::append_frame(stream, detail::frame_type::failure, 1, body,
                         detail::default_max_frame_size);
    detail::frame_decoder decoder;
    std::span<char> space = decoder.prepare(stream.size());
    std::memcpy(space.data(), stream.data(), stream.size());
    decoder.commit(stream.size());
    std::optional<detail::frame_view> f = decoder.next();
    BOOST_TEST_REQUIRE(f.has_value());
    const detail::task_entry entry{"deep", nullptr, nullptr, nullptr};
    try
    {
        detail::remote_exception_info info;
        detail::decode(f->body, info);
        return detail::rebuild_exception(info);
    }
    catch (...)
    {
        return detail::undecodable_reply(entry, std::current_exception());
    }
}

std::string protocol_error_text(const std::exception_ptr& e)
{
    try
    {
        std::rethrow_exception(e);
    }
    catch (const pal::protocol_error& x)
    {
        return x.what();
    }
    catch (const std::exception& x)
    {
        return std::string("not a protocol_error: ") + x.what();
    }
    return "not a std::exception";
}

} // namespace

BOOST_AUTO_TEST_SUITE(hostile_worker)

BOOST_AUTO_TEST_CASE(chain_at_the_limit_is_rebuilt_whole)
{
    const std::size_t limit = detail::max_remote_exception_layers;
    BOOST_TEST(limit == 64u);
    std::exception_ptr e = parent_receives(failure_body(limit));
    auto layers = walk(e);
    BOOST_TEST_REQUIRE(layers.size() == limit);
    BOOST_TEST(layers.front().second == "layer 0");
    BOOST_TEST(layers.back().second == "layer 63");
    BOOST_TEST((layers.back().first == demangled(typeid(std::runtime_error))));
}

BOOST_AUTO_TEST_CASE(chain_over_the_limit_is_a_protocol_error)
{
    // Well formed, one layer too deep: refused, not rebuilt.
    std::string what = protocol_error_text(parent_receives(failure_body(65)));
    BOOST_TEST(what.find("the reply of task 'deep' cannot be decoded") != std::string::npos, what);
    BOOST_TEST(what.find("an exception chain of 65 layers exceeds the limit of 64 layers") !=
                   std::string::npos,
               what);

    // 300,000 layers (13 MB): rebuilding them took seconds and destroying the chain overflowed
    // the stack. The count is checked before any layer is read.
    what = protocol_error_text(parent_receives(failure_body(300'000)));
    BOOST_TEST(what.find("an exception chain of 300000 layers exceeds the limit of 64 layers") !=
                   std::string::npos,
               what);

    // So a huge count in a few bytes names the depth, not the bytes.
    std::vector<char> liar;
    put_raw<std::uint64_t>(liar, std::uint64_t{1} << 40);
    put_layer(liar, "std::runtime_error", "only one");
    what = protocol_error_text(parent_receives(liar));
    BOOST_TEST(what.find("chain of 1099511627776 layers exceeds the limit of 64") !=
                   std::string::npos,
               what);
}

BOOST_AUTO_TEST_CASE(rebuild_refuses_a_chain_over_the_limit)
{
    detail::remote_exception_info info;
    info.chain.resize(detail::max_remote_exception_layers + 1);
    for (auto& layer : info.chain)
    {
        layer.type_name = "std::runtime_error";
        layer.kind = static_cast<std::uint32_t>(kind::standard);
    }
    BOOST_CHECK_EXCEPTION(detail::rebuild_exception(info), detail::decode_error,
                          [](const detail::decode_error& e) {
                              return std::string(e.what()).find("65 layers") != std::string::npos;
                          });
    info.chain.pop_back();
    BOOST_TEST(walk(detail::rebuild_exception(info)).size() == detail::max_remote_exception_layers);
}

BOOST_AUTO_TEST_CASE(lengths_in_a_failure_frame_are_bounded_by_its_bytes)
{
    auto expect = [](const std::vector<char>& body, const std::string& part) {
        std::string what = protocol_error_text(parent_receives(body));
        BOOST_TEST(what.find(part) != std::string::npos, what);
    };
    // A type name, a message, a category or the traceback longer than the frame.
    for (int field = 0; field < 4; ++field)
    {
        BOOST_TEST_CONTEXT("field " << field)
        {
            std::vector<char> body;
            put_raw<std::uint64_t>(body, 1);
            auto text = [&](int which, std::string_view s) {
                if (which == field)
                    put_raw<std::uint64_t>(body, std::uint64_t{1} << 33);
                else
                    put_string(body, s);
            };
            text(0, "std::runtime_error");
            text(1, "message");
            put_raw(body, static_cast<std::uint32_t>(kind::standard));
            put_raw<std::int64_t>(body, 0);
            text(2, "");
            put_raw<std::uint64_t>(body, 0);
            text(3, "traceback");
            body.resize(body.size() + 64, 'x');
            expect(body, "corrupt length 8589934592");
        }
    }
    // Details: a count within the bytes left, but of 8-byte values.
    std::vector<char> body;
    put_raw<std::uint64_t>(body, 1);
    put_layer(body, "asio_pal::worker_died_error", "died", kind::library, 4096);
    body.resize(body.size() + 4096, '\0');
    expect(body, "corrupt length 4096: elements of 8 or more bytes");
}

BOOST_AUTO_TEST_CASE(foreign_category_names_are_bounded)
{
    // Categories the parent does not know live until exit, so their names and number are
    // bounded. (The last test of the module: it fills the table of foreign categories.)
    auto category_of = [](const std::string& name) {
        detail::remote_exception_info info;
        info.chain.resize(1);
        info.chain[0].type_name = demangled(typeid(std::system_error));
        info.chain[0].kind = static_cast<std::uint32_t>(kind::standard);
        info.chain[0].code = 5;
        info.chain[0].category = name;
        const std::error_category* category = nullptr;
        inspect(detail::rebuild_exception(info), [&](const std::exception& x) {
            category = &dynamic_cast<const std::system_error&>(x).code().category();
        });
        return category;
    };
    const std::string long_name(1 << 20, 'c');
    BOOST_TEST(std::strlen(category_of(long_name)->name()) <= 256u);

    std::set<const std::error_category*> distinct;
    for (int i = 0; i < 1000; ++i)
        distinct.insert(category_of("rex_test.foreign." + std::to_string(i)));
    BOOST_TEST(distinct.size() <= 256u);
    // Past the limit, new names share one category; the codes keep their values.
    const std::error_category* shared = category_of("rex_test.one.more");
    BOOST_TEST(std::string(shared->name()) == "asio_pal.foreign_category");
}

BOOST_AUTO_TEST_CASE(traceback_table_is_bounded_by_bytes)
{
    // 1,024 failures with 256 KiB messages once kept 512 MiB alive.
    const std::size_t big = 256 * 1024;
    const std::size_t cap = detail::remote_traceback_byte_capacity;
    BOOST_TEST(cap == 4u * 1024 * 1024);
    std::vector<std::exception_ptr> recent;
    for (std::size_t i = 0; i < detail::remote_traceback_capacity; ++i)
    {
        std::string message = "m" + std::to_string(i) + ":" + std::string(big, 'm');
        std::string text = "t" + std::to_string(i) + ":" + std::string(big, 't');
        std::exception_ptr e = std::make_exception_ptr(rex_test::counted_error(message));
        detail::attach_remote_traceback(e, std::move(text));
        if (i == 0 || i + 4 >= detail::remote_traceback_capacity)
            recent.push_back(e);
        BOOST_TEST_REQUIRE(detail::remote_traceback_bytes() <= cap);
    }
    // Two strings of 256 KiB per entry: about 8 entries fit.
    BOOST_TEST(detail::remote_traceback_count() <= cap / (2 * big));
    BOOST_TEST(detail::remote_traceback_count() >= cap / (2 * big) - 1);
    BOOST_TEST(rex_test::counted_error::live.load() <=
               static_cast<int>(cap / (2 * big)) + static_cast<int>(recent.size()));
    // The oldest is gone, the newest are there.
    inspect(recent.front(), [](const std::exception& x) {
        BOOST_TEST(pal::get_remote_traceback(x).empty());
    });
    for (std::size_t k = 1; k < recent.size(); ++k)
    {
        inspect(recent[k], [&](const std::exception& x) {
            const std::size_t i = detail::remote_traceback_capacity - 5 + k;
            BOOST_TEST(pal::get_remote_traceback(x).starts_with("t" + std::to_string(i) + ":"));
        });
    }

    // A chain's layers share one text, counted once: 64 layers with one 1 MiB text fit.
    std::vector<char> body;
    put_raw<std::uint64_t>(body, detail::max_remote_exception_layers);
    for (std::size_t i = 0; i < detail::max_remote_exception_layers; ++i)
        put_layer(body, "std::runtime_error", "small");
    put_string(body, std::string(1 << 20, 'x'));
    std::exception_ptr chain = parent_receives(body);
    BOOST_TEST(detail::remote_traceback_bytes() <= cap);
    BOOST_TEST(detail::remote_traceback_count() >= detail::max_remote_exception_layers);
    inspect(chain, [](const std::exception& x) {
        BOOST_TEST(pal::get_remote_traceback(x).size() == std::size_t{1} << 20);
    });

    // One entry alone over the limit stays (the most recent failure keeps its account).
    std::exception_ptr huge = std::make_exception_ptr(std::runtime_error("huge"));
    detail::attach_remote_traceback(huge, std::string(cap + 1, 'h'));
    BOOST_TEST(detail::remote_traceback_count() == 1u);
    inspect(huge, [&](const std::exception& x) {
        BOOST_TEST(pal::get_remote_traceback(x).size() == cap + 1);
    });
    // And goes with the next one.
    detail::attach_remote_traceback(std::make_exception_ptr(std::runtime_error("next")), "n");
    BOOST_TEST(detail::remote_traceback_count() == 1u);
    BOOST_TEST(detail::remote_traceback_bytes() == 5u);
}

BOOST_AUTO_TEST_SUITE_END()
