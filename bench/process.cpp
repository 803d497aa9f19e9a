//
// bench/process.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The process pool (issue 4), each figure against a peer measured in the same run:
//   --roundtrip  serial round trip of one tiny task on a warm process_pool(1), against a raw
//                16-byte ping-pong over two pipes with a forked child (and, for reference, the
//                same ping-pong relayed through a second thread, as a pool's I/O thread does);
//   --cold       cold start to the first result of a new process_pool(1), against
//                posix_spawn of /bin/true + waitpid (and of this program, exiting at once);
//   --shrink     time from the last result until count_workers() == 0, idle_timeout 200 ms;
//   --speedup    a CPU-bound function (~2 ms a call) mapped over 200 items, chunk_size 1, on
//                process_pool(2) against process_pool(1).
// No figure flag: all four. `--rounds N` (default 11) alternates A and B once per round.
// CPU time per task counts this process and its children (the pool's workers, the forked
// ping-pong child, the spawned programs): bench::measure(..., children = true).
//
// Modes for bench/process_vs_python.sh, which compares them with Python's
// ProcessPoolExecutor(2) (bench/process_peer.py); each prints one record a round,
// "<name> <value> <CPU us per task>" (bench::print_record):
//   --tiny N     N tiny tasks submitted, then all collected, process_pool(2): tasks/s;
//   --map N      map_all over N ints, chunk_size 1000, process_pool(2), summed: items/s;
//   --latency N  N serial round trips of one tiny task, warm process_pool(2): us per trip.
// Each mode runs its workload once untimed on the same pool first (Python's script does the
// same), so both sides measure warm pools.
//
// This program is its own worker executable: main() starts with is_worker_process().
//

#include <asio_pal/process_pool.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.hpp"

extern char** environ;

namespace pal = asio_pal;
using namespace std::chrono;

// ---- functions the workers run ----

int tiny(int x)
{
    return x & 1;
}
ASIO_PAL_REGISTER_TASK(tiny);

/// Primes below n by trial division: CPU-bound, no memory traffic.
int count_primes(int n)
{
    int count = 0;
    for (int k = 2; k < n; ++k)
    {
        bool prime = true;
        for (int d = 2; d * d <= k; ++d)
            if (k % d == 0)
            {
                prime = false;
                break;
            }
        count += prime;
    }
    return count;
}
ASIO_PAL_REGISTER_TASK(count_primes);

namespace {

// Makes this program exit at once when spawned with it (the "spawn this program" peer).
constexpr const char* exit_at_once = "--bench-exit-at-once";

constexpr int round_trips = 2000;
constexpr int speedup_items = 200;
// count_primes(prime_limit) takes about 2 ms on this machine; the program prints what it takes.
constexpr int prime_limit = 50'000;

// ---- 1. serial round trip vs a raw pipe ping-pong ----

/// A forked child echoing 16-byte messages over two pipes, with blocking reads and writes.
class ping_pong_child
{
public:
    ping_pong_child()
    {
        int to_child[2], from_child[2];
        if (::pipe(to_child) != 0 || ::pipe(from_child) != 0)
            std::abort();
        pid_ = ::fork();
        if (pid_ < 0)
            std::abort();
        if (pid_ == 0)
        {
            ::close(to_child[1]);
            ::close(from_child[0]);
            char buf[16];
            while (read_full(to_child[0], buf) && write_full(from_child[1], buf))
            {}
            ::_exit(0);
        }
        ::close(to_child[0]);
        ::close(from_child[1]);
        out_ = to_child[1];
        in_ = from_child[0];
    }

    ~ping_pong_child()
    {
        ::close(out_); // the child reads EOF and exits
        ::close(in_);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }

    ping_pong_child(const ping_pong_child&) = delete;
    ping_pong_child& operator=(const ping_pong_child&) = delete;

    /// One round trip of `buf`.
    void trip(char (&buf)[16])
    {
        if (!write_full(out_, buf) || !read_full(in_, buf))
            std::abort();
    }

