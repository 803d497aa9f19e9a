//
// asio_pal/launcher.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Where a process pool's workers run and what starts them: child processes on this machine
// (the default), or processes that a command (ssh, srun, ...) starts anywhere and that connect
// back to the pool over TCP.
//

#ifndef ASIO_PAL_LAUNCHER_HPP
#define ASIO_PAL_LAUNCHER_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace asio_pal {

/**
 * TLS between a pool and its remote workers, on top of the handshake's HMAC, which proves the
 * secret but leaves the task bytes after it in the clear and unauthenticated. With TLS they are
 * encrypted and integrity-protected on the wire (TLS 1.3 only), so a peer that can read or
 * rewrite the traffic learns nothing of the tasks and cannot take a connection over.
 *
 * The pool is the TLS server. Workers need no CA file: they pin the pool's certificate by its
 * SHA-256 fingerprint, which reaches them with the secret (their standard input, or the MPI
 * rendezvous), and refuse any other. Without files the pool makes a fresh key pair (EC P-256)
 * and a self-signed certificate in memory, one per pool, never written anywhere.
 */
struct tls_options
{
    /// Whether the pool's connections with its workers use TLS (off by default).
    bool enabled = false;
    /// PEM certificate (chain) the pool presents; empty: an ephemeral self-signed one. Workers
    /// pin its first certificate, so no CA is consulted either way.
    std::string certificate_file{};
    /// PEM private key of certificate_file; given both or neither.
    std::string private_key_file{};
};

/**
 * How a pool meets workers that connect back to it. A worker is started with the address to
 * connect to and a launch token on its command line, and the pool's secret on its standard
 * input (never its command line, which `ps` shows). Before any task byte crosses, both sides
 * prove they hold the secret (an HMAC challenge-response) and the worker's build is checked
 * against the pool's (protocol, byte order, type sizes, registered task names).
 */
struct remote_options
{
    /// The address the pool listens on: one of this machine's, reachable by the workers.
    /// Empty: 127.0.0.1 for command_launcher, the address of this host's name for
    /// slurm_launcher. Never all interfaces unless asked for ("0.0.0.0").
    std::string listen_address{};
    /// The port to listen on; 0: any free one.
    std::uint16_t listen_port = 0;
    /// How long a worker may take from its launch to the end of its handshake.
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(60);
    /// How often a worker tells the pool it lives, even while it runs a task.
    std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(1);
    /// A worker that sent nothing for this long is taken for dead (its node hung, or the link
    /// is cut): its task fails with worker_died_error and it is replaced.
    std::chrono::milliseconds heartbeat_timeout = std::chrono::seconds(10);
    /// Encrypt the connections (off: only the handshake is authenticated).
    tls_options tls{};
};

/// Workers are child processes of this one, talking over pipes: the default.
struct local_launcher
{
};

/**
 * Workers start with a command of the user's and connect back over TCP: ssh to a list of
 * hosts, a container runtime, a batch system's launcher. The command's arguments may hold:
 * - `{host}`: the next of `hosts`, in turn;
 * - `{exe}`: the worker executable (process_pool_options::worker_executable, or this program
 *   by its absolute path): it must exist at that path where the worker starts;
 * - `{args}`: the worker's arguments. An argument that is exactly `{args}` becomes as many
 *   arguments; inside a longer one (`"cd /x && {exe} {args}"`) they are spliced shell-quoted,
 *   for commands such as ssh that hand one string to a remote shell.
 *
 * The command's standard input carries the secret: ssh and srun forward it.
 */
struct command_launcher
{
    /// The argument vector that starts one worker, with the placeholders above; by default the
    /// worker executable itself, on this machine.
    std::vector<std::string> command{"{exe}", "{args}"};
    /// The hosts that `{host}` stands for, one worker after the other.
    std::vector<std::string> hosts{};
    /// Where the pool listens (127.0.0.1 by default), timeouts, TLS.
    remote_options remote{};
};

/**
 * Workers are job steps of the Slurm allocation this program runs in ($SLURM_JOB_ID, inside
 * `salloc` or an sbatch script): one `srun --jobid=$SLURM_JOB_ID --overlap -N1 -n1` per worker.
 * max_workers 0 means the allocation's task count ($SLURM_NTASKS). A worker's retirement ends
 * its step; killing its srun kills the worker.
 */
struct slurm_launcher
{
    /// The srun program.
    std::string srun = "srun";
    /// More srun options, placed before the worker's command (e.g. "--cpus-per-task=4").
    std::vector<std::string> srun_args{};
    /// Where the pool listens (this host's name by default), timeouts, TLS.
    remote_options remote{};
};

/// What workers started by an engine need to join their pool (see preset_launcher).
struct rendezvous_info
{
    std::string host;          ///< where the pool listens
    /// The port it listens on.
    std::uint16_t port = 0;
    std::string secret_hex;    ///< the pool's secret: hand it over privately
    std::vector<std::uint64_t> tokens; ///< one launch token per worker, in worker order
    /// The pool's process_pool_options::max_frame_size.
    std::size_t max_frame_size = 0;
    /// How often each worker sends a heartbeat.
    std::chrono::milliseconds heartbeat_interval{0};
    /// The pool's name, for the workers' diagnostics.
    std::string pool_name;
    /// SHA-256 of the pool's TLS certificate, 64 hex digits, for the workers to pin; empty:
    /// plain TCP. Hand it over with the secret.
    std::string tls_fingerprint{};
};

/**
 * Workers that an engine started already, such as the other ranks of `mpirun` (see
 * asio_pal/mpi.hpp, which makes one): the pool calls `rendezvous` once, from its constructor,
 * and the engine hands each worker its part; they connect back as other remote workers do.
 * They are a fixed set: all join at once, none is started on demand or replaced, idle ones do
 * not retire (idle_timeout is ignored, max_tasks_per_worker must be 0), and a worker that ends
 * is gone for good; when none is left, the pool is broken.
 */
struct preset_launcher
{
    /// How many workers the engine started: all join when the pool is made.
    std::size_t workers = 0;
    /// Called once, from the pool's constructor: hands each worker its part of the info (the
    /// address, the secret, its own token).
    std::function<void(const rendezvous_info&)> rendezvous{};
    /// Called on the pool's I/O thread when one of the workers ends other than by retirement
    /// (it died, its connection was lost, it never connected). May be empty.
    std::function<void()> on_worker_lost{};
    /// Where the pool listens, timeouts, TLS.
    remote_options remote{};
};

/// One of the launchers above.
using worker_launcher =
    std::variant<local_launcher, command_launcher, slurm_launcher, preset_launcher>;

} // namespace asio_pal

#endif // ASIO_PAL_LAUNCHER_HPP
