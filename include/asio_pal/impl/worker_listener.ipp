//
// asio_pal/impl/worker_listener.ipp
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
    secret_line_ = secret_.to_hex() + "\n";
}

void worker_listener::start()
{
    net::post(handlers_.strand, handlers_.guarded([this] { accept_next(); }));
}

void worker_listener::close() noexcept
{
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (const auto& socket : handshaking_)
        socket->close(ignored); // its handshake fails now, and ends its timer
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
                handshake(std::make_shared<net::ip::tcp::socket>(std::move(socket)));
            accept_next(); // a failed accept (out of descriptors) is the connection's loss
        }));
}

void worker_listener::handshake(std::shared_ptr<net::ip::tcp::socket> socket)
{
    boost::system::error_code ignored;
    socket->set_option(net::ip::tcp::no_delay(true), ignored);
    handshaking_.insert(socket);
    async_accept_handshake(
        *socket, secret_, facts_, connect_timeout_,
        handlers_.guarded([this, socket](std::exception_ptr e, handshake_peer peer) {
            handshaking_.erase(socket);
            if (!e && !joined_(*socket, peer))
                e = std::make_exception_ptr(
                    std::runtime_error(describe_handshake_peer(*socket) +
                                       " named a launch token the pool does not wait for"));
            if (e)
            {
                boost::system::error_code ignored;
                socket->close(ignored);
                refused(e);
            }
        }));
}

void worker_listener::refused(std::exception_ptr e) noexcept
{
    // Closed, and said on stderr: nothing else would tell of an attack or of a worker built
    // from another program.
    std::string why = describe(e);
    std::fprintf(stderr, "asio_pal: process pool '%s' refused a connection: %s\n",
                 pool_name_.c_str(), why.c_str());
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
