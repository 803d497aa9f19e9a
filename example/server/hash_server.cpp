//
// example/server/hash_server.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A small HTTP/1.1 server on Boost.Beast that keeps its one I/O thread free: POST /hash computes
// an expensive digest of the request body on an asio_pal::thread_pool with
// `co_await asio_pal::async_run(pool, ...)`, so GET /ping is answered at once even while many
// digests are being computed. With --inline the digest runs on the I/O thread instead, and every
// request, /ping included, waits behind the digests in progress: bench/server_load.sh measures
// the difference.
//
//   hash_server                         self-test: serve on an ephemeral port, send requests to
//   hash_server --smoke                 itself with a Beast client, print "hash_server: ok"
//   hash_server --port 8080 [--inline] [--rounds N] [--workers N] [--worker-nice N]
//               [--duration SECONDS]
//
// Endpoints: POST /hash (body -> 16 hex digits), GET /ping ("pong"), GET /stats (counters).
// It listens on 127.0.0.1 only, prints "listening on 127.0.0.1:PORT" once it accepts, and stops
// gracefully on SIGINT, SIGTERM or after --duration: it stops accepting, lets the digests in
// progress finish and answers them, then closes every connection.
//

#include <asio_pal.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <iostream>
#include <list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace pal = asio_pal;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using namespace net::experimental::awaitable_operators;

// ---------------------------------------------------------------------------------------------
// The CPU-heavy part: a 64-bit FNV-1a digest of the body, iterated `rounds` times (each round
// also mixes in its number), then a final avalanche. About 1.3 ns a byte a round on the project's
// 2-vCPU machine at -O2, so the default 3000 rounds take about 4 ms for a 1 KiB body.

constexpr int default_rounds = 3000;

std::uint64_t digest(std::string_view body, int rounds)
{
    constexpr std::uint64_t prime = 1099511628211ull;
    std::uint64_t h = 14695981039346656037ull;
    for (int r = 0; r < rounds; ++r)
    {
        h = (h ^ static_cast<std::uint64_t>(r)) * prime;
        for (unsigned char c : body)
            h = (h ^ c) * prime;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

std::string to_hex(std::uint64_t v)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i, v >>= 4)
        s[static_cast<std::size_t>(i)] = digits[v & 15];
    return s;
}

// What a /hash request runs, on the pool or inline. async_run moves the body into the task, which
// owns it until the worker is done with it.
std::string hex_digest(const std::string& body, int rounds)
{
    return to_hex(digest(body, rounds));
}

// ---------------------------------------------------------------------------------------------
// The server. Every member is used on the I/O thread only, so nothing needs a lock.

struct server_options
{
    std::uint16_t port = 0;   ///< 0: an ephemeral port
    bool inline_hash = false; ///< digest on the I/O thread instead of the pool
    int rounds = default_rounds;
    std::size_t workers = 0; ///< the pool's max_workers; 0: hardware threads
    int worker_nice = 10;    ///< nice value of the pool's workers (Linux; 0: as the I/O thread)
    std::optional<std::chrono::seconds> duration{};
};

class hash_server
{
public:
    hash_server(net::io_context& io, pal::thread_pool& pool, const server_options& o)
        : io_(io)
        , pool_(pool)
        , options_(o)
        , acceptor_(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), o.port))
    {}

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    /// Starts accepting connections (they are served once the io_context runs).
    void start()
    {
        net::co_spawn(io_, accept_loop(), [](std::exception_ptr e) { report(e, "accept loop"); });
    }

    /**
     * Graceful stop: no new connections, idle connections are closed, and a connection whose
     * request is being served gets its answer, then is closed. io_context::run() returns once
     * the last digest in progress has been answered.
     */
    void stop()
    {
        if (stopping_)
            return;
        stopping_ = true;
        beast::error_code ignored;
        acceptor_.close(ignored);
        for (connection* c : connections_)
            if (c->waiting_for_request)
                c->stream.socket().cancel(ignored); // answers being written are left to finish
    }

    std::uint64_t hash_count() const { return hashes_; }
    std::uint64_t ping_count() const { return pings_; }

