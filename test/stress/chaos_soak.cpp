//
// test/stress/chaos_soak.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A chaos soak: for a set time, 3 client threads (ASIO_PAL_SOAK_CLIENTS, 1-8) throw a random
// mix of work at one shared thread pool and one shared process pool while a churn thread
// replaces either pool from time to time with work in flight, and a canceller thread cancels
// tasks a few milliseconds after they were submitted (while pending or running).
//
// The task mix: tasks that return a value, throw (standard types, a registered type, an
// unregistered one, nested chains), sleep, kill their own worker process (SIGKILL, abort,
// _exit), return 1 MiB, or spin until cancelled. The clients submit single tasks and bursts,
// call run(), collect with short timeouts, wait on and iterate many futures with deadlines,
// attach callbacks, start lazy maps and abandon them early, and run coroutines on their own
// io_context: co_await async_run on both pools, async_run raced against a timer with `||`
// (the loser is cancelled: a spinning process task has its worker stopped), async_collect,
// async_next over a map, and a strand over the thread pool's executor.
//
// Every outcome is known by construction and checked: the right value, the right exception
// type and message (the whole nested chain), worker_died_error only from a task that killed its
// worker (with its signal or exit status), cancelled only when cancel() was asked or the task's
// pool was shut down (then it is listed by cancelled_tasks()), cancel() returning true only for
// tasks that end cancelled, every task done when its pool's shutdown() returns, each callback
// fired once. At the end: every submitted task ended completed, failed or cancelled and the
// counts add up; no child process is left (zombie or not) and no worker of this run is alive
// anywhere (workers inherit a tag in their environment, so orphans are found even after they
// were re-parented); the open descriptor count is back to where it was after a warm-up; the
// resident set has not grown beyond a generous bound; SIGPIPE's disposition is what it was.
//
// A violation is logged with the seed as it happens and fails the test at the end; a hang
// aborts the run (a watchdog bounds the whole test, every wait is bounded).
//
// Settings (environment):
//   ASIO_PAL_SOAK_SECONDS   the soak's length (default: 25 s times ASIO_PAL_STRESS_SCALE, at
//                           least 10 s; the scale defaults to 1.0, 0.1 in sanitizer builds)
//   ASIO_PAL_SOAK_SEED      the seed of every random choice (default: from random_device;
//                           printed either way). Thread interleavings are not reproducible,
//                           the choices are.
//   ASIO_PAL_SOAK_CLIENTS   client threads (default 3)
// A summary table of counts is printed at the end; test/stress/README.md records runs.
//
// This executable is its own worker process.
//

#include "asio_pal/async_run.hpp"
#include "asio_pal/futures.hpp"
#include "asio_pal/process_pool.hpp"
#include "asio_pal/thread_pool.hpp"

#include "../common/sanitizers.hpp"

#define BOOST_TEST_MODULE chaos_soak
#define BOOST_TEST_NO_MAIN
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include <unistd.h>

namespace pal = asio_pal;
namespace net = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace net::experimental::awaitable_operators;

// ---- the tasks: registered, so that worker processes run them too ----------------------------

struct soak_error : std::runtime_error
{
    explicit soak_error(const std::string& s)
        : std::runtime_error(s)
    {}
};
ASIO_PAL_REGISTER_EXCEPTION(soak_error);

// Not registered: a process pool hands it back as remote_error naming the type.
struct soak_unregistered_error : std::runtime_error
{
    using std::runtime_error::runtime_error;
};

namespace {

constexpr std::size_t big_size = std::size_t{1} << 20;
// A spinner stops when cancelled; this bound only turns a cancellation that never arrives into
// a counted failure instead of a hang.
constexpr int spin_limit_ms = 30'000;

long expected_value(long x)
{
    return x * 31 + 7;
}

char big_char(long x, std::size_t i)
{
    return static_cast<char>('a' + static_cast<long>((static_cast<std::size_t>(x) + i) % 26));
}

// throw_how values of soak_throw.
constexpr int how_runtime = 0, how_invalid_argument = 1, how_out_of_range = 2, how_registered = 3,
              how_unregistered = 4, how_nested = 5;

std::string throw_message(long x, int level)
{
    return "soak " + std::to_string(x) + " level " + std::to_string(level);
}

// The type of each level of a nested chain: 0 runtime_error, 1 logic_error, 2 out_of_range.
int nested_type(long x, int level)
{
    return static_cast<int>((x + level) % 3);
}

[[noreturn]] void throw_level(int type, const std::string& m)
{
    if (type == 0)
        throw std::runtime_error(m);
    if (type == 1)
        throw std::logic_error(m);
    throw std::out_of_range(m);
}

[[noreturn]] void throw_chain(long x, int level, int depth)
{
    if (level == depth - 1)
        throw_level(nested_type(x, level), throw_message(x, level));
    try
    {
        throw_chain(x, level + 1, depth);
    }
    catch (...)
    {
        int t = nested_type(x, level);
        std::string m = throw_message(x, level);
        if (t == 0)
            std::throw_with_nested(std::runtime_error(m));
        if (t == 1)
            std::throw_with_nested(std::logic_error(m));
        std::throw_with_nested(std::out_of_range(m));
    }
}

// Field 22 of /proc/self/stat: with the pid, it names a process across pid reuse.
long own_start_time()
{
    std::ifstream in("/proc/self/stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream rest(all.substr(all.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i)
        ;
    return std::atol(field.c_str());
}

bool map_item_throws(long x)
{
    return x % 509 == 17;
}

} // namespace

long soak_value(long x)
{
    return expected_value(x);
}
ASIO_PAL_REGISTER_TASK(soak_value);

std::tuple<long, long, long> soak_ident(long x)
{
    return {expected_value(x), static_cast<long>(::getpid()), own_start_time()};
}
ASIO_PAL_REGISTER_TASK(soak_ident);

long soak_throw(int how, int depth, long x)
{
    switch (how)
    {
    case how_runtime:
        throw std::runtime_error(throw_message(x, 0));
    case how_invalid_argument:
        throw std::invalid_argument(throw_message(x, 0));
    case how_out_of_range:
        throw std::out_of_range(throw_message(x, 0));
    case how_registered:
        throw soak_error(throw_message(x, 0));
    case how_unregistered:
        throw soak_unregistered_error(throw_message(x, 0));
    default:
        throw_chain(x, 0, depth);
    }
}
ASIO_PAL_REGISTER_TASK(soak_throw);

long soak_sleep(int ms)
{
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}
ASIO_PAL_REGISTER_TASK(soak_sleep);

std::string soak_big(long x)
{
    std::string s(big_size, ' ');
    for (std::size_t i = 0; i < big_size; ++i)
        s[i] = big_char(x, i);
    return s;
}
ASIO_PAL_REGISTER_TASK(soak_big);

// Spins until its worker is stopped by a cancellation. If none comes, it leaves a file in the
// run's directory, which the parent counts: a cancelled spinner that went on is a failure even
// when nobody waits for its result any more.
long soak_spin(int limit_ms)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
    while (std::chrono::steady_clock::now() < end)
        ;
    if (const char* dir = std::getenv("ASIO_PAL_SOAK_DIR"))
        std::ofstream(std::string(dir) + "/spin-expired-" + std::to_string(::getpid())) << 1;
    return -1;
}
ASIO_PAL_REGISTER_TASK(soak_spin);

long soak_die(int how, int status)
{
    if (how == 0)
        ::kill(::getpid(), SIGKILL);
    else if (how == 1)
        std::abort();
    ::_exit(status);
}
ASIO_PAL_REGISTER_TASK(soak_die);

long soak_map_item(long x)
{
    if (map_item_throws(x))
        throw std::out_of_range("map item " + std::to_string(x));
    return expected_value(x);
}
ASIO_PAL_REGISTER_TASK(soak_map_item);

namespace {

// ---- settings ---------------------------------------------------------------------------------

using asio_pal_test::sanitized;

double env_number(const char* name, double fallback)
{
    if (const char* s = std::getenv(name); s && *s)
    {
        char* end = nullptr;
        double v = std::strtod(s, &end);
        if (end != s && v > 0)
            return v;
    }
    return fallback;
}

double soak_seconds()
{
    double scale = env_number("ASIO_PAL_STRESS_SCALE", sanitized ? 0.1 : 1.0);
    return env_number("ASIO_PAL_SOAK_SECONDS", std::max(10.0, 25.0 * scale));
}

// Every blocking wait of the test is bounded by this; reaching it counts as a hang.
constexpr auto wait_limit = 120s;

// ---- kinds of task and what each must give --------------------------------------------------

enum class kind : int
{
    value,
    ident,
    throw_std,
    throw_nested,
    throw_registered,
    throw_unregistered,
    sleep,
    big,
    spin,
    die_kill,
    die_abort,
    die_exit,
};
constexpr int kind_count = 12;
constexpr const char* kind_names[kind_count] = {"value",      "ident",        "throw", "nested",
                                                "registered", "unregistered", "sleep", "1 MiB",
                                                "spin",       "SIGKILL",      "abort", "_exit"};
// Relative frequencies; the thread pool has no worker process to kill, nor a pid to report.
constexpr int thread_weights[kind_count] = {34, 0, 8, 6, 4, 3, 12, 4, 5, 0, 0, 0};
constexpr int process_weights[kind_count] = {30, 5, 8, 6, 4, 3, 12, 3, 5, 2, 1, 1};

struct spec
{
    kind k = kind::value;
    long x = 0;
    int a = 0; // throw_std: which type; nested: depth; sleep: ms; die_exit: status
};

class rng
{
public:
    explicit rng(std::uint64_t seed)
        : g_(seed)
    {}

    long uniform(long lo, long hi) { return std::uniform_int_distribution<long>(lo, hi)(g_); }
    int uniform_int(int lo, int hi) { return static_cast<int>(uniform(lo, hi)); }
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(g_) < p; }

    template <std::size_t N>
    int weighted(const int (&w)[N])
    {
        return static_cast<int>(std::discrete_distribution<int>(std::begin(w), std::end(w))(g_));
    }

private:
    std::mt19937_64 g_;
};

spec random_spec(rng& r, bool process, bool allow_spin = true)
{
    spec s;
    do
        s.k = static_cast<kind>(r.weighted(process ? process_weights : thread_weights));
    while (s.k == kind::spin && !allow_spin);
    s.x = r.uniform(0, 1'000'000);
    switch (s.k)
    {
    case kind::throw_std:
        s.a = r.uniform_int(0, 2);
        break;
    case kind::throw_nested:
        s.a = r.uniform_int(2, 5);
        break;
    case kind::sleep:
        s.a = r.uniform_int(0, 15);
        break;
    case kind::die_exit:
        s.a = r.uniform_int(3, 60);
        break;
    default:
        break;
    }
    return s;
}

