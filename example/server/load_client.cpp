//
// example/server/load_client.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The load client of bench/server_load.sh: it hammers POST /hash of a hash_server on 127.0.0.1
// from N keep-alive connections (each sends its next request as soon as the last is answered)
// and, on one more connection, sends GET /ping every few milliseconds and records how long each
// answer took. After a warm-up and a bounded measuring time it prints the /ping latency
// distribution and the /hash throughput, and can write every /ping latency to a file.
//
//   load_client --port N [--connections 4] [--body-bytes 1024] [--ping-every-ms 5]
//               [--warmup SECONDS] [--duration SECONDS] [--out FILE]
//
// Pings follow a fixed schedule (one every --ping-every-ms, the next leaving at once when an
// answer came late) and one is in flight at a time; a latency is measured from the moment the
// request is written until its answer has been read.
//
// With no arguments it prints its usage and exits 0, so that it can be built and run as an
// example; it does nothing useful without a server.
//

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct client_options
{
    std::uint16_t port = 0;
    int connections = 4;
    std::size_t body_bytes = 1024;
    std::chrono::microseconds ping_every = 5ms;
    std::chrono::milliseconds warmup = 1000ms;
    std::chrono::milliseconds duration = 10000ms;
    std::string out{};
};

/// What the connections share. Everything runs on one thread, so nothing needs a lock.
struct load_state
{
    bool measuring = false; ///< between the warm-up and the end
    bool stopping = false;
    clock_type::time_point measure_start{};
    clock_type::time_point measure_end{};
    std::uint64_t hashes = 0; ///< /hash answers while measuring
    std::uint64_t hash_errors = 0;
    std::uint64_t ping_errors = 0;
    std::vector<double> ping_ms{}; ///< /ping latencies while measuring
};

class load_client
{
public:
    load_client(net::io_context& io, const client_options& o)
        : io_(io)
        , options_(o)
        , endpoint_(net::ip::make_address("127.0.0.1"), o.port)
    {}

    /// Spawns the connections and the clock; io_context::run() returns when all have finished.
    void start()
    {
        auto on_error = [this](std::exception_ptr e) {
            if (!e)
                return;
            try
            {
                std::rethrow_exception(e);
            }
            catch (const std::exception& x)
            {
                std::cerr << "load_client: " << x.what() << std::endl;
                ++state_.hash_errors;
            }
        };
        for (int i = 0; i < options_.connections; ++i)
            net::co_spawn(io_, hash_loop(), on_error);
        net::co_spawn(io_, ping_loop(), on_error);
        net::co_spawn(io_, schedule(), on_error);
    }

    const load_state& state() const { return state_; }

private:
    // Warm-up, measuring time, stop; then a hard stop in case the server stops answering.
    net::awaitable<void> schedule()
    {
        active active_guard{*this};
        net::steady_timer timer(io_, options_.warmup);
        co_await timer.async_wait(net::use_awaitable);
        state_.measuring = true;
        state_.measure_start = clock_type::now();
        timer.expires_after(options_.duration);
        co_await timer.async_wait(net::use_awaitable);
        state_.measuring = false;
        state_.stopping = true;
        state_.measure_end = clock_type::now();
        hard_stop_.expires_after(10s);
        hard_stop_.async_wait([this](const boost::system::error_code& ec) {
            if (ec)
                return; // every connection finished in time
            std::cerr << "load_client: the server did not answer within 10 s of the end\n";
            io_.stop();
        });
    }

    /// Counts the running coroutines; the last one to end cancels the hard stop.
    struct active
    {
        load_client& self;
        explicit active(load_client& c)
            : self(c)
        {
            ++self.active_;
        }
        ~active()
        {
            if (--self.active_ == 0)
                self.hard_stop_.cancel();
        }
    };

