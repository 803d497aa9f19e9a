//
// asio_pal/impl/tls_tunnel.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Both sides of the TLS tunnel (see detail/tls_tunnel.hpp): OpenSSL's libssl through Asio's
// ssl::stream, libcrypto for the pool's ephemeral key and certificate. No cryptography here.
//

#ifndef ASIO_PAL_IMPL_TLS_TUNNEL_IPP
#define ASIO_PAL_IMPL_TLS_TUNNEL_IPP

#include "asio_pal/detail/tls_tunnel.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cerrno>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

namespace asio_pal::detail {

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using local_socket = net::local::stream_protocol::socket;

/// Each direction of a tunnel holds at most this many bytes in flight.
constexpr std::size_t tunnel_buffer_size = 64 * 1024;
/// How long a worker's tunnel waits for the pool to close after the worker closed its end.
constexpr std::chrono::seconds client_linger{10};

int hex_digit(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Checks `text` is `size` hex digits; the message names `what`, never quotes the text.
void check_hex(std::string_view text, std::size_t size, const char* what)
{
    if (text.size() != size)
        throw std::invalid_argument(std::string("asio_pal: ") + what + " is " +
                                    std::to_string(size) + " hexadecimal digits, not " +
                                    std::to_string(text.size()) + " characters");
    for (std::size_t i = 0; i < text.size(); ++i)
        if (hex_digit(text[i]) < 0)
            throw std::invalid_argument(std::string("asio_pal: ") + what +
                                        " is hexadecimal digits; the character at position " +
                                        std::to_string(i) + " is not one");
}

std::string lowercase_hex(std::string_view checked)
{
    std::string s(checked);
    for (char& c : s)
        if (c >= 'A' && c <= 'F')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

std::string to_hex(const unsigned char* bytes, std::size_t n)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(2 * n, '0');
    for (std::size_t i = 0; i < n; ++i)
    {
        s[2 * i] = digits[bytes[i] >> 4];
        s[2 * i + 1] = digits[bytes[i] & 15];
    }
    return s;
}

// OpenSSL's reasons for the last failure, oldest first; the error queue is left empty.
std::string openssl_reason()
{
    std::string all;
    while (unsigned long e = ::ERR_get_error())
    {
        char buf[256];
        ::ERR_error_string_n(e, buf, sizeof buf);
        if (!all.empty())
            all += "; ";
        all += buf;
    }
    return all.empty() ? std::string("unknown OpenSSL error") : all;
}

// SHA-256 of a certificate (X509_digest): false when OpenSSL fails.
bool certificate_digest(X509* cert, std::array<unsigned char, 32>& out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (cert == nullptr || ::X509_digest(cert, ::EVP_sha256(), md, &len) != 1 || len != out.size())
        return false;
    std::copy(md, md + out.size(), out.begin());
    return true;
}

// TLS 1.3 only: every peer is this library, so nothing older is needed; no session tickets,
// no session cache: each connection is one worker's, never resumed.
void restrict_context(ssl::context& ctx)
{
    SSL_CTX* c = ctx.native_handle();
    if (::SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1)
        throw std::runtime_error("asio_pal: TLS 1.3 is not available: " + openssl_reason());
    ::SSL_CTX_set_num_tickets(c, 0);
    ::SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
}

struct pkey_free
{
    void operator()(EVP_PKEY* k) const noexcept { ::EVP_PKEY_free(k); }
};
struct x509_free
{
    void operator()(X509* x) const noexcept { ::X509_free(x); }
};

// An ephemeral EC P-256 key and a self-signed certificate for it, valid from an hour ago
// (clock skew between nodes) for ten years; only its fingerprint matters to the workers.
void use_ephemeral_identity(SSL_CTX* c)
{
    std::unique_ptr<EVP_PKEY, pkey_free> key(::EVP_EC_gen("P-256"));
    std::unique_ptr<X509, x509_free> cert(::X509_new());
    std::array<unsigned char, 8> serial{};
    if (!key || !cert || ::RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1)
        throw std::runtime_error("asio_pal: cannot make the pool's TLS key: " + openssl_reason());
    long serial_number = 0;
    for (unsigned char b : serial)
        serial_number = (serial_number << 8) | b;
    serial_number &= 0x7fffffffffffffffL;
    X509_NAME* name = ::X509_get_subject_name(cert.get());
    if (::X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
        ::ASN1_INTEGER_set(::X509_get_serialNumber(cert.get()), serial_number) != 1 ||
        !::X509_gmtime_adj(::X509_getm_notBefore(cert.get()), -3600) ||
        !::X509_gmtime_adj(::X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600) ||
        ::X509_set_pubkey(cert.get(), key.get()) != 1 ||
        ::X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("asio_pal pool"), -1,
                                     -1, 0) != 1 ||
        ::X509_set_issuer_name(cert.get(), name) != 1 ||
        ::X509_sign(cert.get(), key.get(), ::EVP_sha256()) <= 0 ||
        ::SSL_CTX_use_certificate(c, cert.get()) != 1 ||
        ::SSL_CTX_use_PrivateKey(c, key.get()) != 1)
        throw std::runtime_error("asio_pal: cannot make the pool's TLS certificate: " +
                                 openssl_reason());
}

void use_identity_files(SSL_CTX* c, const tls_options& o)
{
    if (::SSL_CTX_use_certificate_chain_file(c, o.certificate_file.c_str()) != 1)
        throw std::invalid_argument("asio_pal: remote.tls.certificate_file \"" +
                                    o.certificate_file +
                                    "\" is not a usable PEM certificate: " + openssl_reason());
    if (::SSL_CTX_use_PrivateKey_file(c, o.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::invalid_argument("asio_pal: remote.tls.private_key_file \"" +
                                    o.private_key_file + "\" is not the PEM private key of \"" +
                                    o.certificate_file + "\": " + openssl_reason());
    if (::SSL_CTX_check_private_key(c) != 1)
        throw std::invalid_argument("asio_pal: remote.tls.private_key_file \"" +
                                    o.private_key_file + "\" does not match the certificate \"" +
                                    o.certificate_file + "\": " + openssl_reason());
}

/**
 * One TLS connection and its plaintext pair end, on one executor (a strand, or an io_context
 * one thread runs). Each direction reads once, then writes all it read, then reads again: one
 * operation per direction outstanding, at most tunnel_buffer_size bytes in flight each way.
 */
struct tunnel : std::enable_shared_from_this<tunnel>
{
    tunnel(std::shared_ptr<void> keep, ssl::context& ctx, tcp::socket tcp,
           std::chrono::milliseconds linger)
        : keep_alive(std::move(keep))
        , tls(std::move(tcp), ctx)
        , plain(tls.get_executor())
        , timer(tls.get_executor())
        , linger(linger)
        , down(tunnel_buffer_size)
        , up(tunnel_buffer_size)
    {}

    // The user's end of a new socketpair, the other end becoming `plain`; -1 with `ec` set.
    int make_pair(boost::system::error_code& ec)
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        {
            ec.assign(errno, boost::system::system_category());
            return -1;
        }
        plain.assign(net::local::stream_protocol(), fds[0], ec);
        if (ec)
        {
            ::close(fds[0]);
            ::close(fds[1]);
            return -1;
        }
        return fds[1];
    }

    void start_pumps()
    {
        read_tls();
        read_plain();
    }

    void read_tls()
    {
        tls.async_read_some(net::buffer(down), [self = shared_from_this()](
                                                   boost::system::error_code ec, std::size_t n) {
            if (ec) // EOF, with or without close_notify, or a broken connection
                return self->tls_ended();
            net::async_write(self->plain, net::buffer(self->down.data(), n),
                             [self](boost::system::error_code ec, std::size_t) {
                if (ec) // the user's end is closed for reading
                    return self->close_all();
                self->read_tls();
            });
        });
    }

    void read_plain()
    {
        plain.async_read_some(net::buffer(up), [self = shared_from_this()](
                                                   boost::system::error_code ec, std::size_t n) {
            if (ec == net::error::eof)
                return self->plain_ended();
            if (ec)
                return self->close_all();
            if (self->tls_gone) // nowhere to send it: dropped, as a TCP peer that closed would
                return self->read_plain();
            net::async_write(self->tls, net::buffer(self->up.data(), n),
                             [self](boost::system::error_code ec, std::size_t) {
                if (ec)
                    self->tls_ended();
                self->read_plain();
            });
        });
    }

    // The TLS connection ended. The user's end reads EOF after the last bytes, and what the
    // user writes from now on is read and dropped until it closes its end: a write to a
    // socketpair whose other end is closed fails at once, where over TCP the writer would first
    // read the end (a worker's relay does, and exits as when its pool's connection ends).
    void tls_ended()
    {
        boost::system::error_code ignored;
        if (!tls_gone)
        {
            tls_gone = true;
            tls.next_layer().close(ignored);
        }
        if (plain_eof)
            return close_all();
        plain.shutdown(local_socket::shutdown_send, ignored);
    }

    // The user closed its end: all it wrote is sent. A FIN, not a close_notify (SSL_shutdown
    // would read while the other direction reads), so the peer sees the end after the last
    // byte; the connection closes when the peer closes too, or `linger` later. Closing at once
    // could reset the connection and lose the last bytes on their way.
    void plain_ended()
    {
        plain_eof = true;
        if (tls_gone)
            return close_all();
        boost::system::error_code ignored;
        tls.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
        timer.expires_after(linger);
        timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec)
                self->close_all();
        });
    }

    void close_all()
    {
        boost::system::error_code ignored;
        plain.close(ignored);
        tls.next_layer().close(ignored);
        timer.cancel();
    }

    std::shared_ptr<void> keep_alive; // the SSL context, first made, last destroyed
    ssl::stream<tcp::socket> tls;
    local_socket plain;
    net::steady_timer timer;
    std::chrono::milliseconds linger;
    bool handshake_done = false;
    bool timed_out = false;
    bool aborted = false;
    bool tls_gone = false;  // the TLS connection ended (EOF, error, or closed here)
    bool plain_eof = false; // the user's end read EOF
    std::vector<char> down; // TLS to plain
    std::vector<char> up;   // plain to TLS
};

