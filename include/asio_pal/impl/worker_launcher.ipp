//
// asio_pal/impl/worker_launcher.ipp
//

#ifndef ASIO_PAL_IMPL_WORKER_LAUNCHER_IPP
#define ASIO_PAL_IMPL_WORKER_LAUNCHER_IPP

#include "asio_pal/detail/worker_launcher.hpp"
#include "asio_pal/detail/worker_protocol.hpp"

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <spawn.h>
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
        throw std::invalid_argument(std::string("asio_pal: ") + where + ".remote." + field +
                                    " " + why);
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

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_WORKER_LAUNCHER_IPP
