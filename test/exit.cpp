//
// test/exit.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests program exit with thread pools still alive (DESIGN.md, "Program exit"): static,
// function-local static and leaked pools, with running, queued and idle work, leaving main by
// return or by std::exit. Each case runs a helper program (test/helpers/exit_*.cpp) as a child
// process and checks that it exits with exactly the status it chose, is not killed by a signal
// (std::terminate, abort, a sanitizer), prints the lines that show its running tasks finished
// and its queued tasks were cancelled, and finishes within a bounded time (a hang is killed
// and fails the test after 20 s).
//
// Usage: exit [Boost.Test options] -- <helper> <helper> <helper>
// The helpers are recognised by file name (exit_static_pool, exit_leaked_pool,
// exit_running_tasks), in any order; paths whose names say nothing are taken in the order
// static, leaked, running. The build files pass them in alphabetical order.
//

#include "asio_pal/thread_pool.hpp"

#define BOOST_TEST_MODULE exit
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/child_process.hpp"

namespace {

using namespace std::chrono_literals;

// Every helper run is killed after this long. The helpers need well under a second; the limit
// stays below the helpers' 60 s idle timeouts (so an exit that waits for idle workers fails as a
// hang), and five hung runs still fit in the test's 120 s CTest timeout.
constexpr auto run_limit = 20s;

enum class helper
{
    static_pool,
    leaked_pool,
    running_tasks,
};

const char* helper_file_name(helper h)
{
    switch (h)
    {
    case helper::static_pool:
        return "exit_static_pool";
    case helper::leaked_pool:
        return "exit_leaked_pool";
    default:
        return "exit_running_tasks";
    }
}

// The helper's path from the command line; empty when not given.
std::string helper_path(helper which)
{
    auto& suite = boost::unit_test::framework::master_test_suite();
    std::vector<std::string> args;
    for (int i = 1; i < suite.argc; ++i)
        if (std::strcmp(suite.argv[i], "--") != 0)
            args.emplace_back(suite.argv[i]);
    for (const std::string& a : args)
    {
        std::string base = a.substr(a.find_last_of('/') + 1);
        if (base.find(helper_file_name(which)) != std::string::npos)
            return a;
    }
    // Positional fallback: static, leaked, running.
    auto index = static_cast<std::size_t>(which);
    bool any_named = std::any_of(args.begin(), args.end(), [](const std::string& a) {
        return a.find("exit_") != std::string::npos;
    });
    if (!any_named && index < args.size())
        return args[index];
    return {};
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// Index of the first line equal to `line`, if any.
std::optional<std::size_t> find_line(const std::vector<std::string>& lines, const std::string& line)
{
    auto it = std::find(lines.begin(), lines.end(), line);
    if (it == lines.end())
        return std::nullopt;
    return static_cast<std::size_t>(it - lines.begin());
}

// One run of a helper and the checks made on it. Failures are gathered and reported in one
// assertion, with the run's whole output.
class helper_run
{
public:
    helper_run(helper which, const std::vector<std::string>& args, int expected_status)
        : name_(helper_file_name(which))
    {
        for (const std::string& a : args)
            name_ += " " + a;
        std::string path = helper_path(which);
        BOOST_TEST_REQUIRE(!path.empty(), "no path given for helper "
                                              << helper_file_name(which)
                                              << "; run as: exit -- <exit_static_pool> "
                                                 "<exit_leaked_pool> <exit_running_tasks>");
        r_ = asio_pal_test::run_to_end(path, args, run_limit);
        BOOST_TEST_MESSAGE(path << ": " << r_.describe());
        lines_ = lines_of(r_.out);

        expect(!r_.timed_out, "hung: killed after " + std::to_string(run_limit.count()) + " s");
        expect(r_.timed_out || !r_.signalled(), "killed by a signal");
        expect(r_.timed_out || (r_.exited() && r_.exit_status() == expected_status),
               "exit status is not " + std::to_string(expected_status));
        for (const char* bad :
             {"terminate called", "Sanitizer", "runtime error", "exception escaped"})
            expect(r_.err.find(bad) == std::string::npos, std::string("\"") + bad + "\" on stderr");
    }

    helper_run(const helper_run&) = delete;
    helper_run& operator=(const helper_run&) = delete;

    ~helper_run()
    {
        std::string all;
        for (const std::string& f : failures_)
            all += "\n  - " + f;
        BOOST_TEST(failures_.empty(), name_ << ":" << all << "\n" << r_.describe());
    }

    const asio_pal_test::run_result& result() const { return r_; }

    /// Repeating a run that hung or crashed tells nothing more.
    bool worth_repeating() const { return !r_.timed_out && r_.exited(); }

    void expect(bool ok, const std::string& what)
    {
        if (!ok)
            failures_.push_back(what);
    }

    /// Every line of `expected` is printed, in this order.
    void lines_in_order(const std::vector<std::string>& expected)
    {
        std::optional<std::size_t> previous;
        for (const std::string& e : expected)
        {
            auto at = find_line(lines_, e);
            expect(at.has_value(), "missing line \"" + e + "\"");
            if (at && previous)
                expect(*at > *previous, "line \"" + e + "\" out of order");
            if (at)
                previous = at;
        }
    }

    void line_present(const std::string& line)
    {
        expect(find_line(lines_, line).has_value(), "missing line \"" + line + "\"");
    }

    void text_absent(const std::string& text)
    {
        expect(r_.out.find(text) == std::string::npos, "unexpected \"" + text + "\" on stdout");
    }

    /// Exit did not wait for workers idling with a 60 s timeout.
    void quick_exit()
    {
        expect(r_.elapsed < 15s,
               "took " + std::to_string(r_.elapsed.count()) + " s: exit waited for idle workers?");
    }

private:
    std::string name_;
    asio_pal_test::run_result r_;
    std::vector<std::string> lines_;
    std::vector<std::string> failures_;
};

// Enough runs to catch the usual orderings, few enough to stay quick under sanitizers.
constexpr int repeats = 3;

} // namespace

BOOST_AUTO_TEST_CASE(static_pool_with_running_task_and_idle_workers)
{
    for (int i = 0; i < repeats; ++i)
    {
        helper_run run(helper::static_pool, {}, 0);
        run.lines_in_order({
            "static: quick tasks done, sum=285",
            "static: running tasks started",
            "static: main returning",
            "static: running task finished, pool closed, guard alive",
            "static: running task callback, status completed",
            "static: held task finished, pool closed, guard alive",
            "static: held pool destroyed",
            "static: guard destroyed, pool threads left=0",
        });
        run.text_absent("timed out");
        run.quick_exit();
        if (!run.worth_repeating())
            break;
    }
}

BOOST_AUTO_TEST_CASE(static_pool_std_exit_from_main)
{
    helper_run run(helper::static_pool, {"--std-exit"}, 43);
    run.lines_in_order({
        "static: running tasks started",
        "static: main calling std::exit(43)",
        "static: running task finished, pool closed, guard alive",
        "static: running task callback, status completed",
        "static: held task finished, pool closed, guard alive",
        "static: held pool destroyed",
        "static: guard destroyed, pool threads left=0",
    });
    run.text_absent("static: main returning");
    run.text_absent("timed out");
    run.quick_exit();
}

BOOST_AUTO_TEST_CASE(leaked_pools_with_idle_workers_and_queued_tasks)
{
    for (int i = 0; i < repeats; ++i)
    {
        helper_run run(helper::leaked_pool, {}, 7);
        run.lines_in_order({
            "leaked: idle pool ready, workers=4",
            "leaked: busy pool ready, pending=3",
            "leaked: main returning",
            "leaked: late exit handler, pool threads left=0",
        });
        run.lines_in_order({"leaked: main returning", "leaked: busy task finished, pool closed",
                            "leaked: late exit handler, pool threads left=0"});
        for (int k = 0; k < 3; ++k)
            run.lines_in_order({"leaked: main returning",
                                "leaked: pending task " + std::to_string(k) + " cancelled",
                                "leaked: late exit handler, pool threads left=0"});
        run.text_absent("RAN");
        run.text_absent("NOT cancelled");
        run.text_absent("timed out");
        run.quick_exit();
        if (!run.worth_repeating())
            break;
    }
}

BOOST_AUTO_TEST_CASE(pools_destroyed_and_made_by_the_exit_time_shutdown)
{
    // The exit handler once walked a copy of its list of pools: shutting the outer pool down
    // destroyed the inner one, and the handler then shut down freed memory.
    for (int i = 0; i < repeats; ++i)
    {
        helper_run run(helper::leaked_pool, {"--chained"}, 8);
        run.lines_in_order({"leaked: chained pools ready", "leaked: main returning",
                            "leaked: inner pool destroyed",
                            "leaked: late exit handler, pool threads left=0"});
        run.lines_in_order({"leaked: main returning", "leaked: late pool made",
                            "leaked: late exit handler, pool threads left=0"});
        run.text_absent("RAN");
        run.text_absent("timed out");
        run.quick_exit();
        if (!run.worth_repeating())
            break;
    }
}

namespace {

void check_running_tasks(helper_run& run, const std::string& leave_line)
{
    run.lines_in_order({"running: task 0 started", "running: task 1 started",
                        "running: lazy task started", "running: pending=4", leave_line,
                        "running: lazy task completed, pool closed",
                        "running: late exit handler, pool threads left=0"});
    for (const char* task : {"task 0", "task 1"})
        run.lines_in_order({leave_line, std::string("running: ") + task + " completed, pool closed",
                            "running: late exit handler, pool threads left=0"});
    for (int k = 0; k < 4; ++k)
        run.lines_in_order({leave_line, "running: pending task " + std::to_string(k) + " cancelled",
                            "running: late exit handler, pool threads left=0"});
    run.text_absent("RAN");
    run.text_absent("NOT cancelled");
    run.text_absent("timed out");
    run.quick_exit();
}

} // namespace

BOOST_AUTO_TEST_CASE(tasks_running_at_exit_finish_and_queued_ones_are_cancelled)
{
    for (int i = 0; i < repeats; ++i)
    {
        helper_run run(helper::running_tasks, {}, 5);
        check_running_tasks(run, "running: main returning");
        if (!run.worth_repeating())
            break;
    }
}

BOOST_AUTO_TEST_CASE(std_exit_from_main_with_busy_workers)
{
    for (int i = 0; i < repeats; ++i)
    {
        helper_run run(helper::running_tasks, {"--std-exit"}, 42);
        check_running_tasks(run, "running: main calling std::exit(42)");
        run.text_absent("running: main returning");
        if (!run.worth_repeating())
            break;
    }
}
