//
// asio_pal/impl/worker_launcher.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_WORKER_LAUNCHER_IPP
#define ASIO_PAL_IMPL_WORKER_LAUNCHER_IPP

#include "asio_pal/detail/worker_launcher.hpp"
#include "asio_pal/detail/worker_listener.hpp"
#include "asio_pal/detail/worker_protocol.hpp"
#include "asio_pal/impl/worker_listener.ipp"

#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstring>
#include <map>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace asio_pal::detail {

std::string shell_quote(const std::string& s)
{
    std::string out = "'";
    for (char c : s)
    {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    out += '\'';
    return out;
}

namespace {

/// `arg` with every `{name}` replaced by `value`.
std::string replace_all(std::string arg, std::string_view name, const std::string& value)
{
    for (std::size_t at = arg.find(name); at != std::string::npos;
         at = arg.find(name, at + value.size()))
        arg.replace(at, name.size(), value);
    return arg;
}

} // namespace

std::vector<std::string> expand_command(const std::vector<std::string>& command,
                                        const std::string& exe,
                                        const std::vector<std::string>& args,
                                        const std::string& host)
{
    std::string quoted_args;
    for (const std::string& a : args)
        quoted_args += (quoted_args.empty() ? "" : " ") + shell_quote(a);
    std::vector<std::string> out;
    for (const std::string& part : command)
    {
        if (part == "{args}")
        {
            out.insert(out.end(), args.begin(), args.end());
            continue;
        }
        if (part.find("{host}") != std::string::npos && host.empty())
            throw std::invalid_argument(
                "asio_pal: command_launcher.command uses {host} but command_launcher.hosts is "
                "empty");
        // {exe} alone stays one argument, whatever it holds; inside a longer argument it is
        // read by a shell, so quoted.
        if (part == "{exe}")
        {
            out.push_back(exe);
            continue;
        }
        bool in_shell = part != "{host}";
        std::string e = replace_all(part, "{host}", host);
        e = replace_all(std::move(e), "{exe}", in_shell ? shell_quote(exe) : exe);
        e = replace_all(std::move(e), "{args}", quoted_args);
        out.push_back(std::move(e));
    }
    return out;
}

std::vector<std::string> launch_plan::next_command(const std::string& exe,
                                                   const std::vector<std::string>& args)
{
    std::string host;
    if (!hosts.empty())
        host = hosts[next_host_++ % hosts.size()];
    return expand_command(command, exe, args, host);
}

namespace {

void check_remote(const remote_options& r, const char* where)
{
    auto bad = [&](const char* field, const char* why) {
        throw std::invalid_argument(std::string("asio_pal: ") + where + ".remote." + field + " " +
                                    why);
    };
    if (r.connect_timeout.count() <= 0)
        bad("connect_timeout", "must be positive");
    if (r.heartbeat_interval.count() <= 0)
        bad("heartbeat_interval", "must be positive");
    if (r.heartbeat_timeout <= r.heartbeat_interval)
        bad("heartbeat_timeout", "must be longer than heartbeat_interval");
}

std::string host_name()
{
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0)
        throw std::system_error(errno, std::generic_category(), "asio_pal: gethostname");
    return buf;
}

} // namespace