std::string describe(const spec& s, bool process)
{
    return std::string(process ? "process" : "thread") + " task '" +
           kind_names[static_cast<int>(s.k)] + "' x=" + std::to_string(s.x) +
           " a=" + std::to_string(s.a);
}

// Calls `call(fn, args...)` with the registered function and arguments of `s` (spinners on a
// thread pool are not for this: they need a stop flag).
template <typename Call>
auto dispatch(const spec& s, Call&& call)
{
    switch (s.k)
    {
    case kind::ident:
        return call(soak_ident, s.x);
    case kind::throw_std:
        return call(soak_throw, s.a, 0, s.x);
    case kind::throw_nested:
        return call(soak_throw, how_nested, s.a, s.x);
    case kind::throw_registered:
        return call(soak_throw, how_registered, 0, s.x);
    case kind::throw_unregistered:
        return call(soak_throw, how_unregistered, 0, s.x);
    case kind::sleep:
        return call(soak_sleep, s.a);
    case kind::big:
        return call(soak_big, s.x);
    case kind::spin:
        return call(soak_spin, spin_limit_ms);
    case kind::die_kill:
        return call(soak_die, 0, 0);
    case kind::die_abort:
        return call(soak_die, 1, 0);
    case kind::die_exit:
        return call(soak_die, 2, s.a);
    case kind::value:
    default:
        return call(soak_value, s.x);
    }
}

// ---- problems and counts ----------------------------------------------------------------------

std::uint64_t the_seed = 0;

// Problems found on any thread (Boost.Test assertions are not thread-safe): printed at once with
// the seed, reported by the main thread at the end.
class problem_log
{
public:
    void add(const std::string& what)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (++count_ <= 40)
        {
            list_.push_back(what);
            std::fprintf(stderr, "chaos_soak (seed %llu) PROBLEM: %s\n",
                         static_cast<unsigned long long>(the_seed), what.c_str());
            std::fflush(stderr);
        }
    }

    std::size_t count()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_;
    }

    void report()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const std::string& p : list_)
            BOOST_ERROR(p);
        BOOST_TEST(count_ == 0u, count_ << " problems (the first " << list_.size()
                                        << " are listed above); seed " << the_seed);
    }

private:
    std::mutex mutex_;
    std::vector<std::string> list_;
    std::size_t count_ = 0;
};

problem_log problems;

using counter = std::atomic<std::uint64_t>;

struct soak_counts
{
    // [0] thread pool, [1] process pool
    counter submitted[2][kind_count] = {};
    counter completed[2][kind_count] = {};
    counter failed[2][kind_count] = {};
    counter cancelled[2][kind_count] = {};
    counter refused[2] = {}; // submit() on a pool shut down by the churn thread
    counter cancelled_by_shutdown[2] = {};
    counter runs[2] = {}, run_values[2] = {}, run_failures[2] = {}, run_refused[2] = {};
    counter asyncs[2] = {}, async_values[2] = {}, async_failures[2] = {}, async_cut[2] = {};
    counter races[2] = {}, race_task_won[2] = {}, race_timer_won[2] = {};
    counter maps[2] = {}, map_items[2] = {}, maps_abandoned[2] = {}, maps_finished[2] = {},
            map_failures[2] = {}, map_timeouts[2] = {}, map_cut[2] = {};
    counter async_next_maps = 0, async_collects = 0;
    counter strand_jobs = 0, strand_posts = 0, coroutines = 0;
    counter collects = 0, collect_timeouts = 0, pokes = 0, waits = 0, wait_timeouts = 0,
            as_dones = 0, as_done_timeouts = 0;
    counter cancel_calls = 0, cancel_true = 0;
    counter callbacks_added = 0, callbacks_fired = 0;
    counter pools_created[2] = {}, pools_shut_down_early[2] = {}, pools_destroyed_by_client[2] = {},
            pools_destroyed_by_churn[2] = {}, in_flight_at_shutdown[2] = {};
    counter pool_exceptions = 0; // reports to on_task_exception
    counter thread_spin_expired = 0;
    counter sigpipe_changed_while_running = 0;
};

soak_counts counts;

int pool_index(bool process)
{
    return process ? 1 : 0;
}

std::mutex pids_mutex;
std::set<long> worker_pids_seen;

void saw_worker(long pid)
{
    std::lock_guard<std::mutex> lock(pids_mutex);
    worker_pids_seen.insert(pid);
}

// ---- checking outcomes ------------------------------------------------------------------------

enum class cls
{
    worker_died,
    cancelled,
    timeout,
    pool_closed,
    protocol,
    remote,
    other_pal,
    soak,
    soak_unregistered,
    out_of_range,
    invalid_argument,
    logic,
    runtime,
    other_std,
    not_std,
};
constexpr const char* cls_names[] = {
    "worker_died_error",  "cancelled_error",      "timeout_error",         "pool_closed_error",
    "protocol_error",     "remote_error",         "asio_pal::error",       "soak_error",
    "soak_unregistered",  "std::out_of_range",    "std::invalid_argument", "std::logic_error",
    "std::runtime_error", "other std::exception", "not a std::exception"};

// The most derived of the types the soak knows (a nested chain's levels are
// std::_Nested_exception<T>, which is a T).
cls classify(const std::exception& e)
{
    if (dynamic_cast<const pal::worker_died_error*>(&e))
        return cls::worker_died;
    if (dynamic_cast<const pal::cancelled_error*>(&e))
        return cls::cancelled;
    if (dynamic_cast<const pal::timeout_error*>(&e))
        return cls::timeout;
    if (dynamic_cast<const pal::pool_closed_error*>(&e))
        return cls::pool_closed;
    if (dynamic_cast<const pal::protocol_error*>(&e))
        return cls::protocol;
    if (dynamic_cast<const pal::remote_error*>(&e))
        return cls::remote;
    if (dynamic_cast<const pal::error*>(&e))
        return cls::other_pal;
    if (dynamic_cast<const soak_error*>(&e))
        return cls::soak;
    if (dynamic_cast<const soak_unregistered_error*>(&e))
        return cls::soak_unregistered;
    if (dynamic_cast<const std::out_of_range*>(&e))
        return cls::out_of_range;
    if (dynamic_cast<const std::invalid_argument*>(&e))
        return cls::invalid_argument;
    if (dynamic_cast<const std::logic_error*>(&e))
        return cls::logic;
    if (dynamic_cast<const std::runtime_error*>(&e))
        return cls::runtime;
    return cls::other_std;
}

struct level
{
    cls c = cls::not_std;
    std::string what;
    std::string remote_type;
    long pid = 0;
    int signal = 0;
    int exit_status = 0;
};

// An exception and its nested chain, outermost first.
std::vector<level> unwind(std::exception_ptr e)
{
    std::vector<level> out;
    while (e && out.size() < 100)
    {
        std::exception_ptr next;
        try
        {
            std::rethrow_exception(e);
        }
        catch (const std::exception& x)
        {
            level l{classify(x), x.what(), {}, 0, 0, 0};
            if (auto* r = dynamic_cast<const pal::remote_error*>(&x))
                l.remote_type = r->type_name();
            if (auto* d = dynamic_cast<const pal::worker_died_error*>(&x))
            {
                l.pid = static_cast<long>(d->pid());
                l.signal = d->signal();
                l.exit_status = d->exit_status();
            }
            out.push_back(std::move(l));
            try
            {
                std::rethrow_if_nested(x);
            }
            catch (...)
            {
                next = std::current_exception();
            }
        }
        catch (...)
        {
            out.push_back(level{});
        }
        e = next;
    }
    return out;
}

std::string show(const std::vector<level>& chain)
{
    std::string s;
    for (const level& l : chain)
        s += std::string(s.empty() ? "" : " <- ") + cls_names[static_cast<int>(l.c)] + "(\"" +
             l.what + "\")";
    return s;
}

std::string what_of(std::exception_ptr e)
{
    return show(unwind(std::move(e)));
}

// The chain a throwing task must produce, outermost first (empty: it must not throw).
std::vector<std::pair<cls, std::string>> expected_chain(const spec& s, bool process)
{
    switch (s.k)
    {
    case kind::throw_std:
        return {{s.a == how_runtime            ? cls::runtime
                 : s.a == how_invalid_argument ? cls::invalid_argument
                                               : cls::out_of_range,
                 throw_message(s.x, 0)}};
    case kind::throw_registered:
        return {{cls::soak, throw_message(s.x, 0)}};
    case kind::throw_unregistered:
        return {{process ? cls::remote : cls::soak_unregistered, throw_message(s.x, 0)}};
    case kind::throw_nested:
    {
        std::vector<std::pair<cls, std::string>> chain;
        for (int i = 0; i < s.a; ++i)
        {
            int t = nested_type(s.x, i);
            chain.push_back({t == 0   ? cls::runtime
                             : t == 1 ? cls::logic
                                      : cls::out_of_range,
                             throw_message(s.x, i)});
        }
        return chain;
    }
    default:
        return {};
    }
}

// "" when `e` is the failure `s` must produce; else what is wrong.
std::string check_failure(const spec& s, bool process, std::exception_ptr e)
{
    std::vector<level> got = unwind(e);
    std::string bad = describe(s, process) + " failed with " + show(got);
    if (got.empty())
        return bad + " (a null exception)";
    if (s.k == kind::die_kill || s.k == kind::die_abort || s.k == kind::die_exit)
    {
        const level& l = got.front();
        if (!process || got.size() != 1 || l.c != cls::worker_died ||
            l.what.find("soak_die") == std::string::npos || l.pid <= 0)
            return bad + " (expected one worker_died_error naming soak_die)";
        saw_worker(l.pid);
        bool right = s.k == kind::die_kill ? l.signal == SIGKILL
                     : s.k == kind::die_abort
                         ? (l.signal == SIGABRT || (sanitized && l.exit_status > 0))
                         : (l.signal == 0 && l.exit_status == s.a);
        if (!right)
            return bad + " (signal " + std::to_string(l.signal) + ", exit status " +
                   std::to_string(l.exit_status) + ")";
        return "";
    }
    auto want = expected_chain(s, process);
    if (want.empty())
        return bad + " (it must not fail)";
    if (got.size() != want.size())
        return bad + " (expected " + std::to_string(want.size()) + " levels)";
    for (std::size_t i = 0; i < want.size(); ++i)
    {
        if (got[i].c != want[i].first)
            return bad + " (level " + std::to_string(i) + " should be " +
                   cls_names[static_cast<int>(want[i].first)] + ")";
        if (want[i].first == cls::remote)
        {
            if (got[i].what.find(want[i].second) == std::string::npos ||
                got[i].remote_type.find("soak_unregistered_error") == std::string::npos)
                return bad + " (remote_error type '" + got[i].remote_type + "')";
        }
        else if (got[i].what != want[i].second)
        {
            return bad + " (level " + std::to_string(i) + " should say \"" + want[i].second + "\")";
        }
    }
    return "";
}

