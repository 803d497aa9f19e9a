//
// test/mpi.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A process pool whose workers are the other ranks of a real `mpirun -np 3` job, run by
// scripts/test_mpi.sh with --enable-recovery: the basics, a killed rank that costs only its task,
// and the pool broken once every worker rank is gone. Rank 0 runs the tests; ranks 1 and 2 serve.
// With "tls" after "--", the pool's connections are TLS. A clean end of the job (every rank
// through MPI_Finalize) is example_readme_mpi's test.
//

#include "asio_pal/mpi.hpp"

#include "asio_pal/process_pool.hpp"

#define BOOST_TEST_MODULE mpi
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "common/eventually.hpp"
#include "common/worker_tasks.hpp"

namespace pal = asio_pal;
using namespace std::chrono_literals;

// Which rank runs the task.
int rank_of_worker()
{
    const char* r = std::getenv("OMPI_COMM_WORLD_RANK");
    return r ? std::atoi(r) : -1;
}
ASIO_PAL_REGISTER_TASK(rank_of_worker);

namespace {

pal::mpi_workers* mpi = nullptr;
bool over_tls = false;

// What descriptors 3 to 5 of a worker rank were before it served: Open MPI's own, which the
// worker must leave alone.
struct descriptor_identity
{
    bool open = false;
    dev_t dev{};
    ino_t ino{};
    bool operator==(const descriptor_identity&) const = default;
};

descriptor_identity identify(int fd)
{
    struct stat st
    {};
    if (::fstat(fd, &st) != 0)
        return {};
    return {true, st.st_dev, st.st_ino};
}

std::vector<descriptor_identity> rank_descriptors;

} // namespace

// Whether a worker rank's descriptors 3 to 5 are those it had before it served the pool.
bool rank_descriptors_kept()
{
    std::vector<descriptor_identity> now;
    for (int fd = 3; fd <= 5; ++fd)
        now.push_back(identify(fd));
    return !rank_descriptors.empty() && now == rank_descriptors;
}
ASIO_PAL_REGISTER_TASK(rank_descriptors_kept);

// One pool per job (the worker ranks serve one): the tests run in order on it.
BOOST_AUTO_TEST_CASE(the_other_ranks_are_the_workers)
{
    BOOST_TEST_REQUIRE(mpi->size() == 3);
    pal::process_pool pool(pal::process_pool_options{
        .launcher = mpi->launcher(pal::remote_options{.tls = {.enabled = over_tls}})});
    BOOST_TEST(pool.options().max_workers == 2u);
    BOOST_TEST(pool.submit(square, 6).collect(60s) == 36);
    BOOST_TEST(pool.submit(rank_descriptors_kept).collect(60s));
    std::vector<int> in(100);
    for (int i = 0; i < 100; ++i)
        in[static_cast<std::size_t>(i)] = i;
    long sum = 0;
    for (int r : pool.map(square, in, pal::map_options{.chunk_size = 7}))
        sum += r;
    BOOST_TEST(sum == 328350);
    BOOST_TEST(asio_pal_test::async_run_in_a_coroutine(pool, square, 9) == 81);
    BOOST_TEST(asio_pal_test::eventually([&] { return pool.count_workers() == 2; }));
    std::set<int> ranks;
    for (int i = 0; i < 50 && ranks.size() < 2; ++i)
    {
        std::vector<pal::future<int>> fs;
        for (int k = 0; k < 4; ++k)
            fs.push_back(pool.submit(rank_of_worker));
        for (auto& f : fs)
            ranks.insert(f.collect(60s));
    }
    BOOST_TEST((ranks == std::set<int>{1, 2}));

    // A rank killed (mpirun --enable-recovery keeps the job): only its task fails.
    BOOST_CHECK_THROW(pool.run(die_by_sigkill), pal::worker_died_error);
    BOOST_TEST(pool.run(square, 3) == 9);
    BOOST_TEST(asio_pal_test::eventually([&] { return pool.count_workers() == 1; }));
    // The last one: nothing replaces a rank, so the pool is broken.
    BOOST_CHECK_THROW(pool.run(die_by_sigkill), pal::worker_died_error);
    BOOST_TEST(asio_pal_test::eventually([&] { return pool.is_broken(); }));
    BOOST_CHECK_EXCEPTION(pool.check(), pal::broken_pool_error,
                          asio_pal_test::what_has("every worker"));
}

int main(int argc, char** argv)
{
    pal::mpi_workers workers(argc, argv);
    if (workers.is_worker())
    {
        for (int fd = 3; fd <= 5; ++fd)
            rank_descriptors.push_back(identify(fd));
        return workers.run_worker();
    }
    mpi = &workers;
    for (int i = 1; i < argc; ++i)
        over_tls = over_tls || std::string(argv[i]) == "tls";
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