// The worker side's pump threads, each with its io_context, until stop_tls_client_tunnels.
struct client_pump
{
    net::io_context io{1};
    std::thread thread;
    std::promise<void> done; // its io_context ran out of work: both directions ended
    std::future<void> finished = done.get_future();
};

struct client_pumps
{
    std::mutex mutex;
    std::vector<std::unique_ptr<client_pump>> pumps;
};

// Never destroyed: a worker may exit with its pump threads running, as with its relay thread.
client_pumps& client_pump_registry()
{
    static client_pumps* r = new client_pumps;
    return *r;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Secret line

std::string make_secret_line(const handshake_secret& secret, std::string_view tls_fingerprint_hex)
{
    std::string line = secret.to_hex();
    if (!tls_fingerprint_hex.empty())
    {
        check_hex(tls_fingerprint_hex, tls_fingerprint_hex_size, "a TLS fingerprint");
        line += " tls=";
        line += lowercase_hex(tls_fingerprint_hex);
    }
    line += '\n';
    return line;
}

secret_line parse_secret_line(std::string_view line)
{
    if (line.size() > max_secret_line_size)
        throw std::invalid_argument("asio_pal: the secret line is " + std::to_string(line.size()) +
                                    " characters, more than " +
                                    std::to_string(max_secret_line_size));
    const std::size_t space = line.find(' ');
    const std::string_view secret = line.substr(0, space);
    check_hex(secret, 2 * handshake_secret_size, "the secret");
    secret_line parsed{std::string(secret), {}};
    if (space == std::string_view::npos)
        return parsed;
    constexpr std::string_view tls_field = "tls=";
    const std::string_view rest = line.substr(space + 1);
    if (!rest.starts_with(tls_field))
        throw std::invalid_argument("asio_pal: the secret line has an unknown field after the "
                                    "secret (only tls= is known)");
    const std::string_view fingerprint = rest.substr(tls_field.size());
    check_hex(fingerprint, tls_fingerprint_hex_size, "the TLS fingerprint");
    parsed.tls_fingerprint_hex = lowercase_hex(fingerprint);
    return parsed;
}

// ---------------------------------------------------------------------------------------------
// Pool side

struct tls_server_identity::state
{
    ssl::context context{ssl::context::tls_server};
    std::string fingerprint;
};

tls_server_identity tls_server_identity::make(const tls_options& options)
{
    if (options.certificate_file.empty() != options.private_key_file.empty())
        throw std::invalid_argument(
            "asio_pal: remote.tls: give both certificate_file and private_key_file, or neither "
            "(an ephemeral certificate)");
    auto s = std::make_shared<state>();
    restrict_context(s->context);
    SSL_CTX* c = s->context.native_handle();
    ::ERR_clear_error();
    if (options.certificate_file.empty())
        use_ephemeral_identity(c);
    else
        use_identity_files(c, options);
    std::array<unsigned char, 32> digest{};
    if (!certificate_digest(::SSL_CTX_get0_certificate(c), digest))
        throw std::runtime_error("asio_pal: cannot digest the pool's TLS certificate: " +
                                 openssl_reason());
    s->fingerprint = to_hex(digest.data(), digest.size());
    return tls_server_identity(std::move(s));
}

const std::string& tls_server_identity::fingerprint_hex() const noexcept
{
    return state_->fingerprint;
}

std::function<void()> async_tls_tunnel(tls_server_identity& identity, tcp::socket tcp,
                                       std::chrono::milliseconds handshake_timeout,
                                       tls_tunnel_handler handler)
{
    net::any_io_executor user_executor = tcp.get_executor();
    // A strand of its own: the two directions' handlers touch one SSL object, whatever the
    // caller's executor is.
    boost::system::error_code ec;
    tcp::socket stranded(net::make_strand(user_executor));
    if (tcp.is_open())
    {
        const auto protocol = tcp.local_endpoint(ec).protocol();
        if (!ec)
        {
            int fd = tcp.release(ec);
            if (!ec)
                stranded.assign(protocol, fd, ec);
            if (ec && fd >= 0)
                ::close(fd);
        }
    }
    else
        ec = net::error::bad_descriptor;
    if (ec)
    {
        net::post(user_executor, [h = std::move(handler), ec, user_executor]() {
            h(ec, local_socket(user_executor));
        });
        return [] {};
    }
    const auto& state = identity.get();
    auto t =
        std::make_shared<tunnel>(state, state->context, std::move(stranded), handshake_timeout);
    net::post(t->tls.get_executor(),
              [t, handshake_timeout, user_executor, h = std::move(handler)]() mutable {
        t->timer.expires_after(handshake_timeout);
        t->timer.async_wait([t](boost::system::error_code ec) {
            if (ec || t->handshake_done)
                return;
            t->timed_out = true;
            boost::system::error_code ignored;
            t->tls.next_layer().close(ignored);
        });
        t->tls.async_handshake(ssl::stream_base::server, [t, user_executor, h = std::move(h)](
                                                             boost::system::error_code ec) mutable {
            t->handshake_done = true;
            t->timer.cancel();
            if (t->timed_out)
                ec = net::error::timed_out;
            else if (t->aborted)
                ec = net::error::operation_aborted;
            local_socket user(user_executor);
            if (!ec)
            {
                int fd = t->make_pair(ec);
                if (!ec)
                {
                    user.assign(net::local::stream_protocol(), fd, ec);
                    if (ec)
                        ::close(fd);
                }
            }
            if (ec)
                t->close_all();
            else
                t->start_pumps();
            net::post(user_executor, [h = std::move(h), ec, user = std::move(user)]() mutable {
                h(ec, std::move(user));
            });
        });
    });
    return [weak = std::weak_ptr<tunnel>(t), executor = t->tls.get_executor()] {
        net::post(executor, [weak] {
            if (auto t = weak.lock())
            {
                if (!t->handshake_done)
                    t->aborted = true;
                t->close_all();
            }
        });
    };
}

// ---------------------------------------------------------------------------------------------
// Worker side

int tls_client_tunnel(int tcp_fd, std::string_view fingerprint_hex, std::string_view peer,
                      std::chrono::steady_clock::time_point deadline)
{
    struct fd_closer
    {
        int fd;
        ~fd_closer()
        {
            if (fd >= 0)
                ::close(fd);
        }
    } owned{tcp_fd};
    check_hex(fingerprint_hex, tls_fingerprint_hex_size, "the pinned TLS fingerprint");
    std::array<unsigned char, 32> pinned{};
    for (std::size_t i = 0; i < pinned.size(); ++i)
        pinned[i] = static_cast<unsigned char>(hex_digit(fingerprint_hex[2 * i]) * 16 +
                                               hex_digit(fingerprint_hex[2 * i + 1]));
    const std::string context = "asio_pal: TLS with " + std::string(peer);

    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    restrict_context(*ctx);
    // No CA: the certificate is checked against the pinned fingerprint once the handshake has
    // proven the pool holds its key, before a byte of ours crosses.
    ctx->set_verify_mode(ssl::verify_none);

    auto pump = std::make_unique<client_pump>();
    sockaddr_storage address{};
    socklen_t address_size = sizeof address;
    if (::getsockname(tcp_fd, reinterpret_cast<sockaddr*>(&address), &address_size) != 0)
        throw handshake_error(boost::system::error_code(errno, boost::system::system_category()),
                              context);
    tcp::socket socket(pump->io);
    boost::system::error_code ec;
    socket.assign(address.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), tcp_fd, ec);
    if (ec)
        throw handshake_error(ec, context);
    owned.fd = -1;

    auto t = std::make_shared<tunnel>(ctx, *ctx, std::move(socket), client_linger);
    boost::system::error_code result = net::error::would_block;
    t->timer.expires_at(deadline);
    t->timer.async_wait([t](boost::system::error_code ec) {
        if (ec || t->handshake_done)
            return;
        t->timed_out = true;
        boost::system::error_code ignored;
        t->tls.next_layer().close(ignored);
    });
    t->tls.async_handshake(ssl::stream_base::client, [t, &result](boost::system::error_code ec) {
        t->handshake_done = true;
        t->timer.cancel();
        result = ec;
    });
    pump->io.run();
    pump->io.restart();
    if (t->timed_out)
        throw handshake_error(net::error::timed_out, "asio_pal: no TLS handshake with " +
                                                         std::string(peer) +
                                                         " before the deadline");
    if (result)
        throw handshake_error(result, context + ": " + result.message());
    std::array<unsigned char, 32> presented{};
    if (!certificate_digest(::SSL_get0_peer_certificate(t->tls.native_handle()), presented))
        throw handshake_error(handshake_errc::authentication_failed,
                              context + ": the pool presented no usable certificate");
    if (::CRYPTO_memcmp(presented.data(), pinned.data(), pinned.size()) != 0)
        throw handshake_error(handshake_errc::authentication_failed,
                              context + ": its certificate's SHA-256 fingerprint is " +
                                  to_hex(presented.data(), presented.size()) +
                                  ", not the pinned one");

    int user = t->make_pair(ec);
    if (ec)
        throw handshake_error(ec, context + ": socketpair");
    int flags = ::fcntl(user, F_GETFL);
    if (flags < 0 || ::fcntl(user, F_SETFL, flags | O_NONBLOCK) != 0)
    {
        ec.assign(errno, boost::system::system_category());
        ::close(user);
        throw handshake_error(ec, context + ": fcntl");
    }
    t->start_pumps();
    t.reset(); // owned by its handlers from now on
    client_pump* p = pump.get();
    {
        auto& registry = client_pump_registry();
        std::lock_guard lock(registry.mutex);
        registry.pumps.push_back(std::move(pump));
        p->thread = std::thread([p] {
            p->io.run();
            p->done.set_value();
        });
    }
    return user;
}

void stop_tls_client_tunnels(std::chrono::milliseconds grace) noexcept
{
    std::vector<std::unique_ptr<client_pump>> pumps;
    {
        auto& registry = client_pump_registry();
        std::lock_guard lock(registry.mutex);
        pumps.swap(registry.pumps);
    }
    auto deadline = std::chrono::steady_clock::now() + grace;
    for (auto& p : pumps)
        p->finished.wait_until(deadline);
    for (auto& p : pumps)
        p->io.stop();
    for (auto& p : pumps)
        if (p->thread.joinable())
            p->thread.join();
    // Destroying each io_context destroys its tunnel, which closes its sockets.
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_TLS_TUNNEL_IPP