// ---- outcomes of operations that threw ----------------------------------------------------------

// How an operation that threw ended: cancelled (cancelled_error), refused by a closed pool
// (pool_closed_error), past a deadline (timeout_error), or failed (anything else: a task's own
// exception, which its spec decides, or a bug).
enum class outcome
{
    cancelled,
    refused,
    timed_out,
    failed,
};

outcome classify(const std::exception_ptr& e)
{
    if (!e)
        return outcome::failed; // the failure checks name a null exception
    try
    {
        std::rethrow_exception(e);
    }
    catch (const pal::cancelled_error&)
    {
        return outcome::cancelled;
    }
    catch (const pal::pool_closed_error&)
    {
        return outcome::refused;
    }
    catch (const pal::timeout_error&)
    {
        return outcome::timed_out;
    }
    catch (...)
    {
        return outcome::failed;
    }
}

// The outcomes besides `failed` that an operation may have where it is used: each is a problem
// unless allowed here.
struct allowed
{
    bool cancelled = false;
    bool refused = false;
    bool timed_out = false;

    bool admits(outcome o) const
    {
        return (o == outcome::cancelled && cancelled) || (o == outcome::refused && refused) ||
               (o == outcome::timed_out && timed_out);
    }
};

// An operation's exception classified and checked: `why` is "" when it is right.
struct judged
{
    outcome o;
    std::string why;
};

// Judges the exception `e` that the operation named `what` threw: a failure is checked by
// `check_failed` (the expected failure of its task, for instance), any other outcome must be
// one that `ok` allows.
template <typename CheckFailed>
judged judge(const std::exception_ptr& e, allowed ok, const std::string& what,
             CheckFailed&& check_failed)
{
    outcome o = classify(e);
    if (o == outcome::failed)
        return {o, check_failed(e)};
    if (ok.admits(o))
        return {o, ""};
    return {o, what + " threw " + what_of(e) + ", which is not allowed here"};
}

// Names the pool's state for a message about an operation on it.
std::string on_pool(bool closing)
{
    return closing ? " on a pool being shut down" : " on an open pool";
}

// Whether the operation was cut short (cancelled or refused) rather than failed or timed out.
bool cut(outcome o)
{
    return o == outcome::cancelled || o == outcome::refused;
}

std::string check_value(const spec& s, bool process, long v)
{
    std::string bad = describe(s, process) + " completed with " + std::to_string(v);
    switch (s.k)
    {
    case kind::value:
        return v == expected_value(s.x) ? "" : bad;
    case kind::sleep:
        return v == s.a ? "" : bad;
    case kind::spin:
        // A thread spinner returns its x once told to stop; a process spinner never returns.
        return !process && v == s.x ? "" : bad + " (a spinner that was never stopped?)";
    default:
        return bad + " (it must fail)";
    }
}

std::string check_value(const spec& s, bool process, const std::string& v)
{
    std::string bad =
        describe(s, process) + " completed with a string of " + std::to_string(v.size()) + " bytes";
    if (s.k != kind::big || v.size() != big_size)
        return bad;
    for (std::size_t i = 0; i < big_size; ++i)
        if (v[i] != big_char(s.x, i))
            return bad + " (wrong byte at " + std::to_string(i) + ")";
    return "";
}

using ident_t = std::tuple<long, long, long>;

std::string check_value(const spec& s, bool process, const ident_t& v)
{
    auto [value, pid, start] = v;
    std::string bad = describe(s, process) + " completed with (" + std::to_string(value) + ", " +
                      std::to_string(pid) + ", " + std::to_string(start) + ")";
    if (s.k != kind::ident || value != expected_value(s.x))
        return bad;
    if (pid <= 0 || pid == static_cast<long>(::getpid()))
        return bad + " (it did not run in a worker process)";
    saw_worker(pid);
    return "";
}

void expect(const std::string& verdict)
{
    if (!verdict.empty())
        problems.add(verdict);
}

// ---- tasks in flight --------------------------------------------------------------------------

using any_future = std::variant<pal::future<long>, pal::future<std::string>, pal::future<ident_t>>;

struct entry;

// One pool's life: the futures it gave out and how it ended.
struct generation
{
    std::uint64_t number = 0;
    bool process = false;
    bool explicit_shutdown = false; // the last owner calls shutdown() before the destructor
    std::atomic<bool> closing{false};
    std::atomic<bool> ended{false}; // destroyed; the two fields below are final
    bool ids_known = false;         // cancelled_ids holds cancelled_tasks() after shutdown()
    std::vector<pal::task_id_t> cancelled_ids;
    std::mutex mutex;
    std::vector<std::weak_ptr<entry>> entries;
    // Coroutine batches with strand jobs hold it shared: a strand's queue must not meet a closed
    // pool (its handlers would be discarded), so the churn thread skips an early shutdown then.
    std::shared_mutex strand_hold;

    void add(const std::shared_ptr<entry>& e)
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (entries.size() > 4096)
            std::erase_if(entries, [](const std::weak_ptr<entry>& w) { return w.expired(); });
        entries.push_back(e);
    }
};

struct entry
{
    spec s;
    bool process = false;
    std::shared_ptr<generation> gen;
    any_future f;
    std::shared_ptr<std::atomic<bool>> stop;     // thread spinners
    std::shared_ptr<std::atomic<int>> callbacks; // fires of the callback, when one was added
    std::atomic<bool> cancel_asked{false};
    std::atomic<bool> cancel_true{false};
    std::atomic<bool> cancel_false{false};
    std::atomic<bool> settled{false};
};
using entry_ptr = std::shared_ptr<entry>;

bool is_done(const entry& e)
{
    return std::visit([](const auto& f) { return f.is_done(); }, e.f);
}

pal::task_status status_of(const entry& e)
{
    return std::visit([](const auto& f) { return f.status(); }, e.f);
}

bool wait_for(const entry& e, std::chrono::steady_clock::duration d)
{
    return std::visit([&](const auto& f) { return f.wait(d); }, e.f);
}

std::string describe(const entry& e)
{
    pal::task_id_t id = std::visit([](const auto& f) { return f.task_id(); }, e.f);
    std::ostringstream o;
    o << describe(e.s, e.process) << " (task " << id << " of pool #" << e.gen->number << ", status "
      << status_of(e) << (e.cancel_asked ? ", cancel asked" : "")
      << (e.cancel_true ? " ->true" : "") << (e.cancel_false ? " ->false" : "") << ")";
    return o.str();
}

void do_cancel(entry& e)
{
    // Asked before the call: whoever sees the task cancelled must know it was asked.
    e.cancel_asked = true;
    bool r = std::visit([](const auto& f) { return f.cancel(); }, e.f);
    ++counts.cancel_calls;
    if (r)
    {
        ++counts.cancel_true;
        e.cancel_true = true;
    }
    else
    {
        e.cancel_false = true;
    }
    if (e.stop)
        e.stop->store(true);
}

enum class verdict
{
    done,
    later, // cancelled by a shutdown whose cancelled_tasks() is not final yet
};

// Checks a finished task once; counts its outcome.
verdict settle(entry& e)
{
    if (e.settled)
        return verdict::done;
    pal::task_status st = status_of(e);
    bool cancelled = st == pal::task_status::cancelled;
    // Read before the ids: retire() publishes them with `ended`.
    bool ended = e.gen->ended;
    if (cancelled && !e.cancel_asked && !ended)
    {
        if (e.gen->closing)
            return verdict::later;
        problems.add(describe(e) + ": cancelled, but nobody cancelled it and its pool was not "
                                   "shut down");
    }
    e.settled = true;
    int p = pool_index(e.process);
    int k = static_cast<int>(e.s.k);
    switch (st)
    {
    case pal::task_status::completed:
        ++counts.completed[p][k];
        std::visit([&](const auto& f) { expect(check_value(e.s, e.process, *f.result())); }, e.f);
        break;
    case pal::task_status::failed:
        ++counts.failed[p][k];
        expect(check_failure(e.s, e.process,
                             std::visit([](const auto& f) { return f.exception(); }, e.f)));
        break;
    case pal::task_status::cancelled:
        ++counts.cancelled[p][k];
        if (!e.cancel_asked)
        {
            ++counts.cancelled_by_shutdown[p];
            pal::task_id_t id = std::visit([](const auto& f) { return f.task_id(); }, e.f);
            if (ended && e.gen->ids_known &&
                !std::binary_search(e.gen->cancelled_ids.begin(), e.gen->cancelled_ids.end(), id))
                problems.add(describe(e) + ": cancelled by shutdown() but not listed by "
                                           "cancelled_tasks()");
        }
        if (e.cancel_false)
            problems.add(describe(e) + ": cancel() returned false, yet the task ended cancelled");
        break;
    default:
        problems.add(describe(e) + ": settled while not done");
        break;
    }
    if (e.cancel_true && !cancelled)
        problems.add(describe(e) + ": cancel() returned true, yet the task did not end cancelled");
    return verdict::done;
}

// Every future a pool gave out must be done once its shutdown() (or destructor) returned.
void check_all_done(generation& g, const char* when)
{
    std::vector<entry_ptr> live;
    {
        std::lock_guard<std::mutex> lock(g.mutex);
        for (auto& w : g.entries)
            if (auto e = w.lock())
                live.push_back(std::move(e));
    }
    std::size_t not_done = 0;
    for (auto& e : live)
        if (!is_done(*e) && ++not_done <= 3)
            problems.add(describe(*e) + ": not done after " + when + " returned");
    if (not_done > 3)
        problems.add(std::to_string(not_done) + " tasks of pool #" + std::to_string(g.number) +
                     " not done after " + std::string(when) + " returned");
}

std::vector<entry_ptr> in_flight(generation& g)
{
    std::vector<entry_ptr> out;
    std::lock_guard<std::mutex> lock(g.mutex);
    for (auto& w : g.entries)
        if (auto e = w.lock(); e && !is_done(*e))
            out.push_back(std::move(e));
    return out;
}

// ---- the shared pools -------------------------------------------------------------------------

thread_local bool on_churn_thread = false;

template <typename Pool>
struct held
{
    std::shared_ptr<Pool> pool;
    std::shared_ptr<generation> gen;
};

void race_with_destruction(std::vector<entry_ptr> live);

