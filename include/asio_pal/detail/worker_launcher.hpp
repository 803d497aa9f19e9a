//
// asio_pal/detail/worker_launcher.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// How a process pool's worker starts, and which local process tells of its end: a child over
// pipes, or a command (ssh, srun, ...) whose worker connects back. The command templates are
// plain functions, tested without processes.
//

#ifndef ASIO_PAL_DETAIL_WORKER_LAUNCHER_HPP
#define ASIO_PAL_DETAIL_WORKER_LAUNCHER_HPP

#include "asio_pal/detail/worker_link.hpp"
#include "asio_pal/detail/worker_process.hpp"
#include "asio_pal/launcher.hpp"
#include "asio_pal/process_pool.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace asio_pal::detail {

/// `s` quoted for a POSIX shell: one word, whatever it holds.
std::string shell_quote(const std::string& s);

/**
 * A command template with its placeholders replaced (see command_launcher): `{host}`, `{exe}`,
 * and `{args}` (as many arguments when alone, shell-quoted when inside a longer argument).
 * Throws std::invalid_argument when `{host}` is used and `host` is empty.
 */
std::vector<std::string> expand_command(const std::vector<std::string>& command,
                                        const std::string& exe,
                                        const std::vector<std::string>& args,
                                        const std::string& host);

/**
 * A launcher resolved against the environment: whether workers connect back, the command
 * template that starts one, and where it starts.
 */
struct launch_plan
{
    bool remote = false;
    std::vector<std::string> command; // remote: a template for expand_command
    std::vector<std::string> hosts;   // remote: {host}, in turn
    remote_options remote_settings;
    std::size_t default_max_workers = 0; // 0: the pool's own default
    /// A preset_launcher: how many workers, and how to tell them where to connect.
    bool preset = false;
    std::size_t preset_workers = 0;
    std::function<void(const rendezvous_info&)> rendezvous;
    std::function<void()> on_worker_lost;

    /// The command of the next remote worker (the next host in turn).
    std::vector<std::string> next_command(const std::string& exe,
                                          const std::vector<std::string>& args);

private:
    std::size_t next_host_ = 0;
};

/**
 * Resolves `l`: a slurm_launcher becomes its srun command (needs SLURM_JOB_ID; its default
 * max_workers is SLURM_NTASKS); remote defaults are filled in. `getenv` reads the environment
 * (a parameter, so tests give their own). Throws std::invalid_argument naming the bad field.
 */
launch_plan resolve_launcher(const worker_launcher& l,
                             const std::function<const char*(const char*)>& getenv);

/// The absolute path of `exe` ("/proc/self/exe" resolved): what a remote host must have.
std::string absolute_executable(const std::string& exe);

/// A local child with its pipes (see pipe_link).
struct spawned_child
{
    pid_t pid = -1;
    int input = -1, output = -1, input_reader = -1, direct_write = -1, direct_read = -1;
};

/**
 * Starts `argv` as a worker child: its fds 3, 4 and 5 are the protocol's pipes, every other
 * descriptor above 2 is closed in it, its signal mask and dispositions are the defaults.
 */
spawned_child spawn_local_worker(const std::vector<std::string>& argv);

/**
 * Starts `argv` (a remote worker's command), its standard input a pipe that receives
 * `stdin_text` and then ends; stdout and stderr are the program's, every descriptor above 2 is
 * closed in it. Returns its pid.
 */
pid_t spawn_command(const std::vector<std::string>& argv, const std::string& stdin_text);

/**
 * What the pool core hears from its launcher, on the strand, through the pool's gate.
 */
class launcher_events
{
public:
    /// `w`'s link is up: the core reads it and sends what waits (its init frame).
    virtual void worker_linked(const worker_ptr& w) = 0;
    /// `w`'s second connection, run()'s short cut (an fd, owned from then on).
    virtual void worker_linked_direct(worker_process& w, int fd) = 0;
    /// `w`'s process was reaped (`status`: its raw wait status, when known).
    virtual void worker_ended(const worker_ptr& w, std::optional<int> status) = 0;
    /// `w` has no process of its own and its launcher stopped it: it counts as ended at once.
    /// Called inside launcher::stop.
    virtual void worker_gone(worker_process& w) noexcept = 0;
    /// The launcher gives up on `w` (`why`: a timeout); the core stops it.
    virtual void worker_lost(const worker_ptr& w, std::string why) = 0;

protected:
    ~launcher_events() = default;
};

