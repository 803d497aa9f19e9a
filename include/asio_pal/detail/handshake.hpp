//
// asio_pal/detail/handshake.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The handshake that opens a connection between a process pool and a worker process on another
// machine, before any task byte crosses: both sides prove they hold the pool's secret (HMAC-SHA256
// challenge-response, OpenSSL's libcrypto), then the pool checks that the worker was built like
// itself. Sans-io state machines (handshake_acceptor for the pool, handshake_connector for the
// worker), a blocking worker-side shell over a socket, and an Asio pool-side shell with a deadline.
//
// The exchange (every message: an 8-byte header, then at most 1016 bytes of body):
//   worker -> pool  hello      compatibility facts, launch token, pid, host name, worker nonce
//   pool -> worker  challenge  pool nonce, HMAC(secret, "asio_pal pool" || hello || pool nonce)
//   worker -> pool  response   HMAC(secret, "asio_pal worker" || hello || pool nonce)
//                   (or abort, empty, when the challenge's code is wrong: the worker leaves)
//   pool -> worker  verdict    accepted, or refused with a reason; HMAC(secret, "asio_pal
//                              verdict" || hello || pool nonce || the verdict before its code)
// The pool compares the facts only once the response is verified, so an unauthenticated peer
// learns nothing about the pool's program. Without TLS this authenticates the two ends, not the
// bytes that follow: an attacker who can rewrite the connection can relay a handshake.
//

#ifndef ASIO_PAL_DETAIL_HANDSHAKE_HPP
#define ASIO_PAL_DETAIL_HANDSHAKE_HPP

#include "asio_pal/error.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asio_pal::detail {

// ---------------------------------------------------------------------------------------------
// The secret

inline constexpr std::size_t handshake_secret_size = 32;
inline constexpr std::size_t handshake_nonce_size = 32;
inline constexpr std::size_t handshake_mac_size = 32; // HMAC-SHA256

using handshake_nonce = std::array<unsigned char, handshake_nonce_size>;
using handshake_mac = std::array<unsigned char, handshake_mac_size>;
using sha256_digest = std::array<unsigned char, 32>;

/// `handshake_nonce_size` fresh bytes from OpenSSL's RAND_bytes (std::runtime_error if it fails).
handshake_nonce make_handshake_nonce();

/**
 * A pool's secret: 32 random bytes that its workers must prove they hold. A worker receives it
 * as hexadecimal through its environment or its standard input, never its command line (which
 * `ps` shows to every user). The bytes are wiped when the object is destroyed.
 */
class handshake_secret
{
public:
    using bytes_type = std::array<unsigned char, handshake_secret_size>;

    /// A new secret from OpenSSL's RAND_bytes; std::runtime_error if it fails.
    static handshake_secret generate();

    /// Parses 64 hexadecimal digits, either case. std::invalid_argument naming the problem (the
    /// length, or the position of a bad character) otherwise; the message never quotes the input.
    static handshake_secret from_hex(std::string_view hex);

    explicit handshake_secret(const bytes_type& bytes) noexcept
        : bytes_(bytes)
    {}
    handshake_secret(const handshake_secret&) noexcept = default;
    handshake_secret& operator=(const handshake_secret&) noexcept = default;
    ~handshake_secret();

    /// 64 lowercase hexadecimal digits.
    std::string to_hex() const;

    const bytes_type& bytes() const noexcept { return bytes_; }

private:
    bytes_type bytes_;
};

// ---------------------------------------------------------------------------------------------
// What both sides must agree on

/// The types whose sizes are compared, in the order of compatibility_facts::type_sizes.
inline constexpr std::array<std::string_view, 8> compared_type_names = {
    "int", "long", "long long", "size_t", "void*", "double", "long double", "wchar_t"};

/// Written in native byte order: its bytes tell a machine's byte order.
inline constexpr std::uint32_t byte_order_marker = 0x01020304;

/// Longest protocol version a hello may carry.
inline constexpr std::size_t max_protocol_version_size = 32;

/// What a worker must share with its pool to run its tasks.
struct compatibility_facts
{
    /// asio_pal::detail::protocol_version of the program (printable, 1 to 32 bytes).
    std::string protocol_version;
    /// byte_order_marker's bytes in the machine's order.
    std::array<unsigned char, 4> byte_order{};
    /// sizeof of each of compared_type_names.
    std::array<std::uint8_t, compared_type_names.size()> type_sizes{};
    /// How many distinct task names the program registers.
    std::uint32_t task_count = 0;
    /// SHA-256 of that count and the sorted names (see make_compatibility_facts).
    sha256_digest task_digest{};