// Runs in whoever drops the last reference to a pool: a client, a coroutine, the churn thread.
template <typename Pool>
void retire(Pool* pool, const std::shared_ptr<generation>& g)
{
    int p = pool_index(g->process);
    ++(on_churn_thread ? counts.pools_destroyed_by_churn : counts.pools_destroyed_by_client)[p];
    // A future may be cancelled or waited on while its pool is being destroyed: the canceller
    // thread does both, now, to the tasks still in flight.
    std::vector<entry_ptr> live = in_flight(*g);
    counts.in_flight_at_shutdown[p] += live.size();
    if (live.size() > 64)
        live.resize(64);
    race_with_destruction(std::move(live));
    g->closing = true;
    if (g->explicit_shutdown)
    {
        pool->shutdown();
        if (!pool->is_terminated())
            problems.add("pool #" + std::to_string(g->number) +
                         ": not terminated after shutdown() returned");
        g->cancelled_ids = pool->cancelled_tasks();
        std::sort(g->cancelled_ids.begin(), g->cancelled_ids.end());
        g->ids_known = true;
        check_all_done(*g, "shutdown()");
    }
    delete pool;
    check_all_done(*g, "the pool's destructor");
    g->ended = true;
}

std::atomic<std::uint64_t> next_generation{1};

void count_pool_exception(std::exception_ptr)
{
    ++counts.pool_exceptions;
}

held<pal::thread_pool> make_thread_pool(rng& r)
{
    static constexpr std::optional<std::chrono::nanoseconds> idle[] = {0ns, 1ms, 20ms, 1s,
                                                                       std::nullopt};
    auto g = std::make_shared<generation>();
    g->number = next_generation++;
    g->explicit_shutdown = r.chance(0.5);
    pal::pool_options o{.max_workers = static_cast<std::size_t>(r.uniform(2, 4)),
                        .name = "soak-thread-" + std::to_string(g->number),
                        .idle_timeout = idle[r.uniform(0, 4)],
                        .max_tasks_per_worker = r.chance(0.3) ? 5u : 0u,
                        .on_task_exception = count_pool_exception};
    ++counts.pools_created[0];
    return {std::shared_ptr<pal::thread_pool>(new pal::thread_pool(std::move(o)),
                                              [g](pal::thread_pool* p) { retire(p, g); }),
            g};
}

held<pal::process_pool> make_process_pool(rng& r)
{
    static constexpr std::optional<std::chrono::nanoseconds> idle[] = {0ns, 2ms, 50ms, 1s,
                                                                       std::nullopt};
    auto g = std::make_shared<generation>();
    g->number = next_generation++;
    g->process = true;
    g->explicit_shutdown = r.chance(0.5);
    pal::process_pool_options o{.max_workers = static_cast<std::size_t>(r.uniform(2, 3)),
                                .name = "soak-process-" + std::to_string(g->number),
                                .idle_timeout = idle[r.uniform(0, 4)],
                                .max_tasks_per_worker = r.chance(0.3) ? 20u : 0u,
                                .on_task_exception = count_pool_exception};
    ++counts.pools_created[1];
    return {std::shared_ptr<pal::process_pool>(new pal::process_pool(std::move(o)),
                                               [g](pal::process_pool* p) { retire(p, g); }),
            g};
}

class pool_slots
{
public:
    held<pal::thread_pool> thread_pool()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return threads_;
    }
    held<pal::process_pool> process_pool()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return processes_;
    }
    template <typename Pool>
    held<Pool> replace(held<Pool> fresh)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if constexpr (std::is_same_v<Pool, pal::thread_pool>)
            std::swap(threads_, fresh);
        else
            std::swap(processes_, fresh);
        return fresh;
    }

private:
    std::mutex mutex_;
    held<pal::thread_pool> threads_;
    held<pal::process_pool> processes_;
};

pool_slots slots;

// ---- the canceller ----------------------------------------------------------------------------

// Cancels tasks at a due time: every spinner (nothing else stops one), and a sample of the rest,
// a few milliseconds after they were submitted, so that the cancel meets them pending, queued in
// a worker, or running.
class canceller
{
public:
    // `cancel` false: wait(up to 1 ms) on the task instead.
    void schedule(entry_ptr e, std::chrono::steady_clock::duration delay, bool cancel = true)
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            queue_.push(
                item{std::chrono::steady_clock::now() + delay, seq_++, std::move(e), cancel});
        }
        cv_.notify_one();
    }

    void run()
    {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;)
        {
            if (queue_.empty())
            {
                if (finishing_)
                    return;
                cv_.wait(lock);
                continue;
            }
            auto due = queue_.top().due;
            if (!finishing_ && std::chrono::steady_clock::now() < due)
            {
                cv_.wait_until(lock, due);
                continue;
            }
            entry_ptr e = queue_.top().e;
            bool cancel = queue_.top().cancel;
            auto wait = std::chrono::microseconds(queue_.top().seq % 1000);
            queue_.pop();
            lock.unlock();
            if (!cancel)
            {
                if (wait_for(*e, wait) && !is_done(*e))
                    problems.add(describe(*e) + ": wait() returned true on a task not done");
            }
            else
            {
                do_cancel(*e);
                if (e->cancel_true && is_done(*e) && status_of(*e) != pal::task_status::cancelled)
                    problems.add(describe(*e) + ": cancel() returned true on a task that ended "
                                                "otherwise");
            }
            e.reset();
            lock.lock();
        }
    }

    // Cancels what is left at once, then run() returns.
    void finish()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            finishing_ = true;
        }
        cv_.notify_one();
    }

private:
    struct item
    {
        std::chrono::steady_clock::time_point due;
        std::uint64_t seq;
        entry_ptr e;
        bool cancel = true;
        bool operator<(const item& o) const { return std::tie(due, seq) > std::tie(o.due, o.seq); }
    };
    std::mutex mutex_;
    std::condition_variable cv_;
    std::priority_queue<item> queue_;
    std::uint64_t seq_ = 0;
    bool finishing_ = false;
};

canceller the_canceller;

void race_with_destruction(std::vector<entry_ptr> live)
{
    bool cancel = false;
    for (entry_ptr& e : live)
        the_canceller.schedule(std::move(e), 0ns, cancel = !cancel);
}

// ---- one client ------------------------------------------------------------------------------

long thread_spin(const std::atomic<bool>& stop, long x)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(spin_limit_ms);
    while (!stop.load(std::memory_order_relaxed))
        if (std::chrono::steady_clock::now() > end)
        {
            ++counts.thread_spin_expired;
            return -1;
        }
    return x;
}

// A coroutine batch's bookkeeping; coroutines that are destroyed without finishing count as
// dropped (a lost completion).
struct batch_state
{
    std::atomic<int> spawned{0}, finished{0}, dropped{0};
    // What each coroutine was, and whether it finished (its io_context's thread only): named
    // when a batch hangs.
    std::vector<std::string> jobs;
    std::vector<entry_ptr> awaited;
    std::vector<char> ended;
};

struct frame_guard
{
    std::shared_ptr<batch_state> b;
    bool done = false;
    ~frame_guard()
    {
        if (!done)
            ++b->dropped;
    }
};

template <typename Pool, typename F, typename... A>
net::awaitable<std::string> async_checked(Pool& pool, spec s, bool process, F fn, A... args)
{
    auto v = co_await pal::async_run(pool, fn, args..., net::use_awaitable);
    co_return check_value(s, process, v);
}

// co_await async_run on either pool; the outcome is checked as a future's would be.
template <typename Pool>
net::awaitable<void> job_async_run(held<Pool> h, spec s, std::shared_ptr<batch_state> b)
{
    frame_guard guard{b};
    constexpr bool process = std::is_same_v<Pool, pal::process_pool>;
    int p = pool_index(process);
    ++counts.asyncs[p];
    std::string why;
    try
    {
        auto op = dispatch(s, [&](auto fn, auto... args) {
            return async_checked(*h.pool, s, process, fn, args...);
        });
        why = co_await std::move(op);
        ++counts.async_values[p];
    }
    catch (...)
    {
        // Cancelled or refused only by a pool that is shut down.
        bool closing = h.gen->closing;
        judged j = judge(std::current_exception(), {.cancelled = closing, .refused = closing},
                         describe(s, process) + ": async_run" + on_pool(closing),
                         [&](std::exception_ptr e) { return check_failure(s, process, e); });
        ++(cut(j.o) ? counts.async_cut : counts.async_failures)[p];
        why = j.why;
    }
    expect(why);
    guard.done = true;
}

// co_await (async_run(...) || timer): the loser is cancelled. A spinner always loses, and on a
// process pool its worker is stopped (else the spinner reports itself when its time runs out).
template <typename Pool>
net::awaitable<void> job_race(held<Pool> h, spec s, int timer_ms, std::shared_ptr<batch_state> b)
{
    frame_guard guard{b};
    constexpr bool process = std::is_same_v<Pool, pal::process_pool>;
    int p = pool_index(process);
    ++counts.races[p];
    net::steady_timer timer(co_await net::this_coro::executor, std::chrono::milliseconds(timer_ms));
    std::variant<long, std::monostate> r;
    try
    {
        if (s.k == kind::spin)
            r = co_await (pal::async_run(*h.pool, soak_spin, spin_limit_ms, net::use_awaitable) ||
                          timer.async_wait(net::use_awaitable));
        else if (s.k == kind::sleep)
            r = co_await (pal::async_run(*h.pool, soak_sleep, s.a, net::use_awaitable) ||
                          timer.async_wait(net::use_awaitable));
        else
            r = co_await (pal::async_run(*h.pool, soak_value, s.x, net::use_awaitable) ||
                          timer.async_wait(net::use_awaitable));
    }
    catch (...)
    {
        problems.add(describe(s, process) + ": a race against a timer threw " +
                     what_of(std::current_exception()));
        guard.done = true;
        co_return;
    }
    if (r.index() == 0)
    {
        ++counts.race_task_won[p];
        expect(check_value(s, process, std::get<0>(r)));
    }
    else
    {
        ++counts.race_timer_won[p];
    }
    guard.done = true;
}

// A strand over the thread pool's executor: posted handlers and async_run on the strand never
// overlap, and run in order (the async_run sees every handler posted before it).
struct strand_state
{
    std::atomic<bool> inside{false};
    long count = 0; // guarded by the strand alone: ThreadSanitizer checks that it is enough
    void enter()
    {
        if (inside.exchange(true))
            problems.add("two handlers of one strand ran at once");
    }
    void leave() { inside = false; }
};

