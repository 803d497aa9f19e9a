//
// test/netfault.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Network faults between a process pool and its remote workers: the workers run in another
// network namespace of this machine (asio_pal_ns, scripts/netns.sh) and connect back over a
// veth pair, which the test cuts, makes drop every packet, or leaves alone while a worker is
// stopped by SIGSTOP (the kernel has no netem for a slow link). Heartbeats must find each, the
// running task fail with worker_died_error, and the pool serve on with a new worker; a link cut
// for less than the heartbeat timeout must cost nothing. No worker may be left in the
// namespace. Run as root by scripts/test_netfault.sh, which sets up the namespace and passes
// the path of netns.sh after "--".
//

#include "asio_pal/process_pool.hpp"

#define BOOST_TEST_MODULE netfault
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "common/eventually.hpp"
#include "common/worker_tasks.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace pal = asio_pal;
using namespace std::chrono_literals;
using asio_pal_test::eventually;

// The network namespace the task runs in, as /proc names it ("net:[4026...]").
std::string net_namespace()
{
    std::error_code ec;
    return std::filesystem::read_symlink("/proc/self/ns/net", ec).string();
}
ASIO_PAL_REGISTER_TASK(net_namespace);

namespace {

const char* const namespace_name = "asio_pal_ns";
std::string netns_script; // scripts/netns.sh, from the command line

/// Workers started in the namespace, connecting back to this side of the veth pair.
pal::process_pool_options in_namespace(std::chrono::milliseconds heartbeat_timeout = 2s,
                                       std::chrono::milliseconds connect_timeout = 60s)
{
    return {.max_workers = 1,
            .idle_timeout = std::nullopt, // the test decides when a worker goes
            .launcher = pal::command_launcher{
                .command = {"ip", "netns", "exec", namespace_name, "{exe}", "{args}"},
                .remote = {.listen_address = "10.213.0.1",
                           .connect_timeout = connect_timeout,
                           .heartbeat_interval = 200ms,
                           .heartbeat_timeout = heartbeat_timeout}}};
}

void netns(const std::string& what)
{
    std::string command = netns_script + " " + what + " >/dev/null";
    int rc = std::system(command.c_str());
    BOOST_TEST(rc == 0, "'" << command << "' failed: " << rc);
}

/// A fault of the link for the scope: `on` now, `off` at the latest when the scope ends, so
/// that a failing check leaves the link up for the next test case.
class link_fault
{
public:
    link_fault(std::string on, std::string off)
        : off_(std::move(off))
    {
        netns(on);
        since_ = std::chrono::steady_clock::now();
    }
    link_fault(const link_fault&) = delete;
    link_fault& operator=(const link_fault&) = delete;
    ~link_fault() { end(); }

    void end()
    {
        if (!off_.empty())
            netns(off_);
        off_.clear();
    }