    /// `n` round trips, one measured section.
    bench::sample round_trips(int n)
    {
        char buf[16] = "ping-pong-16-B!";
        long sum = 0;
        auto s = bench::measure(
            [&] {
            for (int i = 0; i < n; ++i)
            {
                buf[0] = static_cast<char>(i);
                trip(buf);
                sum += buf[0] & 1;
            }
            },
            true);
        if (sum != n / 2)
            std::abort();
        return s;
    }

private:
    static bool read_full(int fd, char (&buf)[16])
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
    static bool write_full(int fd, const char (&buf)[16])
    {
        return ::write(fd, buf, sizeof buf) == static_cast<ssize_t>(sizeof buf);
    }

    pid_t pid_ = -1;
    int out_ = -1;
    int in_ = -1;
};

/// The same ping-pong done by a relay thread for the calling thread (condition variables both
/// ways): the least an I/O thread between caller and worker costs, with no Asio, no framing.
class relayed_ping_pong
{
public:
    relayed_ping_pong()
        : relay_([this] { serve(); })
    {}

    ~relayed_ping_pong()
    {
        {
            std::lock_guard<std::mutex> l(m_);
            stop_ = true;
        }
        request_cv_.notify_one();
        relay_.join();
    }

    relayed_ping_pong(const relayed_ping_pong&) = delete;
    relayed_ping_pong& operator=(const relayed_ping_pong&) = delete;

    bench::sample round_trips(int n)
    {
        long sum = 0;
        auto s = bench::measure(
            [&] {
            for (int i = 0; i < n; ++i)
            {
                std::unique_lock<std::mutex> l(m_);
                buf_[0] = static_cast<char>(i);
                ++requested_;
                l.unlock();
                request_cv_.notify_one();
                l.lock();
                reply_cv_.wait(l, [&] { return answered_ == requested_; });
                sum += buf_[0] & 1;
            }
            },
            true);
        if (sum != n / 2)
            std::abort();
        return s;
    }

private:
    void serve()
    {
        std::unique_lock<std::mutex> l(m_);
        for (;;)
        {
            request_cv_.wait(l, [&] { return stop_ || requested_ != answered_; });
            if (stop_)
                return;
            char buf[16];
            std::memcpy(buf, buf_, sizeof buf);
            l.unlock();
            child_.trip(buf);
            l.lock();
            std::memcpy(buf_, buf, sizeof buf);
            answered_ = requested_;
            l.unlock();
            reply_cv_.notify_one();
            l.lock();
        }
    }

