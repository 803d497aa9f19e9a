//
// asio_pal/impl/handshake.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The handshake of remote workers: the secret, the compatibility facts, the messages, the two
// state machines, the errors. Every cryptographic primitive is OpenSSL's.
//

#ifndef ASIO_PAL_IMPL_HANDSHAKE_IPP
#define ASIO_PAL_IMPL_HANDSHAKE_IPP

#include "asio_pal/detail/handshake.hpp"
#include "asio_pal/detail/worker_protocol.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace asio_pal::detail {

namespace {

constexpr char handshake_magic[4] = {'a', 'p', 'H', 'S'};

// Bodies' sizes. A hello: protocol version (1 + 1..32), byte order (4), sizes (8), task count
// (4), task digest (32), token (8), pid (4), host (1 + 1..255), worker nonce (32).
constexpr std::size_t hello_fixed_size = 1 + 4 + 8 + 4 + 32 + 8 + 4 + 1 + handshake_nonce_size;
constexpr std::size_t min_hello_size = hello_fixed_size + 1 + 1;
constexpr std::size_t max_hello_size =
    hello_fixed_size + max_protocol_version_size + max_handshake_host_size;
constexpr std::size_t challenge_size = handshake_nonce_size + handshake_mac_size;
constexpr std::size_t response_size = handshake_mac_size;
// A verdict: code (1), reason length (2), reason, MAC.
constexpr std::size_t min_verdict_size = 1 + 2 + handshake_mac_size;
constexpr std::size_t max_verdict_size = min_verdict_size + max_refusal_reason_size;
static_assert(max_hello_size + handshake_header_size <= max_handshake_message_size);
static_assert(max_verdict_size + handshake_header_size <= max_handshake_message_size);

// Verdict codes.
constexpr std::uint8_t verdict_accepted = 0;
constexpr std::uint8_t verdict_unauthenticated = 1;
constexpr std::uint8_t verdict_incompatible = 2;

// The message of a malformed body, caught by the state machines' feed().
struct malformed
{
    std::string what;
};

std::string openssl_failure(const char* call)
{
    char buf[256] = {};
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    return std::string("asio_pal: OpenSSL's ") + call + " failed: " + buf;
}

bool is_printable(std::string_view s, bool spaces) noexcept
{
    return std::all_of(s.begin(), s.end(),
                       [spaces](char c) { return (c > ' ' || (spaces && c == ' ')) && c <= '~'; });
}

const char* message_name(handshake_message t) noexcept
{
    switch (t)
    {
    case handshake_message::hello:
        return "a hello";
    case handshake_message::challenge:
        return "a challenge";
    case handshake_message::response:
        return "a response";
    case handshake_message::verdict:
        return "a verdict";
    case handshake_message::abort:
        return "an abort";
    }
    return "an unknown message";
}

std::string hex(std::span<const unsigned char> bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (unsigned char b : bytes)
    {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 15]);
    }
    return s;
}