private:
    static void report(std::exception_ptr e, const char* where)
    {
        if (!e)
            return;
        try
        {
            std::rethrow_exception(e);
        }
        catch (const std::exception& x)
        {
            std::cerr << "hash_server: " << where << ": " << x.what() << std::endl;
        }
    }

    net::awaitable<void> accept_loop()
    {
        while (!stopping_)
        {
            auto [ec, socket] = co_await acceptor_.async_accept(net::as_tuple(net::use_awaitable));
            if (ec == net::error::operation_aborted || stopping_)
                break;
            if (ec)
            {
                // E.g. too many open files: wait a little rather than spin.
                std::cerr << "hash_server: accept: " << ec.message() << std::endl;
                net::steady_timer pause(io_, 10ms);
                co_await pause.async_wait(net::as_tuple(net::use_awaitable));
                continue;
            }
            net::co_spawn(io_, session(std::move(socket)),
                          [](std::exception_ptr e) { report(e, "session"); });
        }
    }

    /// One client connection, known to stop() while its session runs.
    struct connection
    {
        beast::tcp_stream stream;
        bool waiting_for_request = false;
    };

    net::awaitable<void> session(tcp::socket socket)
    {
        connection conn{beast::tcp_stream(std::move(socket))};
        beast::tcp_stream& stream = conn.stream;
        struct registration
        {
            std::list<connection*>& list;
            std::list<connection*>::iterator it;
            ~registration() { list.erase(it); }
        } registered{connections_, connections_.insert(connections_.end(), &conn)};

        beast::flat_buffer buffer;
        while (!stopping_)
        {
            http::request<http::string_body> request;
            stream.expires_after(60s); // an idle keep-alive connection is closed after a minute
            conn.waiting_for_request = true;
            auto [read_ec, read_n] = co_await http::async_read(stream, buffer, request,
                                                               net::as_tuple(net::use_awaitable));
            conn.waiting_for_request = false;
            if (read_ec)
                break; // end_of_stream, timeout, cancelled by stop(), or a malformed request

            http::response<http::string_body> response = co_await respond(std::move(request));
            response.keep_alive(response.keep_alive() && !stopping_);
            stream.expires_after(30s);
            auto [write_ec, write_n] =
                co_await http::async_write(stream, response, net::as_tuple(net::use_awaitable));
            if (write_ec || !response.keep_alive())
                break;
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    net::awaitable<http::response<http::string_body>>
    respond(http::request<http::string_body> request)
    {
        std::string_view target = request.target();
        target = target.substr(0, target.find('?'));

        if (target == "/ping")
        {
            if (request.method() != http::verb::get)
                co_return reply(request, http::status::method_not_allowed, "use GET\n", "GET");
            ++pings_;
            co_return reply(request, http::status::ok, "pong\n");
        }
        if (target == "/hash")
        {
            if (request.method() != http::verb::post)
                co_return reply(request, http::status::method_not_allowed, "use POST\n", "POST");
            std::string hex;
            if (options_.inline_hash)
            {
                // Blocks the only I/O thread for the whole digest: every other connection waits.
                hex = hex_digest(request.body(), options_.rounds);
            }
            else
            {
                // Runs on a pool worker; this coroutine resumes on the I/O thread afterwards,
                // and meanwhile the I/O thread serves everyone else.
                try
                {
                    hex = co_await pal::async_run(pool_, hex_digest, std::move(request.body()),
                                                  options_.rounds, net::use_awaitable);
                }
                catch (const std::exception& e)
                {
                    co_return reply(request, http::status::service_unavailable,
                                    std::string(e.what()) + "\n");
                }
            }
            ++hashes_;
            co_return reply(request, http::status::ok, hex + "\n");
        }
        if (target == "/stats")
        {
            if (request.method() != http::verb::get)
                co_return reply(request, http::status::method_not_allowed, "use GET\n", "GET");
            std::string body =
                "mode " + std::string(options_.inline_hash ? "inline" : "offloaded") + "\nhash " +
                std::to_string(hashes_) + "\nping " + std::to_string(pings_) + "\npool_workers " +
                std::to_string(pool_.count_workers()) + "\n";
            co_return reply(request, http::status::ok, std::move(body));
        }
        co_return reply(request, http::status::not_found, "no such resource\n");
    }

    static http::response<http::string_body> reply(const http::request<http::string_body>& request,
                                                   http::status status, std::string body,
                                                   const char* allow = nullptr)
    {
        http::response<http::string_body> response(status, request.version());
        response.set(http::field::server, "asio_pal hash_server");
        response.set(http::field::content_type, "text/plain");
        if (allow)
            response.set(http::field::allow, allow);
        response.keep_alive(request.keep_alive());
        response.body() = std::move(body);
        response.prepare_payload();
        return response;
    }

    net::io_context& io_;
    pal::thread_pool& pool_;
    server_options options_;
    tcp::acceptor acceptor_;
    std::list<connection*> connections_;
    bool stopping_ = false;
    std::uint64_t hashes_ = 0;
    std::uint64_t pings_ = 0;
};

// Gives the calling thread a higher nice value (a lower priority), so that the I/O thread, when
// a request wakes it, takes a CPU from a digest at once instead of queueing behind it.
void lower_this_thread_priority(int nice)
{
#ifdef __linux__
    if (nice > 0)
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice); // best effort
#else
    (void)nice;
#endif
}

