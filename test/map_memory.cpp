// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests that a lazy map runs in constant memory (DESIGN.md, "Performance targets": a lazy map
// over 10M items with buffer_size 8 runs with a peak RSS that does not grow with the input
// length). The helper program test/helpers/map_memory.cpp maps over N items (chunk_size 1000,
// buffer_size 8) and prints its peak RSS; this test runs it as a child process with 1,000,000 and
// with 10,000,000 items and requires rss(10M) / rss(1M) < 1.5. A map that kept every chunk, every
// result or every future alive would grow about tenfold. Each run is killed after 240 s (and
// fails the test).
//
// Usage: map_memory --catch_system_errors=no -- <path of the map_memory helper>
// (--catch_system_errors=no: Boost.Test would otherwise report the child's SIGCHLD as an error.)
//
// ASIO_PAL_STRESS_SCALE (default 1.0): when below 1, both item counts are scaled down by it (for
// slow sanitizer builds), keeping their ratio of 10. ASan's quarantine keeps up to 256 MB of
// freed memory, which grows with the number of allocations rather than with live memory, so the
// child runs with ASAN_OPTIONS quarantine_size_mb=0 appended (no effect without ASan).

#include "asio_pal/map.hpp"
#include "asio_pal/thread_pool.hpp"

#define BOOST_TEST_MODULE map_memory
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/child_process.hpp"

namespace {

constexpr auto run_limit = std::chrono::seconds(240);

/// The helper's path: the first command-line argument that is not "--".
std::string helper_path()
{
    auto& suite = boost::unit_test::framework::master_test_suite();
    for (int i = 1; i < suite.argc; ++i)
        if (std::strcmp(suite.argv[i], "--") != 0)
            return suite.argv[i];
    return {};
}

/// ASIO_PAL_STRESS_SCALE, when set to a number in (0, 1); else 1.
double stress_scale()
{
    const char* s = std::getenv("ASIO_PAL_STRESS_SCALE");
    if (!s || !*s)
        return 1.0;
    char* end = nullptr;
    double v = std::strtod(s, &end);
    if (end == s || !(v > 0.0) || v >= 1.0)
        return 1.0;
    return v;
}

/// The environment of the child: ours, with quarantine_size_mb=0 appended to ASAN_OPTIONS.
std::vector<std::string> child_environment()
{
    std::vector<std::string> env;
    std::string asan = "ASAN_OPTIONS=quarantine_size_mb=0";
    for (char** e = environ; *e; ++e)
    {
        std::string var(*e);
        if (var.rfind("ASAN_OPTIONS=", 0) == 0)
            asan = var + ":quarantine_size_mb=0";
        else
            env.push_back(var);
    }
    env.push_back(asan);
    return env;
}

/// The peak RSS (KiB) a successful helper run printed; empty when the run failed.
std::optional<long> peak_rss_of(long items)
{
    const std::string path = helper_path();
    BOOST_TEST_REQUIRE(!path.empty(),
                       "no helper path; run as: map_memory --catch_system_errors=no -- <helper>");
    const std::string arg = std::to_string(items);
    const std::vector<std::string> env = child_environment();
    asio_pal_test::run_result r = asio_pal_test::run_to_end(path, {arg}, run_limit, &env);
    BOOST_TEST_MESSAGE(path << " " << arg << ": " << r.describe());
    bool ok = !r.timed_out && r.exited() && r.exit_status() == 0;
    BOOST_TEST(ok, "map_memory " << items << ": " << r.describe());
    if (!ok)
        return std::nullopt;
    std::istringstream in(r.out);
    std::string word;
    while (in >> word)
    {
        if (word == "peak_rss_kib")
        {
            long kib = 0;
            if (in >> kib && kib > 0)
                return kib;
        }
    }
    BOOST_ERROR("map_memory " << items << ": no peak_rss_kib in its output: " << r.describe());
    return std::nullopt;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_lazy_map_runs_in_constant_memory)
{
    const double scale = stress_scale();
    const long small = std::lround(1'000'000 * scale);
    const long large = small * 10;
    BOOST_TEST_MESSAGE("items: " << small << " and " << large << " (scale " << scale << ")");

    std::optional<long> rss_small = peak_rss_of(small);
    std::optional<long> rss_large = peak_rss_of(large);
    BOOST_TEST_REQUIRE(rss_small.has_value());
    BOOST_TEST_REQUIRE(rss_large.has_value());
    const double ratio = static_cast<double>(*rss_large) / static_cast<double>(*rss_small);
    BOOST_TEST_MESSAGE("peak RSS: " << *rss_small << " KiB for " << small << " items, "
                                    << *rss_large << " KiB for " << large << " items, ratio "
                                    << ratio);
    BOOST_TEST(ratio < 1.5, "peak RSS grew from " << *rss_small << " KiB (" << small
                                                  << " items) to " << *rss_large << " KiB ("
                                                  << large << " items): ratio " << ratio);
}