// Big-endian writers and a bounded reader.
void put_u8(std::vector<char>& out, std::uint8_t v)
{
    out.push_back(static_cast<char>(v));
}
void put_uint(std::vector<char>& out, std::uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; --i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_bytes(std::vector<char>& out, std::span<const unsigned char> b)
{
    out.insert(out.end(), b.begin(), b.end());
}
void put_string8(std::vector<char>& out, std::string_view s)
{
    put_u8(out, static_cast<std::uint8_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
}

class body_reader
{
public:
    body_reader(std::span<const char> in, const char* what)
        : in_(in)
        , what_(what)
    {}

    std::uint64_t uint(int bytes)
    {
        auto b = take(static_cast<std::size_t>(bytes));
        std::uint64_t v = 0;
        for (char c : b)
            v = (v << 8) | static_cast<unsigned char>(c);
        return v;
    }

    template <std::size_t N>
    void bytes(std::array<unsigned char, N>& out)
    {
        auto b = take(N);
        std::memcpy(out.data(), b.data(), N);
    }

    std::string string(std::size_t length)
    {
        auto b = take(length);
        return std::string(b.data(), b.size());
    }

    std::size_t remaining() const noexcept { return in_.size() - pos_; }

    void finish() const
    {
        if (remaining() != 0)
            throw malformed{std::string(what_) + " with " + std::to_string(remaining()) +
                            " bytes too many"};
    }

private:
    std::span<const char> take(std::size_t n)
    {
        if (n > remaining())
            throw malformed{std::string(what_) + " cut short: " + std::to_string(n) +
                            " bytes wanted, " + std::to_string(remaining()) + " left"};
        auto b = in_.subspan(pos_, n);
        pos_ += n;
        return b;
    }

    std::span<const char> in_;
    const char* what_;
    std::size_t pos_ = 0;
};

void check_protocol_version(std::string_view v, const char* who)
{
    if (v.empty() || v.size() > max_protocol_version_size || !is_printable(v, false))
        throw std::invalid_argument(
            std::string("asio_pal: ") + who + ": the protocol version must be 1 to " +
            std::to_string(max_protocol_version_size) + " printable bytes without spaces");
}

std::vector<char> encode_hello(const compatibility_facts& f, std::uint64_t token, std::int64_t pid,
                               const std::string& host, const handshake_nonce& nonce)
{
    std::vector<char> body;
    put_string8(body, f.protocol_version);
    put_bytes(body, f.byte_order);
    put_bytes(body, f.type_sizes);
    put_uint(body, f.task_count, 4);
    put_bytes(body, f.task_digest);
    put_uint(body, token, 8);
    put_uint(body, static_cast<std::uint64_t>(pid), 4);
    put_string8(body, host);
    put_bytes(body, nonce);
    return make_handshake_message(handshake_message::hello, body);
}

const char* byte_order_name(const std::array<unsigned char, 4>& b) noexcept
{
    if (b == std::array<unsigned char, 4>{1, 2, 3, 4})
        return "big-endian";
    if (b == std::array<unsigned char, 4>{4, 3, 2, 1})
        return "little-endian";
    return "of an unknown byte order";
}

// EVP objects, freed on every path.
struct mac_deleter
{
    void operator()(EVP_MAC* p) const noexcept { EVP_MAC_free(p); }
    void operator()(EVP_MAC_CTX* p) const noexcept { EVP_MAC_CTX_free(p); }
};

} // namespace

// ---------------------------------------------------------------------------------------------
// Secret and nonces

handshake_nonce make_handshake_nonce()
{
    handshake_nonce n;
    if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1)
        throw std::runtime_error(openssl_failure("RAND_bytes"));
    return n;
}

handshake_secret handshake_secret::generate()
{
    bytes_type b;
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
        throw std::runtime_error(openssl_failure("RAND_bytes"));
    handshake_secret s(b);
    OPENSSL_cleanse(b.data(), b.size());
    return s;
}

handshake_secret handshake_secret::from_hex(std::string_view text)
{
    if (text.size() != 2 * handshake_secret_size)
        throw std::invalid_argument(
            "asio_pal: a handshake secret is " + std::to_string(2 * handshake_secret_size) +
            " hexadecimal digits, not " + std::to_string(text.size()) + " characters");
    auto digit = [&](std::size_t i) {
        char c = text[i];
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        throw std::invalid_argument("asio_pal: a handshake secret is hexadecimal digits; the "
                                    "character at position " +
                                    std::to_string(i) + " is not one");
    };
    bytes_type b;
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = static_cast<unsigned char>(digit(2 * i) * 16 + digit(2 * i + 1));
    handshake_secret s(b);
    OPENSSL_cleanse(b.data(), b.size());
    return s;
}

