//
// asio_pal/impl/worker_listener.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_WORKER_LISTENER_IPP
#define ASIO_PAL_IMPL_WORKER_LISTENER_IPP

#include "asio_pal/detail/pool_support.hpp"
#include "asio_pal/detail/task_registry.hpp"
#include "asio_pal/detail/worker_listener.hpp"

#include <boost/asio/ip/host_name.hpp>
#include <boost/asio/post.hpp>

#include <cstdio>
#include <stdexcept>

namespace asio_pal::detail {

namespace {

net::ip::address listen_address(net::any_io_executor ex, const remote_options& r,
                                const std::string& pool_name)
{
    boost::system::error_code ec;
    net::ip::address address = net::ip::make_address(r.listen_address, ec);
    if (!ec)
        return address;
    net::ip::tcp::resolver resolver(ex); // a host name: its first address
    auto found = resolver.resolve(r.listen_address, std::to_string(r.listen_port), ec);
    if (ec || found.empty())
        throw std::invalid_argument("asio_pal: process pool '" + pool_name +
                                    "' cannot listen on '" + r.listen_address +
                                    "': " + (ec ? ec.message() : "no address"));
    return found.begin()->endpoint().address();
}

} // namespace

worker_listener::worker_listener(pool_handlers handlers, const remote_options& settings,
                                 std::string pool_name, joined_handler joined)
    : handlers_(std::move(handlers))
    , pool_name_(std::move(pool_name))
    , connect_timeout_(settings.connect_timeout)
    , joined_(std::move(joined))
    , acceptor_(handlers_.strand)
    , secret_(handshake_secret::generate())
    , facts_(make_compatibility_facts(registered_task_names()))
{
    if (settings.tls.enabled)
        tls_.emplace(tls_server_identity::make(settings.tls));
    net::ip::address address = listen_address(handlers_.strand, settings, pool_name_);
    net::ip::tcp::endpoint at(address, settings.listen_port);
    acceptor_.open(at.protocol());
    acceptor_.set_option(net::ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen();
    endpoint_ = acceptor_.local_endpoint();
    // Workers need an address they can reach: an unspecified one (all interfaces) stands for
    // this host's name.
    host_ = address.is_unspecified() ? net::ip::host_name() : address.to_string();
    secret_line_ = make_secret_line(secret_, tls_fingerprint());
}

void worker_listener::start()
{
    net::post(handlers_.strand, handlers_.guarded([this] { accept_next(); }));
}

void worker_listener::close() noexcept
{
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    // Each handshake fails now, and ends its timer. Taken out first: they end on the strand,
    // later, and find themselves gone.
    std::map<std::uint64_t, std::function<void()>> ending;
    ending.swap(handshaking_);
    for (auto& [id, end] : ending)
        end();
}

void worker_listener::accept_next()
{
    if (!acceptor_.is_open())
        return;
    acceptor_.async_accept(
        handlers_.guarded([this](boost::system::error_code ec, net::ip::tcp::socket socket) {
            if (ec == net::error::operation_aborted || !acceptor_.is_open())
                return;
            // Connections still in their handshake are bounded, so that strangers opening many
            // cannot take every descriptor of the program; beyond, they are closed at once.
            if (!ec && handshaking_.size() < max_handshakes_in_progress)
                handshake(std::move(socket));
            accept_next(); // a failed accept (out of descriptors) is the connection's loss
        }));
}

namespace {

/// The socket a link holds, whatever carries it.
template <typename Protocol>
net::generic::stream_protocol::socket as_generic(net::basic_stream_socket<Protocol>& s)
{
    auto protocol = s.local_endpoint().protocol();
    net::generic::stream_protocol generic(protocol.family(), protocol.protocol());
    return net::generic::stream_protocol::socket(s.get_executor(), generic, s.release());
}

} // namespace

void worker_listener::handshake(net::ip::tcp::socket tcp)
{
    boost::system::error_code ignored;
    tcp.set_option(net::ip::tcp::no_delay(true), ignored);
    std::string peer = describe_handshake_peer(tcp);
    std::uint64_t id = next_connection_++;
    if (!tls_)
    {
        authenticate(id, std::make_shared<net::ip::tcp::socket>(std::move(tcp)), peer);
        return;
    }
    // TLS first: the pool's handshake then runs over the tunnel's plaintext end.
    auto end = async_tls_tunnel(*tls_, std::move(tcp), connect_timeout_,
                                handlers_.guarded(
                                    [this, id, peer](boost::system::error_code ec,
                                                     net::local::stream_protocol::socket plain) {
        if (!handshaking_.contains(id)) // the listener closed meanwhile
            return;
        if (ec)
        {
            handshaking_.erase(id);
            refused(peer, std::make_exception_ptr(
                              boost::system::system_error(ec, "its TLS handshake failed")));
            return;
        }
        authenticate(id, std::make_shared<net::local::stream_protocol::socket>(std::move(plain)),
                     peer);
                                }));
    handshaking_.emplace(id, std::move(end));
}

template <typename Socket>
void worker_listener::authenticate(std::uint64_t id, std::shared_ptr<Socket> socket,
                                   const std::string& peer)
{
    handshaking_[id] = [socket] {
        boost::system::error_code ignored;
        socket->close(ignored);
    };
    async_accept_handshake(*socket, secret_, facts_, connect_timeout_,
                           handlers_.guarded(
                               [this, id, socket, peer](std::exception_ptr e, handshake_peer who) {
        bool listening = handshaking_.erase(id) != 0; // else it closed, and ended this
        if (!e)
        {
            try
            {
                net::generic::stream_protocol::socket s = as_generic(*socket);
                if (!joined_(s, who))
                    e = std::make_exception_ptr(
                        std::runtime_error("it named a launch token the pool does not wait for"));
            }
            catch (...)
            {
                e = std::current_exception(); // closed meanwhile
            }
        }
        if (e)
        {
            boost::system::error_code ignored;
            socket->close(ignored);
            if (listening)
                refused(peer, e);
        }
                           }));
}

void worker_listener::refused(const std::string& peer, std::exception_ptr e) noexcept
{
    // Closed, and said on stderr: nothing else would tell of an attack or of a worker built
    // from another program.
    std::string why = describe(e);
    std::fprintf(stderr, "asio_pal: process pool '%s' refused a connection from %s: %s\n",
                 pool_name_.c_str(), peer.c_str(), why.c_str());
    std::fflush(stderr);
    try
    {
        ++refusals_;
        last_refusal_ = std::move(why);
    }
    catch (...)
    {}
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_WORKER_LISTENER_IPP
