//
// bench/process.cpp
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
// No figure flag: all four. `--rounds N` (default 7) alternates A and B once per round.
//
// Modes for bench/process_vs_python.sh, which compares them with Python's
// ProcessPoolExecutor(2) (bench/process_peer.py); each prints one line "<name> <value>":
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

/// The first three fields of /proc/loadavg (1, 5 and 15 minute load averages).
std::string load_average()
{
    std::string out = "?";
    if (std::FILE* f = std::fopen("/proc/loadavg", "r"))
    {
        double a = 0, b = 0, c = 0;
        if (std::fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
            out = buf;
        }
        std::fclose(f);
    }
    return out;
}

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

    /// Microseconds per round trip over `n` round trips.
    double round_trip_us(int n)
    {
        char buf[16] = "ping-pong-16-B!";
        long sum = 0;
        double s = bench::time_it([&] {
            for (int i = 0; i < n; ++i)
            {
                buf[0] = static_cast<char>(i);
                trip(buf);
                sum += buf[0] & 1;
            }
        });
        if (sum != n / 2)
            std::abort();
        return s / n * 1e6;
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

    double round_trip_us(int n)
    {
        long sum = 0;
        double s = bench::time_it([&] {
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
        });
        if (sum != n / 2)
            std::abort();
        return s / n * 1e6;
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
double pool_round_trip_us(pal::process_pool& pool, int n, bool through_io = false)
{
    long sum = 0;
    double s = bench::time_it([&] {
        for (int i = 0; i < n; ++i)
            sum += through_io ? pool.submit(tiny, i).collect() : pool.run(tiny, i);
    });
    if (sum != n / 2)
        std::abort();
    return s / n * 1e6;
}

void figure_round_trip(int rounds)
{
    // Forked before the pool exists, so the children hold none of the pool's pipes.
    ping_pong_child child;
    relayed_ping_pong relayed;
    pal::process_pool pool(1);
    pool_round_trip_us(pool, 100); // warm: the worker is up and has run the function
    pool_round_trip_us(pool, 100, true);
    child.round_trip_us(100);
    relayed.round_trip_us(100);
    bench::comparison rt{"serial round trip tiny(int) run", "us", false};
    bench::comparison io{"same, submit->collect (via I/O thread)", "us", false};
    bench::comparison floor{"submit->collect against a relay thread", "us", false};
    for (int r = 0; r < rounds; ++r)
    {
        rt.ours.push_back(pool_round_trip_us(pool, round_trips));
        rt.peer.push_back(child.round_trip_us(round_trips));
        io.ours.push_back(pool_round_trip_us(pool, round_trips, true));
        io.peer.push_back(rt.peer.back());
        floor.ours.push_back(io.ours.back());
        floor.peer.push_back(relayed.round_trip_us(round_trips));
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

double cold_start_us()
{
    double s = 0;
    {
        auto t0 = bench::clock_type::now();
        pal::process_pool pool(1);
        int v = pool.submit(tiny, 3).collect();
        s = duration<double>(bench::clock_type::now() - t0).count();
        if (v != 1)
            std::abort();
    } // shutdown and reaping: not timed
    return s * 1e6;
}

double spawn_and_wait_us(const char* path, const char* arg)
{
    char* argv[] = {const_cast<char*>(path), const_cast<char*>(arg), nullptr};
    auto t0 = bench::clock_type::now();
    pid_t pid = -1;
    if (::posix_spawn(&pid, path, nullptr, nullptr, argv, environ) != 0)
        std::abort();
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        std::abort();
    return duration<double>(bench::clock_type::now() - t0).count() * 1e6;
}

void figure_cold_start(int rounds)
{
    bench::comparison vs_true{"cold start: new process_pool(1) -> 1st result", "us", false};
    bench::comparison vs_self{"same, against spawning this program", "us", false};
    std::string self = "/proc/self/exe";
    for (int r = 0; r < rounds * 3; ++r)
    {
        vs_true.ours.push_back(cold_start_us());
        vs_true.peer.push_back(spawn_and_wait_us("/bin/true", nullptr));
        vs_self.ours.push_back(cold_start_us());
        vs_self.peer.push_back(spawn_and_wait_us(self.c_str(), exit_at_once));
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
    std::vector<double> shrink_ms;
    for (int r = 0; r < rounds; ++r)
    {
        pal::process_pool pool(pal::process_pool_options{.max_workers = 2, .idle_timeout = idle});
        pool.spawn_workers(2);
        if (pool.submit(tiny, 1).collect() != 1)
            std::abort();
        auto t0 = bench::clock_type::now();
        while (pool.count_workers() != 0)
            std::this_thread::sleep_for(milliseconds(1));
        shrink_ms.push_back(duration<double, std::milli>(bench::clock_type::now() - t0).count());
    }
    std::printf("shrink to 0 workers, idle_timeout 200 ms: median %.1f ms after the last result "
                "(min %.1f, max %.1f; rounds %d; 2 workers; bar: <= 210 ms)\n",
                bench::median(shrink_ms), *std::min_element(shrink_ms.begin(), shrink_ms.end()),
                *std::max_element(shrink_ms.begin(), shrink_ms.end()), rounds);
    std::fflush(stdout);
}

// ---- 4. CPU-bound map speedup, 2 workers against 1 ----

double primes_map_rate(pal::process_pool& pool, const std::vector<int>& items, long expected)
{
    long sum = 0;
    double s = bench::time_it([&] {
        for (int v : pool.map_all(count_primes, items, pal::map_options{.chunk_size = 1}))
            sum += v;
    });
    if (sum != expected)
        std::abort();
    return static_cast<double>(items.size()) / s;
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
    primes_map_rate(two, std::vector<int>(8, prime_limit), 8L * primes);
    primes_map_rate(one, std::vector<int>(4, prime_limit), 4L * primes);
    bench::comparison sp{"count_primes map_all chunk 1, 200 items", "items/s"};
    for (int r = 0; r < rounds; ++r)
    {
        sp.peer.push_back(primes_map_rate(one, items, expected));
        sp.ours.push_back(primes_map_rate(two, items, expected));
    }
    sp.print("process_pool(1)");
    std::printf("  (asio_pal column: process_pool(2); one call of count_primes(%d) takes %.3f "
                "ms in this process, median of 5)\n",
                prime_limit, bench::median(call_ms));
    std::printf("  speedup time(1 worker) / time(2 workers): %.2fx (bar: >= 1.8x on 2 idle cores; "
                "load average now: %s)\n",
                bench::median(sp.ours) / bench::median(sp.peer), load_average().c_str());
}

// ---- 5. modes for the Python comparison ----

double tiny_rate(pal::process_pool& pool, int n)
{
    std::vector<pal::future<int>> futures;
    futures.reserve(n);
    long sum = 0;
    double s = bench::time_it([&] {
        for (int i = 0; i < n; ++i)
            futures.push_back(pool.submit(tiny, i));
        for (auto& f : futures)
            sum += f.collect();
    });
    if (sum != n / 2)
        std::abort();
    return n / s;
}

double map_rate(pal::process_pool& pool, int n)
{
    std::vector<int> items(n);
    for (int i = 0; i < n; ++i)
        items[i] = i;
    long sum = 0;
    double s = bench::time_it([&] {
        for (int v : pool.map_all(tiny, items, pal::map_options{.chunk_size = 1000}))
            sum += v;
    });
    if (sum != n / 2)
        std::abort();
    return n / s;
}

int option_value(int argc, char** argv, const char* name)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
            return std::max(1, std::atoi(argv[i + 1]));
    return 0;
}

bool has_flag(int argc, char** argv, const char* name)
{
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
            return true;
    return false;
}

} // namespace

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);
    if (argc >= 2 && std::strcmp(argv[1], exit_at_once) == 0)
        return 0;

    int rounds = bench::rounds(argc, argv);
    int tiny_n = option_value(argc, argv, "--tiny");
    int map_n = option_value(argc, argv, "--map");
    int latency_n = option_value(argc, argv, "--latency");
    if (tiny_n || map_n || latency_n)
    {
        pal::process_pool pool(2);
        std::vector<double> tiny_v, map_v, lat_v;
        if (tiny_n)
            tiny_rate(pool, tiny_n);
        if (map_n)
            map_rate(pool, map_n);
        if (latency_n)
            pool_round_trip_us(pool, latency_n);
        for (int r = 0; r < rounds; ++r)
        {
            if (tiny_n)
                tiny_v.push_back(tiny_rate(pool, tiny_n));
            if (map_n)
                map_v.push_back(map_rate(pool, map_n));
            if (latency_n)
                lat_v.push_back(pool_round_trip_us(pool, latency_n));
        }
        if (tiny_n)
            std::printf("process_tiny_tasks %.1f\n", bench::median(tiny_v));
        if (map_n)
            std::printf("process_map_chunk_1000 %.1f\n", bench::median(map_v));
        if (latency_n)
            std::printf("process_round_trip_us %.2f\n", bench::median(lat_v));
        return 0;
    }

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