// Digests are pure CPU work: more workers than hardware threads would only queue in the kernel.
// Each worker lowers its own priority when it starts (pool_options::initializer).
pal::pool_options pool_options_for(const server_options& o)
{
    std::size_t workers =
        o.workers != 0 ? o.workers : std::max(1u, std::thread::hardware_concurrency());
    return pal::pool_options{
        .max_workers = workers,
        .name = "hash",
        .idle_timeout = 10s,
        .initializer = [nice = o.worker_nice] { lower_this_thread_priority(nice); }};
}

// ---------------------------------------------------------------------------------------------
// Serving until a signal or the end of --duration.

double median_digest_ms(std::size_t body_size, int rounds)
{
    std::string body(body_size, 'x');
    std::vector<double> ms;
    std::string first;
    for (int i = 0; i < 5; ++i)
    {
        auto t0 = std::chrono::steady_clock::now();
        std::string hex = hex_digest(body, rounds);
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
        if (i == 0)
            first = hex;
        else if (hex != first)
            throw std::logic_error("the digest is not deterministic");
    }
    std::sort(ms.begin(), ms.end());
    return ms[2];
}

int serve(const server_options& o)
{
    pal::thread_pool pool(pool_options_for(o)); // outlives the io_context: declared first
    net::io_context io(1);                      // run by this thread only
    hash_server server(io, pool, o);

    std::cout << "hash_server: " << (o.inline_hash ? "inline" : "offloaded") << " hashing, rounds "
              << o.rounds << ", pool max_workers " << pool.options().max_workers
              << ", workers' nice " << o.worker_nice << "\n"
              << "hash_server: one /hash of a 1024-byte body takes "
              << median_digest_ms(1024, o.rounds) << " ms here (median of 5)\n";

    net::signal_set signals(io, SIGINT, SIGTERM);
    net::steady_timer deadline(io);
    auto shut_down = [&] {
        server.stop();
        signals.cancel();
        deadline.cancel();
    };
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec)
            shut_down();
    });
    if (o.duration)
    {
        deadline.expires_after(*o.duration);
        deadline.async_wait([&](const boost::system::error_code& ec) {
            if (!ec)
                shut_down();
        });
    }
    server.start();
    std::cout << "listening on 127.0.0.1:" << server.port() << std::endl;

    io.run();
    std::cout << "hash_server: stopped after " << server.hash_count() << " /hash and "
              << server.ping_count() << " /ping requests" << std::endl;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Smoke test: the server answers a Beast client in the same process.

// digest("asio_pal", default_rounds), written down once (and checked against a separate Python
// implementation of the same digest), so that a change in the digest or in the way the body
// travels is caught.
constexpr std::string_view known_body = "asio_pal";
constexpr std::string_view known_digest = "b91dd5ee8fd375fb";