    /// Seconds since the fault began.
    double age() const
    {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
    }

private:
    std::string off_;
    std::chrono::steady_clock::time_point since_;
};

std::string temp_path()
{
    return asio_pal_test::unique_temp_path("netfault");
}

using asio_pal_test::what_has;

/// Pids of the worker processes in the namespace (those whose arguments hold the worker
/// marker), from `ip netns pids` and /proc.
std::vector<long> workers_in_namespace()
{
    std::vector<long> found;
    std::string command = std::string("ip netns pids ") + namespace_name + " 2>/dev/null";
    FILE* p = ::popen(command.c_str(), "r");
    BOOST_TEST_REQUIRE(p != nullptr);
    long pid = 0;
    std::vector<long> pids;
    while (std::fscanf(p, "%ld", &pid) == 1)
        pids.push_back(pid);
    ::pclose(p);
    for (long each : pids)
    {
        std::ifstream in("/proc/" + std::to_string(each) + "/cmdline");
        std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::size_t at = 0;
        while (at < cmdline.size())
        {
            std::size_t end = cmdline.find('\0', at);
            if (end == std::string::npos)
                end = cmdline.size();
            if (cmdline.compare(at, end - at, "--asio-pal-worker") == 0)
            {
                found.push_back(each);
                break;
            }
            at = end + 1;
        }
    }
    return found;
}

/// Whether a process runs (a zombie does not: an orphan's reaper may be slow to wait).
bool alive(long pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t at = stat.rfind(')'); // the state follows the command's name
    return at != std::string::npos && at + 2 < stat.size() && stat[at + 2] != 'Z' &&
           stat[at + 2] != 'X';
}

/// Each case ends with no worker left in the namespace, whatever the pool went through.
struct no_worker_left_behind
{
    no_worker_left_behind() { BOOST_TEST_REQUIRE(workers_in_namespace().empty()); }
    ~no_worker_left_behind()
    {
        std::vector<long> left;
        auto none_left = [&] {
            left = workers_in_namespace();
            return left.empty();
        };
        BOOST_TEST(eventually(none_left, 30s),
                   left.size() << " worker(s) left in the namespace, the first: "
                               << (left.empty() ? 0 : left.front()));
    }
};

/// The figures of the report: how long detection took.
void report(const char* what, double seconds)
{
    std::cout << "netfault: " << what << ": " << seconds << " s" << std::endl;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(netfault, no_worker_left_behind)

BOOST_AUTO_TEST_CASE(workers_serve_across_the_veth_pair)
{
    pal::process_pool pool(in_namespace());
    BOOST_REQUIRE(pool.listen_endpoint());
    BOOST_TEST(pool.listen_endpoint()->address().to_string() == "10.213.0.1");
    std::string here = net_namespace();
    BOOST_TEST_REQUIRE(!here.empty());
    BOOST_TEST(pool.run(net_namespace) != here, "the worker does not run in " << namespace_name);
    pal::future<int> f = pool.submit(square, 12);
    BOOST_TEST(f.collect(60s) == 144);
    std::vector<int> xs(200);
    std::iota(xs.begin(), xs.end(), 0);
    long sum = 0, expected = 0;
    for (int r : pool.map(square, xs, pal::map_options{.chunk_size = 16}))
        sum += r;
    for (int x : xs)
        expected += x * x;
    BOOST_TEST(sum == expected);
    BOOST_TEST(pool.run(square, 9) == 81);
    BOOST_TEST(workers_in_namespace().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_cut_link_fails_the_running_task_and_a_new_worker_serves)
{
    pal::process_pool pool(in_namespace());
    long first = pool.run(worker_pid);
    std::string never = temp_path(); // never created: the task runs until its worker goes
    pal::future<int> f = pool.submit(wait_for_file, never);
    BOOST_TEST_REQUIRE(eventually([&] { return f.is_running(); }));
    // Behind f, on the only worker (queued, or already sent to it): sent again to the next.
    pal::future<long> queued = pool.submit(worker_pid);
    {
        link_fault cut("cut", "restore");
        BOOST_TEST_REQUIRE(f.wait(60s), "a worker behind a cut link is never given up");
        report("link cut, running task failed after", cut.age());
        BOOST_TEST(!queued.is_done()); // the replacement cannot connect yet
    }
    BOOST_CHECK_EXCEPTION(f.collect(), pal::worker_died_error, what_has("heartbeat"));
    auto restored = std::chrono::steady_clock::now();
    BOOST_TEST_REQUIRE(queued.wait(60s), "the queued task is never served after the link is back");
    report("link restored, the queued task served by a new worker after",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - restored).count());
    BOOST_TEST(queued.collect() != first);
    BOOST_TEST(pool.run(square, 5) == 25);
}

BOOST_AUTO_TEST_CASE(a_link_cut_while_idle_costs_no_task)
{
    pal::process_pool pool(in_namespace());
    long first = pool.run(worker_pid);
    BOOST_TEST_REQUIRE(workers_in_namespace().size() == 1u);
    pal::future<long> f;
    {
        link_fault cut("cut", "restore");
        // The idle worker is given up (its process killed) while the link is down ...
        BOOST_TEST_REQUIRE(eventually([&] { return workers_in_namespace().empty(); }, 60s),
                           "an idle worker behind a cut link is never given up");
        report("link cut, idle worker given up after", cut.age());
        // ... and a task submitted then waits for a replacement, which connects once the
        // link is back.
        f = pool.submit(worker_pid);
    }
    auto restored = std::chrono::steady_clock::now();
    BOOST_TEST_REQUIRE(f.wait(60s), "no replacement served after the link came back");
    report("link restored, a new worker served after",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - restored).count());
    BOOST_TEST(f.collect() != first);
    BOOST_TEST(pool.run(square, 6) == 36);
}

BOOST_AUTO_TEST_CASE(total_packet_loss_fails_the_running_task_and_a_new_worker_serves)
{
    pal::process_pool pool(in_namespace());
    long first = pool.run(worker_pid);
    pal::future<int> f = pool.submit(wait_for_file, temp_path());
    BOOST_TEST_REQUIRE(eventually([&] { return f.is_running(); }));
    {
        link_fault drop("drop", "undrop");
        BOOST_TEST_REQUIRE(f.wait(60s), "a worker whose packets are dropped is never given up");
        report("packets dropped, running task failed after", drop.age());
    }
    BOOST_CHECK_EXCEPTION(f.collect(), pal::worker_died_error, what_has("heartbeat"));
    pal::future<long> next = pool.submit(worker_pid);
    BOOST_TEST_REQUIRE(next.wait(60s));
    BOOST_TEST(next.collect() != first);
    BOOST_TEST(pool.run(square, 7) == 49);
}

// A fault longer than a blip: the link stays down well past the heartbeat timeout, so the
// replacement the queued task needs starts while the workers cannot reach the pool. It must
// get through once the link is back, however it fared meanwhile, and the pool must not break.
// 10 s: past the moment the namespace's kernel gives up on resolving 10.213.0.1 (its connect
// then fails at once with "No route to host", about 3.5 s after the cut here, after a drop as
// well), and past a connect_timeout of 4 s. The replacement keeps trying to connect for a
// minute, and the pool does not take a worker lost on its way (one that ends before it is
// ready, or that it killed for not connecting back within connect_timeout) for a broken build
// once other workers have joined: both failed before, and the pool broke.
void a_long_fault_delays_the_replacement(const char* on, const char* off,
                                         std::chrono::milliseconds connect_timeout = 60s)
{
    pal::process_pool pool(in_namespace(2s, connect_timeout));
    long first = pool.run(worker_pid);
    pal::future<long> f;
    {
        link_fault fault(on, off);
        BOOST_TEST_REQUIRE(eventually([&] { return workers_in_namespace().empty(); }, 60s),
                           "an idle worker behind a faulty link is never given up");
        f = pool.submit(worker_pid);
        std::this_thread::sleep_for(10s); // the fault's length, not a synchronisation
        BOOST_TEST(!f.is_done());
    }
    auto restored = std::chrono::steady_clock::now();
    BOOST_TEST_REQUIRE(f.wait(60s), "no replacement served after the link came back");
    BOOST_TEST(!pool.is_broken());
    BOOST_TEST(f.collect() != first);
    report((std::string("link ") + off + " after 10 s, a new worker served after").c_str(),
           std::chrono::duration<double>(std::chrono::steady_clock::now() - restored).count());
    BOOST_TEST(pool.run(square, 4) == 16);
}

BOOST_AUTO_TEST_CASE(a_long_cut_delays_the_replacement_but_breaks_nothing)
{
    a_long_fault_delays_the_replacement("cut", "restore");
}

BOOST_AUTO_TEST_CASE(a_long_packet_loss_delays_the_replacement_but_breaks_nothing)
{
    a_long_fault_delays_the_replacement("drop", "undrop");
}

BOOST_AUTO_TEST_CASE(a_cut_longer_than_the_connect_timeout_breaks_nothing)
{
    a_long_fault_delays_the_replacement("cut", "restore", 4s);
}

// A hung node: the link is fine, the worker's process (its heartbeat thread too) is stopped.
BOOST_AUTO_TEST_CASE(a_stopped_worker_is_given_up)
{
    pal::process_pool pool(in_namespace());
    long pid = pool.run(worker_pid);
    pal::future<int> f = pool.submit(wait_for_file, temp_path());
    BOOST_TEST_REQUIRE(eventually([&] { return f.is_running(); }));
    auto since = std::chrono::steady_clock::now();
    BOOST_TEST_REQUIRE(::kill(static_cast<pid_t>(pid), SIGSTOP) == 0);
    bool given_up = f.wait(60s);
    if (!given_up) // let the pool's shutdown end it
        ::kill(static_cast<pid_t>(pid), SIGCONT);
    BOOST_TEST_REQUIRE(given_up, "a stopped worker is never given up");
    report("worker stopped, running task failed after",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
    BOOST_CHECK_EXCEPTION(f.collect(), pal::worker_died_error, what_has("heartbeat"));
    try
    {
        f.collect();
    }
    catch (const pal::worker_died_error& e)
    {
        BOOST_TEST(e.pid() == pid);
    }
    BOOST_TEST(pool.run(worker_pid) != pid);
}

// A link down for a tenth of the heartbeat timeout: TCP carries the heartbeats over once it is
// back, and the worker keeps its task. Timing is the point here, so the margin is wide: the
// frames are late by the cut plus TCP's retransmission back-off (about a second), against 5 s.
BOOST_AUTO_TEST_CASE(a_short_cut_costs_nothing)
{
    pal::process_pool pool(in_namespace(5s));
    long pid = pool.run(worker_pid);
    std::string go = temp_path();
    pal::future<int> f = pool.submit(wait_for_file, go);
    BOOST_TEST_REQUIRE(eventually([&] { return f.is_running(); }));
    {
        link_fault cut("cut", "restore");
        std::this_thread::sleep_for(500ms); // the fault's length, not a synchronisation
    }
    auto restored = std::chrono::steady_clock::now();
    std::ofstream(go) << 1;
    BOOST_TEST(f.collect(60s) == 1);
    report("link cut for 0.5 s, the result came back after the restore in",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - restored).count());
    std::filesystem::remove(go);
    BOOST_TEST(pool.run(worker_pid) == pid, "the worker was replaced");
}

// The pool kills a worker it gives up, which reaches a local command only: here the command
// is a shell that leaves the worker running when killed, as a remote host behind a cut link
// would. The pool also closes the connection, so the worker exits once the link is back.
BOOST_AUTO_TEST_CASE(a_given_up_worker_that_outlives_its_command_exits_when_the_link_is_back)
{
    pal::process_pool_options o = in_namespace();
    // fd 3 keeps the secret's pipe: a background job's standard input would be /dev/null.
    std::get<pal::command_launcher>(o.launcher).command = {
        "sh", "-c",
        std::string("exec 3<&0; ip netns exec ") + namespace_name +
            " \"$0\" \"$@\" <&3 3<&- & wait",
        "{exe}", "{args}"};
    pal::process_pool pool(o);
    long pid = pool.run(worker_pid);
    pal::future<int> f = pool.submit(wait_for_file, temp_path());
    BOOST_TEST_REQUIRE(eventually([&] { return f.is_running(); }));
    {
        link_fault cut("cut", "restore");
        BOOST_TEST_REQUIRE(f.wait(60s), "a worker behind a cut link is never given up");
        BOOST_CHECK_EXCEPTION(f.collect(), pal::worker_died_error, what_has("heartbeat"));
        BOOST_TEST(alive(pid), "the worker did not outlive its command: the case tests nothing");
    }
    auto restored = std::chrono::steady_clock::now();
    BOOST_TEST(eventually([&] { return !alive(pid); }, 60s),
               "the worker given up lives on after the link is back");
    report("link restored, the orphaned worker exited after",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - restored).count());
    BOOST_TEST(pool.run(square, 8) == 64);
}

BOOST_AUTO_TEST_SUITE_END()

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string(argv[i]) == "--")
            netns_script = argv[i + 1];
    if (netns_script.empty())
    {
        std::cerr << "usage: test_netfault [Boost.Test arguments] -- <scripts/netns.sh>\n"
                     "(run by scripts/test_netfault.sh, as root)\n";
        return 2;
    }
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