    ping_pong_child child_; // forked before the relay thread starts
    std::mutex m_;
    std::condition_variable request_cv_, reply_cv_;
    char buf_[16] = "relayed-16-B-ms";
    long requested_ = 0;
    long answered_ = 0;
    bool stop_ = false;
    std::thread relay_;
};

/// `n` serial round trips: pool.run (the calling thread talks to an idle worker itself) or,
/// with `through_io`, submit(...).collect() (each task passes through the pool's I/O thread).
bench::sample pool_round_trips(pal::process_pool& pool, int n, bool through_io = false)
{
    long sum = 0;
    auto s = bench::measure(
        [&] {
        for (int i = 0; i < n; ++i)
            sum += through_io ? pool.submit(tiny, i).collect() : pool.run(tiny, i);
        },
        true);
    if (sum != n / 2)
        std::abort();
    return s;
}

void figure_round_trip(int rounds)
{
    // Forked before the pool exists, so the children hold none of the pool's pipes.
    ping_pong_child child;
    relayed_ping_pong relayed;
    pal::process_pool pool(1);
    pool_round_trips(pool, 100); // warm: the worker is up and has run the function
    pool_round_trips(pool, 100, true);
    child.round_trips(100);
    relayed.round_trips(100);
    bench::comparison rt{"serial round trip tiny(int) run", "us", false, round_trips};
    bench::comparison io{"same, submit->collect (via I/O thread)", "us", false, round_trips};
    bench::comparison floor{"submit->collect against a relay thread", "us", false, round_trips};
    for (int r = 0; r < rounds; ++r)
    {
        // Four sections a round; the ping-pong's serves as the peer of the first two lines.
        auto run = pool_round_trips(pool, round_trips);
        auto pong = child.round_trips(round_trips);
        auto via_io = pool_round_trips(pool, round_trips, true);
        auto relay = relayed.round_trips(round_trips);
        rt.add_ours(run);
        rt.add_peer(pong);
        io.add_ours(via_io);
        io.add_peer(pong);
        floor.add_ours(via_io);
        floor.add_peer(relay);
    }
    rt.print("raw 16 B pipe ping-pong");
    io.print("raw 16 B pipe ping-pong");
    floor.print("thread relay + ping-pong");
    std::printf("  (%d round trips a round, warm process_pool(1); bar: run within 1.5x of the raw "
                "ping-pong, ratio >= 0.67;\n   the other lines are no bar: submit->collect "
                "passes each task through the pool's I/O thread)\n",
                round_trips);
}

// ---- 2. cold start to the first result vs spawning a process ----

bench::sample cold_start()
{
    std::optional<pal::process_pool> pool;
    int v = 0;
    auto s = bench::measure(
        [&] {
        pool.emplace(1);
        v = pool->submit(tiny, 3).collect();
        },
        true);
    if (v != 1)
        std::abort();
    pool.reset(); // shutdown and reaping: neither timed nor counted
    return s;
}

bench::sample spawn_and_wait(const char* path, const char* arg)
{
    char* argv[] = {const_cast<char*>(path), const_cast<char*>(arg), nullptr};
    return bench::measure(
        [&] {
        pid_t pid = -1;
        if (::posix_spawn(&pid, path, nullptr, nullptr, argv, environ) != 0)
            std::abort();
        int status = 0;
        if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            std::abort();
        },
        true);
}

void figure_cold_start(int rounds)
{
    bench::comparison vs_true{"cold start: new process_pool(1) -> 1st result", "us", false};
    bench::comparison vs_self{"same, against spawning this program", "us", false};
    std::string self = "/proc/self/exe";
    for (int r = 0; r < rounds * 3; ++r)
    {
        vs_true.add_ours(cold_start());
        vs_true.add_peer(spawn_and_wait("/bin/true", nullptr));
        vs_self.add_ours(cold_start());
        vs_self.add_peer(spawn_and_wait(self.c_str(), exit_at_once));
    }
    vs_true.print("posix_spawn /bin/true + wait");
    vs_self.print("spawn this program + exit");
    std::printf("  cold start minus spawning this program: median %.1f us (no bar in DESIGN.md)\n",
                bench::median(vs_self.ours) - bench::median(vs_self.peer));
}

// ---- 3. shrink to 0 workers after the idle timeout ----

void figure_shrink(int rounds)
{
    const auto idle = milliseconds(200);
    bench::series shrink{"shrink to 0 workers, idle_timeout 200 ms: time after the last result",
                         "ms"};
    for (int r = 0; r < rounds; ++r)
    {
        pal::process_pool pool(pal::process_pool_options{.max_workers = 2, .idle_timeout = idle});
        pool.spawn_workers(2);
        if (pool.submit(tiny, 1).collect() != 1)
            std::abort();
        auto t0 = bench::clock_type::now();
        while (pool.count_workers() != 0)
            std::this_thread::sleep_for(milliseconds(1));
        shrink.values.push_back(
            duration<double, std::milli>(bench::clock_type::now() - t0).count());
    }
    shrink.print("  (2 workers; bar: <= 210 ms)");
}

// ---- 4. CPU-bound map speedup, 2 workers against 1 ----

bench::sample primes_map(pal::process_pool& pool, const std::vector<int>& items, long expected)
{
    long sum = 0;
    auto s = bench::measure(
        [&] {
        for (int v : pool.map_all(count_primes, items, pal::map_options{.chunk_size = 1}))
            sum += v;
        },
        true);
    if (sum != expected)
        std::abort();
    return s;
}

void figure_speedup(int rounds)
{
    std::vector<double> call_ms;
    int primes = 0;
    for (int i = 0; i < 5; ++i)
        call_ms.push_back(bench::time_it([&] { primes = count_primes(prime_limit); }) * 1e3);
    std::vector<int> items(speedup_items, prime_limit);
    long expected = static_cast<long>(primes) * speedup_items;
    pal::process_pool two(2);
    pal::process_pool one(1);
    // Warm both: workers up, and their task-time averages learnt.
    primes_map(two, std::vector<int>(8, prime_limit), 8L * primes);
    primes_map(one, std::vector<int>(4, prime_limit), 4L * primes);
    bench::comparison sp{"count_primes map_all chunk 1, 200 items", "items/s", true, speedup_items};
    for (int r = 0; r < rounds; ++r)
    {
        sp.add_peer(primes_map(one, items, expected));
        sp.add_ours(primes_map(two, items, expected));
    }
    sp.print("process_pool(1)");
    std::printf("  (asio_pal column: process_pool(2); one call of count_primes(%d) takes %.3f "
                "ms in this process, median of 5)\n",
                prime_limit, bench::median(call_ms));
    std::printf("  speedup time(1 worker) / time(2 workers): %.2fx (bar: >= 1.8x on 2 idle cores; "
                "load average now: %s)\n",
                bench::median(sp.ours) / bench::median(sp.peer), bench::load_average().c_str());
}

// ---- 5. modes for the Python comparison ----

bench::sample tiny_tasks(pal::process_pool& pool, int n)
{
    std::vector<pal::future<int>> futures;
    futures.reserve(n);
    long sum = 0;
    auto s = bench::measure(
        [&] {
        for (int i = 0; i < n; ++i)
            futures.push_back(pool.submit(tiny, i));
        for (auto& f : futures)
            sum += f.collect();
        },
        true);
    if (sum != n / 2)
        std::abort();
    return s;
}

bench::sample tiny_map(pal::process_pool& pool, int n)
{
    std::vector<int> items(n);
    for (int i = 0; i < n; ++i)
        items[i] = i;
    long sum = 0;
    auto s = bench::measure(
        [&] {
        for (int v : pool.map_all(tiny, items, pal::map_options{.chunk_size = 1000}))
            sum += v;
        },
        true);
    if (sum != n / 2)
        std::abort();
    return s;
}

/// A record for bench/process_vs_python.sh: a rate, or with `latency` microseconds per task.
void print_record(const char* name, const bench::sample& s, int n, bool latency = false)
{
    double per_task_us = s.seconds / n * 1e6;
    bench::print_record(name, latency ? per_task_us : n / s.seconds, s.cpu_seconds / n * 1e6);
}

int option_value(int argc, char** argv, const char* name)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
            return std::max(1, std::atoi(argv[i + 1]));
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);
    if (argc >= 2 && std::strcmp(argv[1], exit_at_once) == 0)
        return 0;

    int rounds = bench::rounds(argc, argv);
    bench::run_header header(argc, argv);
    int tiny_n = option_value(argc, argv, "--tiny");
    int map_n = option_value(argc, argv, "--map");
    int latency_n = option_value(argc, argv, "--latency");
    if (tiny_n || map_n || latency_n)
    {
        pal::process_pool pool(2);
        if (tiny_n)
            tiny_tasks(pool, tiny_n);
        if (map_n)
            tiny_map(pool, map_n);
        if (latency_n)
            pool_round_trips(pool, latency_n);
        for (int r = 0; r < rounds; ++r)
        {
            if (tiny_n)
                print_record("process_tiny_tasks", tiny_tasks(pool, tiny_n), tiny_n);
            if (map_n)
                print_record("process_map_chunk_1000", tiny_map(pool, map_n), map_n);
            if (latency_n)
                print_record("process_round_trip_us", pool_round_trips(pool, latency_n), latency_n,
                             true);
        }
        return 0;
    }

    using bench::has_flag;
    bool all = !has_flag(argc, argv, "--roundtrip") && !has_flag(argc, argv, "--cold") &&
               !has_flag(argc, argv, "--shrink") && !has_flag(argc, argv, "--speedup");
    if (all || has_flag(argc, argv, "--roundtrip"))
        figure_round_trip(rounds);
    if (all || has_flag(argc, argv, "--cold"))
        figure_cold_start(rounds);
    if (all || has_flag(argc, argv, "--shrink"))
        figure_shrink(rounds);
    if (all || has_flag(argc, argv, "--speedup"))
        figure_speedup(rounds);
}
