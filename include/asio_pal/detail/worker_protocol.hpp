//
// asio_pal/detail/worker_protocol.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// What a process pool and its worker processes agree on: the command line that marks a
// worker, the descriptors and the signal of the protocol.
//

#ifndef ASIO_PAL_DETAIL_WORKER_PROTOCOL_HPP
#define ASIO_PAL_DETAIL_WORKER_PROTOCOL_HPP

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace asio_pal::detail {

/// The worker reads frames from this descriptor (dup2'ed there by the spawn).
inline constexpr int worker_input_fd = 3;
/// The worker writes frames to this descriptor; stdout and stderr stay the program's.
inline constexpr int worker_output_fd = 4;
/// The worker writes the reply of a direct task here: a thread of the parent blocked in
/// process_pool::run reads it itself, without the pool's I/O thread.
inline constexpr int worker_direct_fd = 5;

/// The first argument of a worker's command line.
inline constexpr std::string_view worker_marker = "--asio-pal-worker";
/// Bumped whenever the frames change, so a stale worker executable is refused clearly.
inline constexpr std::string_view protocol_version = "3";

/// Bounds of process_pool_options::max_frame_size.
inline constexpr std::size_t min_max_frame_size = 4096;
inline constexpr std::size_t max_max_frame_size = std::size_t{1} << 31;

/// The signal that asks a worker to stop task N (sigqueue value = low 32 bits of its sequence):
/// a worker running N exits at once; otherwise it skips N when it comes to it.
inline int cancel_signal() noexcept
{
    return SIGRTMIN + 1;
}

/// The exit status of a worker that stopped its running task on request.
inline constexpr int cancelled_exit_status = 125;

/**
 * `fd` moved above the protocol's descriptors (3, 4 and 5), close-on-exec, so that a dup onto
 * them never meets it; `fd` itself when it is above already. -1 on failure, with errno set
 * (`fd` is closed then).
 */
int above_protocol_fds(int fd) noexcept;

/// Command line of a worker: executable, marker, protocol version, parent pid, frame limit,
/// pool name.
std::vector<std::string> worker_arguments(const std::string& executable, pid_t parent,
                                          std::size_t max_frame_size, const std::string& pool);

/// Arguments of a worker that connects back over TCP (after its executable): marker, protocol
/// version, "connect", host, port, launch token, frame limit, heartbeat interval in ms, pool name.
/// Its standard input carries the pool's secret line (make_secret_line: the secret in hex, and the
/// TLS fingerprint to pin when the pool uses TLS).
std::vector<std::string> remote_worker_arguments(const std::string& host, std::uint16_t port,
                                                 std::uint64_t token, std::size_t max_frame_size,
                                                 std::chrono::milliseconds heartbeat,
                                                 const std::string& pool);

/// Where a remote worker's session keeps its connections.
enum class session_descriptors
{
    /// On descriptors 3 to 5, as a local worker: a process started to be a worker, whose
    /// descriptors there are nobody's.
    protocol,
    /// Where they are: a process that had descriptors of its own before, such as an MPI rank
    /// (Open MPI's are on 3 to 5 there).
    own,
};

/**
 * Connects to the pool at `host`:`port`, proves the secret (hexadecimal) with launch `token`,
 * then serves it as a worker until retired (returns 0, once its connections are closed and
 * its threads have ended, so the caller may go on) or the connection ends (exits). Returns 69
 * when it cannot join; says why on stderr. With a `tls_fingerprint_hex` (64 hex digits) both
 * connections are TLS, the pool's certificate pinned by that SHA-256 fingerprint.
 */
int serve_pool_at(const std::string& host, std::uint16_t port, const std::string& secret_hex,
                  std::uint64_t token, std::size_t max_frame, std::chrono::milliseconds heartbeat,
                  const std::string& pool, const std::string& tls_fingerprint_hex = {},
                  session_descriptors where = session_descriptors::protocol);

/// The launch token of a remote worker's second connection, which carries the replies of
/// process_pool::run's short cut: derived from the first's.
inline constexpr std::uint64_t direct_token(std::uint64_t token) noexcept
{
    return ~token;
}

/// A function the library registers itself, so test() needs nothing from the program: 2 * x.
int probe_task(int x);

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_WORKER_PROTOCOL_HPP
