//
// test/common/child_process.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Test support (no Boost.Test inside): a helper program run as a child process with its stdin,
// stdout and stderr on pipes and every wait bounded, a helper program run to its end within a
// time limit, and a way to tell whether a process known by its pid is still there without
// mistaking a reused pid for it.
//

#ifndef ASIO_PAL_TEST_COMMON_CHILD_PROCESS_HPP
#define ASIO_PAL_TEST_COMMON_CHILD_PROCESS_HPP

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace asio_pal_test {

using clock = std::chrono::steady_clock;

/// "exited with status 3", "killed by signal 9 (Killed)" for a waitpid status.
inline std::string describe_wait_status(int status)
{
    std::ostringstream s;
    if (WIFEXITED(status))
        s << "exited with status " << WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        s << "killed by signal " << WTERMSIG(status) << " (" << ::strsignal(WTERMSIG(status))
          << ")";
    else
        s << "wait status " << status;
    return s.str();
}

/**
 * A program run as a child process, its stdin, stdout and stderr on pipes. Its output is read
 * while waiting for it, so it never blocks on a full pipe. The destructor kills (SIGKILL) and
 * reaps it if it is still running.
 *
 * Its own children inherit the output pipes: the end of its output does not tell that it ended,
 * only waitpid does.
 */
class child_process
{
public:
    /// Starts `path args...` with the environment `env` ("NAME=value" strings), or with this
    /// process's environment when `env` is null; throws std::runtime_error when it cannot.
    child_process(const std::string& path, const std::vector<std::string>& args,
                  const std::vector<std::string>* env = nullptr)
    {
        int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
        if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
            ::pipe2(err, O_CLOEXEC) != 0)
        {
            int e = errno;
            for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]})
                if (fd >= 0)
                    ::close(fd);
            throw std::runtime_error(std::string("pipe2: ") + std::strerror(e));
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
        // The test may ignore or block signals (SIGPIPE); the child starts with the defaults.
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(path.c_str()));
        for (const std::string& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        std::vector<char*> envp;
        if (env)
        {
            for (const std::string& e : *env)
                envp.push_back(const_cast<char*>(e.c_str()));
            envp.push_back(nullptr);
        }
        int rc = ::posix_spawn(&pid_, path.c_str(), &actions, &attr, argv.data(),
                               env ? envp.data() : environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        ::close(in[0]);
        ::close(out[1]);
        ::close(err[1]);
        in_ = in[1];
        out_ = out[0];
        err_ = err[0];
        if (rc != 0)
        {
            close_all();
            throw std::runtime_error("posix_spawn(" + path + "): " + std::strerror(rc));
        }
        ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
        ::fcntl(err_, F_SETFL, ::fcntl(err_, F_GETFL) | O_NONBLOCK);
    }

    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    ~child_process()
    {
        if (!reaped_)
        {
            ::kill(pid_, SIGKILL);
            while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR)
            {}
            reaped_ = true;
        }
        close_all();
    }

    pid_t pid() const noexcept { return pid_; }
    /// It has ended and been reaped; status() tells how.
    bool reaped() const noexcept { return reaped_; }
    /// The waitpid status, once reaped.
    int status() const noexcept { return status_; }
    const std::string& out() const noexcept { return out_text_; }
    const std::string& err() const noexcept { return err_text_; }

    /// Sends `sig` unless it has been reaped (its pid may belong to another process then).
    void kill(int sig) noexcept
    {
        if (!reaped_)
            ::kill(pid_, sig);
    }

    /// Writes `text` to its stdin; false when it cannot (it closed its stdin or ended).
    bool write_stdin(std::string_view text)
    {
        while (!text.empty())
        {
            ssize_t n = ::write(in_, text.data(), text.size());
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return false;
            text.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    /// Closes its stdin: reading it, it sees the end of input.
    void close_stdin() noexcept
    {
        if (in_ >= 0)
        {
            ::close(in_);
            in_ = -1;
        }
    }

    /// Waits until it has printed the line `line` on stdout; false when `deadline` passes or it
    /// ends without printing it.
    bool wait_for_line(std::string_view line, clock::time_point deadline)
    {
        for (;;)
        {
            if (has_line(line))
                return true;
            if (reaped_ || clock::now() >= deadline)
                return false;
            step(deadline);
        }
    }

    /// Waits until it ends and reaps it, reading its output meanwhile; false when `deadline`
    /// passes first (it still runs).
    bool wait_exit(clock::time_point deadline)
    {
        for (;;)
        {
            if (reaped_)
                return true;
            if (clock::now() >= deadline)
                return false;
            step(deadline);
        }
    }

    /// How it ended (or that it runs), then its output so far.
    std::string describe() const
    {
        std::ostringstream s;
        s << "process " << pid_ << ": "
          << (reaped_ ? describe_wait_status(status_) : std::string("still running"))
          << "\n--- stdout ---\n"
          << out_text_ << "--- stderr ---\n"
          << err_text_ << "--------------";
        return s.str();
    }

private:
    bool has_line(std::string_view line) const
    {
        std::istringstream in(out_text_);
        for (std::string l; std::getline(in, l);)
            if (l == line && !in.eof()) // complete lines only
                return true;
        return false;
    }

    // One round: waits (at most 20 ms, never past `deadline`) for output, reads it, and reaps
    // the child if it has ended. The 20 ms bound is the rate at which its exit is polled.
    void step(clock::time_point deadline)
    {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        int timeout = static_cast<int>(std::clamp<long long>(left.count(), 0, 20));
        pollfd p[2];
        nfds_t n = 0;
        for (int fd : {out_, err_})
            if (fd >= 0)
                p[n++] = pollfd{fd, POLLIN, 0};
        if (::poll(n ? p : nullptr, n, timeout) < 0 && errno != EINTR)
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        if (!reaped_)
        {
            pid_t w = ::waitpid(pid_, &status_, WNOHANG);
            if (w == pid_)
                reaped_ = true;
            else if (w < 0 && errno != EINTR)
                throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
        }
        // Once it is reaped, everything it wrote is in the pipes: this reads all of it.
        drain(out_, out_text_);
        drain(err_, err_text_);
    }

    static void drain(int& fd, std::string& sink)
    {
        while (fd >= 0)
        {
            char buf[4096];
            ssize_t got = ::read(fd, buf, sizeof buf);
            if (got > 0)
            {
                sink.append(buf, static_cast<std::size_t>(got));
                continue;
            }
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            ::close(fd); // end of output (or a read error)
            fd = -1;
        }
    }

    void close_all() noexcept
    {
        for (int* fd : {&in_, &out_, &err_})
            if (*fd >= 0)
            {
                ::close(*fd);
                *fd = -1;
            }
    }

    pid_t pid_ = -1;
    int status_ = 0;
    bool reaped_ = false;
    int in_ = -1;
    int out_ = -1;
    int err_ = -1;
    std::string out_text_;
    std::string err_text_;
};

/// How a program run by run_to_end ended.
struct run_result
{
    bool timed_out = false; ///< it was killed (SIGKILL) at the time limit
    int status = 0;         ///< as from waitpid
    std::string out;
    std::string err;
    std::chrono::duration<double> elapsed{}; ///< from its start to its reaping

    bool exited() const noexcept { return WIFEXITED(status); }
    int exit_status() const noexcept { return WEXITSTATUS(status); }
    bool signalled() const noexcept { return WIFSIGNALED(status); }
    int term_signal() const noexcept { return WTERMSIG(status); }

    /// "killed after the time limit" or how it ended, how long it ran, then its output.
    std::string describe() const
    {
        std::ostringstream s;
        s << (timed_out ? std::string("killed after the time limit") : describe_wait_status(status))
          << "; ran " << elapsed.count() << " s\n--- stdout ---\n"
          << out << "--- stderr ---\n"
          << err << "--------------";
        return s.str();
    }
};

/**
 * Runs `path args...` to its end, with its stdin closed and its output captured, in the
 * environment `env` (see child_process); kills it (SIGKILL) when it runs longer than `limit`.
 * Throws std::runtime_error when it cannot start it or wait for it.
 */
inline run_result run_to_end(const std::string& path, const std::vector<std::string>& args,
                             clock::duration limit, const std::vector<std::string>* env = nullptr)
{
    run_result r;
    const clock::time_point start = clock::now();
    child_process child(path, args, env);
    child.close_stdin();
    if (!child.wait_exit(start + limit))
    {
        r.timed_out = true;
        child.kill(SIGKILL);
        // SIGKILL cannot be caught or ignored: the reap follows (the destructor would wait for
        // it just the same).
        child.wait_exit(clock::time_point::max());
    }
    r.elapsed = clock::now() - start;
    r.status = child.status();
    r.out = child.out();
    r.err = child.err();
    return r;
}

/// What /proc/<pid>/stat says about a process.
struct proc_stat
{
    char state = '?';
    pid_t ppid = 0;
    unsigned long long start_time = 0; ///< clock ticks after boot
};

/// /proc/<pid>/stat, or nothing when there is no such process.
inline std::optional<proc_stat> read_proc_stat(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(in, text))
        return std::nullopt;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
    std::size_t close = text.rfind(')');
    if (close == std::string::npos)
        return std::nullopt;
    std::istringstream rest(text.substr(close + 1));
    proc_stat s;
    rest >> s.state >> s.ppid;
    std::string skip;
    for (int field = 5; field <= 21; ++field)
        rest >> skip;
    rest >> s.start_time; // field 22
    if (!rest)
        return std::nullopt;
    return s;
}