launch_plan resolve_launcher(const worker_launcher& l,
                             const std::function<const char*(const char*)>& getenv)
{
    launch_plan plan;
    if (std::holds_alternative<local_launcher>(l))
        return plan;
    plan.remote = true;
    if (const auto* c = std::get_if<command_launcher>(&l))
    {
        if (c->command.empty())
            throw std::invalid_argument("asio_pal: command_launcher.command is empty");
        for (const std::string& h : c->hosts)
            if (h.empty())
                throw std::invalid_argument("asio_pal: command_launcher.hosts holds an empty "
                                            "host name");
        check_remote(c->remote, "command_launcher");
        plan.command = c->command;
        plan.hosts = c->hosts;
        plan.remote_settings = c->remote;
        if (plan.remote_settings.listen_address.empty())
            plan.remote_settings.listen_address = "127.0.0.1";
        return plan;
    }
    if (const auto* p = std::get_if<preset_launcher>(&l))
    {
        if (p->workers == 0)
            throw std::invalid_argument("asio_pal: preset_launcher.workers is 0");
        if (!p->rendezvous)
            throw std::invalid_argument("asio_pal: preset_launcher.rendezvous is empty");
        check_remote(p->remote, "preset_launcher");
        plan.preset = true;
        plan.preset_workers = p->workers;
        plan.rendezvous = p->rendezvous;
        plan.on_worker_lost = p->on_worker_lost;
        plan.remote_settings = p->remote;
        if (plan.remote_settings.listen_address.empty())
            plan.remote_settings.listen_address = host_name();
        plan.default_max_workers = p->workers;
        return plan;
    }
    const auto& s = std::get<slurm_launcher>(l);
    check_remote(s.remote, "slurm_launcher");
    const char* job = getenv("SLURM_JOB_ID");
    if (!job || !*job)
        throw std::invalid_argument("asio_pal: slurm_launcher needs a Slurm allocation: run "
                                    "the program inside salloc or an sbatch script "
                                    "(SLURM_JOB_ID is not set)");
    if (s.srun.empty())
        throw std::invalid_argument("asio_pal: slurm_launcher.srun is empty");
    plan.command = {s.srun, std::string("--jobid=") + job, "--overlap", "-N1", "-n1", "--quiet"};
    plan.command.insert(plan.command.end(), s.srun_args.begin(), s.srun_args.end());
    plan.command.push_back("{exe}");
    plan.command.push_back("{args}");
    plan.remote_settings = s.remote;
    if (plan.remote_settings.listen_address.empty())
        plan.remote_settings.listen_address = host_name();
    if (const char* n = getenv("SLURM_NTASKS"))
    {
        std::size_t tasks = 0;
        std::string_view v(n);
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), tasks);
        if (ec == std::errc() && p == v.data() + v.size())
            plan.default_max_workers = tasks;
    }
    return plan;
}

std::string absolute_executable(const std::string& exe)
{
    char buf[PATH_MAX];
    if (::realpath(exe.c_str(), buf) == nullptr)
        throw std::system_error(errno, std::generic_category(),
                                "asio_pal: the worker executable '" + exe + "'");
    return buf;
}

int above_protocol_fds(int fd) noexcept
{
    if (fd > worker_direct_fd)
        return fd;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, worker_direct_fd + 1);
    int saved = errno;
    ::close(fd);
    errno = saved;
    return moved;
}

namespace {

/// above_protocol_fds, throwing when it fails.
int moved_above_protocol_fds(int fd)
{
    int moved = above_protocol_fds(fd);
    if (moved < 0)
        throw std::system_error(errno, std::generic_category(), "asio_pal: fcntl");
    return moved;
}

/// posix_spawn of `argv` with `dups` (from, to) applied, every fd from `close_from` up closed,
/// and the default signal mask and dispositions. Cleans up after itself.
pid_t spawn_with(const std::vector<std::string>& argv,
                 std::initializer_list<std::pair<int, int>> dups, int close_from)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    struct cleanup_t
    {
        posix_spawn_file_actions_t& a;
        posix_spawnattr_t& t;
        ~cleanup_t()
        {
            posix_spawn_file_actions_destroy(&a);
            posix_spawnattr_destroy(&t);
        }
    } cleanup{actions, attr};
    for (auto [from, to] : dups)
        posix_spawn_file_actions_adddup2(&actions, from, to);
    posix_spawn_file_actions_addclosefrom_np(&actions, close_from);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::vector<std::string> copy = argv;
    std::vector<char*> cargv;
    for (std::string& a : copy)
        cargv.push_back(a.data());
    cargv.push_back(nullptr);
    pid_t pid = -1;
    // posix_spawnp: a command launcher's program (ssh, srun) is found on PATH.
    int rc = ::posix_spawnp(&pid, copy[0].c_str(), &actions, &attr, cargv.data(), environ);
    if (rc != 0)
        throw std::system_error(rc, std::generic_category(),
                                "asio_pal: cannot start '" + argv[0] + "'");
    return pid;
}

/// Closes the descriptors it holds unless released.
struct fd_set_guard
{
    std::vector<int*> fds;
    ~fd_set_guard()
    {
        for (int* fd : fds)
            close_fd(*fd);
    }
};

} // namespace

