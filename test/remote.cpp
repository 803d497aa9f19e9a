//
// test/remote.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests what only workers that connect back over TCP have: a cancel frame instead of a signal,
// heartbeats that tell a hung worker from a busy one, messages naming the host, connections
// that fail the handshake, a worker built from another program, and the launchers' checks.
// The whole process-pool suite also runs over TCP (ctest process_pool_tcp). The helper's path
// follows "--": a worker executable registering other functions.
//

#include "asio_pal/detail/worker_launcher.hpp"
#include "asio_pal/process_pool.hpp"

#define BOOST_TEST_MODULE remote
#define BOOST_TEST_NO_MAIN
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/host_name.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "common/eventually.hpp"
#include "common/worker_tasks.hpp"

namespace pal = asio_pal;
namespace d = asio_pal::detail;
namespace net = boost::asio;
using namespace std::chrono_literals;

// Stops its whole process, heartbeat thread included: a host that hangs.
int hang()
{
    ::raise(SIGSTOP);
    return 0;
}
ASIO_PAL_REGISTER_TASK(hang);

namespace {

using asio_pal_test::what_has;

std::string worker_helper;

pal::process_pool_options over_tcp(std::size_t max_workers, pal::remote_options r = {})
{
    return {.max_workers = max_workers, .launcher = pal::command_launcher{.remote = r}};
}

} // namespace

BOOST_AUTO_TEST_SUITE(launchers)

BOOST_AUTO_TEST_CASE(command_templates_expand_their_placeholders)
{
    std::vector<std::string> args{"--asio-pal-worker", "a b", "it's"};
    auto plain = d::expand_command({"{exe}", "{args}"}, "/x/prog", args, "");
    BOOST_TEST((plain == std::vector<std::string>{"/x/prog", "--asio-pal-worker", "a b", "it's"}));
    auto ssh =
        d::expand_command({"ssh", "{host}", "cd /w && {exe} {args}"}, "/x/my prog", args, "node7");
    BOOST_TEST(
        (ssh == std::vector<std::string>{
                    "ssh", "node7", "cd /w && '/x/my prog' '--asio-pal-worker' 'a b' 'it'\\''s'"}));
    BOOST_CHECK_EXCEPTION(d::expand_command({"ssh", "{host}"}, "/x", args, ""),
                          std::invalid_argument, what_has("hosts"));
}

BOOST_AUTO_TEST_CASE(hosts_are_used_in_turn)
{
    std::map<std::string, const char*> env;
    auto getenv = [&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second;
    };
    d::launch_plan plan = d::resolve_launcher(
        pal::command_launcher{.command = {"ssh", "{host}", "{exe}"}, .hosts = {"a", "b"}}, getenv);
    BOOST_TEST(plan.remote);
    BOOST_TEST(plan.remote_settings.listen_address == "127.0.0.1");
    std::vector<std::string> seen;
    for (int i = 0; i < 3; ++i)
        seen.push_back(plan.next_command("/x", {})[1]);
    BOOST_TEST((seen == std::vector<std::string>{"a", "b", "a"}));
}

BOOST_AUTO_TEST_CASE(slurm_needs_an_allocation_and_sizes_the_pool_by_it)
{
    std::map<std::string, const char*> env;
    auto getenv = [&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second;
    };
    BOOST_CHECK_EXCEPTION(d::resolve_launcher(pal::slurm_launcher{}, getenv), std::invalid_argument,
                          what_has("SLURM_JOB_ID"));
    env["SLURM_JOB_ID"] = "42";
    env["SLURM_NTASKS"] = "64";
    d::launch_plan plan =
        d::resolve_launcher(pal::slurm_launcher{.srun_args = {"--cpus-per-task=2"}}, getenv);
    BOOST_TEST(plan.default_max_workers == 64u);
    BOOST_TEST(plan.remote_settings.listen_address == net::ip::host_name());
    auto cmd = plan.next_command("/x/prog", {"--asio-pal-worker"});
    BOOST_TEST(
        (cmd == std::vector<std::string>{"srun", "--jobid=42", "--overlap", "-N1", "-n1", "--quiet",
                                         "--cpus-per-task=2", "/x/prog", "--asio-pal-worker"}));
}

