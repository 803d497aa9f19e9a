//
// asio_pal/detail/tls_tunnel.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Optional TLS for remote workers, as a transport wrapper: on each side a tunnel turns a TLS
// connection into a plaintext local stream socket (a socketpair), and the handshake, the frames
// and the links run over the plaintext end unchanged. OpenSSL and Asio's SSL headers stay in
// impl/tls_tunnel.ipp.
//

#ifndef ASIO_PAL_DETAIL_TLS_TUNNEL_HPP
#define ASIO_PAL_DETAIL_TLS_TUNNEL_HPP

#include "asio_pal/detail/handshake.hpp"
#include "asio_pal/launcher.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace asio_pal::detail {

// ---------------------------------------------------------------------------------------------
// The line a remote worker reads on its standard input

/// Hex digits of a certificate's SHA-256 fingerprint.
inline constexpr std::size_t tls_fingerprint_hex_size = 64;
/// The longest secret line a worker reads (newline excluded); longer is refused unread.
inline constexpr std::size_t max_secret_line_size = 256;

/**
 * "<secret hex>\n", or "<secret hex> tls=<fingerprint hex>\n" when `tls_fingerprint_hex` is not
 * empty. std::invalid_argument when the fingerprint is not 64 hexadecimal digits.
 */
std::string make_secret_line(const handshake_secret& secret, std::string_view tls_fingerprint_hex);

/// What a secret line says.
struct secret_line
{
    std::string secret_hex;          ///< 64 hexadecimal digits
    std::string tls_fingerprint_hex; ///< 64 lowercase hexadecimal digits, or empty: no TLS
};

/**
 * Parses a secret line without its newline. std::invalid_argument naming the problem (length,
 * position of a bad character, unknown field) otherwise; the message never quotes the secret.
 */
secret_line parse_secret_line(std::string_view line);

// ---------------------------------------------------------------------------------------------
// Pool side: the TLS server

/**
 * A pool's TLS identity: its key, its certificate and the SSL context made of them. Copies
 * share them; tunnels keep them alive as long as they run.
 */
class tls_server_identity
{
public:
    /**
     * From `options`' files, or an ephemeral EC P-256 key and self-signed certificate when both
     * are empty. std::invalid_argument naming the file and OpenSSL's reason when a file is
     * missing or unreadable, is not PEM, or the key does not match the certificate, or when
     * only one of the two files is given.
     */
    static tls_server_identity make(const tls_options& options);

    /// SHA-256 of the certificate, 64 lowercase hexadecimal digits: what workers pin.
    const std::string& fingerprint_hex() const noexcept;

    struct state;
    const std::shared_ptr<state>& get() const noexcept { return state_; }

private:
    explicit tls_server_identity(std::shared_ptr<state> s) noexcept
        : state_(std::move(s))
    {}
    std::shared_ptr<state> state_;
};

/// How async_tls_tunnel completes: an error, or the plaintext end of a running tunnel.
using tls_tunnel_handler =
    std::function<void(boost::system::error_code, boost::asio::local::stream_protocol::socket)>;

/**
 * Runs the server side of a TLS handshake on `tcp`, within `handshake_timeout`; then makes a
 * socketpair and pumps bytes both ways between the TLS stream and one end of it, and completes
 * with the other end (on `tcp`'s executor, never inside this call). A client that closes, sends
 * garbage or plaintext, or says nothing for `handshake_timeout` (boost::asio::error::timed_out)
 * completes `handler` with the error and a closed socket.
 *
 * The tunnel owns itself. The end of the TLS connection (EOF, error) closes the TCP socket and
 * shuts the tunnel's end of the pair down for writing, so the user's end reads EOF after the
 * last bytes; what the user writes from then on is dropped (as a TCP peer that closed would)
 * until it closes its end, which ends the tunnel. The user closing its end first shuts the TCP
 * connection down for writing and closes it when the worker closes too, or
 * `handshake_timeout` later.
 * Its handlers run on a strand of `tcp`'s executor. Destroying the io_context with tunnels
 * still running releases them.
 *
 * Returns a function that abandons the tunnel, callable from any thread while the io_context
 * lives, any number of times, also once the tunnel has ended: a handshake in progress then fails
 * with boost::asio::error::operation_aborted; a running tunnel closes both its ends at once (what a
 * pool that stops does to connections still in their handshake).
 */
std::function<void()> async_tls_tunnel(tls_server_identity& identity,
                                       boost::asio::ip::tcp::socket tcp,
                                       std::chrono::milliseconds handshake_timeout,
                                       tls_tunnel_handler handler);

// ---------------------------------------------------------------------------------------------
// Worker side: the TLS client, blocking until the tunnel runs

/**
 * Runs the client side of a TLS handshake over `tcp_fd` (a connected TCP socket, taken: closed
 * whatever happens) before `deadline`, and checks that the pool's certificate has SHA-256
 * fingerprint `fingerprint_hex` (pinned: no CA is consulted). Then a thread of its own pumps
 * bytes between the TLS connection and a socketpair, until either end closes, as
 * async_tls_tunnel does. Returns the plaintext end: non-blocking, close-on-exec. Throws
 * handshake_error: code timed_out, the TLS error, or handshake_errc::authentication_failed for a
 * certificate that is not the pinned one; `peer` names the pool in the message.
 */
int tls_client_tunnel(int tcp_fd, std::string_view fingerprint_hex, std::string_view peer,
                      std::chrono::steady_clock::time_point deadline);

/// Stops every tunnel tls_client_tunnel started (closing their connections) and joins their
/// threads: what a worker does before it returns from run_worker. Waits up to `grace` for
/// tunnels still forwarding what the worker wrote before it closed its ends for writing.
void stop_tls_client_tunnels(
    std::chrono::milliseconds grace = std::chrono::milliseconds(0)) noexcept;

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_TLS_TUNNEL_HPP