struct smoke_client
{
    net::io_context& io;
    std::uint16_t port;
    int failures = 0;

    void expect(bool ok, const std::string& line)
    {
        std::cout << line << (ok ? "" : "   <-- FAILED") << "\n";
        failures += ok ? 0 : 1;
    }

    net::awaitable<http::response<http::string_body>> request(beast::tcp_stream& stream,
                                                              http::verb verb,
                                                              std::string_view target,
                                                              std::string body = {})
    {
        http::request<http::string_body> req(verb, target, 11);
        req.set(http::field::host, "127.0.0.1");
        req.keep_alive(true);
        req.body() = std::move(body);
        req.prepare_payload();
        stream.expires_after(20s);
        co_await http::async_write(stream, req, net::use_awaitable);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        co_await http::async_read(stream, buffer, res, net::use_awaitable);
        co_return res;
    }

    net::awaitable<beast::tcp_stream> connect()
    {
        beast::tcp_stream stream(io);
        stream.expires_after(10s);
        co_await stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                                      net::use_awaitable);
        co_return stream;
    }

    // Every check on one keep-alive connection.
    net::awaitable<void> basics()
    {
        beast::tcp_stream s = co_await connect();

        auto ping = co_await request(s, http::verb::get, "/ping");
        expect(ping.result() == http::status::ok && ping.body() == "pong\n",
               "GET /ping -> " + std::to_string(ping.result_int()) + " " +
                   ping.body().substr(0, 4));

        auto hash = co_await request(s, http::verb::post, "/hash", std::string(known_body));
        std::string hex = hash.body().substr(0, 16);
        expect(hash.result() == http::status::ok && hex == known_digest,
               "POST /hash \"" + std::string(known_body) + "\" -> " +
                   std::to_string(hash.result_int()) + " " + hex);

        auto same = co_await request(s, http::verb::post, "/hash?again", std::string(known_body));
        expect(same.body() == hash.body(), "POST /hash again -> the same digest");

        auto missing = co_await request(s, http::verb::get, "/nowhere");
        expect(missing.result() == http::status::not_found,
               "GET /nowhere -> " + std::to_string(missing.result_int()));

        auto bad = co_await request(s, http::verb::delete_, "/ping");
        expect(bad.result() == http::status::method_not_allowed && bad[http::field::allow] == "GET",
               "DELETE /ping -> " + std::to_string(bad.result_int()) +
                   ", Allow: " + std::string(bad[http::field::allow]));

        auto get_hash = co_await request(s, http::verb::get, "/hash");
        expect(get_hash.result() == http::status::method_not_allowed,
               "GET /hash -> " + std::to_string(get_hash.result_int()));

        auto stats = co_await request(s, http::verb::get, "/stats");
        bool counted = stats.body().find("\nhash 2\nping 1\n") != std::string::npos;
        expect(stats.result() == http::status::ok && counted,
               "GET /stats -> " + std::to_string(stats.result_int()) +
                   (counted ? ", counted 2 /hash and 1 /ping" : ", wrong counts: " + stats.body()));
    }

    // Sends one request after `delay` and notes its rank among the answers in `rank`.
    net::awaitable<void> ranked_request(beast::tcp_stream& stream, http::verb verb,
                                        std::string target, std::string body,
                                        std::chrono::milliseconds delay, int& answers, int& rank)
    {
        net::steady_timer timer(io, delay);
        co_await timer.async_wait(net::use_awaitable);
        auto res = co_await request(stream, verb, target, std::move(body));
        rank = res.result() == http::status::ok ? ++answers : -1;
    }

    // Offloaded only: a /ping sent while a long /hash is being computed is answered first.
    net::awaitable<void> ping_during_hash()
    {
        beast::tcp_stream hash_conn = co_await connect();
        beast::tcp_stream ping_conn = co_await connect();
        int answers = 0, hash_rank = 0, ping_rank = 0;
        // 64 KiB: 64 times the work of a 1 KiB body. The /ping leaves 20 ms later.
        co_await (
            ranked_request(hash_conn, http::verb::post, "/hash", std::string(64 * 1024, 'y'), 0ms,
                           answers, hash_rank) &&
            ranked_request(ping_conn, http::verb::get, "/ping", {}, 20ms, answers, ping_rank));
        expect(ping_rank == 1 && hash_rank == 2, "GET /ping during a long /hash -> answered first");
    }

    net::awaitable<void> run(bool offloaded)
    {
        co_await basics();
        if (offloaded)
            co_await ping_during_hash();
    }
};