    bool operator==(const compatibility_facts&) const = default;
};

/**
 * The facts of this program, whose registry holds `task_names` (any order; a name listed twice
 * counts once). The digest covers the count (8 bytes, big-endian), then each name in byte order
 * as a 4-byte big-endian length and its bytes.
 */
compatibility_facts make_compatibility_facts(std::vector<std::string> task_names);

/// The same from any range of things convertible to std::string_view.
template <std::ranges::input_range Names>
requires std::convertible_to<std::ranges::range_reference_t<Names>, std::string_view> &&
    (!std::same_as<std::remove_cvref_t<Names>, std::vector<std::string>>)compatibility_facts
    make_compatibility_facts(Names&& task_names)
{
    std::vector<std::string> names;
    for (auto&& n : task_names)
        names.emplace_back(std::string_view(n));
    return make_compatibility_facts(std::move(names));
}

/**
 * How a worker's facts differ from its pool's, each difference named ("size of long double:
 * worker 16, pool 8", "byte order differs: ...", "protocol version: ...", "worker built from a
 * different program: it registers 12 tasks (digest 3fa2c1d0...), the pool 13 (digest
 * 9b01...)"), joined by "; ". Empty when they agree.
 */
std::string describe_differences(const compatibility_facts& worker,
                                 const compatibility_facts& pool);

// ---------------------------------------------------------------------------------------------
// Messages

/// Every message starts with a header: magic "apHS", format version, type, body length (2 bytes,
/// big-endian). Integers in bodies are big-endian, so a pool can read a worker of the other byte
/// order far enough to tell it so.
inline constexpr std::size_t handshake_header_size = 8;
/// The largest message, header included; a header announcing more is refused before its body
/// is read.
inline constexpr std::size_t max_handshake_message_size = 1024;
inline constexpr std::uint8_t handshake_format_version = 1;
/// Longest host name in a hello (printable ASCII, no spaces, at least 1 byte).
inline constexpr std::size_t max_handshake_host_size = 255;
/// Longest reason in a refusal verdict.
inline constexpr std::size_t max_refusal_reason_size = 512;

enum class handshake_message : std::uint8_t
{
    hello = 1,
    challenge = 2,
    response = 3,
    verdict = 4,
    abort = 5, ///< worker -> pool, empty: the challenge's code was wrong, the worker leaves
};

/// Which MAC of the exchange: each covers a different label, so none stands for another.
enum class handshake_mac_role : std::uint8_t
{
    pool,    ///< the challenge's: "asio_pal pool" || hello || pool nonce
    worker,  ///< the response's: "asio_pal worker" || hello || pool nonce
    verdict, ///< "asio_pal verdict" || hello || pool nonce || verdict body before its code
};

/// HMAC-SHA256 of one of the exchange's messages; `hello` is the whole hello message as sent.
handshake_mac compute_handshake_mac(const handshake_secret& secret, handshake_mac_role role,
                                    std::span<const char> hello, const handshake_nonce& pool_nonce,
                                    std::span<const char> verdict = {});

/// A whole message: header and `body` (at most max_handshake_message_size in all).
std::vector<char> make_handshake_message(handshake_message type, std::span<const char> body);

// ---------------------------------------------------------------------------------------------
// State machines

/// Where a handshake stands.
enum class handshake_status : std::uint8_t
{
    pending,  ///< more bytes to exchange
    accepted, ///< both sides authenticated and compatible
    /// The peer did not prove it holds the secret: a wrong secret, an impostor, a replay.
    authentication_failed,
    /// The worker is authentic but built differently; the reason names each difference.
    incompatible,
    /// Malformed, oversized or unexpected bytes; the reason names the problem.
    protocol_error,
};

/// A worker as its authenticated hello describes it.
struct handshake_peer
{
    std::string host;
    std::int64_t pid = 0;
    /// Which launch this connection answers (chosen by the pool, passed to the worker).
    std::uint64_t token = 0;
    compatibility_facts facts;
};

/**
 * What the two state machines share: the caller sends take_output(), reads bytes_wanted()
 * bytes, feed()s them, until done(). Every message is bounded and read into a fixed buffer;
 * bad input never throws: it ends the handshake with a status and a reason.
 */