/**
 * How a pool's workers start and how their end is known: a child here, a command whose worker
 * connects back, or a fixed set an engine started. The pool core holds one without knowing
 * which. Strand only, except where said.
 */
class launcher
{
public:
    virtual ~launcher() = default;

    /// Starts accepting or watching (after the pool's I/O runs).
    virtual void start() {}
    /// Starts `w`: its link is up when this returns (a child), or comes with worker_linked.
    /// Throws when it cannot be started.
    virtual void launch(const worker_ptr& w) = 0;
    /// Stops `w` now, whatever it does: no-op once it ended. Also without the executor.
    virtual void stop(worker_process& w) noexcept = 0;
    /// The link of `w` ended (it closed, or broke).
    virtual void link_ended(worker_process& w) noexcept { (void)w; }
    /// The pool stops without its executor: drops the handles that watch `w`, then reap()
    /// waits for it (nullopt: nothing to wait for, or unknown).
    virtual void abandon(worker_process& w) noexcept { (void)w; }
    virtual std::optional<int> reap(worker_process& w) noexcept
    {
        (void)w;
        return std::nullopt;
    }
    /// The pool forgets `w` (it ended): nothing of the launcher refers to it any longer.
    virtual void forget(worker_process& w) noexcept { (void)w; }

    /// "worker process 123", with its host when remote: the subject of every message on it.
    virtual std::string describe(const worker_process& w) const = 0;
    /// How it ended, for a message: "killed by signal 9 (SIGKILL)", "lost its connection".
    virtual std::string ending(const worker_process& w) const = 0;
    /// The pid its worker_died_error names: the worker's own, wherever it runs.
    virtual pid_t worker_pid(const worker_process& w) const noexcept = 0;

    /// How many of `n` more workers it can start (a fixed set: those not started yet).
    virtual std::size_t can_launch(std::size_t n) const noexcept { return n; }
    /// How many workers the pool starts at once (a fixed set: all of them).
    virtual std::size_t launch_at_once() const noexcept { return 0; }
    /// Whether a worker that ends is replaced; if not, lost_for_good() tells of each.
    virtual bool replaces_workers() const noexcept { return true; }
    virtual void lost_for_good() {}
    /// Whether a worker that ended before it was ready was lost on its way (a network down, a
    /// host slow to start it) rather than a sign of a broken setup; and what else to say then.
    virtual bool lost_on_the_way(const worker_process& w) const noexcept
    {
        (void)w;
        return false;
    }
    virtual std::string startup_hint(const worker_process& w) const
    {
        (void)w;
        return {};
    }
    /// Asks `w` to stop the task it runs with sequence number `seq` by a signal; false when
    /// signals cannot reach it (another machine): the core sends a cancel frame instead.
    virtual bool signal_cancel(worker_process& w, std::uint64_t seq) noexcept
    {
        (void)w;
        (void)seq;
        return false;
    }
    /// Whether its workers send heartbeats.
    virtual bool heartbeats() const noexcept { return false; }

    /// The pool stops (`stop_running`: at exit, or without its executor): what it listens on
    /// closes once no worker is on its way, those on their way being stopped at exit.
    virtual void settle(bool stop_running) noexcept { (void)stop_running; }
    /// Closes what it listens on at once.
    virtual void close() noexcept {}
    /// Where remote workers connect; set by the constructor, constant afterwards (any thread).
    virtual std::optional<net::ip::tcp::endpoint> listen_endpoint() const { return std::nullopt; }
};

/// The launcher of a pool with `options` (resolved), telling `events` of its workers. May
/// throw: a port that cannot be opened, a rendezvous that fails.
std::unique_ptr<launcher> make_launcher(const process_pool_options& options, pool_handlers handlers,
                                        launcher_events& events);

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_WORKER_LAUNCHER_HPP