spawned_child spawn_local_worker(const std::vector<std::string>& argv)
{
    int to_child[2] = {-1, -1};
    int from_child[2] = {-1, -1};
    int direct[2] = {-1, -1};
    int direct_write = -1;
    fd_set_guard guard{{&to_child[0], &to_child[1], &from_child[0], &from_child[1], &direct[0],
                        &direct[1], &direct_write}};
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0 ||
        ::pipe2(direct, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "asio_pal: pipe2");
    for (int* fd :
         {&to_child[0], &to_child[1], &from_child[0], &from_child[1], &direct[0], &direct[1]})
        *fd = moved_above_protocol_fds(*fd);
    // Before the spawn, so that a failure here leaves no child behind.
    // Non-blocking input: the pool writes it itself, from its handlers.
    direct_write = ::fcntl(to_child[1], F_DUPFD_CLOEXEC, worker_direct_fd + 1);
    if (direct_write < 0 || ::fcntl(direct[0], F_SETFL, O_NONBLOCK) != 0 ||
        ::fcntl(to_child[1], F_SETFL, O_NONBLOCK) != 0)
        throw std::system_error(errno, std::generic_category(), "asio_pal: fcntl");
    spawned_child c;
    c.pid = spawn_with(argv,
                       {{to_child[0], worker_input_fd},
                        {from_child[1], worker_output_fd},
                        {direct[1], worker_direct_fd}},
                       worker_direct_fd + 1);
    c.input_reader = std::exchange(to_child[0], -1);
    c.input = std::exchange(to_child[1], -1);
    c.output = std::exchange(from_child[0], -1);
    c.direct_read = std::exchange(direct[0], -1);
    c.direct_write = std::exchange(direct_write, -1);
    return c;
}