net::awaitable<void> job_strand(held<pal::thread_pool> h, int rounds, int per_round,
                                std::shared_ptr<batch_state> b)
{
    frame_guard guard{b};
    ++counts.strand_jobs;
    auto strand = net::make_strand(h.pool->get_executor());
    auto st = std::make_shared<strand_state>();
    long posted = 0;
    for (int round = 0; round < rounds; ++round)
    {
        for (int i = 0; i < per_round; ++i, ++posted)
            net::post(strand, [st] {
                st->enter();
                ++st->count;
                st->leave();
            });
        counts.strand_posts += static_cast<std::uint64_t>(per_round);
        auto read = [st] {
            st->enter();
            long c = st->count;
            st->leave();
            return c;
        };
        long seen = co_await pal::async_run(strand, read, net::use_awaitable);
        if (seen != posted)
            problems.add("a strand's async_run saw " + std::to_string(seen) + " of the " +
                         std::to_string(posted) + " handlers posted before it");
    }
    guard.done = true;
}

// co_await future.async_collect, alone or raced against a timer.
net::awaitable<void> job_collect(entry_ptr e, int timer_ms, std::shared_ptr<batch_state> b)
{
    frame_guard guard{b};
    ++counts.async_collects;
    const auto& f = std::get<pal::future<long>>(e->f);
    std::string why;
    try
    {
        if (timer_ms == 0)
        {
            long v = co_await f.async_collect(net::use_awaitable);
            why = check_value(e->s, e->process, v);
        }
        else
        {
            net::steady_timer timer(co_await net::this_coro::executor,
                                    std::chrono::milliseconds(timer_ms));
            auto r = co_await (f.async_collect(net::use_awaitable) ||
                               timer.async_wait(net::use_awaitable));
            if (r.index() == 0)
                why = check_value(e->s, e->process, std::get<0>(r));
        }
    }
    catch (...)
    {
        auto check = [&](std::exception_ptr x) { return check_failure(e->s, e->process, x); };
        why = judge(std::current_exception(), {.cancelled = f.is_cancelled()},
                    describe(*e) + ": async_collect", check)
                  .why;
    }
    expect(why);
    guard.done = true;
}

// Items of a map over [base, base + n): checks one yielded value. `seen` guards against
// duplicates in completion order.
std::string check_map_value(long v, long base, std::size_t n, bool ordered, std::size_t index,
                            std::vector<bool>& seen)
{
    long x = ordered ? base + static_cast<long>(index) : (v - 7) / 31;
    bool ok = x >= base && x < base + static_cast<long>(n) && !map_item_throws(x) &&
              v == expected_value(x) && !seen[static_cast<std::size_t>(x - base)];
    if (!ok)
        return "a map yielded " + std::to_string(v) + " at position " + std::to_string(index) +
               (ordered ? " (ordered)" : " (unordered)");
    seen[static_cast<std::size_t>(x - base)] = true;
    return "";
}

// An item's exception: the message names an item that throws and was not yielded; in order,
// it is the item at this position.
std::string check_map_failure(std::exception_ptr e, long base, std::size_t n, bool ordered,
                              std::size_t index, const std::vector<bool>& seen)
{
    std::vector<level> got = unwind(e);
    std::string bad = "a map failed at position " + std::to_string(index) + " with " + show(got);
    if (got.size() != 1 || got[0].c != cls::out_of_range || got[0].what.rfind("map item ", 0) != 0)
        return bad;
    long x = std::atol(got[0].what.c_str() + 9);
    if (x < base || x >= base + static_cast<long>(n) || !map_item_throws(x) ||
        seen[static_cast<std::size_t>(x - base)] ||
        (ordered && x != base + static_cast<long>(index)))
        return bad;
    return "";
}

// co_await async_next over a lazy map, abandoned after `want` items.
template <typename Pool>
net::awaitable<void> job_map_next(held<Pool> h, long base, std::size_t n, std::size_t want,
                                  std::shared_ptr<batch_state> b)
{
    frame_guard guard{b};
    ++counts.async_next_maps;
    std::vector<long> xs(n);
    std::iota(xs.begin(), xs.end(), base);
    std::vector<bool> seen(n);
    std::size_t i = 0;
    std::string why;
    try
    {
        auto r =
            h.pool->map(soak_map_item, xs, pal::map_options{.chunk_size = 3, .buffer_size = 2});
        while (i < want)
        {
            std::optional<long> v = co_await r.async_next(net::use_awaitable);
            if (!v)
                break;
            why = check_map_value(*v, base, n, true, i++, seen);
            if (!why.empty())
                break;
        }
    }
    catch (...)
    {
        bool closing = h.gen->closing;
        auto check = [&](std::exception_ptr e) {
            return check_map_failure(e, base, n, true, i, seen);
        };
        why = judge(std::current_exception(), {.cancelled = closing, .refused = closing},
                    "async_next over a map" + on_pool(closing), check)
                  .why;
    }
    expect(why);
    guard.done = true;
}

class client
{
public:
    client(std::uint64_t seed, std::chrono::steady_clock::time_point end)
        : r_(seed)
        , end_(end)
    {}

    void run();
    // Submits n random tasks to h's pool (the churn thread loads a pool it is about to drop).
    template <typename Pool>
    void load(held<Pool>& h, int n)
    {
        harvest();
        for (int i = 0; i < n; ++i)
            submit_one(h, random_spec(r_, std::is_same_v<Pool, pal::process_pool>));
    }
    // Waits for every task submitted and settles it.
    void finish();

    std::atomic<const char*> doing{"starting"};
    std::vector<entry_ptr> leftovers; // cancelled by a shutdown not yet final; main settles them

private:
    void harvest();
    void add_entry(entry_ptr e, bool process);
    template <typename Pool>
    void submit_one(held<Pool>& h, const spec& s);
    template <typename Pool>
    void submit_some(int n);
    void collect_some();
    void wait_some();
    void cancel_some();
    void poke_finished();
    template <typename Pool>
    void run_one();
    template <typename Pool>
    void map_one();
    void coroutines();

    rng r_;
    std::chrono::steady_clock::time_point end_;
    std::deque<entry_ptr> outstanding_;
    std::vector<entry_ptr> later_;
    std::deque<entry_ptr> finished_; // the last tasks settled, for poke_finished()
};

void client::harvest()
{
    std::erase_if(outstanding_, [&](const entry_ptr& e) {
        if (!is_done(*e))
            return false;
        if (settle(*e) == verdict::later)
            later_.push_back(e);
        finished_.push_back(e);
        return true;
    });
    while (finished_.size() > 64)
        finished_.pop_front();
    std::erase_if(later_, [](const entry_ptr& e) { return settle(*e) == verdict::done; });
    // Bounded memory: wait for the oldest when too many are in flight.
    while (outstanding_.size() > 200)
    {
        entry_ptr e = outstanding_.front();
        outstanding_.pop_front();
        if (!wait_for(*e, wait_limit))
        {
            problems.add(describe(*e) + ": not done after " + std::to_string(wait_limit.count()) +
                         " s (a hang)");
            continue;
        }
        if (settle(*e) == verdict::later)
            later_.push_back(e);
    }
}

void client::add_entry(entry_ptr e, bool process)
{
    int p = pool_index(process);
    ++counts.submitted[p][static_cast<int>(e->s.k)];
    e->gen->add(e);
    if (r_.chance(0.15))
    {
        e->callbacks = std::make_shared<std::atomic<int>>(0);
        ++counts.callbacks_added;
        std::visit(
            [&](const auto& f) {
            f.add_callback([c = e->callbacks] {
                if (c->fetch_add(1) != 0)
                    problems.add("a callback fired twice");
                ++counts.callbacks_fired;
            });
            },
            e->f);
    }
    if (e->s.k == kind::spin)
        the_canceller.schedule(e, std::chrono::milliseconds(r_.uniform(1, 25)));
    else if (r_.chance(0.08))
        the_canceller.schedule(e, std::chrono::milliseconds(r_.uniform(0, 15)));
    if (r_.chance(0.04))
        do_cancel(*e);
    outstanding_.push_back(std::move(e));
}

template <typename Pool>
void client::submit_one(held<Pool>& h, const spec& s)
{
    constexpr bool process = std::is_same_v<Pool, pal::process_pool>;
    auto e = std::make_shared<entry>();
    e->s = s;
    e->process = process;
    e->gen = h.gen;
    try
    {
        auto submit = [&](auto fn, auto... args) -> any_future {
            return h.pool->submit(fn, args...);
        };
        if constexpr (!process)
        {
            // Only a thread spinner needs a flag to stop: a process spinner's worker is stopped.
            if (s.k == kind::spin)
            {
                e->stop = std::make_shared<std::atomic<bool>>(false);
                auto spin = [stop = e->stop, x = s.x] { return thread_spin(*stop, x); };
                e->f = h.pool->submit(spin);
            }
            else
            {
                e->f = dispatch(s, submit);
            }
        }
        else
        {
            e->f = dispatch(s, submit);
        }
    }
    catch (...)
    {
        // Refused only by a pool that is shut down; submit never fails otherwise.
        std::string what = describe(s, process) + ": submit" + on_pool(h.gen->closing);
        judged j = judge(std::current_exception(), {.refused = h.gen->closing}, what,
                         [&](std::exception_ptr e) { return what + " threw " + what_of(e); });
        if (j.o == outcome::refused)
            ++counts.refused[pool_index(process)];
        expect(j.why);
        return;
    }
    add_entry(std::move(e), process);
}

template <typename Pool>
void client::submit_some(int n)
{
    constexpr bool process = std::is_same_v<Pool, pal::process_pool>;
    held<Pool> h;
    if constexpr (process)
        h = slots.process_pool();
    else
        h = slots.thread_pool();
    for (int i = 0; i < n; ++i)
        submit_one(h, random_spec(r_, process));
}

// collect(timeout) on a task: its value, its own exception, cancelled_error when it ended
// cancelled, or timeout_error while it has not ended. "" when that holds.
std::string check_collect(const entry& e, std::chrono::steady_clock::duration timeout,
                          bool must_be_done)
{
    try
    {
        std::string why;
        std::visit([&](const auto& f) { why = check_value(e.s, e.process, f.collect(timeout)); },
                   e.f);
        return why;
    }
    catch (...)
    {
        // Timed out only while the task goes on (harvest() sees it end); cancelled only when
        // the task ended cancelled.
        judged j = judge(
            std::current_exception(),
            {.cancelled = status_of(e) == pal::task_status::cancelled, .timed_out = !must_be_done},
            describe(e) + ": collect()",
            [&](std::exception_ptr x) { return check_failure(e.s, e.process, x); });
        if (j.o == outcome::timed_out)
            ++counts.collect_timeouts;
        return j.why;
    }
}

void client::collect_some()
{
    int n = r_.uniform_int(1, 4);
    for (int i = 0; i < n && !outstanding_.empty(); ++i)
    {
        entry_ptr e = outstanding_[static_cast<std::size_t>(
            r_.uniform(0, static_cast<long>(outstanding_.size()) - 1))];
        ++counts.collects;
        expect(check_collect(*e, std::chrono::microseconds(r_.uniform(0, 3000)), false));
    }
}

