//
// bench/bench_util.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Measuring against a peer in the same run. A and B alternate (A, B, A, B...) for `--rounds N`
// rounds (default 11). Each measured section records its wall time and the CPU time the process
// spent in it (getrusage: user + sys), so every figure is printed with its median, its spread
// (min..max and every round's value) for each side and for the ratio, and beside it the CPU
// time per task with its own median and spread. The load average is printed at the start and
// at the end of a program (run_header).
//
// CPU time per task. A section's CPU time is getrusage(RUSAGE_SELF) taken before the section
// and again 1 ms after it ends (settle_time): a thread-pool worker may spin for a short while
// after its last task (asio_pal's spins up to 50 us), and that spin belongs to the section that
// caused it, not to the peer's section that follows. The caller sleeps during the settle time,
// so it adds only the pools' own tail. The pool not being measured sits idle, blocked on a
// condition variable, and burns nothing. With `children`, the CPU time of child processes is
// added: that of the reaped ones (RUSAGE_CHILDREN) and that of the live ones (each child's
// process CPU clock), so a process pool's workers and a forked peer count as they run.
//

#ifndef ASIO_PAL_BENCH_UTIL_HPP
#define ASIO_PAL_BENCH_UTIL_HPP

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

namespace bench {

/// Whether `name` is one of the program's arguments.
inline bool has_flag(int argc, char** argv, const char* name)
{
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
            return true;
    return false;
}

/// The argument after `name` (e.g. `--once ours`), or null when `name` is not given. A missing
/// value is an error.
inline const char* option(int argc, char** argv, const char* name)
{
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
        {
            if (i + 1 == argc)
            {
                std::fprintf(stderr, "%s: %s needs a value\n", argv[0], name);
                std::exit(2);
            }
            return argv[i + 1];
        }
    return nullptr;
}

/// A positive number after `name`, or `fallback` when `name` is not given.
inline int int_option(int argc, char** argv, const char* name, int fallback)
{
    const char* text = option(argc, argv, name);
    if (!text)
        return fallback;
    char* end = nullptr;
    long n = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || n < 1 || n > 1000000000)
    {
        std::fprintf(stderr, "%s: %s must be a positive number, got '%s'\n", argv[0], name, text);
        std::exit(2);
    }
    return static_cast<int>(n);
}

/// For `--once SIDE`: SIDE must be "ours" or "peer".
inline void check_side(const char* program, const char* side)
{
    if (std::strcmp(side, "ours") != 0 && std::strcmp(side, "peer") != 0)
    {
        std::fprintf(stderr, "%s: --once takes 'ours' or 'peer', got '%s'\n", program, side);
        std::exit(2);
    }
}

using clock_type = std::chrono::steady_clock;

/// Rounds when neither `--rounds N` nor BENCH_ROUNDS says otherwise.
constexpr int default_rounds = 11;

/// How long after a section its CPU time is still counted (see the top of this file).
constexpr std::chrono::milliseconds settle_time{1};

/// Seconds taken by f().
inline double time_it(const std::function<void()>& f)
{
    auto t0 = clock_type::now();
    f();
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

inline double median(std::vector<double> v)
{
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline double min_of(const std::vector<double>& v)
{
    return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}

inline double max_of(const std::vector<double>& v)
{
    return v.empty() ? NAN : *std::max_element(v.begin(), v.end());
}

/// Rounds from the command line (`--rounds N`) or the environment (BENCH_ROUNDS), else
/// `fallback`. A value that is not a positive number is an error, not a silent default.
inline int rounds(int argc, char** argv, int fallback = default_rounds)
{
    const char* text = nullptr;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--rounds") == 0)
        {
            if (i + 1 == argc)
            {
                std::fprintf(stderr, "%s: --rounds needs a number\n", argv[0]);
                std::exit(2);
            }
            text = argv[i + 1];
        }
    if (!text)
        text = std::getenv("BENCH_ROUNDS");
    if (!text)
        return fallback;
    char* end = nullptr;
    long n = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || n < 1 || n > 100000)
    {
        std::fprintf(stderr, "%s: rounds must be a positive number, got '%s'\n", argv[0], text);
        std::exit(2);
    }
    return static_cast<int>(n);
}

/// The first three fields of /proc/loadavg (1, 5 and 15 minute load averages).
inline std::string load_average()
{
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    if (!(in >> a >> b >> c))
        return "?";
    return a + " " + b + " " + c;
}

inline std::string utc_now()
{
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
    return buf;
}

/// Prints the command, the time and the load average when a program starts, and the time and
/// the load average again when it ends (construct one first thing in main). Lines start with
/// '#', which the scripts that parse a program's figures skip.
class run_header
{
public:
    run_header(int argc, char** argv)
    {
        std::string cmd;
        for (int i = 0; i < argc; ++i)
            cmd += (i ? " " : "") + std::string(argv[i]);
        std::printf("# %s\n# start %s, load average %s\n", cmd.c_str(), utc_now().c_str(),
                    load_average().c_str());
        std::fflush(stdout);
    }
    ~run_header()
    {
        std::printf("# end   %s, load average %s\n", utc_now().c_str(), load_average().c_str());
        std::fflush(stdout);
    }
    run_header(const run_header&) = delete;
    run_header& operator=(const run_header&) = delete;
};

// ---- CPU time ----

inline double seconds_of(const timeval& tv)
{
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

/// User + system CPU seconds of this process, all threads (getrusage RUSAGE_SELF).
inline double self_cpu_seconds()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return seconds_of(u.ru_utime) + seconds_of(u.ru_stime);
}

/// CPU seconds of one live process, or 0 if it is gone. The process CPU clock counts all its
/// threads in nanoseconds; /proc/PID/stat (clock ticks) is the fallback for a zombie.
inline double process_cpu_seconds(pid_t pid)
{
    clockid_t id{};
    timespec ts{};
    if (clock_getcpuclockid(pid, &id) == 0 && clock_gettime(id, &ts) == 0)
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line))
        return 0;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    auto close = line.rfind(')');
    if (close == std::string::npos)
        return 0;
    std::vector<std::string> fields;
    std::size_t pos = close + 2;
    while (pos < line.size())
    {
        auto next = line.find(' ', pos);
        fields.push_back(line.substr(pos, next - pos));
        if (next == std::string::npos)
            break;
        pos = next + 1;
    }
    if (fields.size() < 13)
        return 0;
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    return (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) / ticks;
}

