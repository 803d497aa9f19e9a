//
// example/io_context_post.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// An existing io_context application handing CPU-heavy work to a pool. Its state lives on the
// io_context's thread, so it needs no lock: work goes out to the pool with post(), and each
// result comes back as a handler on the io_context. First the plain Asio way (post to the
// pool, post the result home through a work-tracking executor, which also works with
// boost::asio::thread_pool), then the same in one call with async_run and bind_executor.
//

#include <asio_pal.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <utility>
#include <vector>

namespace net = boost::asio;
namespace pal = asio_pal;

// The CPU-heavy part of a request: the number of primes below n (sieve of Eratosthenes).
std::uint64_t count_primes(std::uint64_t n)
{
    std::vector<bool> composite(n, false);
    std::uint64_t count = 0;
    for (std::uint64_t i = 2; i < n; ++i)
    {
        if (composite[i])
            continue;
        ++count;
        for (std::uint64_t j = i * i; j < n; j += i)
            composite[j] = true;
    }
    return count;
}

// The application: every member function runs on the io_context's thread.
class prime_service
{
public:
    prime_service(net::io_context& io, pal::thread_pool& pool)
        : io_(io)
        , pool_(pool)
    {}

    // Plain Asio: run the work on the pool, then post the result back. The tracked executor
    // keeps io_context::run() from returning while a result is still on its way.
    void handle(std::uint64_t n)
    {
        auto home = net::prefer(io_.get_executor(), net::execution::outstanding_work.tracked);
        net::post(pool_, [this, n, home] {
            std::uint64_t count = count_primes(n); // on a pool thread
            net::post(home, [this, n, count] { store(n, count); });
        });
    }

    // The same with async_run: the handler is bound to the io_context, so it runs there.
    void handle_with_async_run(std::uint64_t n)
    {
        auto on_done = [this, n](std::exception_ptr e, std::uint64_t count) {
            if (e)
                ++failures_;
            else
                store(n, count);
        };
        pal::async_run(pool_, count_primes, n, net::bind_executor(io_, std::move(on_done)));
    }

    const std::map<std::uint64_t, std::uint64_t>& results() const { return results_; }
    int off_thread() const { return off_thread_; }
    int failures() const { return failures_; }

private:
    void store(std::uint64_t n, std::uint64_t count)
    {
        if (!io_.get_executor().running_in_this_thread())
            ++off_thread_;
        results_[n] = count; // no lock: only the io_context's thread gets here
    }

    net::io_context& io_;
    pal::thread_pool& pool_;
    std::map<std::uint64_t, std::uint64_t> results_;
    int off_thread_ = 0;
    int failures_ = 0;
};

int main()
{
    net::io_context io;
    pal::thread_pool pool(pal::pool_options{.max_workers = 4, .name = "cpu"});
    prime_service service(io, pool);

    // Requests arrive on the io_context.
    for (std::uint64_t n : {10'000u, 100'000u, 200'000u, 500'000u})
        net::post(io, [&service, n] { service.handle(n); });
    for (std::uint64_t n : {300'000u, 400'000u, 1'000'000u, 2'000'000u})
        net::post(io, [&service, n] { service.handle_with_async_run(n); });

    io.run(); // returns once every result is back

    for (auto [n, count] : service.results())
        std::cout << "primes below " << n << ": " << count << "\n";
    std::cout << "results handled off the io_context thread: " << service.off_thread() << "\n";

    const std::map<std::uint64_t, std::uint64_t> known = {
        {10'000, 1'229},   {100'000, 9'592},  {200'000, 17'984},   {300'000, 25'997},
        {400'000, 33'860}, {500'000, 41'538}, {1'000'000, 78'498}, {2'000'000, 148'933}};
    bool good = service.results() == known && service.off_thread() == 0 && service.failures() == 0;
    return good ? EXIT_SUCCESS : EXIT_FAILURE;
}
