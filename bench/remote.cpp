//
// bench/remote.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Workers that connect back over TCP (issue 11), each figure measured in the same run as its
// peers: a process pool whose workers a command_launcher starts ("{exe} {args}") and that talk
// to it over loopback TCP, against the same pool over local pipes (the default launcher), and
// the serial round trip against a raw TCP ping-pong. The workloads are those of the Python
// peers (bench/cluster/peer_common.py), measured the same way, on pools of 2 workers:
//   tiny_tasks       2,000 tiny tasks submitted, then all collected: tasks/s;
//   map_chunk_1000   map_all over 100,000 ints, chunk_size 1000, results summed: items/s;
//   round_trip_us    500 serial run() of a tiny task, each timed: the median trip (and
//                    round_trip_mean_us, their mean);
//   cold_start_us    constructing a pool -> the first result of submit(...).collect().
// run() over TCP passes through the pool's I/O thread; over pipes it takes a short cut (the
// calling thread talks to the worker). So that the two costs can be told apart, the pipes pool
// also times submit(...).collect() serially (asio_pal_pipes_io_round_trip_us), which passes
// through the I/O thread over pipes.
// The warm workloads run once untimed on the same pools first, as the peers do. The peer of
// the round trip is a raw ping-pong of 16-byte messages over loopback TCP (TCP_NODELAY) with a
// forked child echoing them, timed the same way (raw_tcp_ping_pong_us and _mean_us): the bar
// of issue 11 is run() over TCP within 1.5x of it.
//
// Each round measures every workload on each side in turn; which pool goes first swaps every
// round. Each section prints one record, "<name> <value> <CPU us per task>" (bench::
// print_record), named asio_pal_tcp_<workload>, asio_pal_pipes_<workload> or
// raw_tcp_ping_pong_us; after the rounds, a summary of medians and spreads (bench_util.hpp's
// format), unless --records. CPU time counts this process and its children (the workers: the
// command launcher starts them as children too; the ping-pong child).
//
//   bench_remote [--rounds N] [--records]
//   bench_remote --slurm [--rounds N]     inside a Slurm allocation (salloc -O -N1 -n4 ...):
//       cold start -> first result of a pool of slurm_launcher workers (each an srun job step)
//       against a local pool, alternating, 3 of each a round. The job step's worker is not a
//       child of this process (slurmstepd starts it): its CPU time is not counted, srun's is.
//
// REMOTE_TINY, REMOTE_ITEMS and REMOTE_TRIPS change the sizes (for a quick try, not figures).
// This program is its own worker executable: main() starts with is_worker_process().
//

#include <asio_pal/process_pool.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.hpp"

namespace pal = asio_pal;
using namespace std::chrono;

// ---- the function the workers run ----

int tiny(int x)
{
    return x & 1;
}
ASIO_PAL_REGISTER_TASK(tiny);

namespace {

constexpr std::size_t pool_workers = 2; // as the peers: 2 mpi4py worker ranks, 2 Dask workers
constexpr int map_chunk = 1000;
constexpr int slurm_cold_per_round = 3;

int size_from_env(const char* name, int fallback)
{
    const char* text = std::getenv(name);
    if (!text)
        return fallback;
    char* end = nullptr;
    long n = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || n < 2 || n > 100'000'000)
    {
        std::fprintf(stderr, "bench_remote: %s must be a number >= 2, got '%s'\n", name, text);
        std::exit(2);
    }
    return static_cast<int>(n);
}

