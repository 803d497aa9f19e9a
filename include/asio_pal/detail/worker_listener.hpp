//
// asio_pal/detail/worker_listener.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The port remote workers connect back to: it accepts connections, wraps each in TLS when asked
// (a tunnel: see tls_tunnel.hpp), authenticates it (the handshake) and hands the ones that name
// a launch token to their launcher. Strangers are closed and said on stderr; none ever receives
// a task byte.
//

#ifndef ASIO_PAL_DETAIL_WORKER_LISTENER_HPP
#define ASIO_PAL_DETAIL_WORKER_LISTENER_HPP

#include "asio_pal/detail/handshake.hpp"
#include "asio_pal/detail/tls_tunnel.hpp"
#include "asio_pal/detail/worker_process.hpp"
#include "asio_pal/launcher.hpp"

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace asio_pal::detail {

/// Connections a listener authenticates at once; more are closed as they come.
constexpr std::size_t max_handshakes_in_progress = 64;

class worker_listener
{
public:
    /// A connection that passed the handshake: true when it was taken (it names a worker the
    /// launcher waits for), false to have it refused.
    using joined_handler =
        std::function<bool(net::generic::stream_protocol::socket&, const handshake_peer&)>;

    /**
     * Opens the port (settings.listen_address, or a name resolved to its first address) and
     * makes the pool's secret, and its TLS identity when settings.tls asks for it. Throws
     * std::invalid_argument for an address it cannot use or TLS files it cannot load, and the
     * system's error when the port cannot be opened. Nothing runs before start().
     */
    worker_listener(pool_handlers handlers, const remote_options& settings, std::string pool_name,
                    joined_handler joined);
    worker_listener(const worker_listener&) = delete;
    worker_listener& operator=(const worker_listener&) = delete;

    /// Starts accepting (on the strand).
    void start();
    /// Closes the port and every connection still in its handshake. Strand only.
    void close() noexcept;
    bool is_open() const noexcept { return acceptor_.is_open(); }

    const net::ip::tcp::endpoint& endpoint() const noexcept { return endpoint_; }
    /// The address workers connect to: the listening one, or this host's name for all.
    const std::string& host() const noexcept { return host_; }
    std::uint16_t port() const noexcept { return endpoint_.port(); }
    const handshake_secret& secret() const noexcept { return secret_; }
    /// What a worker's command reads on its standard input: the secret, and the fingerprint
    /// of the pool's certificate with TLS.
    const std::string& secret_line() const noexcept { return secret_line_; }
    /// The SHA-256 fingerprint workers pin, in hex; empty without TLS.
    std::string tls_fingerprint() const { return tls_ ? tls_->fingerprint_hex() : std::string(); }

    /// Connections refused so far, and why the latest was (what a worker that never joins
    /// most likely met). Strand only.
    std::size_t refusals() const noexcept { return refusals_; }
    const std::string& last_refusal() const noexcept { return last_refusal_; }

private:
    void accept_next();
    void handshake(net::ip::tcp::socket tcp);
    template <typename Socket>
    void authenticate(std::uint64_t id, std::shared_ptr<Socket> socket, const std::string& peer);
    void refused(const std::string& peer, std::exception_ptr e) noexcept;

    pool_handlers handlers_;
    std::string pool_name_;
    std::chrono::milliseconds connect_timeout_;
    joined_handler joined_;
    net::ip::tcp::acceptor acceptor_;
    net::ip::tcp::endpoint endpoint_;
    std::string host_;
    handshake_secret secret_;
    std::string secret_line_;
    compatibility_facts facts_;
    std::optional<tls_server_identity> tls_;
    std::string last_refusal_;
    std::size_t refusals_ = 0;
    // Connections in their handshake (TLS's, then the pool's), by number, with what ends each:
    // closed with the listener, so that none keeps the I/O thread (and the pool's destructor)
    // waiting for its timeout.
    std::map<std::uint64_t, std::function<void()>> handshaking_;
    std::uint64_t next_connection_ = 0;
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_WORKER_LISTENER_HPP