// A future outlives its pool: on a finished task whose pool may be gone (or going, on another
// thread), every call answers as it did and touches nothing of the pool.
void client::poke_finished()
{
    int n = r_.uniform_int(1, 4);
    for (int i = 0; i < n && !finished_.empty(); ++i)
    {
        entry_ptr e = finished_[static_cast<std::size_t>(
            r_.uniform(0, static_cast<long>(finished_.size()) - 1))];
        ++counts.pokes;
        bool cancelled = status_of(*e) == pal::task_status::cancelled;
        if (!wait_for(*e, 0ns))
            problems.add(describe(*e) + ": wait(0) is false on a finished task");
        bool r = std::visit([](const auto& f) { return f.cancel(); }, e->f);
        if (r != cancelled)
            problems.add(describe(*e) + ": cancel() on a finished task returned " +
                         (r ? "true" : "false"));
        expect(check_collect(*e, 0ns, true));
        bool fired = false;
        std::visit([&](const auto& f) { f.add_callback([&fired] { fired = true; }); }, e->f);
        if (!fired)
            problems.add(describe(*e) + ": a callback added to a finished task did not run "
                                        "before add_callback returned");
    }
}

void client::wait_some()
{
    std::vector<pal::future<long>> fs;
    for (const entry_ptr& e : outstanding_)
        if (auto* f = std::get_if<pal::future<long>>(&e->f); f && fs.size() < 8)
            fs.push_back(*f);
    if (fs.empty())
        return;
    auto timeout = std::chrono::microseconds(r_.uniform(0, 3000));
    if (r_.chance(0.5))
    {
        ++counts.waits;
        bool all = pal::wait(fs, timeout);
        if (!all)
            ++counts.wait_timeouts;
        else if (!std::all_of(fs.begin(), fs.end(), [](auto& f) { return f.is_done(); }))
            problems.add("wait(futures, timeout) returned true with a task not done");
        return;
    }
    ++counts.as_dones;
    std::size_t yielded = 0;
    try
    {
        for (pal::future<long>& f : pal::as_done(fs, r_.chance(0.5), timeout))
        {
            ++yielded;
            if (!f.is_done())
                problems.add("as_done yielded a task not done");
        }
        if (yielded != fs.size())
            problems.add("as_done yielded " + std::to_string(yielded) + " of " +
                         std::to_string(fs.size()) + " futures");
    }
    catch (...)
    {
        judged j = judge(std::current_exception(), {.timed_out = true}, "as_done",
                         [](std::exception_ptr e) { return "as_done threw " + what_of(e); });
        if (j.o == outcome::timed_out)
            ++counts.as_done_timeouts;
        expect(j.why);
    }
}

void client::cancel_some()
{
    int n = r_.uniform_int(1, 3);
    for (int i = 0; i < n && !outstanding_.empty(); ++i)
        do_cancel(*outstanding_[static_cast<std::size_t>(
            r_.uniform(0, static_cast<long>(outstanding_.size()) - 1))]);
}

template <typename Pool>
void client::run_one()
{
    constexpr bool process = std::is_same_v<Pool, pal::process_pool>;
    int p = pool_index(process);
    held<Pool> h;
    if constexpr (process)
        h = slots.process_pool();
    else
        h = slots.thread_pool();
    spec s = random_spec(r_, process, false);
    ++counts.runs[p];
    std::string why;
    try
    {
        why = dispatch(s, [&](auto fn, auto... args) {
            return check_value(s, process, h.pool->run(fn, args...));
        });
        ++counts.run_values[p];
    }
    catch (...)
    {
        // Refused, or cancelled while it waited, only by a pool that is shut down.
        bool closing = h.gen->closing;
        judged j = judge(std::current_exception(), {.cancelled = closing, .refused = closing},
                         describe(s, process) + ": run()" + on_pool(closing),
                         [&](std::exception_ptr e) { return check_failure(s, process, e); });
        ++(cut(j.o) ? counts.run_refused : counts.run_failures)[p];
        why = j.why;
    }
    expect(why);
}

template <typename Pool>
void client::map_one()
{
    constexpr bool process = std::is_same_v<Pool, pal::process_pool>;
    int p = pool_index(process);
    held<Pool> h;
    if constexpr (process)
        h = slots.process_pool();
    else
        h = slots.thread_pool();
    std::size_t n = static_cast<std::size_t>(r_.uniform(1, 300));
    long base = r_.uniform(0, 1'000'000);
    std::vector<long> xs(n);
    std::iota(xs.begin(), xs.end(), base);
    pal::map_options o{.chunk_size = static_cast<std::size_t>(r_.uniform(1, 16)),
                       .buffer_size = static_cast<std::size_t>(r_.uniform(1, 4))};
    bool deadline = r_.chance(0.2);
    if (deadline)
        o.timeout = std::chrono::milliseconds(r_.uniform(1, 30));
    int variant = r_.uniform_int(0, 3); // map, map_unordered, map_all, map_all_unordered
    bool ordered = variant == 0 || variant == 2;
    std::size_t want = r_.chance(0.3) ? n : static_cast<std::size_t>(r_.uniform(0, long(n)));
    std::vector<bool> seen(n);
    std::size_t i = 0;
    std::string why;
    ++counts.maps[p];
    try
    {
        auto r = variant == 0   ? h.pool->map(soak_map_item, xs, o)
                 : variant == 1 ? h.pool->map_unordered(soak_map_item, xs, o)
                 : variant == 2 ? h.pool->map_all(soak_map_item, xs, o)
                                : h.pool->map_all_unordered(soak_map_item, xs, o);
        if (want > 0)
            for (long v : r)
            {
                why = check_map_value(v, base, n, ordered, i++, seen);
                if (!why.empty() || i >= want)
                    break;
            }
        ++(i < n ? counts.maps_abandoned : counts.maps_finished)[p];
        // Destroying r withdraws the rest without blocking.
    }
    catch (...)
    {
        // Timed out only with a deadline; cut only by a pool that is shut down.
        bool closing = h.gen->closing;
        auto check = [&](std::exception_ptr e) {
            return check_map_failure(e, base, n, ordered, i, seen);
        };
        judged j = judge(
            std::current_exception(),
            {.cancelled = closing, .refused = closing, .timed_out = deadline},
            std::string(deadline ? "a map with a deadline" : "a map") + on_pool(closing), check);
        ++(j.o == outcome::timed_out ? counts.map_timeouts
           : cut(j.o)                ? counts.map_cut
                                     : counts.map_failures)[p];
        why = j.why;
    }
    counts.map_items[p] += i;
    expect(why);
}

void client::coroutines()
{
    auto th = slots.thread_pool();
    auto ph = slots.process_pool();
    std::shared_ptr<generation> thread_gen = th.gen;
    std::shared_lock<std::shared_mutex> strand_hold(thread_gen->strand_hold, std::try_to_lock);
    net::io_context io;
    auto b = std::make_shared<batch_state>();
    auto done = [&](std::string job, entry_ptr awaited = {}) {
        std::size_t i = b->jobs.size();
        b->jobs.push_back(std::move(job));
        b->awaited.push_back(std::move(awaited));
        b->ended.push_back(0);
        return [b, i](std::exception_ptr e) {
            if (e)
                problems.add("a coroutine ended with " + what_of(e));
            b->ended[i] = 1;
            ++b->finished;
        };
    };
    int jobs = r_.uniform_int(2, 6);
    for (int j = 0; j < jobs; ++j)
    {
        ++b->spawned;
        ++counts.coroutines;
        int choice = r_.uniform_int(0, 8);
        if (choice == 6 && !strand_hold.owns_lock())
            choice = 7;
        entry_ptr pick;
        for (int tries = 0; choice == 7 && tries < 4 && !pick && !outstanding_.empty(); ++tries)
        {
            auto& e = outstanding_[static_cast<std::size_t>(
                r_.uniform(0, static_cast<long>(outstanding_.size()) - 1))];
            if (std::holds_alternative<pal::future<long>>(e->f))
                pick = e;
        }
        if (choice == 7 && !pick)
            choice = 8;
        switch (choice)
        {
        case 0:
        {
            spec s = random_spec(r_, false, false);
            net::co_spawn(io, job_async_run(th, s, b),
                          done("co_await async_run, " + describe(s, false)));
            break;
        }
        case 1:
        case 2:
        {
            spec s = random_spec(r_, true, false);
            net::co_spawn(io, job_async_run(ph, s, b),
                          done("co_await async_run, " + describe(s, true)));
            break;
        }
        case 3:
        case 4:
        {
            spec s = random_spec(r_, true);
            s.k = std::array{kind::spin, kind::sleep,
                             kind::value}[static_cast<std::size_t>(r_.uniform(0, 2))];
            int ms = r_.uniform_int(1, 20);
            net::co_spawn(
                io, job_race(ph, s, ms, b),
                done("async_run || " + std::to_string(ms) + " ms timer, " + describe(s, true)));
            break;
        }
        case 5:
        {
            spec s = random_spec(r_, false);
            s.k = r_.chance(0.5) ? kind::sleep : kind::value;
            int ms = r_.uniform_int(1, 20);
            net::co_spawn(
                io, job_race(th, s, ms, b),
                done("async_run || " + std::to_string(ms) + " ms timer, " + describe(s, false)));
            break;
        }
        case 6:
        {
            int rounds = r_.uniform_int(1, 4), per_round = r_.uniform_int(1, 50);
            net::co_spawn(io, job_strand(th, rounds, per_round, b),
                          done("a strand job, " + std::to_string(rounds) + " rounds of " +
                               std::to_string(per_round)));
            break;
        }
        case 7:
        {
            int ms = r_.chance(0.5) ? 0 : r_.uniform_int(1, 10);
            net::co_spawn(
                io, job_collect(pick, ms, b),
                done("async_collect" + (ms ? " || " + std::to_string(ms) + " ms timer" : "") + ", ",
                     pick));
            break;
        }
        default:
        {
            std::size_t n = static_cast<std::size_t>(r_.uniform(1, 120));
            std::size_t want = static_cast<std::size_t>(r_.uniform(0, long(n)));
            long base = r_.uniform(0, 1'000'000);
            std::string what = "async_next over a map of " + std::to_string(n) + " items, " +
                               std::to_string(want) + " wanted, on the ";
            if (r_.chance(0.5))
                net::co_spawn(io, job_map_next(ph, base, n, want, b),
                              done(what + "process pool #" + std::to_string(ph.gen->number)));
            else
                net::co_spawn(io, job_map_next(th, base, n, want, b),
                              done(what + "thread pool #" + std::to_string(th.gen->number)));
            break;
        }
        }
    }
    // The coroutines hold their own references: a pool the churn thread dropped meanwhile dies
    // inside one of them, on this thread.
    th = {};
    ph = {};
    io.run_for(wait_limit);
    if (b->finished + b->dropped != b->spawned || b->dropped != 0)
    {
        problems.add("a coroutine batch: " + std::to_string(b->spawned) + " spawned, " +
                     std::to_string(b->finished) + " finished, " + std::to_string(b->dropped) +
                     " destroyed unfinished");
        if (b->finished + b->dropped != b->spawned)
        {
            for (std::size_t i = 0; i < b->jobs.size(); ++i)
                if (!b->ended[i])
                    std::fprintf(stderr, "  unfinished: %s%s\n", b->jobs[i].c_str(),
                                 b->awaited[i] ? describe(*b->awaited[i]).c_str() : "");
            std::fprintf(stderr, "chaos_soak (seed %llu): coroutines hang; aborting\n",
                         static_cast<unsigned long long>(the_seed));
            std::abort();
        }
    }
}