/// Children of this process that are still alive (or not yet reaped), from
/// /proc/self/task/TID/children of every thread (a pool may start its workers from any thread).
inline std::vector<pid_t> live_children()
{
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec))
    {
        std::ifstream in(task.path() / "children");
        long pid = 0;
        while (in >> pid)
            out.push_back(static_cast<pid_t>(pid));
    }
    return out;
}

/// CPU seconds of all children: reaped ones (RUSAGE_CHILDREN) plus live ones.
inline double children_cpu_seconds()
{
    rusage u{};
    getrusage(RUSAGE_CHILDREN, &u);
    double total = seconds_of(u.ru_utime) + seconds_of(u.ru_stime);
    for (pid_t pid : live_children())
        total += process_cpu_seconds(pid);
    return total;
}

/// Wall time and CPU time of one measured section.
struct sample
{
    double seconds = 0;
    double cpu_seconds = 0;
};

/// Runs `f` as one measured section: wall time of f(); CPU time of this process (and, with
/// `children`, of its child processes) from before f() until settle_time after it.
inline sample measure(const std::function<void()>& f, bool children = false)
{
    // Reading the children's clocks costs this process CPU time: done outside the self window.
    double c0 = children ? children_cpu_seconds() : 0;
    c0 += self_cpu_seconds();
    sample s;
    s.seconds = time_it(f);
    std::this_thread::sleep_for(settle_time);
    double c1 = self_cpu_seconds();
    c1 += children ? children_cpu_seconds() : 0;
    s.cpu_seconds = c1 - c0;
    return s;
}

// ---- printing ----