pid_t spawn_command(const std::vector<std::string>& argv, const std::string& stdin_text)
{
    if (stdin_text.size() > PIPE_BUF)
        throw std::invalid_argument("asio_pal: spawn_command: standard input text too long");
    int in[2] = {-1, -1};
    fd_set_guard guard{{&in[0], &in[1]}};
    if (::pipe2(in, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "asio_pal: pipe2");
    // Whole, at once (at most PIPE_BUF bytes): the pipe is empty, so this never blocks, and
    // the child never sees a partial secret.
    if (::write(in[1], stdin_text.data(), stdin_text.size()) !=
        static_cast<ssize_t>(stdin_text.size()))
        throw std::system_error(errno, std::generic_category(), "asio_pal: write");
    close_fd(in[1]);
    int reader = moved_above_protocol_fds(std::exchange(in[0], -1));
    in[0] = reader;
    return spawn_with(argv, {{in[0], 0}}, 3);
}

namespace {

/// Workers are children of this process, over pipes.
class child_launcher final : public launcher
{
public:
    child_launcher(const process_pool_options& o, pool_handlers handlers, launcher_events& events)
        : options_(o)
        , handlers_(std::move(handlers))
        , events_(events)
    {}

    void launch(const worker_ptr& w) override
    {
        spawned_child c = spawn_local_worker(worker_arguments(
            options_.worker_executable, ::getpid(), options_.max_frame_size, options_.name));
        w->launched.pid = c.pid;
        try
        {
            w->launched.process.emplace(handlers_.strand, c.pid);
            w->link.connect_pipes(handlers_.strand, c.input, c.output, c.input_reader,
                                  c.direct_write, c.direct_read);
        }
        catch (...) // no descriptor or child left behind
        {
            for (int* fd : {&c.input, &c.output, &c.input_reader, &c.direct_write, &c.direct_read})
                close_fd(*fd);
            ::kill(c.pid, SIGKILL);
            while (::waitpid(c.pid, nullptr, 0) < 0 && errno == EINTR)
            {}
            throw;
        }
        watch_process(handlers_, events_, w);
    }

    void stop(worker_process& w) noexcept override
    {
        if (w.launched.pid > 0 && !w.exited)
            ::kill(w.launched.pid, SIGKILL);
    }

    bool signal_cancel(worker_process& w, std::uint64_t seq) noexcept override
    {
        union sigval v
        {};
        v.sival_int = static_cast<int>(static_cast<std::uint32_t>(seq));
        ::sigqueue(w.launched.pid, cancel_signal(), v);
        return true;
    }

    void abandon(worker_process& w) noexcept override { drop_process(w); }
    std::optional<int> reap(worker_process& w) noexcept override { return wait_for(w); }

    std::string describe(const worker_process& w) const override
    {
        return "worker process " + std::to_string(w.launched.pid);
    }
    std::string ending(const worker_process& w) const override
    {
        return w.lost_reason.empty() ? describe_exit(w.exit) : w.lost_reason;
    }
    pid_t worker_pid(const worker_process& w) const noexcept override { return w.launched.pid; }

    /// Tells `events` of the end of `w`'s process once it is reaped.
    static void watch_process(const pool_handlers& handlers, launcher_events& events,
                              const worker_ptr& w)
    {
        w->launched.process->async_wait(
            handlers.guarded([&events, w](boost::system::error_code ec, int) {
                std::optional<int> status;
                if (!ec)
                    status = w->launched.process->native_exit_code(); // raw wait status
                drop_process(*w); // reaped: its pid may be reused from now on
                events.worker_ended(w, status);
            }));
    }

    /// Before the wait: a reaped pid may be reused, and the handle would still use it.
    static void drop_process(worker_process& w) noexcept
    {
        if (w.launched.process)
            (void)w.launched.process->detach();
    }

    static std::optional<int> wait_for(worker_process& w) noexcept
    {
        if (w.launched.pid <= 0)
            return std::nullopt;
        int status = 0;
        pid_t r;
        do
            r = ::waitpid(w.launched.pid, &status, 0);
        while (r < 0 && errno == EINTR);
        if (r != w.launched.pid)
            return std::nullopt;
        return status;
    }

private:
    const process_pool_options& options_;
    pool_handlers handlers_;
    launcher_events& events_;
};

/**
 * Workers connect back over TCP to the pool's listener, each naming the token it was launched
 * with: started by a command here (command_launcher, slurm_launcher), or a fixed set an engine
 * started (preset_launcher). A worker's connection must come within connect_timeout, and then
 * its heartbeats within heartbeat_timeout.
 */
class connecting_launcher final : public launcher
{
public:
    connecting_launcher(const process_pool_options& o, launch_plan plan, pool_handlers handlers,
                        launcher_events& events)
        : options_(o)
        , plan_(std::move(plan))
        , handlers_(handlers)
        , events_(events)
        , listener_(handlers, plan_.remote_settings, o.name,
                    [this](net::generic::stream_protocol::socket& s,
                           const handshake_peer& peer) { return joined(s, peer); })
        , endpoint_(listener_.endpoint())
    {
        if (plan_.preset)
            meet_preset_workers();
    }

    void start() override { listener_.start(); }

    void launch(const worker_ptr& w) override
    {
        w->launched.connects_back = true;
        if (plan_.preset)
        {
            w->launched.fixed = true;
            w->launched.token = preset_tokens_.at(next_preset_++);
        }
        else
        {
            w->launched.token = random_nonzero_u64();
            std::vector<std::string> command = plan_.next_command(
                options_.worker_executable,
                remote_worker_arguments(listener_.host(), listener_.port(), w->launched.token,
                                        options_.max_frame_size,
                                        plan_.remote_settings.heartbeat_interval, options_.name));
            w->launched.pid = spawn_command(command, listener_.secret_line());
            w->launched.process.emplace(handlers_.strand, w->launched.pid);
            child_launcher::watch_process(handlers_, events_, w);
        }
        w->launched.refusals_at_launch = listener_.refusals();
        waiting_[w->launched.token] = w;
        arm_connect_timeout(w);
        // A preset worker may have connected before its launch (see joined): its link is up
        // when this returns, as a child's.
        if (auto it = early_.find(w->launched.token); it != early_.end())
        {
            link_up(w, std::move(it->second.socket), it->second.peer);
            early_.erase(it);
            if (auto d = early_.find(direct_token(w->launched.token)); d != early_.end())
            {
                pair_direct(*w, d->second.socket);
                early_.erase(d);
            }
        }
    }

    void stop(worker_process& w) noexcept override
    {
        if (w.launched.pid > 0 && !w.exited)
            ::kill(w.launched.pid, SIGKILL);
        // A remote worker exits when its connection ends, whatever its command does.
        w.link.close();
        if (w.launched.fixed && !w.exited) // no process: its connection was its life
            events_.worker_gone(w);
    }

    void link_ended(worker_process& w) noexcept override
    {
        if (w.launched.fixed)
            stop(w);
    }

    void abandon(worker_process& w) noexcept override
    {
        // Through a TLS tunnel nothing reaches the worker without the executor (the tunnel
        // runs there): a quit frame would wait forever, so it is stopped.
        if (w.launched.fixed || !listener_.tls_fingerprint().empty())
            stop(w);
        child_launcher::drop_process(w);
    }
    std::optional<int> reap(worker_process& w) noexcept override
    {
        return child_launcher::wait_for(w);
    }

    void forget(worker_process& w) noexcept override
    {
        auto it = waiting_.find(w.launched.token);
        if (it != waiting_.end() && it->second.lock().get() == &w)
            waiting_.erase(it);
    }

    std::string describe(const worker_process& w) const override
    {
        const auto& l = w.launched;
        if (l.remote_pid <= 0 && l.fixed)
            return "preset worker " + std::to_string(l.token) + " (not connected yet)";
        if (l.remote_pid <= 0)
            return "worker launched by process " + std::to_string(l.pid) + " (not connected yet)";
        return "worker process " + std::to_string(l.remote_pid) + " on host " + l.host;
    }
    std::string ending(const worker_process& w) const override
    {
        if (!w.lost_reason.empty())
            return w.lost_reason;
        if (w.launched.fixed)
            return "lost its connection";
        return "lost its connection (its command " + describe_exit(w.exit) + ")";
    }
    pid_t worker_pid(const worker_process& w) const noexcept override
    {
        return w.launched.remote_pid > 0 ? w.launched.remote_pid : w.launched.pid;
    }

    std::size_t can_launch(std::size_t n) const noexcept override
    {
        // A preset worker that ended is gone for good: none is started in its place.
        return plan_.preset ? std::min(n, preset_tokens_.size() - next_preset_) : n;
    }
    std::size_t launch_at_once() const noexcept override
    {
        return plan_.preset ? preset_tokens_.size() : 0;
    }
    bool replaces_workers() const noexcept override { return !plan_.preset; }
    void lost_for_good() override
    {
        if (plan_.on_worker_lost)
            plan_.on_worker_lost();
    }

    bool lost_on_the_way(const worker_process& w) const noexcept override
    {
        // Other workers of the pool joined, and no connection was refused since it was
        // launched: it is replaced on demand, as a worker that dies.
        return !w.link.connected() && ever_joined_ &&
               listener_.refusals() == w.launched.refusals_at_launch;
    }
    std::string startup_hint(const worker_process& w) const override
    {
        if (w.link.connected() || listener_.last_refusal().empty())
            return {};
        return "; the last connection the pool refused: " + listener_.last_refusal();
    }
    bool heartbeats() const noexcept override { return true; }

    void settle(bool stop_running) noexcept override
    {
        // A plain shutdown still starts what spawn_workers reported, as with local workers
        // (bounded by connect_timeout). At exit, those on their way are stopped.
        if (!listener_.is_open())
            return;
        bool waiting = false;
        for (const auto& [token, weak] : waiting_)
        {
            worker_ptr w = weak.lock();
            if (!w || w->link.connected() || w->exited)
                continue;
            if (stop_running)
                stop(*w);
            else
                waiting = true;
        }
        if (!waiting)
            listener_.close();
    }
    void close() noexcept override { listener_.close(); }
    std::optional<net::ip::tcp::endpoint> listen_endpoint() const override { return endpoint_; }

private:
    /// Tells workers an engine started where to connect, each with its own token.
    void meet_preset_workers()
    {
        rendezvous_info info{.host = listener_.host(),
                             .port = listener_.port(),
                             .secret_hex = listener_.secret().to_hex(),
                             .tokens = {},
                             .max_frame_size = options_.max_frame_size,
                             .heartbeat_interval = plan_.remote_settings.heartbeat_interval,
                             .pool_name = options_.name,
                             .tls_fingerprint = listener_.tls_fingerprint()};
        for (std::size_t i = 0; i < plan_.preset_workers; ++i)
            info.tokens.push_back(random_nonzero_u64());
        preset_tokens_ = info.tokens;
        plan_.rendezvous(info);
    }

    /// A connection that passed the handshake: the link of the worker whose token it names, or
    /// that worker's second connection (run()'s short cut), which comes after its first.
    bool joined(net::generic::stream_protocol::socket& socket, const handshake_peer& peer)
    {
        for (auto& [token, weak] : waiting_)
        {
            worker_ptr w = weak.lock();
            if (!w || w->exited || direct_token(token) != peer.token || !w->link.connected())
                continue;
            pair_direct(*w, socket);
            return true; // one that comes too early or twice is closed: run() uses the first
        }
        auto it = waiting_.find(peer.token);
        worker_ptr w = it == waiting_.end() ? nullptr : it->second.lock();
        if (!w)
        {
            // The rendezvous tells a preset worker its token before the pool launches it: one
            // quicker than the pool's I/O thread waits for its launch.
            if (!preset_not_launched(peer.token) || early_.contains(peer.token))
                return false;
            early_.emplace(peer.token, early_connection{std::move(socket), peer});
            return true;
        }
        if (w->link.connected() || w->exited)
            return false;
        link_up(w, std::move(socket), peer);
        events_.worker_linked(w);
        return true;
    }

    void link_up(const worker_ptr& w, net::generic::stream_protocol::socket socket,
                 const handshake_peer& peer)
    {
        w->link.connect_socket(std::move(socket));
        ever_joined_ = true;
        w->launched.host = peer.host;
        w->launched.remote_pid = static_cast<pid_t>(peer.pid);
        w->last_heard = std::chrono::steady_clock::now();
        arm_watchdog(w);
    }

    void pair_direct(worker_process& w, net::generic::stream_protocol::socket& socket)
    {
        boost::system::error_code ec;
        socket.non_blocking(true, ec);
        int fd = ec ? -1 : socket.release(ec);
        if (fd >= 0)
            events_.worker_linked_direct(w, fd);
    }

    /// Whether `token` (or the token whose second connection it names) is a preset worker's
    /// the pool has not launched yet.
    bool preset_not_launched(std::uint64_t token) const noexcept
    {
        for (std::size_t i = next_preset_; i < preset_tokens_.size(); ++i)
            if (preset_tokens_[i] == token || direct_token(preset_tokens_[i]) == token)
                return true;
        return false;
    }

    /// A worker that has not connected back after connect_timeout is given up (its command is
    /// killed).
    void arm_connect_timeout(const worker_ptr& w)
    {
        w->watchdog.expires_after(plan_.remote_settings.connect_timeout);
        w->watchdog.async_wait(handlers_.guarded([this, w](boost::system::error_code ec) {
            if (ec || w->link.connected() || w->exited)
                return;
            events_.worker_lost(w, "did not connect back within " +
                                       describe_duration(plan_.remote_settings.connect_timeout));
        }));
    }

    /// Heartbeats: a connected worker that sent nothing for heartbeat_timeout is taken for dead.
    void arm_watchdog(const worker_ptr& w)
    {
        auto timeout = plan_.remote_settings.heartbeat_timeout;
        w->watchdog.expires_at(w->last_heard + timeout);
        w->watchdog.async_wait(handlers_.guarded([this, w, timeout](boost::system::error_code ec) {
            if (ec || w->exited || w->forgotten || w->eof)
                return;
            if (std::chrono::steady_clock::now() - w->last_heard < timeout)
            {
                arm_watchdog(w);
                return;
            }
            events_.worker_lost(w, "sent nothing for " + describe_duration(timeout) +
                                       " (heartbeat timeout: its host hung, or the link is cut)");
        }));
    }

    const process_pool_options& options_;
    launch_plan plan_;
    pool_handlers handlers_;
    launcher_events& events_;
    worker_listener listener_;
    const net::ip::tcp::endpoint endpoint_;
    // Launched workers by token, until the pool forgets them.
    std::map<std::uint64_t, std::weak_ptr<worker_process>> waiting_;
    bool ever_joined_ = false;                 // a worker connected once
    std::vector<std::uint64_t> preset_tokens_; // a preset_launcher's workers, in order
    std::size_t next_preset_ = 0;
    // Connections of preset workers that came before their launch, by token (at most two per
    // worker: its own and its second).
    struct early_connection
    {
        net::generic::stream_protocol::socket socket;
        handshake_peer peer;
    };
    std::map<std::uint64_t, early_connection> early_;
};

} // namespace

std::unique_ptr<launcher> make_launcher(const process_pool_options& options, pool_handlers handlers,
                                        launcher_events& events)
{
    launch_plan plan = resolve_launcher(options.launcher, &::getenv);
    if (!plan.remote)
        return std::make_unique<child_launcher>(options, std::move(handlers), events);
    return std::make_unique<connecting_launcher>(options, std::move(plan), std::move(handlers),
                                                 events);
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_WORKER_LAUNCHER_IPP