class handshake_machine
{
public:
    handshake_machine(const handshake_machine&) = delete;
    handshake_machine& operator=(const handshake_machine&) = delete;

    /// Takes the bytes to send now (empty when there are none).
    std::vector<char> take_output() { return std::exchange(output_, {}); }

    /// The bytes the current message still lacks: reading exactly this many never reads past
    /// the handshake into the frames that follow it. 0 once done.
    std::size_t bytes_wanted() const noexcept;

    /// Feeds received bytes; returns how many were used, all of them unless the handshake ended
    /// before their end (the rest belong to whatever follows it).
    std::size_t feed(std::span<const char> in);

    bool done() const noexcept { return status_ != handshake_status::pending; }
    handshake_status status() const noexcept { return status_; }
    /// Why it failed, in words ("" while pending or once accepted).
    const std::string& reason() const noexcept { return reason_; }

protected:
    explicit handshake_machine(const handshake_secret& secret);
    ~handshake_machine();

    /// Checks a header before its body is read: "" or the problem.
    virtual std::string check_header(handshake_message type, std::size_t body_size) const = 0;
    virtual void on_message(handshake_message type, std::span<const char> body) = 0;

    void send(handshake_message type, std::span<const char> body);
    void finish(handshake_status s, std::string reason = {});

    handshake_secret secret_;
    std::vector<char> hello_; // the hello as sent, covered by every MAC
    handshake_nonce pool_nonce_{};

private:
    std::vector<char> output_;
    handshake_status status_ = handshake_status::pending;
    std::string reason_;
    std::array<char, max_handshake_message_size> buffer_{};
    std::size_t have_ = 0;
    std::size_t need_ = handshake_header_size;
};

/**
 * The pool's side: waits for a hello, sends a challenge, checks the response, sends a verdict.
 * Accepted only when the response's code is right and the worker's facts equal `expected`.
 */
class handshake_acceptor final : public handshake_machine
{
public:
    /// `pool_nonce` must be fresh for every connection (tests pass their own).
    handshake_acceptor(const handshake_secret& secret, compatibility_facts expected,
                       const handshake_nonce& pool_nonce = make_handshake_nonce());

    /// The worker once accepted; before that, what its hello claims (unauthenticated).
    const handshake_peer& peer() const noexcept { return peer_; }

private:
    std::string check_header(handshake_message type, std::size_t body_size) const override;
    void on_message(handshake_message type, std::span<const char> body) override;
    void on_hello(std::span<const char> body);
    void on_response(std::span<const char> body);
    void refuse(std::uint8_t code, handshake_status s, const std::string& reason);

    compatibility_facts expected_;
    handshake_peer peer_;
    bool challenged_ = false;
};

/**
 * The worker's side: its output holds the hello from the start; checks the challenge, answers,
 * and reads the verdict. Refused by the pool: the status says why (authentication_failed or
 * incompatible) and the reason quotes the pool.
 */
class handshake_connector final : public handshake_machine
{
public:
    /// std::invalid_argument when `host` is empty, longer than 255 bytes or not printable, when
    /// `pid` is not positive or above 2^31 - 1, or when the protocol version is not 1 to 32
    /// printable bytes. `worker_nonce` must be fresh for every connection.
    handshake_connector(const handshake_secret& secret, const compatibility_facts& facts,
                        std::uint64_t token, std::int64_t pid, const std::string& host,
                        const handshake_nonce& worker_nonce = make_handshake_nonce());

private:
    std::string check_header(handshake_message type, std::size_t body_size) const override;
    void on_message(handshake_message type, std::span<const char> body) override;
    void on_challenge(std::span<const char> body);
    void on_verdict(std::span<const char> body);

    bool answered_ = false;
};

// ---------------------------------------------------------------------------------------------
// Errors

/// Codes of handshake_error besides the system's and boost::asio::error::timed_out.
enum class handshake_errc
{
    authentication_failed = 1, ///< the peer does not hold the secret
    incompatible,              ///< a worker built differently from its pool
    protocol_error,            ///< malformed, oversized or unexpected handshake bytes
};

/// The category of handshake_errc ("asio_pal.handshake").
const boost::system::error_category& handshake_category() noexcept;

inline boost::system::error_code make_error_code(handshake_errc e) noexcept
{
    return {static_cast<int>(e), handshake_category()};
}

/// The code of a failed status (a default code for pending and accepted).
boost::system::error_code handshake_error_code(handshake_status s) noexcept;

