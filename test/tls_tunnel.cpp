//
// test/tls_tunnel.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/detail/tls_tunnel.hpp: the secret line (cases, then random and mutated lines),
// the pool's TLS identity (ephemeral, from PEM files the test writes with libcrypto, bad files),
// then tunnels over loopback TCP: the pool's Asio side against the worker's blocking side, bytes
// both ways, the end of either side, a wrong pin, plaintext, silent and hung-up clients, a TLS 1.2
// client, the HMAC handshake through a tunnel, and io_contexts destroyed with tunnels running.
//

#include "asio_pal/detail/tls_tunnel.hpp"

#include "asio_pal/detail/handshake.hpp"
#include "asio_pal/detail/task_registry.hpp"
#include "asio_pal/detail/worker_protocol.hpp"
#include "asio_pal/worker.hpp"

#define BOOST_TEST_MODULE tls_tunnel
#define BOOST_TEST_NO_MAIN
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/secrets.hpp"

namespace d = asio_pal::detail;
namespace net = boost::asio;
using net::ip::tcp;
using namespace std::chrono_literals;

namespace {

using asio_pal_test::make_secret;

const std::string hex64 = make_secret(1).to_hex();
const std::string fingerprint64 = make_secret(200).to_hex();

std::string invalid_argument_of(std::string_view line)
{
    try
    {
        (void)d::parse_secret_line(line);
    }
    catch (const std::invalid_argument& e)
    {
        return e.what();
    }
    return {};
}

bool is_hex(std::string_view s, bool lower_only)
{
    return std::all_of(s.begin(), s.end(), [&](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
               (!lower_only && c >= 'A' && c <= 'F');
    });
}

} // namespace

BOOST_AUTO_TEST_SUITE(secret_line)

BOOST_AUTO_TEST_CASE(a_plain_line_goes_through)
{
    const std::string line = d::make_secret_line(make_secret(1), "");
    BOOST_TEST(line == hex64 + "\n");
    const d::secret_line parsed = d::parse_secret_line(hex64);
    BOOST_TEST(parsed.secret_hex == hex64);
    BOOST_TEST(parsed.tls_fingerprint_hex.empty());
}

BOOST_AUTO_TEST_CASE(a_tls_line_goes_through_and_the_fingerprint_is_lowercase)
{
    std::string upper = fingerprint64;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](char c) { return static_cast<char>(std::toupper(c)); });
    const std::string line = d::make_secret_line(make_secret(1), upper);
    BOOST_TEST(line == hex64 + " tls=" + fingerprint64 + "\n");
    const d::secret_line parsed = d::parse_secret_line(hex64 + " tls=" + upper);
    BOOST_TEST(parsed.secret_hex == hex64);
    BOOST_TEST(parsed.tls_fingerprint_hex == fingerprint64);
}

