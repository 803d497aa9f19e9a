//
// asio_pal/detail/worker_launcher.hpp
//
// How a process pool's worker starts, and which local process tells of its end: a child over
// pipes, or a command (ssh, srun, ...) whose worker connects back. The command templates are
// plain functions, tested without processes.
//

#ifndef ASIO_PAL_DETAIL_WORKER_LAUNCHER_HPP
#define ASIO_PAL_DETAIL_WORKER_LAUNCHER_HPP

#include "asio_pal/detail/worker_link.hpp"
#include "asio_pal/launcher.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
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

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_WORKER_LAUNCHER_HPP
