//
// test/slurm.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A process pool whose workers are job steps of a real Slurm allocation: run inside one by
// scripts/test_slurm.sh (a one-node cluster of this machine, scripts/slurm_cluster.sh). Submit,
// map, async_run, cancel a running task, a worker killed, its srun killed, growth to 4 workers
// and their retirement.
//

#include "asio_pal/process_pool.hpp"

#define BOOST_TEST_MODULE slurm
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "common/eventually.hpp"
#include "common/worker_tasks.hpp"

namespace pal = asio_pal;
using namespace std::chrono_literals;
using asio_pal_test::eventually;

// The Slurm step this task runs in ("" outside Slurm).
std::string step_id()
{
    const char* s = std::getenv("SLURM_STEP_ID");
    return s ? s : "";
}
ASIO_PAL_REGISTER_TASK(step_id);

namespace {

pal::process_pool_options in_slurm(std::size_t max_workers)
{
    return {.max_workers = max_workers, .idle_timeout = 2s, .launcher = pal::slurm_launcher{}};
}

// The srun processes this program started.
int count_sruns()
{
    return std::system(
               ("exit $(pgrep -c -P " + std::to_string(::getpid()) + " -x srun)").c_str()) >>
           8;
}

} // namespace

BOOST_AUTO_TEST_CASE(workers_are_job_steps)
{
    BOOST_TEST_REQUIRE(std::getenv("SLURM_JOB_ID") != nullptr, "run inside an allocation");
    pal::process_pool pool(in_slurm(2));
    BOOST_TEST(pool.submit(square, 6).collect(60s) == 36);
    BOOST_TEST(!pool.run(step_id).empty());
    std::vector<int> in{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    int sum = 0;
    for (int r : pool.map(square, in, pal::map_options{.chunk_size = 3}))
        sum += r;
    BOOST_TEST(sum == 385);

    BOOST_TEST(asio_pal_test::async_run_in_a_coroutine(pool, square, 9) == 81);
}

BOOST_AUTO_TEST_CASE(the_default_size_is_the_allocation)
{
    const char* n = std::getenv("SLURM_NTASKS");
    BOOST_TEST_REQUIRE(n != nullptr);
    pal::process_pool pool(pal::process_pool_options{.launcher = pal::slurm_launcher{}});
    BOOST_TEST(pool.options().max_workers == std::stoul(n));
}

BOOST_AUTO_TEST_CASE(a_running_task_is_cancelled)
{
    pal::process_pool pool(in_slurm(1));
    pal::future<int> f = pool.submit(wait_for_file, asio_pal_test::unique_temp_path("never"));
    BOOST_TEST_REQUIRE(eventually([&] { return f.is_running(); }, 60s));
    BOOST_TEST(f.cancel());
    BOOST_TEST_REQUIRE(f.wait(60s));
    BOOST_TEST(f.is_cancelled());
    BOOST_TEST(pool.run(square, 2) == 4);
}

BOOST_AUTO_TEST_CASE(a_killed_worker_and_a_killed_srun_fail_their_task_only)
{
    pal::process_pool pool(in_slurm(1));
    BOOST_CHECK_THROW(pool.run(die_by_sigkill), pal::worker_died_error);
    BOOST_TEST(pool.run(square, 3) == 9);

    pal::future<int> f = pool.submit(wait_for_file, asio_pal_test::unique_temp_path("never"));
    BOOST_TEST_REQUIRE(eventually([&] { return f.is_running(); }, 60s));
    BOOST_TEST_REQUIRE(
        std::system(("pkill -KILL -P " + std::to_string(::getpid()) + " -x srun").c_str()) == 0);
    BOOST_TEST_REQUIRE(f.wait(60s));
    BOOST_CHECK_THROW(f.collect(), pal::worker_died_error);
    BOOST_TEST(pool.run(square, 5) == 25);
}

BOOST_AUTO_TEST_CASE(the_pool_grows_to_4_steps_and_retires_them)
{
    pal::process_pool pool(in_slurm(4));
    std::string go = asio_pal_test::unique_temp_path("go");
    std::vector<pal::future<int>> fs;
    for (int i = 0; i < 4; ++i)
        fs.push_back(pool.submit(wait_for_file, go));
    BOOST_TEST(eventually([&] { return pool.count_busy_workers() == 4; }, 120s));
    BOOST_TEST(count_sruns() == 4);
    std::ofstream(go) << 1;
    for (auto& f : fs)
        BOOST_TEST(f.collect(60s) == 1);
    // idle_timeout 2 s: every worker retires, and its step ends with it.
    BOOST_TEST(eventually([&] { return pool.count_workers() == 0 && count_sruns() == 0; }, 60s));
    std::filesystem::remove(go);
}

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