/// Runs one server (inline or offloaded) and the client's checks against it; returns failures.
int smoke_one(bool inline_hash)
{
    server_options o;
    o.inline_hash = inline_hash;
    o.workers = 2;
    pal::thread_pool pool(pool_options_for(o));
    net::io_context server_io(1);
    hash_server server(server_io, pool, o);
    std::uint16_t port = server.port(); // read before the server's thread uses the acceptor
    server.start();
    std::thread io_thread([&] { server_io.run(); });

    std::cout << "-- " << (inline_hash ? "inline" : "offloaded") << " hashing\n";
    net::io_context client_io;
    smoke_client client{client_io, port};
    bool finished = false;
    net::co_spawn(client_io, client.run(!inline_hash), [&](std::exception_ptr e) {
        finished = true;
        if (e)
        {
            try
            {
                std::rethrow_exception(e);
            }
            catch (const std::exception& x)
            {
                client.expect(false, std::string("client error: ") + x.what());
            }
        }
    });
    client_io.run_for(30s);
    if (!finished)
        client.expect(false, "client did not finish within 30 s");

    net::post(server_io, [&] { server.stop(); });
    io_thread.join();
    std::cout << "server stopped after " << server.hash_count() << " /hash and "
              << server.ping_count() << " /ping requests\n";
    return client.failures;
}

int smoke()
{
    int failures = smoke_one(false) + smoke_one(true);
    if (failures != 0)
    {
        std::cout << "hash_server: FAILED (" << failures << " checks)" << std::endl;
        return 1;
    }
    std::cout << "hash_server: ok" << std::endl;
    return 0;
}

// ---------------------------------------------------------------------------------------------

int usage(const char* why)
{
    std::cerr << "hash_server: " << why << "\n"
              << "usage: hash_server [--smoke]\n"
              << "       hash_server --port N [--inline] [--rounds N] [--workers N] "
                 "[--worker-nice N] [--duration SECONDS]\n";
    return 2;
}

int main(int argc, char** argv)
{
    if (argc == 1)
        return smoke();

    server_options o;
    bool smoke_wanted = false;
    bool port_given = false;
    try
    {
        for (int i = 1; i < argc; ++i)
        {
            std::string arg = argv[i];
            auto value = [&]() -> unsigned long {
                if (i + 1 >= argc)
                    throw std::invalid_argument(arg + " needs a value");
                return std::stoul(argv[++i]);
            };
            if (arg == "--smoke")
                smoke_wanted = true;
            else if (arg == "--inline")
                o.inline_hash = true;
            else if (arg == "--port")
            {
                unsigned long p = value();
                if (p > 65535)
                    throw std::invalid_argument("--port must be at most 65535");
                o.port = static_cast<std::uint16_t>(p);
                port_given = true;
            }
            else if (arg == "--rounds")
                o.rounds = static_cast<int>(std::clamp(value(), 1ul, 1000000ul));
            else if (arg == "--workers")
                o.workers = value();
            else if (arg == "--worker-nice")
                o.worker_nice = static_cast<int>(std::min(value(), 19ul));
            else if (arg == "--duration")
                o.duration = std::chrono::seconds(value());
            else
                return usage(("unknown argument " + arg).c_str());
        }
    }
    catch (const std::exception& e)
    {
        return usage(e.what());
    }
    if (smoke_wanted)
        return smoke();
    if (!port_given)
        return usage("--port is required to serve (0 for an ephemeral port)");

    try
    {
        return serve(o);
    }
    catch (const std::exception& e)
    {
        std::cerr << "hash_server: " << e.what() << std::endl;
        return 1;
    }
}