handshake_secret::~handshake_secret()
{
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

std::string handshake_secret::to_hex() const
{
    return hex(bytes_);
}

// ---------------------------------------------------------------------------------------------
// Facts

compatibility_facts make_compatibility_facts(std::vector<std::string> task_names)
{
    std::sort(task_names.begin(), task_names.end());
    task_names.erase(std::unique(task_names.begin(), task_names.end()), task_names.end());
    if (task_names.size() > std::numeric_limits<std::uint32_t>::max())
        throw std::length_error("asio_pal: more than 2^32 - 1 task names");

    compatibility_facts f;
    f.protocol_version = std::string(detail::protocol_version);
    std::uint32_t marker = byte_order_marker;
    std::memcpy(f.byte_order.data(), &marker, sizeof marker);
    f.type_sizes = {sizeof(int),   sizeof(long),   sizeof(long long),   sizeof(std::size_t),
                    sizeof(void*), sizeof(double), sizeof(long double), sizeof(wchar_t)};
    f.task_count = static_cast<std::uint32_t>(task_names.size());

    std::vector<char> data;
    put_uint(data, task_names.size(), 8);
    for (const std::string& n : task_names)
    {
        if (n.size() > std::numeric_limits<std::uint32_t>::max())
            throw std::length_error("asio_pal: a task name of more than 2^32 - 1 bytes");
        put_uint(data, n.size(), 4);
        data.insert(data.end(), n.begin(), n.end());
    }
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), f.task_digest.data(), &size, EVP_sha256(), nullptr) !=
            1 ||
        size != f.task_digest.size())
        throw std::runtime_error(openssl_failure("EVP_Digest"));
    return f;
}

std::string describe_differences(const compatibility_facts& worker, const compatibility_facts& pool)
{
    std::vector<std::string> diffs;
    if (worker.protocol_version != pool.protocol_version)
        diffs.push_back("protocol version: worker " + worker.protocol_version + ", pool " +
                        pool.protocol_version);
    if (worker.byte_order != pool.byte_order)
        diffs.push_back(std::string("byte order differs: the worker is ") +
                        byte_order_name(worker.byte_order) + ", the pool " +
                        byte_order_name(pool.byte_order));
    for (std::size_t i = 0; i < compared_type_names.size(); ++i)
        if (worker.type_sizes[i] != pool.type_sizes[i])
            diffs.push_back("size of " + std::string(compared_type_names[i]) + ": worker " +
                            std::to_string(worker.type_sizes[i]) + ", pool " +
                            std::to_string(pool.type_sizes[i]));
    if (worker.task_count != pool.task_count || worker.task_digest != pool.task_digest)
    {
        // 8 digits tell two digests apart in a message; the whole digest would only be noise.
        auto brief = [](const sha256_digest& d) {
            return hex(std::span<const unsigned char>(d).first(4)) + "...";
        };
        diffs.push_back("worker built from a different program: it registers " +
                        std::to_string(worker.task_count) + " tasks (digest " +
                        brief(worker.task_digest) + "), the pool " +
                        std::to_string(pool.task_count) + " (digest " + brief(pool.task_digest) +
                        ")");
    }
    std::string out;
    for (const std::string& d : diffs)
        out += (out.empty() ? "" : "; ") + d;
    return out;
}

// ---------------------------------------------------------------------------------------------
// Messages

