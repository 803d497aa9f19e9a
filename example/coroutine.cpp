//
// example/coroutine.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Coroutines on an io_context offloading work to a pool without blocking their thread:
// co_await async_run() for one call (the coroutine resumes on its own executor, and a task's
// exception is rethrown at the co_await), co_await on a future's async_collect(), several
// requests in flight at once, and a map consumed one result at a time with async_next().
// Every result is handled on the io_context's thread.
//

#include <asio_pal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace pal = asio_pal;
using namespace net::experimental::awaitable_operators;

// ---- work for the pool ----

// A 64-bit FNV-1a digest, iterated: something CPU-heavy.
std::uint64_t digest(const std::string& text, int rounds)
{
    std::uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < rounds; ++r)
        for (unsigned char c : text)
            h = (h ^ c) * 1099511628211ull;
    return h;
}

int parse_quantity(const std::string& text)
{
    std::size_t used = 0;
    int value = std::stoi(text, &used); // throws std::invalid_argument for "many"
    if (used != text.size())
        throw std::invalid_argument("not a quantity: '" + text + "'");
    return value;
}

std::size_t count_words(const std::string& line)
{
    std::size_t words = 0;
    bool in_word = false;
    for (char c : line)
    {
        bool letter = c != ' ';
        words += letter && !in_word ? 1 : 0;
        in_word = letter;
    }
    return words;
}

// ---- coroutines on the io_context ----

std::thread::id io_thread; // the thread that runs the io_context
int resumed_elsewhere = 0;

void check_thread()
{
    if (std::this_thread::get_id() != io_thread)
        ++resumed_elsewhere;
}

// One request: offloads a digest and resumes here, on the io_context's thread.
net::awaitable<void> request(pal::thread_pool& pool, std::string body,
                             std::map<std::string, std::uint64_t>& digests)
{
    std::uint64_t d = co_await pal::async_run(pool, digest, body, 100'000, net::use_awaitable);
    check_thread();
    digests[body] = d; // no lock: every request runs on the io_context's thread
}

net::awaitable<void> tour(pal::thread_pool& pool)
{
    // co_await async_run: the value, or the task's exception rethrown here.
    int quantity =
        co_await pal::async_run(pool, parse_quantity, std::string("42"), net::use_awaitable);
    check_thread();
    std::cout << "parse_quantity(\"42\") = " << quantity << "\n";
    try
    {
        co_await pal::async_run(pool, parse_quantity, std::string("42 apples"), net::use_awaitable);
    }
    catch (const std::invalid_argument& e)
    {
        check_thread();
        std::cout << "parse_quantity(\"42 apples\") threw: " << e.what() << "\n";
    }

    // A future submitted earlier can be awaited too.
    pal::future<std::uint64_t> submitted = pool.submit(digest, std::string("asio_pal"), 10);
    std::uint64_t d = co_await submitted.async_collect(net::use_awaitable);
    check_thread();
    std::cout << "digest(\"asio_pal\", 10) = " << std::hex << d << std::dec << "\n";

    // Several requests at once: each waits for its own task while the io_context's thread
    // stays free; && (Asio's awaitable operators) waits for all of them.
    std::map<std::string, std::uint64_t> digests;
    co_await (request(pool, "alpha", digests) && request(pool, "beta", digests) &&
              request(pool, "gamma", digests));
    for (const auto& [body, value] : digests)
    {
        std::cout << "digest(\"" << body << "\") = " << std::hex << value << std::dec << "\n";
        if (value != digest(body, 100'000))
            throw std::logic_error("wrong digest of " + body);
    }

    // A map consumed one result at a time: async_next() completes with an empty optional at
    // the end. The lazy map keeps at most buffer_size chunks in flight.
    const std::vector<std::string> poem = {
        "the pool starts with no threads",
        "grows while there is work",
        "and shrinks back to zero",
        "when the work is done",
    };
    auto counts = pool.map(count_words, poem, pal::map_options{.chunk_size = 2, .buffer_size = 2});
    std::size_t line = 0;
    std::size_t total = 0;
    while (std::optional<std::size_t> words = co_await counts.async_next(net::use_awaitable))
    {
        check_thread();
        std::cout << "line " << ++line << ": " << *words << " words\n";
        total += *words;
    }
    std::cout << "total: " << total << " words\n";
    std::size_t serial = 0;
    for (const std::string& l : poem)
        serial += count_words(l);
    if (line != poem.size() || total != serial)
        throw std::logic_error("wrong word counts");
}

int main()
{
    net::io_context io;
    pal::thread_pool pool(4);
    io_thread = std::this_thread::get_id();

    std::exception_ptr failure;
    net::co_spawn(io, tour(pool), [&failure](std::exception_ptr e) { failure = e; });
    io.run(); // returns when every coroutine has finished
    std::cout << "coroutines resumed off the io_context thread: " << resumed_elsewhere << "\n";

    if (failure)
    {
        try
        {
            std::rethrow_exception(failure);
        }
        catch (const std::exception& e)
        {
            std::cerr << "tour failed: " << e.what() << "\n";
        }
        return EXIT_FAILURE;
    }
    return resumed_elsewhere == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