BOOST_AUTO_TEST_CASE(malformed_lines_are_named)
{
    BOOST_TEST(invalid_argument_of("").find("not 0 characters") != std::string::npos);
    BOOST_TEST(invalid_argument_of(hex64.substr(1)).find("not 63 characters") != std::string::npos);
    BOOST_TEST(invalid_argument_of(hex64 + " ").find("unknown field") != std::string::npos);
    BOOST_TEST(invalid_argument_of(hex64 + " key=" + fingerprint64).find("unknown field") !=
               std::string::npos);
    BOOST_TEST(invalid_argument_of(hex64 + "  tls=" + fingerprint64).find("unknown field") !=
               std::string::npos);
    BOOST_TEST(invalid_argument_of(hex64 + " tls=").find("TLS fingerprint") != std::string::npos);
    BOOST_TEST(
        invalid_argument_of(hex64 + " tls=" + fingerprint64.substr(1)).find("not 63 characters") !=
        std::string::npos);
    BOOST_TEST(
        invalid_argument_of(hex64 + " tls=" + fingerprint64 + " ").find("not 65 characters") !=
        std::string::npos);
    BOOST_TEST(invalid_argument_of("tls=" + fingerprint64).find("the secret") != std::string::npos);
    BOOST_TEST(invalid_argument_of(hex64 + "\r").find("the secret") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_too_long_line_is_refused_by_its_length)
{
    const std::string message = invalid_argument_of(std::string(257, 'a'));
    BOOST_TEST(message.find("257 characters, more than 256") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_bad_character_is_named_by_its_position_without_quoting_the_line)
{
    std::string secret = hex64;
    secret[10] = 'g';
    const std::string message = invalid_argument_of(secret);
    BOOST_TEST(message.find("position 10") != std::string::npos);
    BOOST_TEST(message.find(secret.substr(0, 10)) == std::string::npos);

    std::string fingerprint = fingerprint64;
    fingerprint[63] = 'z';
    BOOST_TEST(invalid_argument_of(hex64 + " tls=" + fingerprint).find("position 63") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(make_secret_line_refuses_a_bad_fingerprint)
{
    BOOST_CHECK_THROW(d::make_secret_line(make_secret(1), "abc"), std::invalid_argument);
    BOOST_CHECK_THROW(d::make_secret_line(make_secret(1), std::string(64, 'x')),
                      std::invalid_argument);
}

// Random and mutated lines: nothing but std::invalid_argument comes out, and what is accepted
// is exactly a well-formed line (hex secret, lowercase hex fingerprint or none) that
// make_secret_line gives back.
BOOST_AUTO_TEST_CASE(random_lines_never_crash_and_only_well_formed_ones_are_accepted)
{
    std::mt19937 random(20261203);
    const std::string alphabet = "0123456789abcdefABCDEFtls= gxz\r\n\t\x01\xff";
    const std::string valid = hex64 + " tls=" + fingerprint64;
    std::size_t accepted = 0;
    for (int round = 0; round < 200000; ++round)
    {
        std::string line;
        switch (round % 3)
        {
        case 0: // random bytes of any value
        {
            const std::size_t n = random() % 300;
            for (std::size_t i = 0; i < n; ++i)
                line += static_cast<char>(random() % 256);
            break;
        }
        case 1: // random characters of the line's own alphabet
        {
            const std::size_t n = random() % 140;
            for (std::size_t i = 0; i < n; ++i)
                line += alphabet[random() % alphabet.size()];
            break;
        }
        default: // a valid line with a few characters replaced, inserted or removed
        {
            line = (random() % 2) ? valid : hex64;
            for (unsigned m = 0, count = random() % 3; m < count; ++m)
            {
                const std::size_t at = random() % (line.size() + 1);
                const char c = alphabet[random() % alphabet.size()];
                switch (random() % 3)
                {
                case 0:
                    if (at < line.size())
                        line[at] = c;
                    break;
                case 1:
                    line.insert(line.begin() + static_cast<std::ptrdiff_t>(at), c);
                    break;
                default:
                    if (at < line.size())
                        line.erase(at, 1);
                    break;
                }
            }
        }
        }
        try
        {
            const d::secret_line parsed = d::parse_secret_line(line);
            ++accepted;
            BOOST_TEST_REQUIRE(parsed.secret_hex.size() == 64u);
            BOOST_TEST_REQUIRE(is_hex(parsed.secret_hex, false));
            BOOST_TEST_REQUIRE(
                (parsed.tls_fingerprint_hex.empty() || (parsed.tls_fingerprint_hex.size() == 64u &&
                                                        is_hex(parsed.tls_fingerprint_hex, true))));
            std::string lowered = line;
            std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](char c) {
                return static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
            });
            BOOST_TEST_REQUIRE(d::make_secret_line(d::handshake_secret::from_hex(parsed.secret_hex),
                                                   parsed.tls_fingerprint_hex) == lowered + "\n");
        }
        catch (const std::invalid_argument&)
        {}
    }
    // The mutations leave some lines valid (a hex digit replaced by another): the accepting
    // path ran too.
    BOOST_TEST(accepted > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

namespace {

struct pkey_deleter
{
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct x509_deleter
{
    void operator()(X509* x) const noexcept { X509_free(x); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

pkey_ptr make_key()
{
    pkey_ptr k(EVP_EC_gen("P-256"));
    BOOST_TEST_REQUIRE(k != nullptr);
    return k;
}

x509_ptr make_certificate(EVP_PKEY* key)
{
    x509_ptr c(X509_new());
    BOOST_TEST_REQUIRE(c != nullptr);
    X509_NAME* name = X509_get_subject_name(c.get());
    BOOST_TEST_REQUIRE(X509_set_version(c.get(), X509_VERSION_3) == 1);
    BOOST_TEST_REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(c.get()), 42) == 1);
    BOOST_TEST_REQUIRE(X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600) != nullptr);
    BOOST_TEST_REQUIRE(X509_gmtime_adj(X509_getm_notAfter(c.get()), 3600) != nullptr);
    BOOST_TEST_REQUIRE(X509_set_pubkey(c.get(), key) == 1);
    BOOST_TEST_REQUIRE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                  reinterpret_cast<const unsigned char*>("test"),
                                                  -1, -1, 0) == 1);
    BOOST_TEST_REQUIRE(X509_set_issuer_name(c.get(), name) == 1);
    BOOST_TEST_REQUIRE(X509_sign(c.get(), key, EVP_sha256()) > 0);
    return c;
}

std::string fingerprint_of(X509* c)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    BOOST_TEST_REQUIRE(X509_digest(c, EVP_sha256(), md, &n) == 1);
    std::string s;
    char buf[3];
    for (unsigned i = 0; i < n; ++i)
    {
        std::snprintf(buf, sizeof buf, "%02x", md[i]);
        s += buf;
    }
    return s;
}

// A directory of its own, removed at the end.
struct temp_dir
{
    std::filesystem::path path;
    temp_dir()
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "asio_pal_tls_XXXXXX");
        BOOST_TEST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

void write_pem(const std::filesystem::path& file, EVP_PKEY* key, X509* cert)
{
    FILE* f = std::fopen(file.c_str(), "w");
    BOOST_TEST_REQUIRE(f != nullptr);
    bool ok = key ? PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1
                  : PEM_write_X509(f, cert) == 1;
    std::fclose(f);
    BOOST_TEST_REQUIRE(ok);
}

std::string invalid_argument_of(const asio_pal::tls_options& o)
{
    try
    {
        (void)d::tls_server_identity::make(o);
    }
    catch (const std::invalid_argument& e)
    {
        return e.what();
    }
    return {};
}

} // namespace

BOOST_AUTO_TEST_SUITE(identity)

BOOST_AUTO_TEST_CASE(an_ephemeral_identity_has_a_fingerprint_of_its_own)
{
    auto a = d::tls_server_identity::make({.enabled = true});
    auto b = d::tls_server_identity::make({.enabled = true});
    BOOST_TEST(a.fingerprint_hex().size() == 64u);
    BOOST_TEST(is_hex(a.fingerprint_hex(), true));
    BOOST_TEST(a.fingerprint_hex() != b.fingerprint_hex());
}

BOOST_AUTO_TEST_CASE(an_identity_from_pem_files_has_their_certificate_s_fingerprint)
{
    temp_dir dir;
    auto key = make_key();
    auto cert = make_certificate(key.get());
    write_pem(dir.path / "key.pem", key.get(), nullptr);
    write_pem(dir.path / "cert.pem", nullptr, cert.get());
    auto id = d::tls_server_identity::make({.enabled = true,
                                            .certificate_file = dir.path / "cert.pem",
                                            .private_key_file = dir.path / "key.pem"});
    BOOST_TEST(id.fingerprint_hex() == fingerprint_of(cert.get()));
}

BOOST_AUTO_TEST_CASE(a_key_that_does_not_match_the_certificate_is_named)
{
    temp_dir dir;
    auto key = make_key();
    auto other = make_key();
    auto cert = make_certificate(key.get());
    write_pem(dir.path / "other.pem", other.get(), nullptr);
    write_pem(dir.path / "cert.pem", nullptr, cert.get());
    const std::string key_file = dir.path / "other.pem";
    const std::string message = invalid_argument_of(
        {.enabled = true, .certificate_file = dir.path / "cert.pem", .private_key_file = key_file});
    BOOST_TEST_INFO(message);
    BOOST_TEST(message.find("private_key_file \"" + key_file + "\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_or_garbage_files_are_named_with_openssl_s_reason)
{
    temp_dir dir;
    auto key = make_key();
    write_pem(dir.path / "key.pem", key.get(), nullptr);
    {
        std::ofstream(dir.path / "garbage.pem") << "not a certificate\n";
    }
    const std::string missing = dir.path / "missing.pem";
    std::string message = invalid_argument_of(
        {.enabled = true, .certificate_file = missing, .private_key_file = dir.path / "key.pem"});
    BOOST_TEST_INFO(message);
    BOOST_TEST(message.find("certificate_file \"" + missing + "\"") != std::string::npos);
    BOOST_TEST(message.find("No such file") != std::string::npos);

    const std::string garbage = dir.path / "garbage.pem";
    message = invalid_argument_of(
        {.enabled = true, .certificate_file = garbage, .private_key_file = dir.path / "key.pem"});
    BOOST_TEST_INFO(message);
    BOOST_TEST(message.find("certificate_file \"" + garbage + "\"") != std::string::npos);

    message = invalid_argument_of({.enabled = true, .certificate_file = garbage});
    BOOST_TEST(message.find("both certificate_file and private_key_file") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

namespace {

// A pool's side: an io_context run by a thread of its own, a listener on 127.0.0.1, and an
// identity; each accepted connection goes through async_tls_tunnel.
struct tls_pool
{
    net::io_context io;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work{io.get_executor()};
    tcp::acceptor listener{io, tcp::endpoint(net::ip::address_v4::loopback(), 0)};
    std::uint16_t port = listener.local_endpoint().port();
    d::tls_server_identity identity;
    std::thread thread;

    explicit tls_pool(const asio_pal::tls_options& options = {.enabled = true})
        : identity(d::tls_server_identity::make(options))
        , thread([this] { io.run(); })
    {}

    ~tls_pool() { stop(); }

    void stop()
    {
        work.reset();
        io.stop();
        if (thread.joinable())
            thread.join();
    }

    struct accepted
    {
        boost::system::error_code ec;
        int fd = -1; // the plaintext end, released from its socket
    };

    // What async_tls_tunnel returned for the last connection accept_one accepted.
    std::future<std::function<void()>> abort_of_last;

    std::future<accepted> accept_one(std::chrono::milliseconds handshake_timeout)
    {
        auto promise = std::make_shared<std::promise<accepted>>();
        auto future = promise->get_future();
        auto abort = std::make_shared<std::promise<std::function<void()>>>();
        abort_of_last = abort->get_future();
        net::post(io, [this, promise, abort, handshake_timeout] {
            listener.async_accept([this, promise, abort,
                                   handshake_timeout](boost::system::error_code ec, tcp::socket s) {
                if (ec)
                {
                    abort->set_value([] {});
                    return promise->set_value({ec, -1});
                }
                abort->set_value(
                    d::async_tls_tunnel(identity, std::move(s), handshake_timeout,
                                        [promise](boost::system::error_code ec,
                                                  net::local::stream_protocol::socket plain) {
                    accepted a{ec, -1};
                    if (!ec)
                        a.fd = plain.release();
                    promise->set_value(a);
                    }));
            });
        });
        return future;
    }
};

tls_pool::accepted get(std::future<tls_pool::accepted>& f)
{
    BOOST_TEST_REQUIRE((f.wait_for(60s) == std::future_status::ready));
    return f.get();
}

int connect_tcp(std::uint16_t port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_TEST_REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_TEST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

int connect_tls(std::uint16_t port, const std::string& fingerprint)
{
    return d::tls_client_tunnel(connect_tcp(port), fingerprint, "the test pool",
                                std::chrono::steady_clock::now() + 60s);
}

struct fd_guard
{
    int fd;
    ~fd_guard()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

// A worker connected to `pool` through a tunnel: the worker's plaintext end and the pool's.
struct tunnel_ends
{
    int client;
    int server;
};

tunnel_ends connect_through(tls_pool& pool)
{
    auto accepted = pool.accept_one(30s);
    int client = connect_tls(pool.port, pool.identity.fingerprint_hex());
    auto a = get(accepted);
    BOOST_TEST_REQUIRE(!a.ec);
    return {client, a.fd};
}

// Waits (bounded) until `fd` is ready for `events`; false on timeout.
bool wait_ready(int fd, short events)
{
    pollfd p{fd, events, 0};
    int n;
    do
        n = ::poll(&p, 1, 60000);
    while (n < 0 && errno == EINTR);
    return n == 1;
}

// Writes all of `data` (fd blocking or not); false when the fd fails or stalls for a minute.
bool write_all(int fd, const std::vector<char>& data)
{
    for (std::size_t at = 0; at < data.size();)
    {
        ssize_t n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            at += static_cast<std::size_t>(n);
        else if (n < 0 && (errno == EAGAIN || errno == EINTR))
        {
            if (!wait_ready(fd, POLLOUT))
                return false;
        }
        else
            return false;
    }
    return true;
}

// Reads until `n` bytes or the end; stops when nothing comes for a minute.
std::vector<char> read_up_to(int fd, std::size_t n)
{
    std::vector<char> got;
    std::vector<char> buf(64 * 1024);
    while (got.size() < n)
    {
        if (!wait_ready(fd, POLLIN))
            break;
        ssize_t r = ::recv(fd, buf.data(), std::min(buf.size(), n - got.size()), MSG_DONTWAIT);
        if (r > 0)
            got.insert(got.end(), buf.data(), buf.data() + r);
        else if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        else
            break;
    }
    return got;
}

// True when `fd` reads its end (EOF or a reset) before any byte, within a minute.
bool reads_end(int fd)
{
    for (;;)
    {
        if (!wait_ready(fd, POLLIN))
            return false;
        char c;
        ssize_t r = ::recv(fd, &c, 1, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return true;
        if (r > 0)
            return false;
    }
}

std::vector<char> pattern(std::size_t n, unsigned seed)
{
    std::mt19937 random(seed);
    std::vector<char> v(n);
    for (char& c : v)
        c = static_cast<char>(random());
    return v;
}

std::string client_error(std::uint16_t port, const std::string& fingerprint,
                         boost::system::error_code* code = nullptr)
{
    try
    {
        ::close(connect_tls(port, fingerprint));
    }
    catch (const d::handshake_error& e)
    {
        if (code)
            *code = e.code();
        return e.what();
    }
    return {};
}

} // namespace

BOOST_AUTO_TEST_SUITE(tunnel)

BOOST_AUTO_TEST_CASE(a_mebibyte_goes_each_way_at_once_unchanged)
{
    tls_pool pool;
    auto ends = connect_through(pool);
    fd_guard client{ends.client};
    fd_guard server{ends.server};

    const std::size_t size = 1 << 20;
    const auto down = pattern(size, 1);
    const auto up = pattern(size, 2);
    std::vector<char> got_down, got_up;
    bool wrote_down = false, wrote_up = false;
    {
        std::jthread writers[] = {
            std::jthread([&] { wrote_down = write_all(server.fd, down); }),
            std::jthread([&] { wrote_up = write_all(client.fd, up); }),
            std::jthread([&] { got_down = read_up_to(client.fd, size); }),
            std::jthread([&] { got_up = read_up_to(server.fd, size); }),
        };
    }
    BOOST_TEST(wrote_down);
    BOOST_TEST(wrote_up);
    BOOST_TEST((got_down == down));
    BOOST_TEST((got_up == up));
    d::stop_tls_client_tunnels();
}

BOOST_AUTO_TEST_CASE(the_pool_closing_its_end_ends_the_worker_s_after_the_last_bytes)
{
    tls_pool pool;
    auto ends = connect_through(pool);
    fd_guard client{ends.client};
    const auto last = pattern(100000, 3);
    BOOST_TEST_REQUIRE(write_all(ends.server, last));
    ::close(ends.server);
    BOOST_TEST((read_up_to(client.fd, last.size()) == last));
    BOOST_TEST(reads_end(client.fd));
    d::stop_tls_client_tunnels();
}

BOOST_AUTO_TEST_CASE(the_worker_closing_its_end_ends_the_pool_s_after_the_last_bytes)
{
    tls_pool pool;
    auto ends = connect_through(pool);
    int client = ends.client;
    fd_guard server{ends.server};
    const auto last = pattern(100000, 4);
    BOOST_TEST_REQUIRE(write_all(client, last));
    ::close(client);
    BOOST_TEST((read_up_to(server.fd, last.size()) == last));
    BOOST_TEST(reads_end(server.fd));
    d::stop_tls_client_tunnels();
}

BOOST_AUTO_TEST_CASE(a_worker_refuses_a_pool_whose_certificate_is_not_the_pinned_one)
{
    tls_pool pool;
    tls_pool impostor; // another ephemeral certificate
    auto accepted = pool.accept_one(30s);
    boost::system::error_code code;
    const std::string message = client_error(pool.port, impostor.identity.fingerprint_hex(), &code);
    BOOST_TEST_INFO(message);
    BOOST_TEST((code == d::handshake_errc::authentication_failed));
    BOOST_TEST(message.find("not the pinned one") != std::string::npos);
    BOOST_TEST(message.find(pool.identity.fingerprint_hex()) != std::string::npos);
    // The pool's side gets nothing from it: a failed handshake, or a tunnel that only ends.
    auto a = get(accepted);
    if (!a.ec)
    {
        fd_guard server{a.fd};
        BOOST_TEST(reads_end(server.fd));
    }
}

BOOST_AUTO_TEST_CASE(a_plaintext_client_fails_the_handshake_at_once_and_is_closed)
{
    tls_pool pool;
    auto accepted = pool.accept_one(60s);
    fd_guard client{connect_tcp(pool.port)};
    const std::string hello = "hello\n";
    BOOST_TEST_REQUIRE(write_all(client.fd, std::vector<char>(hello.begin(), hello.end())));
    auto a = get(accepted);
    BOOST_TEST_INFO(a.ec.message());
    BOOST_TEST(a.ec.failed());
    BOOST_TEST((a.ec != net::error::timed_out)); // the garbage, not the timeout, ended it
    // The server may send an alert first; the connection then ends.
    read_up_to(client.fd, 4096);
    BOOST_TEST(reads_end(client.fd));
}

BOOST_AUTO_TEST_CASE(a_silent_client_fails_after_the_handshake_timeout)
{
    tls_pool pool;
    auto accepted = pool.accept_one(200ms);
    fd_guard client{connect_tcp(pool.port)};
    auto a = get(accepted);
    BOOST_TEST((a.ec == net::error::timed_out));
    BOOST_TEST(reads_end(client.fd));
}

BOOST_AUTO_TEST_CASE(abandoning_a_handshake_in_progress_fails_it_at_once)
{
    tls_pool pool;
    auto accepted = pool.accept_one(60s);
    fd_guard client{connect_tcp(pool.port)};
    BOOST_TEST_REQUIRE((pool.abort_of_last.wait_for(60s) == std::future_status::ready));
    auto abort = pool.abort_of_last.get();
    abort();
    auto a = get(accepted);
    BOOST_TEST((a.ec == net::error::operation_aborted));
    BOOST_TEST(reads_end(client.fd));
    abort(); // again, once ended: nothing
}

BOOST_AUTO_TEST_CASE(abandoning_a_running_tunnel_ends_both_sides)
{
    tls_pool pool;
    auto ends = connect_through(pool);
    fd_guard client{ends.client};
    fd_guard server{ends.server};
    BOOST_TEST_REQUIRE((pool.abort_of_last.wait_for(60s) == std::future_status::ready));
    pool.abort_of_last.get()();
    BOOST_TEST(reads_end(server.fd));
    BOOST_TEST(reads_end(client.fd));
    d::stop_tls_client_tunnels();
}

BOOST_AUTO_TEST_CASE(a_client_that_hangs_up_fails_the_handshake)
{
    tls_pool pool;
    auto accepted = pool.accept_one(60s);
    ::close(connect_tcp(pool.port));
    auto a = get(accepted);
    BOOST_TEST_INFO(a.ec.message());
    BOOST_TEST(a.ec.failed());
    BOOST_TEST((a.ec != net::error::timed_out));
}

BOOST_AUTO_TEST_CASE(a_worker_times_out_against_a_silent_pool)
{
    net::io_context io;
    tcp::acceptor silent(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    try
    {
        (void)d::tls_client_tunnel(connect_tcp(silent.local_endpoint().port()), fingerprint64,
                                   "the silent pool", std::chrono::steady_clock::now() + 200ms);
        BOOST_FAIL("no timeout");
    }
    catch (const d::handshake_error& e)
    {
        BOOST_TEST((e.code() == net::error::timed_out));
    }
}

BOOST_AUTO_TEST_CASE(a_tls_1_2_client_is_refused)
{
    tls_pool pool;
    auto accepted = pool.accept_one(60s);
    net::io_context io;
    net::ssl::context old(net::ssl::context::tls_client);
    BOOST_TEST_REQUIRE(SSL_CTX_set_max_proto_version(old.native_handle(), TLS1_2_VERSION) == 1);
    net::ssl::stream<tcp::socket> client(io, old);
    client.next_layer().connect(tcp::endpoint(net::ip::address_v4::loopback(), pool.port));
    boost::system::error_code ec;
    client.handshake(net::ssl::stream_base::client, ec);
    BOOST_TEST(ec.failed());
    auto a = get(accepted);
    BOOST_TEST(a.ec.failed());
}

// The whole join: TLS, then the HMAC handshake over the plaintext ends, then the first bytes.
BOOST_AUTO_TEST_CASE(the_hmac_handshake_runs_through_the_tunnel)
{
    const auto secret = make_secret(7);
    const auto facts = d::make_compatibility_facts(std::vector<std::string>{"task"});
    tls_pool pool;
    std::promise<std::string> pool_result;
    net::post(pool.io, [&] {
        pool.listener.async_accept([&](boost::system::error_code ec, tcp::socket s) {
            if (ec)
                return pool_result.set_value("accept: " + ec.message());
            d::async_tls_tunnel(
                pool.identity, std::move(s), 30s,
                [&](boost::system::error_code ec, net::local::stream_protocol::socket plain) {
                if (ec)
                    return pool_result.set_value("tls: " + ec.message());
                auto socket =
                    std::make_shared<net::local::stream_protocol::socket>(std::move(plain));
                d::async_accept_handshake(
                    *socket, secret, facts, 30s,
                    [&, socket](std::exception_ptr e, d::handshake_peer peer) {
                    if (e)
                        return pool_result.set_value("handshake failed");
                    auto bytes = std::make_shared<std::string>("FRAMES");
                    net::async_write(
                        *socket, net::buffer(*bytes),
                        [&, socket, bytes, peer](boost::system::error_code ec, std::size_t) {
                        pool_result.set_value(ec ? ec.message()
                                                 : "token " + std::to_string(peer.token));
                        });
                    });
                });
        });
    });
    fd_guard worker{d::connect_and_handshake("127.0.0.1", pool.port, secret, facts, 77, 30s,
                                             pool.identity.fingerprint_hex())};
    const auto got = read_up_to(worker.fd, 6);
    BOOST_TEST(std::string(got.begin(), got.end()) == "FRAMES");
    auto f = pool_result.get_future();
    BOOST_TEST_REQUIRE((f.wait_for(60s) == std::future_status::ready));
    BOOST_TEST(f.get() == "token 77");
    d::stop_tls_client_tunnels();
}

BOOST_AUTO_TEST_CASE(destroying_the_pool_s_io_context_with_tunnels_running_ends_them)
{
    std::vector<int> clients;
    std::vector<int> servers;
    {
        tls_pool pool;
        for (int i = 0; i < 4; ++i)
        {
            auto accepted = pool.accept_one(30s);
            clients.push_back(connect_tls(pool.port, pool.identity.fingerprint_hex()));
            auto a = get(accepted);
            BOOST_TEST_REQUIRE(!a.ec);
            if (i == 0)
                ::close(a.fd); // this one lingers, waiting for the worker to close
            else
                servers.push_back(a.fd); // these pump
        }
        // Bytes in flight in one of them.
        BOOST_TEST_REQUIRE(write_all(servers[0], pattern(100000, 5)));
        pool.stop();
        // ~tls_pool destroys the io_context with the tunnels' operations pending.
    }
    for (int s : servers)
    {
        BOOST_TEST(reads_end(s));
        ::close(s);
    }
    (void)read_up_to(clients[1], 100000);
    for (int c : clients)
    {
        BOOST_TEST(reads_end(c));
        ::close(c);
    }
    d::stop_tls_client_tunnels();
}

BOOST_AUTO_TEST_CASE(stopping_the_worker_s_tunnels_ends_the_pool_s_plaintext_ends)
{
    tls_pool pool;
    std::vector<int> servers;
    std::vector<int> clients;
    for (int i = 0; i < 3; ++i)
    {
        auto accepted = pool.accept_one(30s);
        clients.push_back(connect_tls(pool.port, pool.identity.fingerprint_hex()));
        auto a = get(accepted);
        BOOST_TEST_REQUIRE(!a.ec);
        servers.push_back(a.fd);
    }
    d::stop_tls_client_tunnels();
    for (int s : servers)
    {
        BOOST_TEST(reads_end(s));
        ::close(s);
    }
    for (int c : clients)
        ::close(c);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

namespace {

// This test program as a remote worker, its standard input and error piped.
struct worker_child
{
    pid_t pid = -1;
    int input = -1;
    int errors = -1;

    worker_child(std::uint16_t port, std::uint64_t token)
    {
        std::vector<std::string> args{std::filesystem::read_symlink("/proc/self/exe").string()};
        for (auto& a :
             d::remote_worker_arguments("127.0.0.1", port, token, 1 << 20, 1000ms, "tls test"))
            args.push_back(a);
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        int in[2], err[2];
        BOOST_TEST_REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
        BOOST_TEST_REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        posix_spawn_file_actions_adddup2(&actions, err[1], 2);
        int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(in[0]);
        ::close(err[1]);
        input = in[1];
        errors = err[0];
        BOOST_TEST_REQUIRE(rc == 0);
    }

    ~worker_child()
    {
        if (pid > 0)
        {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        ::close(input);
        ::close(errors);
    }

    void send_line(const std::string& line)
    {
        // A line is far smaller than a pipe's buffer: one write.
        BOOST_TEST_REQUIRE(::write(input, line.data(), line.size()) ==
                           static_cast<ssize_t>(line.size()));
    }

    // The exit status, within a minute (-1: still running, or killed by a signal).
    int exit_status()
    {
        int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
        BOOST_TEST_REQUIRE(pidfd >= 0);
        const bool ended = wait_ready(pidfd, POLLIN);
        ::close(pidfd);
        if (!ended)
            return -1;
        int status = 0;
        BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    // What the worker said on stderr, until it closed it (it has exited).
    std::string stderr_text()
    {
        std::string text;
        char buf[4096];
        while (wait_ready(errors, POLLIN))
        {
            ssize_t n = ::read(errors, buf, sizeof buf);
            if (n <= 0)
                break;
            text.append(buf, static_cast<std::size_t>(n));
        }
        return text;
    }
};

// The pool's side of a worker's two connections: TLS, then the HMAC handshake; the plaintext
// sockets are kept (on the io thread) until close_all.
struct joins
{
    tls_pool& pool;
    d::handshake_secret secret;
    d::compatibility_facts facts = d::make_compatibility_facts(d::registered_task_names());
    std::vector<std::shared_ptr<net::local::stream_protocol::socket>> kept; // io thread only
    std::promise<std::vector<std::uint64_t>> tokens_promise;
    std::vector<std::uint64_t> tokens;

    joins(tls_pool& p, const d::handshake_secret& s)
        : pool(p)
        , secret(s)
    {
        net::post(pool.io, [this] { accept(); });
    }

    void accept()
    {
        pool.listener.async_accept([this](boost::system::error_code ec, tcp::socket s) {
            if (ec)
                return;
            d::async_tls_tunnel(
                pool.identity, std::move(s), 30s,
                [this](boost::system::error_code ec, net::local::stream_protocol::socket plain) {
                if (ec)
                    return;
                auto socket =
                    std::make_shared<net::local::stream_protocol::socket>(std::move(plain));
                d::async_accept_handshake(
                    *socket, secret, facts, 30s,
                    [this, socket](std::exception_ptr e, d::handshake_peer peer) {
                    if (e)
                        return;
                    kept.push_back(socket);
                    tokens.push_back(peer.token);
                    if (tokens.size() == 1)
                        tokens_promise.set_value(tokens);
                    });
                });
            accept();
        });
    }

    // How many bytes the worker's first connection brings after the handshake (bounded).
    std::size_t first_bytes_received()
    {
        std::promise<std::size_t> got;
        std::array<char, 64> buf;
        net::post(pool.io, [&] {
            kept.front()->async_read_some(net::buffer(buf),
                                          [&](boost::system::error_code ec, std::size_t n) {
                got.set_value(ec ? 0 : n);
            });
        });
        auto f = got.get_future();
        BOOST_TEST_REQUIRE((f.wait_for(60s) == std::future_status::ready));
        return f.get();
    }

    void close_all()
    {
        std::promise<void> done;
        net::post(pool.io, [&] {
            pool.listener.close();
            kept.clear();
            done.set_value();
        });
        BOOST_TEST_REQUIRE((done.get_future().wait_for(60s) == std::future_status::ready));
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(worker_process)

// A real worker reads "secret tls=fingerprint" on its standard input, joins over TLS, and exits
// 0 when the pool's end closes, as over plain TCP. It opens no second connection for run()'s
// short cut over TLS (see serve_pool_at): a second one would be refused here, never kept.
BOOST_AUTO_TEST_CASE(a_worker_joins_over_tls_on_one_connection_and_ends_with_the_pool)
{
    tls_pool pool;
    const auto secret = make_secret(9);
    joins j(pool, secret);
    worker_child worker(pool.port, 77);
    worker.send_line(d::make_secret_line(secret, pool.identity.fingerprint_hex()));
    auto tokens = j.tokens_promise.get_future();
    BOOST_TEST_REQUIRE((tokens.wait_for(60s) == std::future_status::ready));
    BOOST_TEST((tokens.get() == std::vector<std::uint64_t>{77}));
    // The worker's relay sends a heartbeat at once: it crosses the worker's tunnel.
    BOOST_TEST(j.first_bytes_received() > 0u);
    j.close_all();
    // A second connection would have come before the heartbeat: the worker opens it first.
    BOOST_TEST(j.tokens.size() == 1u);
    const int status = worker.exit_status();
    BOOST_TEST_INFO(worker.stderr_text());
    BOOST_TEST(status == 0);
}

BOOST_AUTO_TEST_CASE(a_worker_given_another_fingerprint_refuses_the_pool_and_exits_69)
{
    tls_pool pool;
    tls_pool other;
    const auto secret = make_secret(9);
    joins j(pool, secret);
    worker_child worker(pool.port, 77);
    worker.send_line(d::make_secret_line(secret, other.identity.fingerprint_hex()));
    BOOST_TEST(worker.exit_status() == 69);
    const std::string said = worker.stderr_text();
    BOOST_TEST_INFO(said);
    BOOST_TEST(said.find("not the pinned one") != std::string::npos);
    BOOST_TEST(said.find("cannot join the pool") != std::string::npos);
    j.close_all();
    BOOST_TEST(j.tokens.empty());
}

BOOST_AUTO_TEST_CASE(a_worker_given_a_malformed_line_says_so_and_exits_69)
{
    tls_pool pool;
    worker_child worker(pool.port, 77);
    worker.send_line(make_secret(9).to_hex() + " tls=abc\n");
    BOOST_TEST(worker.exit_status() == 69);
    const std::string said = worker.stderr_text();
    BOOST_TEST_INFO(said);
    BOOST_TEST(said.find("the TLS fingerprint is 64 hexadecimal digits, not 3") !=
               std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

int main(int argc, char** argv)
{
    if (asio_pal::is_worker_process(argc, argv))
        return asio_pal::run_worker(argc, argv);
    return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