void client::run()
{
    // Relative frequencies of the operations, in the order of the switch below.
    static constexpr int op_weights[] = {14, 14, 4, 4, 8, 4, 3, 4, 4, 2, 2, 3, 4};
    while (std::chrono::steady_clock::now() < end_)
    {
        harvest();
        switch (r_.weighted(op_weights))
        {
        case 0:
            doing = "submit to the thread pool";
            submit_some<pal::thread_pool>(1);
            break;
        case 1:
            doing = "submit to the process pool";
            submit_some<pal::process_pool>(1);
            break;
        case 2:
            doing = "a burst to the thread pool";
            submit_some<pal::thread_pool>(r_.uniform_int(5, 40));
            break;
        case 3:
            doing = "a burst to the process pool";
            submit_some<pal::process_pool>(r_.uniform_int(5, 30));
            break;
        case 4:
            doing = "collect with a short timeout";
            collect_some();
            break;
        case 5:
            doing = "wait or as_done with a short timeout";
            wait_some();
            break;
        case 6:
            doing = "cancel";
            cancel_some();
            break;
        case 7:
            doing = "run on the thread pool";
            run_one<pal::thread_pool>();
            break;
        case 8:
            doing = "run on the process pool";
            run_one<pal::process_pool>();
            break;
        case 9:
            doing = "a map on the thread pool";
            map_one<pal::thread_pool>();
            break;
        case 10:
            doing = "a map on the process pool";
            map_one<pal::process_pool>();
            break;
        case 11:
            doing = "calls on finished tasks";
            poke_finished();
            break;
        default:
            doing = "coroutines";
            coroutines();
            break;
        }
    }
    finish();
}

void client::finish()
{
    doing = "waiting for its tasks";
    for (entry_ptr& e : outstanding_)
    {
        if (!wait_for(*e, wait_limit))
        {
            problems.add(describe(*e) + ": not done after " + std::to_string(wait_limit.count()) +
                         " s (a hang)");
            continue;
        }
        if (settle(*e) == verdict::later)
            later_.push_back(e);
    }
    outstanding_.clear();
    std::erase_if(later_, [](const entry_ptr& e) { return settle(*e) == verdict::done; });
    leftovers = std::move(later_);
    doing = "done";
}

// ---- the process's own resources -------------------------------------------------------------