/// A number in at most 4 significant digits, with k/M/G above 10,000: compact per-round lists.
inline std::string compact(double v)
{
    char buf[32];
    double a = std::fabs(v);
    if (a >= 1e10)
        std::snprintf(buf, sizeof buf, "%.4gG", v / 1e9);
    else if (a >= 1e7)
        std::snprintf(buf, sizeof buf, "%.4gM", v / 1e6);
    else if (a >= 1e4)
        std::snprintf(buf, sizeof buf, "%.4gk", v / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

inline std::string compact_list(const std::vector<double>& v)
{
    std::string out;
    for (double x : v)
        out += (out.empty() ? "" : " ") + compact(x);
    return out;
}

/// The median in `format`, then "<suffix> (min..max)" in compact form.
inline std::string spread(const std::vector<double>& v, const char* format = "%.1f",
                          const char* suffix = "")
{
    char med[48];
    std::snprintf(med, sizeof med, format, median(v));
    return std::string(med) + suffix + " (" + compact(min_of(v)) + ".." + compact(max_of(v)) + ")";
}

/// A figure with no peer: one value a round.
struct series
{
    std::string name;
    std::string unit;
    std::vector<double> values{};

    void print(const char* note = "") const
    {
        std::printf("%s: median %s %s, min %s, max %s (rounds %zu)%s\n", name.c_str(),
                    compact(median(values)).c_str(), unit.c_str(), compact(min_of(values)).c_str(),
                    compact(max_of(values)).c_str(), values.size(), note);
        std::printf("    per round: %s\n", compact_list(values).c_str());
        std::fflush(stdout);
    }
};

/// One figure measured against its peer: each side's value and CPU time per task, per round.
struct comparison
{
    std::string name;
    std::string unit; ///< "<things>/s" for rates, "us" for latencies
    bool higher_is_better = true;
    double tasks = 1; ///< tasks (items, round trips...) in one measured section
    std::vector<double> ours{};
    std::vector<double> peer{};
    std::vector<double> ours_cpu{}; ///< CPU microseconds per task
    std::vector<double> peer_cpu{};

    /// The value a section shows: a rate (tasks / s) or a latency (us per task).
    double value_of(const sample& s) const
    {
        return higher_is_better ? tasks / s.seconds : s.seconds / tasks * 1e6;
    }
    void add_ours(const sample& s) { add_ours(value_of(s), s.cpu_seconds / tasks * 1e6); }
    void add_peer(const sample& s) { add_peer(value_of(s), s.cpu_seconds / tasks * 1e6); }
    /// For a figure whose value is not the section's wall time (e.g. a latency stamped inside).
    void add_ours(double value, double cpu_us_per_task)
    {
        ours.push_back(value);
        ours_cpu.push_back(cpu_us_per_task);
    }
    void add_peer(double value, double cpu_us_per_task)
    {
        peer.push_back(value);
        peer_cpu.push_back(cpu_us_per_task);
    }

    /// Per-round ratios, oriented so that above 1 means asio_pal did better: ours / peer for
    /// rates, peer / ours for latencies and for CPU time.
    std::vector<double> ratios() const
    {
        std::vector<double> r;
        for (std::size_t i = 0; i < ours.size() && i < peer.size(); ++i)
            r.push_back(higher_is_better ? ours[i] / peer[i] : peer[i] / ours[i]);
        return r;
    }
    std::vector<double> cpu_ratios() const
    {
        std::vector<double> r;
        for (std::size_t i = 0; i < ours_cpu.size() && i < peer_cpu.size(); ++i)
            r.push_back(peer_cpu[i] / ours_cpu[i]);
        return r;
    }

    /**
     * Prints, for example (the first two lines cut here at "cpu"):
     *   submit 100k + future + collect all  [3 rounds, asio_pal and peer alternating]
     *       asio_pal                          1734289.7 tasks/s  (1452k..1935k)   cpu 0.377 us/task
     *       post(pool, use_future)             684418.8 tasks/s  (673.5k..805.6k)   cpu 0.940 ...
     *       ratio 2.16x (2.153..2.827)   cpu ratio 2.38x (2.14..2.739)   (above 1: asio_pal ...
     *       per round  asio_pal: 1452k 1734k 1935k   peer: 673.5k 805.6k 684.4k   ratio: 2.156 ...
     *       per round  cpu us/task asio_pal: 0.4194 0.3774 0.3431   peer: 0.9997 0.8076 0.9398
     * Medians in full, spreads (min..max) and per-round values in compact form; the CPU time
     * per task is followed by its spread too.
     */
    void print(const char* peer_name) const
    {
        std::printf("%s  [%zu rounds, asio_pal and peer alternating]\n", name.c_str(), ours.size());
        for (int side = 0; side < 2; ++side)
        {
            const auto& v = side == 0 ? ours : peer;
            const auto& c = side == 0 ? ours_cpu : peer_cpu;
            char med[32];
            std::snprintf(med, sizeof med, "%.1f", median(v));
            std::printf("    %-30s %12s %-8s (%s..%s)   cpu %s\n",
                        side == 0 ? "asio_pal" : peer_name, med, unit.c_str(),
                        compact(min_of(v)).c_str(), compact(max_of(v)).c_str(),
                        spread(c, "%.4g", " us/task").c_str());
        }
        std::printf("    ratio %s   cpu ratio %s   (above 1: asio_pal better)\n",
                    spread(ratios(), "%.2f", "x").c_str(),
                    spread(cpu_ratios(), "%.2f", "x").c_str());
        std::printf("    per round  asio_pal: %s   peer: %s   ratio: %s\n",
                    compact_list(ours).c_str(), compact_list(peer).c_str(),
                    compact_list(ratios()).c_str());
        std::printf("    per round  cpu us/task asio_pal: %s   peer: %s\n",
                    compact_list(ours_cpu).c_str(), compact_list(peer_cpu).c_str());
        std::fflush(stdout);
    }
};

/// For programs whose figures a script compares across processes (bench/bench_compare.py):
/// prints "<name> <value> <cpu us per task>" for one measured section.
inline void print_record(const char* name, double value, double cpu_us_per_task)
{
    std::printf("%s %.3f %.4f\n", name, value, cpu_us_per_task);
    std::fflush(stdout);
}

} // namespace bench

#endif // ASIO_PAL_BENCH_UTIL_HPP