    // Connects (again, after an error), retrying for a while: the server may be starting.
    net::awaitable<bool> connect(beast::tcp_stream& stream)
    {
        for (int attempt = 0; attempt < 50 && !state_.stopping; ++attempt)
        {
            stream.close();
            stream.expires_after(5s);
            auto [ec] = co_await stream.async_connect(endpoint_, net::as_tuple(net::use_awaitable));
            if (!ec)
                co_return true;
            net::steady_timer pause(io_, 100ms);
            co_await pause.async_wait(net::use_awaitable);
        }
        co_return false;
    }

    /// Writes `req`, reads the answer into `res`; false on any error.
    static net::awaitable<bool> exchange(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                         const http::request<http::string_body>& req,
                                         http::response<http::string_body>& res)
    {
        // Generous: behind an inline server a request waits for every digest queued before it.
        stream.expires_after(30s);
        auto [write_ec, written] =
            co_await http::async_write(stream, req, net::as_tuple(net::use_awaitable));
        if (write_ec)
            co_return false;
        res = {};
        auto [read_ec, read] =
            co_await http::async_read(stream, buffer, res, net::as_tuple(net::use_awaitable));
        co_return !read_ec;
    }

    http::request<http::string_body> make_request(http::verb verb, const char* target,
                                                  std::string body) const
    {
        http::request<http::string_body> req(verb, target, 11);
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::user_agent, "asio_pal load_client");
        req.keep_alive(true);
        req.body() = std::move(body);
        req.prepare_payload();
        return req;
    }

    net::awaitable<void> hash_loop()
    {
        active active_guard{*this};
        beast::tcp_stream stream(io_);
        beast::flat_buffer buffer;
        auto req = make_request(http::verb::post, "/hash", std::string(options_.body_bytes, 'x'));
        http::response<http::string_body> res;
        if (!co_await connect(stream))
            co_return;
        while (!state_.stopping)
        {
            bool ok = co_await exchange(stream, buffer, req, res) &&
                      res.result() == http::status::ok && res.body().size() == 17;
            if (state_.stopping)
                break;
            if (!ok)
            {
                ++state_.hash_errors;
                buffer.clear();
                if (!co_await connect(stream))
                    break;
                continue;
            }
            if (state_.measuring)
                ++state_.hashes;
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    net::awaitable<void> ping_loop()
    {
        active active_guard{*this};
        beast::tcp_stream stream(io_);
        beast::flat_buffer buffer;
        auto req = make_request(http::verb::get, "/ping", {});
        http::response<http::string_body> res;
        net::steady_timer timer(io_);
        if (!co_await connect(stream))
            co_return;
        auto next = clock_type::now();
        while (!state_.stopping)
        {
            auto t0 = clock_type::now();
            bool ok = co_await exchange(stream, buffer, req, res) &&
                      res.result() == http::status::ok && res.body() == "pong\n";
            auto t1 = clock_type::now();
            if (!ok)
            {
                ++state_.ping_errors;
                buffer.clear();
                if (!co_await connect(stream))
                    break;
            }
            else if (state_.measuring)
                state_.ping_ms.push_back(
                    std::chrono::duration<double, std::milli>(t1 - t0).count());
            next += options_.ping_every;
            if (next < t1)
                next = t1; // late: leave at once, and keep the schedule from here
            timer.expires_at(next);
            co_await timer.async_wait(net::use_awaitable);
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    net::io_context& io_;
    client_options options_;
    tcp::endpoint endpoint_;
    load_state state_;
    net::steady_timer hard_stop_{io_};
    int active_ = 0;
};

/// The p-th percentile by the nearest-rank method (p in (0, 100]) of sorted, non-empty `v`.
double percentile(const std::vector<double>& v, double p)
{
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

int usage(const char* why, int status)
{
    std::ostream& os = status == 0 ? std::cout : std::cerr;
    if (why)
        os << "load_client: " << why << "\n";
    os << "usage: load_client --port N [--connections 4] [--body-bytes 1024] "
          "[--ping-every-ms 5]\n"
          "                   [--warmup SECONDS] [--duration SECONDS] [--out FILE]\n"
          "Hammers POST /hash of a hash_server on 127.0.0.1:N and measures GET /ping latency.\n";
    return status;
}

int main(int argc, char** argv)
{
    if (argc == 1)
        return usage(nullptr, 0);

    client_options o;
    bool port_given = false;
    try
    {
        for (int i = 1; i < argc; ++i)
        {
            std::string arg = argv[i];
            auto value = [&]() -> double {
                if (i + 1 >= argc)
                    throw std::invalid_argument(arg + " needs a value");
                double v = std::stod(argv[++i]);
                if (!(v >= 0))
                    throw std::invalid_argument(arg + " must not be negative");
                return v;
            };
            auto ms = [](double seconds) {
                return std::chrono::milliseconds(std::llround(seconds * 1000));
            };
            if (arg == "--port")
            {
                double p = value();
                if (p < 1 || p > 65535)
                    throw std::invalid_argument("--port must be in 1..65535");
                o.port = static_cast<std::uint16_t>(p);
                port_given = true;
            }
            else if (arg == "--connections")
                o.connections = static_cast<int>(std::clamp(value(), 0.0, 1000.0));
            else if (arg == "--body-bytes")
                o.body_bytes = static_cast<std::size_t>(std::clamp(value(), 0.0, 1e6));
            else if (arg == "--ping-every-ms")
                o.ping_every = std::chrono::microseconds(std::llround(value() * 1000));
            else if (arg == "--warmup")
                o.warmup = ms(value());
            else if (arg == "--duration")
                o.duration = ms(value());
            else if (arg == "--out")
            {
                if (i + 1 >= argc)
                    throw std::invalid_argument("--out needs a file name");
                o.out = argv[++i];
            }
            else if (arg == "--help")
                return usage(nullptr, 0);
            else
                return usage(("unknown argument " + arg).c_str(), 2);
        }
    }
    catch (const std::exception& e)
    {
        return usage(e.what(), 2);
    }
    if (!port_given)
        return usage("--port is required", 2);

    std::printf("load_client: 127.0.0.1:%u, %d connections POSTing %zu-byte bodies to /hash, "
                "GET /ping every %.3g ms, %.3g s warm-up + %.3g s measured\n",
                static_cast<unsigned>(o.port), o.connections, o.body_bytes,
                static_cast<double>(o.ping_every.count()) / 1000.0,
                static_cast<double>(o.warmup.count()) / 1000.0,
                static_cast<double>(o.duration.count()) / 1000.0);
    std::fflush(stdout);

    net::io_context io(1);
    load_client client(io, o);
    client.start();
    io.run();

    const load_state& st = client.state();
    double seconds = std::chrono::duration<double>(st.measure_end - st.measure_start).count();
    std::printf("/hash: %llu answers in %.3f s = %.1f/s (errors: %llu)\n",
                static_cast<unsigned long long>(st.hashes), seconds,
                seconds > 0 ? static_cast<double>(st.hashes) / seconds : 0.0,
                static_cast<unsigned long long>(st.hash_errors));
    std::vector<double> sorted = st.ping_ms;
    std::sort(sorted.begin(), sorted.end());
    if (sorted.empty())
    {
        std::printf("/ping: no answers (errors: %llu)\n",
                    static_cast<unsigned long long>(st.ping_errors));
        return 1;
    }
    std::printf("/ping: %zu answers (errors: %llu), latency p50 %.3f ms, p90 %.3f ms, "
                "p99 %.3f ms, max %.3f ms\n",
                sorted.size(), static_cast<unsigned long long>(st.ping_errors),
                percentile(sorted, 50), percentile(sorted, 90), percentile(sorted, 99),
                sorted.back());
    if (!o.out.empty())
    {
        std::ofstream out(o.out);
        for (double v : st.ping_ms)
            out << v << "\n";
        if (!out)
        {
            std::fprintf(stderr, "load_client: cannot write %s\n", o.out.c_str());
            return 1;
        }
    }
    return st.hashes == 0 && o.connections > 0 ? 1 : 0;
}