std::size_t open_descriptors()
{
    std::size_t n = 0;
    for ([[maybe_unused]] auto& d : fs::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

std::string descriptor_list()
{
    std::string s;
    for (auto& d : fs::directory_iterator("/proc/self/fd"))
    {
        std::error_code ec;
        s += " " + d.path().filename().string() + "->" + fs::read_symlink(d.path(), ec).string();
    }
    return s;
}

std::size_t resident_bytes()
{
    std::ifstream in("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    in >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

double mib(std::size_t bytes)
{
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

struct proc_entry
{
    long pid = 0;
    char state = '?';
    long ppid = 0;
    std::string comm;
};

std::optional<proc_entry> read_stat(const fs::path& dir)
{
    std::ifstream in(dir / "stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto open = all.find('('), close = all.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 > all.size())
        return std::nullopt;
    proc_entry p;
    p.pid = std::atol(all.c_str());
    p.comm = all.substr(open + 1, close - open - 1);
    p.state = all[close + 2];
    p.ppid = std::atol(all.c_str() + close + 4);
    return p;
}

// Children of this process (zombies included), and processes anywhere whose environment carries
// this run's tag: workers of ours, whoever their parent is now.
struct process_census
{
    std::vector<proc_entry> children;
    std::vector<proc_entry> tagged;
};

std::string the_tag;

process_census take_census()
{
    process_census c;
    long self = static_cast<long>(::getpid());
    std::string needle = "ASIO_PAL_SOAK_TAG=" + the_tag;
    needle.push_back('\0');
    std::error_code ec;
    for (auto& d : fs::directory_iterator("/proc", ec))
    {
        std::string name = d.path().filename().string();
        if (name.empty() ||
            !std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
            continue;
        auto p = read_stat(d.path());
        if (!p || p->pid == self)
            continue;
        if (p->ppid == self)
            c.children.push_back(*p);
        std::ifstream env(d.path() / "environ");
        std::string all((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
        all.insert(all.begin(), '\0');
        if (all.find(std::string(1, '\0') + needle) != std::string::npos)
            c.tagged.push_back(*p);
    }
    return c;
}

std::string show(const std::vector<proc_entry>& ps)
{
    std::string s;
    for (const proc_entry& p : ps)
        s += " " + std::to_string(p.pid) + "(" + p.comm + ", state " + p.state + ", parent " +
             std::to_string(p.ppid) + ")";
    return s;
}

std::uintptr_t sigpipe_handler()
{
    struct sigaction sa = {};
    ::sigaction(SIGPIPE, nullptr, &sa);
    return reinterpret_cast<std::uintptr_t>(sa.sa_handler);
}

std::string the_dir;

std::size_t expired_spinner_files()
{
    std::size_t n = 0;
    std::error_code ec;
    for ([[maybe_unused]] auto& d : fs::directory_iterator(the_dir, ec))
        ++n;
    return n;
}

// ---- the churn thread --------------------------------------------------------------------------

struct resource_samples
{
    std::size_t rss_max = 0;
    std::size_t rss_third = 0; // a third of the way in: the plateau to compare the end with
    std::size_t fds_max = 0;
};

void churn(rng r, client& loader, std::chrono::steady_clock::time_point start,
           std::chrono::steady_clock::duration length, std::atomic<bool>& stop, std::mutex& m,
           std::condition_variable& cv, std::uintptr_t sigpipe_at_start, resource_samples& samples)
{
    on_churn_thread = true;
    bool process = false;
    for (;;)
    {
        {
            std::unique_lock<std::mutex> lock(m);
            if (cv.wait_for(lock, std::chrono::milliseconds(r.uniform(100, 1200)),
                            [&] { return stop.load(); }))
                break;
        }
        // Work in flight when the old pool goes: a few tasks submitted just before, pending,
        // queued in a worker or running.
        int load = r.uniform_int(0, 20);
        process = !process; // both kinds, even in a short run
        if (process)
        {
            auto old = slots.replace(make_process_pool(r));
            loader.load(old, load);
            if (r.chance(0.5))
            {
                // Shut down in the hands of the clients: their submits are refused from now on.
                old.gen->closing = true;
                ++counts.pools_shut_down_early[1];
                old.pool->shutdown();
                check_all_done(*old.gen, "an early shutdown()");
            }
        }
        else
        {
            auto old = slots.replace(make_thread_pool(r));
            loader.load(old, load);
            std::unique_lock<std::shared_mutex> no_strands(old.gen->strand_hold, std::try_to_lock);
            if (no_strands.owns_lock() && r.chance(0.5))
            {
                old.gen->closing = true;
                ++counts.pools_shut_down_early[0];
                old.pool->shutdown();
                check_all_done(*old.gen, "an early shutdown()");
            }
        }
        // The old pool dies here, or later in whichever client drops it last.
        auto now = std::chrono::steady_clock::now();
        std::size_t rss = resident_bytes();
        samples.rss_max = std::max(samples.rss_max, rss);
        if (samples.rss_third == 0 && now - start > length / 3)
            samples.rss_third = rss;
        samples.fds_max = std::max(samples.fds_max, open_descriptors());
        if (sigpipe_handler() != sigpipe_at_start)
            ++counts.sigpipe_changed_while_running;
    }
    slots.replace(held<pal::thread_pool>{});
    slots.replace(held<pal::process_pool>{});
    loader.finish();
}

// ---- the report --------------------------------------------------------------------------------

std::uint64_t sum(const counter (&c)[kind_count])
{
    std::uint64_t s = 0;
    for (auto& x : c)
        s += x;
    return s;
}

void print_table(double seconds, int clients)
{
    std::printf("\nchaos_soak: seed %llu, %.0f s, %d clients\n",
                static_cast<unsigned long long>(the_seed), seconds, clients);
    for (int p = 0; p < 2; ++p)
    {
        std::printf("%s pool tasks     submitted  completed     failed  cancelled\n",
                    p ? "process" : "thread ");
        for (int k = 0; k < kind_count; ++k)
            if (counts.submitted[p][k])
                std::printf("  %-18s %10llu %10llu %10llu %10llu\n", kind_names[k],
                            (unsigned long long)counts.submitted[p][k].load(),
                            (unsigned long long)counts.completed[p][k].load(),
                            (unsigned long long)counts.failed[p][k].load(),
                            (unsigned long long)counts.cancelled[p][k].load());
        std::printf("  %-18s %10llu %10llu %10llu %10llu\n", "all",
                    (unsigned long long)sum(counts.submitted[p]),
                    (unsigned long long)sum(counts.completed[p]),
                    (unsigned long long)sum(counts.failed[p]),
                    (unsigned long long)sum(counts.cancelled[p]));
    }
    auto line = [](const char* what, const counter(&c)[2]) {
        std::printf("  %-44s %10llu %10llu\n", what, (unsigned long long)c[0].load(),
                    (unsigned long long)c[1].load());
    };
    std::printf("per pool kind                                    thread    process\n");
    line("pools created", counts.pools_created);
    line("  shut down early by the churn thread", counts.pools_shut_down_early);
    line("  destroyed by the churn thread", counts.pools_destroyed_by_churn);
    line("  destroyed by a client (last holder)", counts.pools_destroyed_by_client);
    line("  tasks in flight when destroyed", counts.in_flight_at_shutdown);
    line("tasks cancelled by a shutdown", counts.cancelled_by_shutdown);
    line("submits refused (pool shut down)", counts.refused);
    line("run() calls", counts.runs);
    line("  values", counts.run_values);
    line("  task failures", counts.run_failures);
    line("  refused or cancelled (pool shut down)", counts.run_refused);
    line("co_await async_run", counts.asyncs);
    line("  values", counts.async_values);
    line("  task failures", counts.async_failures);
    line("  refused or cancelled (pool shut down)", counts.async_cut);
    line("async_run || timer", counts.races);
    line("  task won", counts.race_task_won);
    line("  timer won (task cancelled)", counts.race_timer_won);
    line("maps (blocking iteration)", counts.maps);
    line("  items consumed", counts.map_items);
    line("  abandoned early", counts.maps_abandoned);
    line("  consumed to the end", counts.maps_finished);
    line("  an item's exception", counts.map_failures);
    line("  deadline passed", counts.map_timeouts);
    line("  cut by a shutdown", counts.map_cut);
    auto one = [](const char* what, const counter& c) {
        std::printf("  %-44s %10llu\n", what, (unsigned long long)c.load());
    };
    std::printf("other\n");
    one("coroutines", counts.coroutines);
    one("  async_next maps", counts.async_next_maps);
    one("  async_collect", counts.async_collects);
    one("  strand jobs", counts.strand_jobs);
    one("  strand handlers posted", counts.strand_posts);
    one("collect(timeout)", counts.collects);
    one("  timed out", counts.collect_timeouts);
    one("wait(futures, timeout)", counts.waits);
    one("  timed out", counts.wait_timeouts);
    one("as_done(futures, timeout)", counts.as_dones);
    one("  timed out", counts.as_done_timeouts);
    one("calls on finished tasks (pools maybe gone)", counts.pokes);
    one("cancel() calls", counts.cancel_calls);
    one("  returned true", counts.cancel_true);
    one("callbacks added", counts.callbacks_added);
    one("  fired", counts.callbacks_fired);
    one("reports to on_task_exception", counts.pool_exceptions);
    {
        std::lock_guard<std::mutex> lock(pids_mutex);
        std::printf("  %-44s %10zu\n", "distinct worker pids seen", worker_pids_seen.size());
    }
}

} // namespace

BOOST_AUTO_TEST_CASE(chaos_soak)
{
    const double seconds = soak_seconds();
    const int n_clients = static_cast<int>(env_number("ASIO_PAL_SOAK_CLIENTS", 3));
    BOOST_TEST_REQUIRE((n_clients >= 1 && n_clients <= 8));
    if (const char* s = std::getenv("ASIO_PAL_SOAK_SEED"); s && *s)
        the_seed = std::strtoull(s, nullptr, 10);
    else
        the_seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
    std::printf("chaos_soak: seed %llu (ASIO_PAL_SOAK_SEED=%llu repeats its choices), %.0f s, "
                "%d clients\n",
                static_cast<unsigned long long>(the_seed),
                static_cast<unsigned long long>(the_seed), seconds, n_clients);
    std::fflush(stdout);

    const std::uintptr_t sigpipe_at_start = sigpipe_handler();

    // Warm-up: the first pools of each kind and the first coroutine create whatever the library
    // and Asio keep for the life of the process; the baselines are taken after it.
    {
        pal::thread_pool tp(1);
        BOOST_TEST_REQUIRE(tp.submit(soak_value, 1L).collect(wait_limit) == expected_value(1));
        pal::process_pool pp(1);
        BOOST_TEST_REQUIRE(pp.submit(soak_value, 2L).collect(wait_limit) == expected_value(2));
        net::io_context io;
        long got = 0;
        net::co_spawn(
            io,
            [&]() -> net::awaitable<void> {
                got = co_await pal::async_run(pp, soak_value, 3L, net::use_awaitable);
                got += co_await pal::async_run(tp, soak_value, 4L, net::use_awaitable);
            },
            net::detached);
        io.run_for(wait_limit);
        BOOST_TEST_REQUIRE(got == expected_value(3) + expected_value(4));
    }
    const std::size_t fds_at_start = open_descriptors();
    const std::string fd_list_at_start = descriptor_list();
    const std::size_t rss_at_start = resident_bytes();

    auto start = std::chrono::steady_clock::now();
    auto length = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(seconds));
    std::vector<std::unique_ptr<client>> clients;
    for (int i = 0; i < n_clients; ++i)
        clients.push_back(
            std::make_unique<client>(the_seed + 100 + static_cast<unsigned>(i), start + length));
    client loader(the_seed + 2, start + length); // the churn thread's
    std::vector<client*> all;
    for (auto& c : clients)
        all.push_back(c.get());
    all.push_back(&loader);

    // A watchdog: a hang fails the run instead of stalling it.
    std::mutex watchdog_mutex;
    std::condition_variable watchdog_cv;
    bool finished = false;
    std::thread watchdog([&] {
        std::unique_lock<std::mutex> lock(watchdog_mutex);
        auto limit = std::chrono::duration<double>(seconds) + 300s;
        if (!watchdog_cv.wait_for(lock, limit, [&] { return finished; }))
        {
            std::fprintf(stderr,
                         "chaos_soak (seed %llu): still running %.0f s after the end; "
                         "aborting. The clients were doing:\n",
                         static_cast<unsigned long long>(the_seed), seconds + 300);
            for (client* c : all)
                std::fprintf(stderr, "  %s\n", c->doing.load());
            std::fflush(stderr);
            std::abort();
        }
    });

    rng setup(the_seed);
    slots.replace(make_thread_pool(setup));
    slots.replace(make_process_pool(setup));

    std::thread cancelling([] { the_canceller.run(); });
    std::atomic<bool> stop_churn{false};
    std::mutex churn_mutex;
    std::condition_variable churn_cv;
    resource_samples samples;
    std::thread churning(churn, rng(the_seed + 1), std::ref(loader), start, length,
                         std::ref(stop_churn), std::ref(churn_mutex), std::ref(churn_cv),
                         sigpipe_at_start, std::ref(samples));
    std::vector<std::thread> threads;
    for (auto& c : clients)
        threads.emplace_back([&c] { c->run(); });
    for (auto& t : threads)
        t.join();
    auto clients_done = std::chrono::steady_clock::now();
    {
        std::lock_guard<std::mutex> lock(churn_mutex);
        stop_churn = true;
    }
    churn_cv.notify_all();
    churning.join(); // every pool is gone after this
    the_canceller.finish();
    cancelling.join();

    for (client* c : all)
        for (entry_ptr& e : c->leftovers)
            if (settle(*e) != verdict::done)
                problems.add(describe(*e) + ": its pool's shutdown never became final");

    print_table(seconds, n_clients);
    using fsec = std::chrono::duration<double>;
    std::printf("timing: the clients stopped %.1f s after the start (each waits for its last "
                "tasks); the last pool was gone %.1f s later\n",
                fsec(clients_done - start).count(),
                fsec(std::chrono::steady_clock::now() - clients_done).count());

    // Nothing lost: every task submitted ended one way.
    for (int p = 0; p < 2; ++p)
        BOOST_TEST(sum(counts.submitted[p]) ==
                       sum(counts.completed[p]) + sum(counts.failed[p]) + sum(counts.cancelled[p]),
                   (p ? "process" : "thread") << " pool: tasks unaccounted for");
    BOOST_TEST(counts.callbacks_fired == counts.callbacks_added);
    BOOST_TEST(counts.thread_spin_expired == 0u,
               "thread spinners never told to stop: " << counts.thread_spin_expired);
    std::size_t expired = expired_spinner_files();
    BOOST_TEST(expired == 0u, expired << " process spinners went on after their cancellation");
    // At least one pool replaced (each replacement may wait for a pool's tasks to finish, which
    // a sanitizer slows down a lot).
    BOOST_TEST(counts.pools_created[0] + counts.pools_created[1] >= 3u);

    // No child left, zombie or not; no worker of this run alive anywhere.
    process_census census = take_census();
    BOOST_TEST(census.children.empty(), "children left:" << show(census.children));
    BOOST_TEST(census.tagged.empty(), "workers of this run still alive:" << show(census.tagged));

    // Descriptors back where they were; memory flat within a generous bound (sanitizers keep
    // freed memory in quarantine, hence their larger allowance).
    std::size_t fds_at_end = open_descriptors();
    BOOST_TEST(fds_at_end == fds_at_start,
               "descriptors: " << fds_at_start << " after the warm-up, " << fds_at_end
                               << " at the end;\n  then:" << fd_list_at_start
                               << "\n  now: " << descriptor_list());
    std::size_t rss_at_end = resident_bytes();
    std::size_t plateau = std::max(samples.rss_third, rss_at_start);
    std::size_t allowance = plateau + plateau / 2 + (sanitized ? 512u : 64u) * 1024 * 1024;
    std::printf("resources: descriptors %zu after the warm-up, %zu at most, %zu at the end; "
                "RSS %.1f MiB after the warm-up, %.1f MiB a third in, %.1f MiB at most, "
                "%.1f MiB at the end (allowed %.1f MiB)\n",
                fds_at_start, samples.fds_max, fds_at_end, mib(rss_at_start),
                mib(samples.rss_third), mib(samples.rss_max), mib(rss_at_end), mib(allowance));
    BOOST_TEST(rss_at_end <= allowance,
               "RSS grew from " << mib(plateau) << " MiB to " << mib(rss_at_end) << " MiB");

    // A library changes no process-wide state its user did not ask for.
    BOOST_TEST(counts.sigpipe_changed_while_running == 0u,
               "SIGPIPE's disposition changed while pools were alive");
    BOOST_TEST((sigpipe_handler() == sigpipe_at_start), "SIGPIPE's disposition changed");

    problems.report();
    std::printf("chaos_soak: %zu problems\n", problems.count());
    std::fflush(stdout);

    {
        std::lock_guard<std::mutex> lock(watchdog_mutex);
        finished = true;
    }
    watchdog_cv.notify_all();
    watchdog.join();
}

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);
    // Workers inherit both: the tag finds them wherever they end up, the directory collects
    // spinners that outlived their cancellation.
    char dir[] = "/tmp/asio_pal_soak_XXXXXX";
    if (!::mkdtemp(dir))
    {
        std::perror("chaos_soak: mkdtemp");
        return 2;
    }
    the_dir = dir;
    the_tag = std::to_string(::getpid()) + "." + std::to_string(own_start_time());
    ::setenv("ASIO_PAL_SOAK_TAG", the_tag.c_str(), 1);
    ::setenv("ASIO_PAL_SOAK_DIR", dir, 1);
    int rc = boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
    std::error_code ec;
    fs::remove_all(the_dir, ec);
    return rc;
}