handshake_mac compute_handshake_mac(const handshake_secret& secret, handshake_mac_role role,
                                    std::span<const char> hello, const handshake_nonce& pool_nonce,
                                    std::span<const char> verdict)
{
    std::string_view label = role == handshake_mac_role::pool     ? "asio_pal pool"
                             : role == handshake_mac_role::worker ? "asio_pal worker"
                                                                  : "asio_pal verdict";
    std::unique_ptr<EVP_MAC, mac_deleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!mac)
        throw std::runtime_error(openssl_failure("EVP_MAC_fetch"));
    std::unique_ptr<EVP_MAC_CTX, mac_deleter> ctx(EVP_MAC_CTX_new(mac.get()));
    if (!ctx)
        throw std::runtime_error(openssl_failure("EVP_MAC_CTX_new"));
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                           OSSL_PARAM_construct_end()};
    const auto& key = secret.bytes();
    auto update = [&](const void* p, std::size_t n) {
        if (EVP_MAC_update(ctx.get(), static_cast<const unsigned char*>(p), n) != 1)
            throw std::runtime_error(openssl_failure("EVP_MAC_update"));
    };
    if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1)
        throw std::runtime_error(openssl_failure("EVP_MAC_init"));
    update(label.data(), label.size());
    update(hello.data(), hello.size());
    update(pool_nonce.data(), pool_nonce.size());
    if (role == handshake_mac_role::verdict)
        update(verdict.data(), verdict.size());
    handshake_mac out;
    std::size_t size = 0;
    if (EVP_MAC_final(ctx.get(), out.data(), &size, out.size()) != 1 || size != out.size())
        throw std::runtime_error(openssl_failure("EVP_MAC_final"));
    return out;
}