/**
 * A handshake failed; what() names the peer and the problem. code(): a handshake_errc,
 * boost::asio::error::timed_out, or the system's code of a failed connection (eof when the peer
 * closed it).
 */
class handshake_error : public error
{
public:
    handshake_error(boost::system::error_code ec, const std::string& what)
        : error(ec, what)
    {}
};

// ---------------------------------------------------------------------------------------------
// Worker side: blocking

/**
 * Connects to the pool at `host`:`port` over TCP and runs the worker's side of the handshake,
 * with this process's pid and host name (gethostname, non-printable bytes replaced by '?').
 * Returns the socket, blocking, close-on-exec, with TCP_NODELAY, positioned right after the
 * verdict. Throws handshake_error when the pool refuses the worker, fails to authenticate, breaks
 * the protocol or closes the connection, when `timeout` passes (code timed_out), or when no
 * address of `host` accepts the connection (the system's code). The name lookup (getaddrinfo)
 * is not bounded by `timeout`. Writes with MSG_NOSIGNAL: no SIGPIPE.
 *
 * With a `tls_fingerprint_hex`, the connection is TLS first (tls_client_tunnel: the pool's
 * certificate pinned by that fingerprint), and the handshake and what follows run over the
 * tunnel's plaintext end, which is what is returned (a local stream socket then).
 */
int connect_and_handshake(const std::string& host, std::uint16_t port,
                          const handshake_secret& secret, const compatibility_facts& facts,
                          std::uint64_t token, std::chrono::milliseconds timeout,
                          std::string_view tls_fingerprint_hex = {});

/**
 * The worker's side of the handshake over `fd`, a connected stream socket (left open, its flags
 * unchanged, whatever happens); `peer` names the pool in error messages. Throws as
 * connect_and_handshake does.
 */
void worker_handshake(int fd, handshake_connector& connector, std::string_view peer,
                      std::chrono::steady_clock::time_point deadline);

// ---------------------------------------------------------------------------------------------
// Pool side: Asio

/// "the worker at ADDRESS:PORT" for a socket or a stream over one, else "the worker".
template <typename Stream>
std::string describe_handshake_peer(Stream& stream)
{
    if constexpr (requires { stream.lowest_layer().remote_endpoint(); })
    {
        boost::system::error_code ec;
        auto ep = stream.lowest_layer().remote_endpoint(ec);
        if (!ec)
        {
            if constexpr (requires { ep.address().to_string(); })
                return "the worker at " + ep.address().to_string() + ":" +
                       std::to_string(ep.port());
        }
    }
    return "the worker";
}

/// The exception of a finished acceptor that did not accept.
std::exception_ptr handshake_failure(const handshake_acceptor& acceptor, const std::string& peer);
/// The exception of a stream error (or of the deadline) during a handshake.
std::exception_ptr handshake_io_failure(boost::system::error_code ec, bool timed_out,
                                        std::chrono::steady_clock::duration timeout,
                                        const std::string& peer);