const int n_tiny = size_from_env("REMOTE_TINY", 2000);
const int n_items = size_from_env("REMOTE_ITEMS", 100'000);
const int n_trips = size_from_env("REMOTE_TRIPS", 500);

[[noreturn]] void fail(const char* what)
{
    std::fprintf(stderr, "bench_remote: %s\n", what);
    std::exit(1);
}

[[noreturn]] void fail_errno(const char* what)
{
    std::fprintf(stderr, "bench_remote: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

// ---- the raw TCP ping-pong ----

bool read_full(int fd, char (&buf)[16])
{
    std::size_t got = 0;
    while (got < sizeof buf)
    {
        ssize_t r = ::read(fd, buf + got, sizeof buf - got);
        if (r <= 0)
            return false;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

bool write_full(int fd, const char (&buf)[16])
{
    std::size_t put = 0;
    while (put < sizeof buf)
    {
        ssize_t w = ::write(fd, buf + put, sizeof buf - put);
        if (w <= 0)
            return false;
        put += static_cast<std::size_t>(w);
    }
    return true;
}

void set_nodelay(int fd)
{
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        fail_errno("setsockopt TCP_NODELAY");
}

/// A forked child that connects to this process over loopback TCP and echoes 16-byte messages
/// with blocking reads and writes; both ends TCP_NODELAY.
class tcp_ping_pong_child
{
public:
    tcp_ping_pong_child()
    {
        int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener < 0)
            fail_errno("socket");
        sockaddr_in at{};
        at.sin_family = AF_INET;
        at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        at.sin_port = 0;
        socklen_t len = sizeof at;
        if (::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
            ::listen(listener, 1) != 0 ||
            ::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &len) != 0)
            fail_errno("listen on 127.0.0.1");
        std::fflush(stdout); // the child must not print the parent's buffered output again
        pid_ = ::fork();
        if (pid_ < 0)
            fail_errno("fork");
        if (pid_ == 0)
        {
            ::close(listener);
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0)
                ::_exit(1);
            set_nodelay(fd);
            char buf[16];
            while (read_full(fd, buf) && write_full(fd, buf))
            {}
            ::_exit(0);
        }
        fd_ = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd_ < 0)
            fail_errno("accept the ping-pong child");
        ::close(listener);
        set_nodelay(fd_);
    }

    ~tcp_ping_pong_child()
    {
        ::close(fd_); // the child reads EOF and exits
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }

    tcp_ping_pong_child(const tcp_ping_pong_child&) = delete;
    tcp_ping_pong_child& operator=(const tcp_ping_pong_child&) = delete;

    /// One round trip of a message carrying `i`; returns its low bit as echoed.
    int trip(int i)
    {
        char buf[16] = "tcp-ping-pong16";
        buf[0] = static_cast<char>(i);
        if (!write_full(fd_, buf) || !read_full(fd_, buf))
            fail("the TCP ping-pong child stopped answering");
        return buf[0] & 1;
    }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
};

// ---- the workloads, one measured section each ----

/// A measured section and what it shows (value per the record's unit, CPU us per task).
struct result
{
    double value = 0;
    double cpu_us = 0;
    double mean_us = 0; ///< round trips only: the mean trip
};

result tiny_tasks(pal::process_pool& pool)
{
    std::vector<pal::future<int>> futures;
    futures.reserve(static_cast<std::size_t>(n_tiny));
    long sum = 0;
    auto s = bench::measure(
        [&] {
        for (int i = 0; i < n_tiny; ++i)
            futures.push_back(pool.submit(tiny, i));
        for (auto& f : futures)
            sum += f.collect();
        },
        true);
    if (sum != n_tiny / 2)
        fail("tiny tasks: wrong sum");
    return {n_tiny / s.seconds, s.cpu_seconds / n_tiny * 1e6};
}

result chunked_map(pal::process_pool& pool, const std::vector<int>& items)
{
    long sum = 0;
    auto s = bench::measure(
        [&] {
        for (int v : pool.map_all(tiny, items, pal::map_options{.chunk_size = map_chunk}))
            sum += v;
        },
        true);
    if (sum != n_items / 2)
        fail("map: wrong sum");
    return {n_items / s.seconds, s.cpu_seconds / n_items * 1e6};
}

/// n_trips serial round trips of `one_trip(i)` (which returns i & 1), each timed: the median
/// trip, the CPU per trip and the mean trip.
template <class Trip>
result round_trips(Trip one_trip)
{
    std::vector<double> trips;
    trips.reserve(static_cast<std::size_t>(n_trips));
    long sum = 0;
    auto s = bench::measure(
        [&] {
        for (int i = 0; i < n_trips; ++i)
        {
            auto t0 = bench::clock_type::now();
            sum += one_trip(i);
            trips.push_back(duration<double, std::micro>(bench::clock_type::now() - t0).count());
        }
        },
        true);
    if (sum != n_trips / 2)
        fail("round trips: wrong sum");
    return {bench::median(trips), s.cpu_seconds / n_trips * 1e6, s.seconds / n_trips * 1e6};
}

result pool_round_trips(pal::process_pool& pool)
{
    return round_trips([&](int i) { return pool.run(tiny, i); });
}

/// The same through the pool's I/O thread, as run() over TCP goes: submit(...).collect().
result pool_io_round_trips(pal::process_pool& pool)
{
    return round_trips([&](int i) { return pool.submit(tiny, i).collect(); });
}

/// Constructing a pool -> the first result; its shutdown and reaping are neither timed nor
/// counted.
result cold_start(const pal::process_pool_options& options)
{
    std::optional<pal::process_pool> pool;
    int v = 0;
    auto s = bench::measure(
        [&] {
        pool.emplace(options);
        v = pool->submit(tiny, 3).collect();
        },
        true);
    if (v != 1)
        fail("cold start: wrong result");
    pool.reset();
    return {s.seconds * 1e6, s.cpu_seconds * 1e6};
}

pal::process_pool_options over_pipes()
{
    return {.max_workers = pool_workers};
}

pal::process_pool_options over_tcp()
{
    return {.max_workers = pool_workers, .launcher = pal::command_launcher{}};
}

// ---- the figures ----

/// One workload of one side: the record's name, and its values over the rounds.
struct figure
{
    std::string record;
    std::vector<double> values{}, cpu{}, means{};

    void add(const result& r)
    {
        values.push_back(r.value);
        cpu.push_back(r.cpu_us);
        bench::print_record(record.c_str(), r.value, r.cpu_us);
        if (record.ends_with("_us") && r.mean_us > 0)
        {
            means.push_back(r.mean_us);
            auto mean_name = record.substr(0, record.size() - 3) + "_mean_us";
            bench::print_record(mean_name.c_str(), r.mean_us, r.cpu_us);
        }
    }
};

/// The records of one side (TCP or pipes).
struct side
{
    explicit side(const std::string& name)
        : tiny{"asio_pal_" + name + "_tiny_tasks"}
        , map{"asio_pal_" + name + "_map_chunk_1000"}
        , trip{"asio_pal_" + name + "_round_trip_us"}
        , cold{"asio_pal_" + name + "_cold_start_us"}
        , io_trip{"asio_pal_" + name + "_io_round_trip_us"}
    {}
    figure tiny, map, trip, cold;
    figure io_trip; ///< pipes only: submit -> collect, through the I/O thread
};

bench::comparison compare(const char* name, const char* unit, bool higher_is_better,
                          const figure& ours, const figure& peer,
                          const std::vector<double>& ours_values,
                          const std::vector<double>& peer_values)
{
    bench::comparison c{name, unit, higher_is_better};
    for (std::size_t i = 0; i < ours_values.size() && i < peer_values.size(); ++i)
    {
        c.add_ours(ours_values[i], ours.cpu[i]);
        c.add_peer(peer_values[i], peer.cpu[i]);
    }
    return c;
}

bench::comparison compare(const char* name, const char* unit, bool higher_is_better,
                          const figure& ours, const figure& peer)
{
    return compare(name, unit, higher_is_better, ours, peer, ours.values, peer.values);
}

void print_summary(const side& tcp, const side& pipes, const figure& pong)
{
    std::printf("\n== workers over loopback TCP (command_launcher \"{exe} {args}\") against the "
                "same pool over local pipes; %zu workers each, warm unless cold ==\n",
                pool_workers);
    char label[96];
    std::snprintf(label, sizeof label, "%d tiny tasks, submit all then collect", n_tiny);
    compare(label, "tasks/s", true, tcp.tiny, pipes.tiny).print("same pool over pipes");
    std::printf("    us/task: TCP %.2f, pipes %.2f (1e6 / median)\n",
                1e6 / bench::median(tcp.tiny.values), 1e6 / bench::median(pipes.tiny.values));
    std::snprintf(label, sizeof label, "map_all over %d items, chunk_size %d", n_items, map_chunk);
    compare(label, "items/s", true, tcp.map, pipes.map).print("same pool over pipes");
    std::snprintf(label, sizeof label, "serial run() round trip, median of %d trips", n_trips);
    compare(label, "us", false, tcp.trip, pipes.trip).print("same pool over pipes");
    std::snprintf(label, sizeof label,
                  "same, against submit->collect over pipes (both through "
                  "the I/O thread)");
    compare(label, "us", false, tcp.trip, pipes.io_trip).print("pipes, submit->collect");
    compare("cold start: new process_pool(2) -> 1st result", "us", false, tcp.cold, pipes.cold)
        .print("same pool over pipes");

    std::printf("\n== run() over TCP against a raw 16-byte TCP ping-pong (TCP_NODELAY, forked "
                "child echoing) ==\n");
    std::snprintf(label, sizeof label, "serial round trip over TCP, median of %d trips", n_trips);
    compare(label, "us", false, tcp.trip, pong).print("raw TCP ping-pong");
    std::snprintf(label, sizeof label, "same, mean of the %d trips", n_trips);
    compare(label, "us", false, tcp.trip, pong, tcp.trip.means, pong.means)
        .print("raw TCP ping-pong");
    std::printf("  (bar of issue 11: run() over TCP within 1.5x of the raw ping-pong, i.e. "
                "ratio >= 0.67 on the median trip)\n");
    std::fflush(stdout);
}

void run_figures(int rounds, bool records_only)
{
    // Forked before any pool exists, so the child holds none of the pools' descriptors.
    tcp_ping_pong_child pong_child;
    pal::process_pool tcp_pool(over_tcp());
    pal::process_pool pipe_pool(over_pipes());
    std::vector<int> items(static_cast<std::size_t>(n_items));
    for (int i = 0; i < n_items; ++i)
        items[static_cast<std::size_t>(i)] = i;

    // Warm: the workers are up and have run the function, as the peers' are.
    for (auto* pool : {&tcp_pool, &pipe_pool})
    {
        pool->spawn_workers(pool_workers);
        tiny_tasks(*pool);
        chunked_map(*pool, items);
        pool_round_trips(*pool);
        pool_io_round_trips(*pool);
    }
    round_trips([&](int i) { return pong_child.trip(i); });
    if (!tcp_pool.listen_endpoint())
        fail("the TCP pool listens nowhere: its workers are not over TCP");
    std::printf("# TCP pool listening on %s:%u, %zu workers; pipes pool %zu workers\n",
                tcp_pool.listen_endpoint()->address().to_string().c_str(),
                static_cast<unsigned>(tcp_pool.listen_endpoint()->port()), tcp_pool.count_workers(),
                pipe_pool.count_workers());

    side tcp("tcp"), pipes("pipes");
    figure pong{"raw_tcp_ping_pong_us"};
    for (int r = 0; r < rounds; ++r)
    {
        std::printf("# round %d\n", r + 1);
        // Which pool goes first swaps every round; the ping-pong sits between them.
        bool tcp_first = r % 2 == 0;
        auto both = [&](auto&& measure_one) {
            if (tcp_first)
            {
                measure_one(tcp_pool, tcp);
                measure_one(pipe_pool, pipes);
            }
            else
            {
                measure_one(pipe_pool, pipes);
                measure_one(tcp_pool, tcp);
            }
        };
        both([&](pal::process_pool& p, side& s) { s.tiny.add(tiny_tasks(p)); });
        both([&](pal::process_pool& p, side& s) { s.map.add(chunked_map(p, items)); });
        both([&](pal::process_pool& p, side& s) {
            s.trip.add(pool_round_trips(p));
            if (&s == &tcp)
                pong.add(round_trips([&](int i) { return pong_child.trip(i); }));
            else
                s.io_trip.add(pool_io_round_trips(p));
        });
        if (tcp_first)
        {
            tcp.cold.add(cold_start(over_tcp()));
            pipes.cold.add(cold_start(over_pipes()));
        }
        else
        {
            pipes.cold.add(cold_start(over_pipes()));
            tcp.cold.add(cold_start(over_tcp()));
        }
    }
    if (!records_only)
        print_summary(tcp, pipes, pong);
}

// ---- a worker's start through srun against a local spawn ----

void run_slurm(int rounds)
{
    const char* job = std::getenv("SLURM_JOB_ID");
    if (!job || !*job)
    {
        std::fprintf(stderr, "bench_remote --slurm: not inside a Slurm allocation (no "
                             "SLURM_JOB_ID): run it under salloc, see bench/README.md\n");
        std::exit(2);
    }
    pal::process_pool_options in_slurm{.max_workers = pool_workers,
                                       .launcher = pal::slurm_launcher{}};
    figure slurm{"asio_pal_slurm_cold_start_us"}, local{"asio_pal_local_cold_start_us"};
    // One untimed start of each: srun, the worker binary and the libraries are in the cache.
    cold_start(in_slurm);
    cold_start(over_pipes());
    for (int r = 0; r < rounds; ++r)
        for (int k = 0; k < slurm_cold_per_round; ++k)
        {
            if ((r * slurm_cold_per_round + k) % 2 == 0)
            {
                slurm.add(cold_start(in_slurm));
                local.add(cold_start(over_pipes()));
            }
            else
            {
                local.add(cold_start(over_pipes()));
                slurm.add(cold_start(in_slurm));
            }
        }
    std::printf("\n== a worker started as a Slurm job step (srun) against a local spawn, job %s "
                "==\n",
                job);
    compare("cold start: new process_pool(2) -> 1st result", "us", false, slurm, local)
        .print("local spawn (pipes)");
    std::printf("  (asio_pal column: slurm_launcher, one srun job step per worker; the ratio is "
                "local / srun, %d of each a round.\n   The step's worker is not this program's "
                "child: its CPU time is not counted, srun's is)\n",
                slurm_cold_per_round);
    std::printf("  srun start minus local start: median %.1f us; srun / local: %.2fx\n",
                bench::median(slurm.values) - bench::median(local.values),
                bench::median(slurm.values) / bench::median(local.values));
    std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);

    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--rounds") == 0)
            ++i;
        else if (std::strcmp(argv[i], "--records") != 0 && std::strcmp(argv[i], "--slurm") != 0)
        {
            std::fprintf(stderr, "usage: %s [--rounds N] [--records] | --slurm [--rounds N]\n",
                         argv[0]);
            return 2;
        }
    int rounds = bench::rounds(argc, argv);
    bench::run_header header(argc, argv);
    try
    {
        if (bench::has_flag(argc, argv, "--slurm"))
            run_slurm(rounds);
        else
            run_figures(rounds, bench::has_flag(argc, argv, "--records"));
    }
    catch (const std::exception& e)
    {
        std::fprintf(stderr, "bench_remote: %s\n", e.what());
        return 1;
    }
}