std::vector<char> make_handshake_message(handshake_message type, std::span<const char> body)
{
    if (body.size() > max_handshake_message_size - handshake_header_size)
        throw std::length_error("asio_pal: a handshake message of " + std::to_string(body.size()) +
                                " bytes");
    std::vector<char> out(std::begin(handshake_magic), std::end(handshake_magic));
    put_u8(out, handshake_format_version);
    put_u8(out, static_cast<std::uint8_t>(type));
    put_uint(out, body.size(), 2);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

// ---------------------------------------------------------------------------------------------
// The common state machine

handshake_machine::handshake_machine(const handshake_secret& secret)
    : secret_(secret)
{}

handshake_machine::~handshake_machine() = default;

std::size_t handshake_machine::bytes_wanted() const noexcept
{
    return done() ? 0 : need_ - have_;
}

std::size_t handshake_machine::feed(std::span<const char> in)
{
    std::size_t used = 0;
    while (!done() && used < in.size())
    {
        std::size_t n = std::min(need_ - have_, in.size() - used);
        std::memcpy(buffer_.data() + have_, in.data() + used, n);
        have_ += n;
        used += n;
        if (have_ < need_)
            break;
        if (have_ == handshake_header_size)
        {
            const auto* h = reinterpret_cast<const unsigned char*>(buffer_.data());
            if (std::memcmp(h, handshake_magic, sizeof handshake_magic) != 0)
            {
                finish(handshake_status::protocol_error,
                       "not an asio_pal handshake: its first bytes are " +
                           hex(std::span<const unsigned char>(h, handshake_header_size)));
                break;
            }
            if (h[4] != handshake_format_version)
            {
                finish(handshake_status::protocol_error,
                       "handshake format " + std::to_string(h[4]) + ", this side speaks " +
                           std::to_string(handshake_format_version));
                break;
            }
            const std::size_t size = std::size_t{h[6]} << 8 | h[7];
            std::string problem = check_header(static_cast<handshake_message>(h[5]), size);
            if (!problem.empty())
            {
                finish(handshake_status::protocol_error, std::move(problem));
                break;
            }
            need_ = handshake_header_size + size;
        }
        if (have_ == need_)
        {
            auto type = static_cast<handshake_message>(buffer_[5]);
            std::span<const char> body(buffer_.data() + handshake_header_size,
                                       need_ - handshake_header_size);
            have_ = 0;
            need_ = handshake_header_size;
            try
            {
                on_message(type, body);
            }
            catch (const malformed& m)
            {
                finish(handshake_status::protocol_error, m.what);
            }
        }
    }
    return used;
}

void handshake_machine::send(handshake_message type, std::span<const char> body)
{
    std::vector<char> m = make_handshake_message(type, body);
    output_.insert(output_.end(), m.begin(), m.end());
}

void handshake_machine::finish(handshake_status s, std::string reason)
{
    status_ = s;
    reason_ = std::move(reason);
}

namespace {

// "" when a message of `type` and `size` bytes is the one expected, else the problem.
std::string expect(handshake_message type, std::size_t size, handshake_message wanted,
                   std::size_t min_size, std::size_t max_size)
{
    if (type != wanted)
        return std::string("expected ") + message_name(wanted) + ", received " +
               message_name(type) + " (type " + std::to_string(static_cast<int>(type)) + ")";
    if (size < min_size || size > max_size)
        return std::string(message_name(type)) + " of " + std::to_string(size) + " bytes (" +
               (min_size == max_size
                    ? "it has " + std::to_string(min_size)
                    : "from " + std::to_string(min_size) + " to " + std::to_string(max_size)) +
               ")";
    return {};
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Pool side

handshake_acceptor::handshake_acceptor(const handshake_secret& secret, compatibility_facts expected,
                                       const handshake_nonce& pool_nonce)
    : handshake_machine(secret)
    , expected_(std::move(expected))
{
    check_protocol_version(expected_.protocol_version, "handshake_acceptor");
    pool_nonce_ = pool_nonce;
}

std::string handshake_acceptor::check_header(handshake_message type, std::size_t size) const
{
    if (!challenged_)
        return expect(type, size, handshake_message::hello, min_hello_size, max_hello_size);
    if (type == handshake_message::abort)
        return expect(type, size, handshake_message::abort, 0, 0);
    return expect(type, size, handshake_message::response, response_size, response_size);
}

void handshake_acceptor::on_message(handshake_message type, std::span<const char> body)
{
    if (!challenged_)
        on_hello(body);
    else if (type == handshake_message::abort)
        finish(handshake_status::authentication_failed,
               "the worker found the pool's challenge not authentic: the worker and the pool "
               "hold different secrets");
    else
        on_response(body);
}

void handshake_acceptor::on_hello(std::span<const char> body)
{
    body_reader r(body, "a hello");
    handshake_peer p;
    p.facts.protocol_version = r.string(static_cast<std::size_t>(r.uint(1)));
    if (p.facts.protocol_version.empty() || !is_printable(p.facts.protocol_version, false) ||
        p.facts.protocol_version.size() > max_protocol_version_size)
        throw malformed{"a hello whose protocol version is not 1 to " +
                        std::to_string(max_protocol_version_size) + " printable bytes"};
    r.bytes(p.facts.byte_order);
    r.bytes(p.facts.type_sizes);
    p.facts.task_count = static_cast<std::uint32_t>(r.uint(4));
    r.bytes(p.facts.task_digest);
    p.token = r.uint(8);
    p.pid = static_cast<std::int64_t>(r.uint(4));
    if (p.pid <= 0 || p.pid > INT_MAX)
        throw malformed{"a hello with pid " + std::to_string(p.pid)};
    p.host = r.string(static_cast<std::size_t>(r.uint(1)));
    if (p.host.empty() || !is_printable(p.host, false))
        throw malformed{"a hello whose host name is not 1 to 255 printable bytes"};
    handshake_nonce worker_nonce;
    r.bytes(worker_nonce); // read to check the layout; the MAC covers it through the hello
    r.finish();

    peer_ = std::move(p);
    hello_ = make_handshake_message(handshake_message::hello, body);
    handshake_mac mac =
        compute_handshake_mac(secret_, handshake_mac_role::pool, hello_, pool_nonce_);
    std::vector<char> challenge(pool_nonce_.begin(), pool_nonce_.end());
    challenge.insert(challenge.end(), mac.begin(), mac.end());
    send(handshake_message::challenge, challenge);
    challenged_ = true;
}

void handshake_acceptor::on_response(std::span<const char> body)
{
    handshake_mac expected =
        compute_handshake_mac(secret_, handshake_mac_role::worker, hello_, pool_nonce_);
    if (CRYPTO_memcmp(expected.data(), body.data(), expected.size()) != 0)
    {
        refuse(verdict_unauthenticated, handshake_status::authentication_failed,
               "authentication failed: the worker did not prove it holds the pool's secret (a "
               "wrong secret, or a replayed handshake)");
        return;
    }
    // Only now, with the worker authenticated, may its facts be compared and named.
    std::string diffs = describe_differences(peer_.facts, expected_);
    if (!diffs.empty())
    {
        refuse(verdict_incompatible, handshake_status::incompatible, diffs);
        return;
    }
    std::vector<char> verdict;
    put_u8(verdict, verdict_accepted);
    put_uint(verdict, 0, 2);
    handshake_mac mac =
        compute_handshake_mac(secret_, handshake_mac_role::verdict, hello_, pool_nonce_, verdict);
    verdict.insert(verdict.end(), mac.begin(), mac.end());
    send(handshake_message::verdict, verdict);
    finish(handshake_status::accepted);
}

void handshake_acceptor::refuse(std::uint8_t code, handshake_status s, const std::string& reason)
{
    std::string sent = reason.substr(0, max_refusal_reason_size);
    std::vector<char> verdict;
    put_u8(verdict, code);
    put_uint(verdict, sent.size(), 2);
    verdict.insert(verdict.end(), sent.begin(), sent.end());
    handshake_mac mac =
        compute_handshake_mac(secret_, handshake_mac_role::verdict, hello_, pool_nonce_, verdict);
    verdict.insert(verdict.end(), mac.begin(), mac.end());
    send(handshake_message::verdict, verdict);
    finish(s, reason);
}

// ---------------------------------------------------------------------------------------------
// Worker side

handshake_connector::handshake_connector(const handshake_secret& secret,
                                         const compatibility_facts& facts, std::uint64_t token,
                                         std::int64_t pid, const std::string& host,
                                         const handshake_nonce& worker_nonce)
    : handshake_machine(secret)
{
    check_protocol_version(facts.protocol_version, "handshake_connector");
    if (host.empty() || host.size() > max_handshake_host_size || !is_printable(host, false))
        throw std::invalid_argument("asio_pal: handshake_connector: the host name must be 1 to " +
                                    std::to_string(max_handshake_host_size) +
                                    " printable bytes without spaces");
    if (pid <= 0 || pid > INT_MAX)
        throw std::invalid_argument("asio_pal: handshake_connector: pid " + std::to_string(pid) +
                                    " is not a process id");
    hello_ = encode_hello(facts, token, pid, host, worker_nonce);
    send(handshake_message::hello, std::span<const char>(hello_).subspan(handshake_header_size));
}

std::string handshake_connector::check_header(handshake_message type, std::size_t size) const
{
    if (!answered_)
        return expect(type, size, handshake_message::challenge, challenge_size, challenge_size);
    return expect(type, size, handshake_message::verdict, min_verdict_size, max_verdict_size);
}

void handshake_connector::on_message(handshake_message, std::span<const char> body)
{
    if (!answered_)
        on_challenge(body);
    else
        on_verdict(body);
}

void handshake_connector::on_challenge(std::span<const char> body)
{
    std::memcpy(pool_nonce_.data(), body.data(), pool_nonce_.size());
    handshake_mac expected =
        compute_handshake_mac(secret_, handshake_mac_role::pool, hello_, pool_nonce_);
    if (CRYPTO_memcmp(expected.data(), body.data() + pool_nonce_.size(), expected.size()) != 0)
    {
        // Tell the pool, so that its log says why, and leave without proving anything.
        send(handshake_message::abort, {});
        finish(handshake_status::authentication_failed,
               "the pool did not prove it holds the secret: a wrong secret, or not the pool");
        return;
    }
    handshake_mac mac =
        compute_handshake_mac(secret_, handshake_mac_role::worker, hello_, pool_nonce_);
    send(handshake_message::response,
         std::span<const char>(reinterpret_cast<const char*>(mac.data()), mac.size()));
    answered_ = true;
}

void handshake_connector::on_verdict(std::span<const char> body)
{
    body_reader r(body, "a verdict");
    const auto code = static_cast<std::uint8_t>(r.uint(1));
    const auto length = static_cast<std::size_t>(r.uint(2));
    if (length > max_refusal_reason_size)
        throw malformed{"a verdict whose reason has " + std::to_string(length) +
                        " bytes (at most " + std::to_string(max_refusal_reason_size) + ")"};
    std::string reason = r.string(length);
    handshake_mac mac;
    r.bytes(mac);
    r.finish();
    handshake_mac expected =
        compute_handshake_mac(secret_, handshake_mac_role::verdict, hello_, pool_nonce_,
                              body.first(body.size() - mac.size()));
    if (CRYPTO_memcmp(expected.data(), mac.data(), mac.size()) != 0)
    {
        finish(handshake_status::authentication_failed,
               "the pool's verdict does not carry the pool's authentication code");
        return;
    }
    if (!is_printable(reason, true))
        throw malformed{"a verdict whose reason is not printable"};
    if (code == verdict_accepted && reason.empty())
        finish(handshake_status::accepted);
    else if (code == verdict_unauthenticated && !reason.empty())
        finish(handshake_status::authentication_failed, "the pool refused this worker: " + reason);
    else if (code == verdict_incompatible && !reason.empty())
        finish(handshake_status::incompatible, "the pool refused this worker: " + reason);
    else
        throw malformed{"a verdict with code " + std::to_string(code) + " and a reason of " +
                        std::to_string(reason.size()) + " bytes"};
}

// ---------------------------------------------------------------------------------------------
// Errors

namespace {

class handshake_category_impl : public boost::system::error_category
{
public:
    const char* name() const noexcept override { return "asio_pal.handshake"; }

    std::string message(int ev) const override
    {
        switch (static_cast<handshake_errc>(ev))
        {
        case handshake_errc::authentication_failed:
            return "handshake authentication failed";
        case handshake_errc::incompatible:
            return "the worker and the pool were built differently";
        case handshake_errc::protocol_error:
            return "handshake protocol error";
        }
        return "unknown handshake error " + std::to_string(ev);
    }
};

} // namespace

const boost::system::error_category& handshake_category() noexcept
{
    static const handshake_category_impl c;
    return c;
}

boost::system::error_code handshake_error_code(handshake_status s) noexcept
{
    switch (s)
    {
    case handshake_status::authentication_failed:
        return make_error_code(handshake_errc::authentication_failed);
    case handshake_status::incompatible:
        return make_error_code(handshake_errc::incompatible);
    case handshake_status::protocol_error:
    case handshake_status::pending:
    case handshake_status::accepted:
        break;
    }
    return make_error_code(handshake_errc::protocol_error);
}

std::exception_ptr handshake_failure(const handshake_acceptor& acceptor, const std::string& peer)
{
    return std::make_exception_ptr(
        handshake_error(handshake_error_code(acceptor.status()),
                        "asio_pal: handshake with " + peer + " failed: " + acceptor.reason()));
}

std::exception_ptr handshake_io_failure(boost::system::error_code ec, bool timed_out,
                                        std::chrono::steady_clock::duration timeout,
                                        const std::string& peer)
{
    if (timed_out)
        return std::make_exception_ptr(handshake_error(
            boost::asio::error::timed_out,
            "asio_pal: no handshake with " + peer + " within " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                " ms"));
    if (ec == boost::asio::error::eof)
        return std::make_exception_ptr(handshake_error(
            ec, "asio_pal: " + peer + " closed the connection during the handshake"));
    return std::make_exception_ptr(
        handshake_error(ec, "asio_pal: the handshake with " + peer + " failed"));
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_HANDSHAKE_IPP
