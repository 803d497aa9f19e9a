//
// asio_pal/impl/handshake_worker.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The worker's side of the handshake over a socket, blocking: a worker process does one thing at
// a time. poll() bounds every wait by the deadline.
//

#ifndef ASIO_PAL_IMPL_HANDSHAKE_WORKER_IPP
#define ASIO_PAL_IMPL_HANDSHAKE_WORKER_IPP

#include "asio_pal/detail/handshake.hpp"
#include "asio_pal/detail/tls_tunnel.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <memory>
#include <string>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace asio_pal::detail {

namespace {

using clock = std::chrono::steady_clock;

[[noreturn]] void throw_system(int err, const std::string& what)
{
    throw handshake_error(boost::system::error_code(err, boost::system::system_category()), what);
}

// Waits until `fd` is ready for `events`; false when the deadline passes first.
bool wait_for(int fd, short events, clock::time_point deadline, const std::string& what)
{
    for (;;)
    {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0)
            return false;
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX)));
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            throw_system(errno, what);
    }
}

[[noreturn]] void throw_timeout(std::string_view peer, clock::duration timeout)
{
    throw handshake_error(
        boost::asio::error::timed_out,
        "asio_pal: no handshake with " + std::string(peer) + " within " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
            " ms");
}

std::string this_host_name()
{
    char buf[max_handshake_host_size + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0')
        return "unknown";
    std::string h(buf);
    for (char& c : h)
        if (c <= ' ' || c > '~')
            c = '?';
    return h;
}

} // namespace

namespace {

void run_worker_handshake(int fd, handshake_connector& connector, std::string_view peer,
                          clock::time_point deadline, clock::duration timeout)
{
    const std::string context = "asio_pal: handshake with " + std::string(peer);
    std::array<char, max_handshake_message_size> in;
    for (;;)
    {
        std::vector<char> out = connector.take_output();
        for (std::size_t sent = 0; sent < out.size();)
        {
            ssize_t n =
                ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n >= 0)
            {
                sent += static_cast<std::size_t>(n);
                continue;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
            {
                if (connector.done())
                    break; // the abort after a false challenge is a courtesy
                throw_system(errno, context);
            }
            if (!wait_for(fd, POLLOUT, deadline, context))
                throw_timeout(peer, timeout);
        }
        if (connector.done())
            break;
        const std::size_t wanted = connector.bytes_wanted();
        ssize_t n = ::recv(fd, in.data(), wanted, MSG_DONTWAIT);
        if (n > 0)
        {
            connector.feed(std::span<const char>(in.data(), static_cast<std::size_t>(n)));
            continue;
        }
        if (n == 0)
            throw handshake_error(boost::asio::error::eof, "asio_pal: " + std::string(peer) +
                                                               " closed the connection during "
                                                               "the handshake");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            throw_system(errno, context);
        if (!wait_for(fd, POLLIN, deadline, context))
            throw_timeout(peer, timeout);
    }
    if (connector.status() != handshake_status::accepted)
        throw handshake_error(handshake_error_code(connector.status()),
                              context + " failed: " + connector.reason());
}

} // namespace

void worker_handshake(int fd, handshake_connector& connector, std::string_view peer,
                      clock::time_point deadline)
{
    run_worker_handshake(fd, connector, peer, deadline, deadline - clock::now());
}

int connect_and_handshake(const std::string& host, std::uint16_t port,
                          const handshake_secret& secret, const compatibility_facts& facts,
                          std::uint64_t token, std::chrono::milliseconds timeout,
                          std::string_view tls_fingerprint_hex)
{
    const clock::time_point deadline = clock::now() + timeout;
    const std::string peer = "the pool at " + host + ":" + std::to_string(port);
    handshake_connector connector(secret, facts, token, static_cast<std::int64_t>(::getpid()),
                                  this_host_name());

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
        throw handshake_error(boost::asio::error::host_not_found,
                              "asio_pal: cannot resolve " + host + ": " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses(found, ::freeaddrinfo);

    int last_error = ECONNREFUSED;
    for (addrinfo* a = found; a; a = a->ai_next)
    {
        int fd =
            ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
        {
            last_error = errno;
            continue;
        }
        struct closer
        {
            int fd;
            ~closer()
            {
                if (fd >= 0)
                    ::close(fd);
            }
        } guard{fd};

        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0)
        {
            if (errno != EINPROGRESS)
            {
                last_error = errno;
                continue;
            }
            if (!wait_for(fd, POLLOUT, deadline, "asio_pal: connecting to " + peer))
                throw_timeout(peer, timeout);
            int err = 0;
            socklen_t len = sizeof err;
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
            if (err != 0)
            {
                last_error = err;
                continue;
            }
        }
        int one = 1;
        // Small request-reply messages: waiting to fill a segment would only add latency.
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (!tls_fingerprint_hex.empty())
        {
            guard.fd = -1; // the tunnel takes it
            fd = tls_client_tunnel(fd, tls_fingerprint_hex, peer, deadline);
            guard.fd = fd;
        }
        run_worker_handshake(fd, connector, peer, deadline, timeout);
        int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
            throw_system(errno, "asio_pal: fcntl on the connection to " + peer);
        guard.fd = -1;
        return fd;
    }
    throw_system(last_error, "asio_pal: cannot connect to " + peer);
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_HANDSHAKE_WORKER_IPP