template <typename Stream, typename Handler>
class accept_handshake_op
    : public std::enable_shared_from_this<accept_handshake_op<Stream, Handler>>
{
public:
    accept_handshake_op(Stream& stream, Handler handler, const handshake_secret& secret,
                        const compatibility_facts& expected,
                        std::chrono::steady_clock::duration timeout)
        : stream_(stream)
        , machine_(secret, expected)
        , timer_(stream.get_executor())
        , timeout_(timeout)
        , peer_(describe_handshake_peer(stream))
        , work_(boost::asio::prefer(
              boost::asio::get_associated_executor(handler, stream.get_executor()),
              boost::asio::execution::outstanding_work.tracked))
        , handler_(std::move(handler))
    {}

    void start()
    {
        timer_.expires_after(timeout_);
        step();
        // After the first operation starts: an expired timer must find one to cancel.
        auto on_timer = [self = this->shared_from_this()](boost::system::error_code ec) {
            self->on_timer(ec);
        };
        timer_.async_wait(boost::asio::bind_executor(stream_.get_executor(), std::move(on_timer)));
    }

private:
    // Reads and writes complete on the stream's executor, as the timer does, and a timeout
    // cancels whichever is pending through the slot.
    auto io_handler(bool reading)
    {
        auto h = [self = this->shared_from_this(), reading](boost::system::error_code ec,
                                                            std::size_t n) {
            self->on_io(ec, reading ? n : 0);
        };
        return boost::asio::bind_cancellation_slot(
            cancel_.slot(), boost::asio::bind_executor(stream_.get_executor(), std::move(h)));
    }

    void step()
    {
        out_ = machine_.take_output();
        if (out_.empty() && machine_.done())
        {
            complete(machine_.status() == handshake_status::accepted
                         ? nullptr
                         : handshake_failure(machine_, peer_));
            return;
        }
        // The deadline may have passed while a completed operation's handler was queued: its
        // cancellation reached no operation, so none may start now.
        if (timed_out_)
        {
            fail(boost::asio::error::timed_out);
            return;
        }
        if (!out_.empty())
            boost::asio::async_write(stream_, boost::asio::buffer(out_), io_handler(false));
        else
            boost::asio::async_read(stream_,
                                    boost::asio::buffer(in_.data(), machine_.bytes_wanted()),
                                    io_handler(true));
    }

    void on_timer(boost::system::error_code ec)
    {
        if (!ec && !finished_)
        {
            timed_out_ = true;
            cancel_.emit(boost::asio::cancellation_type::terminal);
        }
    }

    void on_io(boost::system::error_code ec, std::size_t n)
    {
        if (ec)
        {
            fail(ec);
            return;
        }
        machine_.feed(std::span<const char>(in_.data(), n));
        step();
    }

    void fail(boost::system::error_code ec)
    {
        // A refusal whose verdict could not be delivered is still a refusal: say why.
        if (machine_.done() && machine_.status() != handshake_status::accepted)
            complete(handshake_failure(machine_, peer_));
        else
            complete(handshake_io_failure(ec, timed_out_, timeout_, peer_));
    }

    void complete(std::exception_ptr e)
    {
        finished_ = true;
        timer_.cancel();
        handshake_peer peer;
        if (!e)
            peer = machine_.peer();
        boost::asio::dispatch(work_,
                              [h = std::move(handler_), e, peer = std::move(peer)]() mutable {
            std::move(h)(e, std::move(peer));
        });
    }

    Stream& stream_;
    handshake_acceptor machine_;
    boost::asio::steady_timer timer_;
    std::chrono::steady_clock::duration timeout_;
    std::string peer_;
    boost::asio::cancellation_signal cancel_;
    std::array<char, max_handshake_message_size> in_{};
    std::vector<char> out_;
    bool timed_out_ = false;
    bool finished_ = false;
    std::decay_t<decltype(boost::asio::prefer(
        std::declval<boost::asio::associated_executor_t<Handler, typename Stream::executor_type>>(),
        boost::asio::execution::outstanding_work.tracked))>
        work_;
    Handler handler_;
};

/**
 * The pool's side of the handshake on `stream` (a connected socket, or an
 * boost::asio::ssl::stream over one after its own handshake), bounded by `timeout`.
 *
 * @par Completion Signature
 * `void(std::exception_ptr, handshake_peer)`: null and the worker when it is accepted; else a
 * handshake_error naming the worker's address and the problem (refused as unauthenticated or
 * incompatible, with the verdict sent to it; a protocol error; the connection closed; timed_out
 * when `timeout` passed, for example for a client that says nothing), and an empty peer. The
 * stream is never closed here: on failure the caller closes it. On success it stands right after
 * the verdict, with nothing of the worker's read beyond the handshake.
 *
 * @par Per-Operation Cancellation
 * Not supported: close the stream to abandon the handshake (it then fails), or let the deadline
 * end it.
 *
 * @par Thread Safety
 * The stream's executor must not run two handlers at once (an io_context run by one thread, or a
 * strand), as for any stream whose operations race a timer.
 */
template <typename Stream, typename CompletionToken>
auto async_accept_handshake(Stream& stream, const handshake_secret& secret,
                            const compatibility_facts& expected,
                            std::chrono::steady_clock::duration timeout, CompletionToken&& token)
{
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, handshake_peer)>(
        [](auto handler, Stream* s, const handshake_secret& sec, const compatibility_facts& exp,
           std::chrono::steady_clock::duration t) {
        using op_type = accept_handshake_op<Stream, std::decay_t<decltype(handler)>>;
        std::make_shared<op_type>(*s, std::move(handler), sec, exp, t)->start();
        },
        token, &stream, secret, expected, timeout);
}

} // namespace asio_pal::detail

namespace boost::system {
template <>
struct is_error_code_enum<asio_pal::detail::handshake_errc> : std::true_type
{};
} // namespace boost::system

#endif // ASIO_PAL_DETAIL_HANDSHAKE_HPP