BOOST_AUTO_TEST_CASE(bad_remote_options_are_named)
{
    auto getenv = [](const char*) -> const char* { return nullptr; };
    BOOST_CHECK_EXCEPTION(
        d::resolve_launcher(
            pal::command_launcher{.remote = {.heartbeat_interval = 2s, .heartbeat_timeout = 1s}},
            getenv),
        std::invalid_argument, what_has("heartbeat_timeout"));
    BOOST_CHECK_EXCEPTION(d::resolve_launcher(pal::command_launcher{.command = {}}, getenv),
                          std::invalid_argument, what_has("command_launcher.command"));
    BOOST_CHECK_EXCEPTION(
        pal::process_pool(pal::process_pool_options{
            .launcher = pal::command_launcher{.remote = {.listen_address = "no.such.host."}}}),
        std::invalid_argument, what_has("no.such.host."));
    // TLS files that cannot be loaded, or only one of the two.
    BOOST_CHECK_EXCEPTION(
        pal::process_pool(over_tcp(1, {.tls = {.enabled = true,
                                               .certificate_file = "/no/cert.pem",
                                               .private_key_file = "/no/key.pem"}})),
        std::invalid_argument, what_has("/no/cert.pem"));
    BOOST_CHECK_THROW(pal::process_pool(over_tcp(
                          1, {.tls = {.enabled = true, .certificate_file = "/no/cert.pem"}})),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(local_pools_listen_nowhere)
{
    pal::process_pool local(1);
    BOOST_TEST(!local.listen_endpoint());
    pal::process_pool remote(over_tcp(1));
    BOOST_REQUIRE(remote.listen_endpoint());
    BOOST_TEST(remote.listen_endpoint()->address().to_string() == "127.0.0.1");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(a_running_task_is_cancelled_by_a_frame)
{
    pal::process_pool pool(over_tcp(1));
    // Never created: the task runs until stopped.
    std::string never = asio_pal_test::unique_temp_path("remote");
    pal::future<int> f = pool.submit(wait_for_file, never);
    BOOST_TEST_REQUIRE(asio_pal_test::eventually([&] { return f.is_running(); }));
    BOOST_TEST(f.cancel());
    BOOST_TEST_REQUIRE(f.wait(30s));
    BOOST_TEST(f.is_cancelled());
    BOOST_TEST(pool.run(square, 7) == 49); // a new worker
}

BOOST_AUTO_TEST_CASE(a_hung_worker_is_found_by_its_heartbeats)
{
    pal::process_pool pool(over_tcp(1, {.heartbeat_interval = 100ms, .heartbeat_timeout = 1500ms}));
    pal::future<int> f = pool.submit(hang);
    BOOST_TEST_REQUIRE(f.wait(60s), "the hung worker is never given up");
    BOOST_CHECK_EXCEPTION(f.collect(), pal::worker_died_error, what_has("heartbeat"));
    BOOST_TEST(pool.run(square, 3) == 9);
}

BOOST_AUTO_TEST_CASE(a_busy_worker_keeps_its_heartbeats)
{
    // Longer than the heartbeat timeout, on a worker that lives: it must not be given up.
    pal::process_pool pool(over_tcp(1, {.heartbeat_interval = 100ms, .heartbeat_timeout = 1000ms}));
    std::string go = asio_pal_test::unique_temp_path("remote");
    pal::future<int> f = pool.submit(wait_for_file, go);
    BOOST_TEST_REQUIRE(asio_pal_test::eventually([&] { return f.is_running(); }));
    // Three heartbeat timeouts, measured by the pool's own clock: the task still runs.
    auto until = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < until && !f.is_done())
        std::this_thread::sleep_for(50ms);
    BOOST_TEST(!f.is_done());
    std::ofstream(go) << 1;
    BOOST_TEST(f.collect(30s) == 1);
    std::filesystem::remove(go);
}

BOOST_AUTO_TEST_CASE(a_killed_worker_is_named_by_host_and_pid)
{
    pal::process_pool pool(over_tcp(1));
    long pid = pool.run(worker_pid);
    try
    {
        pool.run(die_by_sigkill);
        BOOST_FAIL("no exception");
    }
    catch (const pal::worker_died_error& e)
    {
        std::string what = e.what();
        BOOST_TEST(what.find("worker process " + std::to_string(pid) + " on host " +
                             net::ip::host_name()) != std::string::npos,
                   what);
        BOOST_TEST(e.pid() == pid);
    }
    BOOST_TEST(pool.run(square, 4) == 16);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(security)

// Clients that are not workers: garbage, a wrong secret's worth of bytes, a silent one. None
// becomes a worker; the pool serves on with its own.
BOOST_DATA_TEST_CASE(connections_that_fail_the_handshake_never_become_workers,
                     boost::unit_test::data::make({false, true}), tls)
{
    // With TLS they fail its handshake first: they never see the pool's own.
    pal::process_pool pool(over_tcp(1, {.connect_timeout = 1s, .tls = {.enabled = tls}}));
    BOOST_TEST(pool.run(square, 2) == 4);
    net::io_context io;
    auto at = *pool.listen_endpoint();
    // Garbage: refused at once, the connection closed.
    {
        net::ip::tcp::socket s(io);
        s.connect(at);
        std::string junk(600, 'x');
        boost::system::error_code ec;
        net::write(s, net::buffer(junk), ec);
        std::vector<char> got(4096);
        std::size_t n = net::read(s, net::buffer(got), ec);
        BOOST_TEST((ec == net::error::eof || ec == net::error::connection_reset), ec.message());
        if (tls) // at most a TLS alert (content type 21), never a byte of the pool's handshake
            BOOST_TEST((n == 0 || (n < 64 && got[0] == 21)), n << " bytes, the first " << +got[0]);
        else
            BOOST_TEST(n == 0u);
    }
    // Silent: closed after the handshake's timeout, having received nothing but the
    // pool's side of the handshake.
    {
        net::ip::tcp::socket s(io);
        s.connect(at);
        boost::system::error_code ec;
        std::vector<char> got(4096);
        std::size_t n = net::read(s, net::buffer(got), ec);
        BOOST_TEST((ec == net::error::eof || ec == net::error::connection_reset), ec.message());
        BOOST_TEST(n == 0u, "the pool wrote " << n << " bytes to a client that said nothing");
    }
    BOOST_TEST(pool.count_workers() == 1u);
    BOOST_TEST(pool.run(square, 3) == 9);
}

// Strangers that connect and say nothing: beyond 64 in their handshake at once they are closed
// as they come (they cannot take every descriptor), and those left waiting for their handshake's
// timeout (60 s by default) do not keep the pool's destructor waiting.
BOOST_DATA_TEST_CASE(silent_strangers_neither_take_every_descriptor_nor_delay_the_end,
                     boost::unit_test::data::make({false, true}), tls)
{
    auto pool = std::make_unique<pal::process_pool>(over_tcp(1, {.tls = {.enabled = tls}}));
    BOOST_TEST(pool->run(square, 2) == 4);
    net::io_context io;
    auto at = *pool->listen_endpoint();
    std::vector<net::ip::tcp::socket> strangers;
    for (int i = 0; i < 70; ++i)
    {
        strangers.emplace_back(io);
        strangers.back().connect(at);
        strangers.back().non_blocking(true);
    }
    auto ended = [&] {
        int n = 0;
        for (auto& s : strangers)
        {
            char c;
            boost::system::error_code ec;
            s.read_some(net::buffer(&c, 1), ec);
            n += ec == net::error::eof || ec == net::error::connection_reset;
        }
        return n;
    };
    BOOST_TEST(asio_pal_test::eventually([&] { return ended() >= 6; }));
    BOOST_TEST(ended() <= 6); // the other 64 wait for their handshake
    BOOST_TEST(pool->run(square, 3) == 9);
    // 64 handshakes are in progress: the destructor must end them, not wait 60 s for them.
    std::future<void> end = std::async(std::launch::async, [&] { pool.reset(); });
    BOOST_TEST_REQUIRE((end.wait_for(30s) == std::future_status::ready),
                       "the destructor waits for handshakes in progress");
    BOOST_TEST(asio_pal_test::eventually([&] { return ended() == 70; }));
}

BOOST_AUTO_TEST_CASE(a_worker_built_from_another_program_is_refused)
{
    BOOST_REQUIRE(!worker_helper.empty());
    pal::process_pool_options o = over_tcp(1);
    o.worker_executable = worker_helper;
    pal::process_pool pool(o);
    pal::future<int> f = pool.submit(square, 1);
    BOOST_TEST_REQUIRE(f.wait(60s));
    BOOST_TEST(pool.is_broken());
    BOOST_CHECK_EXCEPTION(pool.check(), pal::broken_pool_error,
                          what_has("built from a different program"));
}

BOOST_AUTO_TEST_SUITE_END()

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string(argv[i]) == "--")
            worker_helper = argv[i + 1];
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