/// A process named by its pid and its start time: a reused pid is another process.
struct known_process
{
    pid_t pid = 0;
    unsigned long long start_time = 0;
};

enum class liveness
{
    running, ///< exists and has not ended
    zombie,  ///< ended, not reaped yet
    gone,    ///< reaped (kill(pid, 0) fails with ESRCH, or the pid names a newer process)
};

inline liveness liveness_of(const known_process& p)
{
    if (::kill(p.pid, 0) != 0 && errno == ESRCH)
        return liveness::gone;
    std::optional<proc_stat> s = read_proc_stat(p.pid);
    if (!s || s->start_time != p.start_time)
        return liveness::gone;
    return s->state == 'Z' ? liveness::zombie : liveness::running;
}

/// "pid 123: running (state S, parent 1)", "pid 123: zombie (parent 7)", "pid 123: gone".
inline std::string describe_process(const known_process& p)
{
    std::ostringstream s;
    s << "pid " << p.pid << ": ";
    liveness l = liveness_of(p);
    std::optional<proc_stat> st = read_proc_stat(p.pid);
    if (l == liveness::gone || !st)
        s << "gone";
    else if (l == liveness::zombie)
        s << "zombie (parent " << st->ppid << ")";
    else
        s << "running (state " << st->state << ", parent " << st->ppid << ")";
    return s.str();
}

} // namespace asio_pal_test

#endif // ASIO_PAL_TEST_COMMON_CHILD_PROCESS_HPP
