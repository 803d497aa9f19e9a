//
// example/fetch_pages.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Fetching pages in parallel on a thread pool, the first example of asyncpal's README: one
// task per URL, as_done() to take the pages as they arrive, and a task's exception coming back
// through its future. The pages come from a small HTTP server (Boost.Beast) that the program
// starts on 127.0.0.1; one URL leads to a page that does not exist, so its task fails.
//

#include <asio_pal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace pal = asio_pal;
using net::ip::tcp;
using namespace std::chrono_literals;

// ---- the server: a few pages on 127.0.0.1, 404 Not Found for anything else ----

std::string make_page(const std::string& title, int paragraphs)
{
    std::string html = "<html><head><title>" + title + "</title></head><body>\n";
    for (int i = 0; i < paragraphs; ++i)
        html += "<p>" + title + ", paragraph " + std::to_string(i) + ".</p>\n";
    return html + "</body></html>\n";
}

const std::map<std::string, std::string> pages = {
    {"/", make_page("Home", 40)},
    {"/asyncpal/", make_page("asyncpal", 120)},
    {"/video", make_page("Video", 8)},
    {"/news", make_page("News", 300)},
};

net::awaitable<void> serve(tcp::socket socket)
{
    beast::flat_buffer buffer;
    http::request<http::empty_body> request;
    co_await http::async_read(socket, buffer, request, net::use_awaitable);

    http::response<http::string_body> response;
    response.version(request.version());
    response.keep_alive(false);
    if (auto page = pages.find(std::string(request.target())); page != pages.end())
    {
        response.result(http::status::ok);
        response.set(http::field::content_type, "text/html");
        response.body() = page->second;
    }
    else
    {
        response.result(http::status::not_found);
        response.set(http::field::content_type, "text/plain");
        response.body() = "no such page\n";
    }
    response.prepare_payload();
    co_await http::async_write(socket, response, net::use_awaitable);
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<void> listen(tcp::acceptor& acceptor)
{
    for (;;)
    {
        tcp::socket socket = co_await acceptor.async_accept(net::use_awaitable);
        net::co_spawn(acceptor.get_executor(), serve(std::move(socket)), net::detached);
    }
}

// The server runs on its own thread for as long as the object lives.
class page_server
{
public:
    page_server()
    {
        net::co_spawn(io_, listen(acceptor_), net::detached);
        thread_ = std::thread([this] { io_.run(); });
    }

    ~page_server()
    {
        io_.stop();
        thread_.join();
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

private:
    net::io_context io_;
    tcp::acceptor acceptor_{io_, {net::ip::make_address("127.0.0.1"), 0}}; // any free port
    std::thread thread_;
};

// ---- the client: a blocking GET, the kind of call a thread pool is for ----

net::awaitable<std::string> get(beast::tcp_stream& stream, tcp::resolver::results_type endpoints,
                                std::string target)
{
    co_await stream.async_connect(endpoints, net::use_awaitable);
    http::request<http::empty_body> request(http::verb::get, target, 11);
    request.set(http::field::host, "127.0.0.1");
    co_await http::async_write(stream, request, net::use_awaitable);

    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    co_await http::async_read(stream, buffer, response, net::use_awaitable);
    if (response.result() != http::status::ok)
        throw std::runtime_error("HTTP Error " + std::to_string(response.result_int()) + ": " +
                                 std::string(response.reason()));
    co_return response.body();
}

// Retrieves a page ("http://HOST:PORT/PATH") and returns its body; blocks the calling thread
// for at most `timeout`. Throws on a network error or a status other than 200 OK.
std::string load_url(const std::string& url, std::chrono::seconds timeout)
{
    const std::string scheme = "http://";
    std::string::size_type host_at = scheme.size();
    std::string::size_type port_at = url.find(':', host_at);
    std::string::size_type path_at = url.find('/', host_at);
    if (url.compare(0, host_at, scheme) != 0 || port_at == std::string::npos ||
        path_at == std::string::npos || port_at > path_at)
        throw std::invalid_argument("not an http://HOST:PORT/PATH URL: " + url);

    // A private io_context gives the blocking call its deadline: tcp_stream closes the
    // connection when the timeout expires, and run() returns once the GET is over.
    net::io_context io;
    tcp::resolver::results_type endpoints = tcp::resolver(io).resolve(
        url.substr(host_at, port_at - host_at), url.substr(port_at + 1, path_at - port_at - 1));
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    std::future<std::string> body =
        net::co_spawn(io, get(stream, std::move(endpoints), url.substr(path_at)), net::use_future);
    io.run();
    return body.get();
}

int main()
{
    page_server server;
    const std::string site = "http://127.0.0.1:" + std::to_string(server.port());
    const std::vector<std::string> urls = {site + "/", site + "/asyncpal/", site + "/video",
                                           site + "/news", site + "/nonexistent-page"};

    pal::thread_pool pool(5);

    // Start the load operations and remember each future's URL.
    std::vector<pal::future<std::string>> futures;
    std::map<pal::task_id_t, std::string> future_to_url;
    for (const std::string& url : urls)
    {
        futures.push_back(pool.submit(load_url, url, 60s));
        future_to_url[futures.back().task_id()] = url;
    }

    // Take the futures as they finish (as_done also takes keep_order and a timeout).
    // Completion order changes from run to run, so the report is sorted before it is printed.
    std::vector<std::string> report;
    std::size_t intact = 0;
    std::size_t failed = 0;
    for (pal::future<std::string>& future : pal::as_done(futures))
    {
        const std::string& url = future_to_url[future.task_id()];
        const std::string path = url.substr(site.size()); // the port changes from run to run
        std::string data;
        try
        {
            data = future.collect(); // the page, or the task's exception
        }
        catch (const std::exception& e)
        {
            report.push_back("'" + path + "' generated an exception: " + e.what());
            ++failed;
            continue;
        }
        report.push_back("'" + path + "' page is " + std::to_string(data.size()) + " bytes");
        if (pages.contains(path) && data == pages.at(path))
            ++intact;
    }
    std::sort(report.begin(), report.end());
    for (const std::string& line : report)
        std::cout << line << "\n";

    if (intact != 4 || failed != 1)
    {
        std::cerr << "expected 4 intact pages and 1 failure, got " << intact << " and " << failed
                  << "\n";
        return EXIT_FAILURE;
    }
}
