//
// example/readme_process.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The README's process-pool program, quoted there between the region markers
// (test/readme_blocks.py checks that the README's copy is this one, byte for byte).
//

// [readme-process]
#include <asio_pal.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <exception>
#include <iostream>
#include <vector>

namespace net = boost::asio;
namespace pal = asio_pal;

bool is_prime(std::uint64_t n)
{
    if (n < 2)
        return false;
    for (std::uint64_t d = 2; d * d <= n; ++d)
        if (n % d == 0)
            return false;
    return true;
}
ASIO_PAL_REGISTER_TASK(is_prime); // namespace scope, in every program that uses it

net::awaitable<bool> check(pal::process_pool& procs, std::uint64_t n)
{
    co_return co_await pal::async_run(procs, is_prime, n, net::use_awaitable);
}

int main(int argc, char** argv)
{
    if (pal::is_worker_process(argc, argv)) // the child side: the first lines of main
        return pal::run_worker(argc, argv);

    pal::process_pool procs; // as many workers as hardware threads, 60 s idle timeout
    bool prime = procs.submit(is_prime, 1'000'000'007ull).collect();
    std::cout << "1000000007 is prime: " << std::boolalpha << prime << '\n';

    std::vector<std::uint64_t> numbers;
    for (std::uint64_t n = 1; n <= 100'000; ++n)
        numbers.push_back(n);
    int count = 0;
    for (bool p : procs.map(is_prime, numbers, pal::map_options{.chunk_size = 1000}))
        count += p;
    std::cout << "primes up to 100000: " << count << '\n';

    net::io_context io; // from a coroutine: co_await async_run
    net::co_spawn(io, check(procs, 97), [](std::exception_ptr e, bool p) {
        if (!e)
            std::cout << "97 is prime: " << p << '\n';
    });
    io.run();
}
// [/readme-process]
