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

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using namespace std::chrono_literals;

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

struct child_result
{
    bool timed_out = false;
    int status = 0; // as from waitpid
    std::string out;
    std::string err;

    std::string describe() const
    {
        std::ostringstream s;
        if (timed_out)
            s << "killed after " << run_limit.count() << " s; ";
        else if (WIFEXITED(status))
            s << "exited with status " << WEXITSTATUS(status) << "; ";
        else if (WIFSIGNALED(status))
            s << "killed by signal " << WTERMSIG(status) << " (" << strsignal(WTERMSIG(status))
              << "); ";
        s << "\n--- stdout ---\n" << out << "--- stderr ---\n" << err << "--------------";
        return s.str();
    }
};

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

/// Runs `path arg` with stdout and stderr captured; SIGKILLs it after run_limit.
child_result run_child(const std::string& path, const std::string& arg)
{
    child_result r;
    int out_pipe[2];
    int err_pipe[2];
    BOOST_TEST_REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
    BOOST_TEST_REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);

    std::vector<char*> argv{const_cast<char*>(path.c_str()), const_cast<char*>(arg.c_str()),
                            nullptr};
    std::vector<std::string> env_strings = child_environment();
    std::vector<char*> envp;
    for (std::string& e : env_strings)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    const auto deadline = std::chrono::steady_clock::now() + run_limit;
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0)
    {
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        BOOST_TEST_REQUIRE(rc == 0, "posix_spawn(" << path << ") failed: " << std::strerror(rc));
    }

    // Read both pipes until EOF or the deadline.
    int fds[2] = {out_pipe[0], err_pipe[0]};
    std::string* sinks[2] = {&r.out, &r.err};
    while ((fds[0] >= 0 || fds[1] >= 0) && std::chrono::steady_clock::now() < deadline)
    {
        pollfd p[2];
        nfds_t n = 0;
        int which[2];
        for (int i = 0; i < 2; ++i)
            if (fds[i] >= 0)
            {
                p[n] = pollfd{fds[i], POLLIN, 0};
                which[n++] = i;
            }
        if (::poll(p, n, 100) < 0 && errno != EINTR)
            break;
        for (nfds_t k = 0; k < n; ++k)
        {
            if ((p[k].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
                continue;
            char buf[4096];
            ssize_t got = ::read(p[k].fd, buf, sizeof buf);
            if (got > 0)
                sinks[which[k]]->append(buf, static_cast<std::size_t>(got));
            else if (got == 0 || errno != EINTR)
            {
                ::close(fds[which[k]]);
                fds[which[k]] = -1;
            }
        }
    }

    // Reap it, or kill it at the deadline.
    for (;;)
    {
        pid_t w = ::waitpid(pid, &r.status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
        {
            BOOST_ERROR("waitpid failed: " << std::strerror(errno));
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline)
        {
            r.timed_out = true;
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR)
            {
            }
            break;
        }
        std::this_thread::sleep_for(5ms); // polling the child's state, not synchronising with it
    }
    for (int fd : fds)
        if (fd >= 0)
            ::close(fd);
    BOOST_TEST_MESSAGE(path << " " << arg << ": " << r.describe());
    return r;
}

/// The peak RSS (KiB) a successful helper run printed; empty when the run failed.
std::optional<long> peak_rss_of(long items)
{
    const std::string path = helper_path();
    BOOST_TEST_REQUIRE(!path.empty(),
                       "no helper path; run as: map_memory --catch_system_errors=no -- <helper>");
    child_result r = run_child(path, std::to_string(items));
    bool ok = !r.timed_out && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
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
