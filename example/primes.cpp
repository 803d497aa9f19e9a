//
// example/primes.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Checking large numbers for primality in parallel on a process pool, the second example of
// asyncpal's README: a registered free function, the one-line worker guard at the top of
// main(), and map() yielding the results in input order.
//

#include <asio_pal.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <vector>

namespace pal = asio_pal;

const std::vector<std::uint64_t> primes = {
    112272535095293ull, 112582705942171ull, 112272535095293ull,
    115280095190773ull, 115797848077099ull, 1099726899285419ull,
};

bool is_prime(std::uint64_t n)
{
    if (n < 2)
        return false;
    if (n == 2)
        return true;
    if (n % 2 == 0)
        return false;
    const auto sqrt_n = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(n)));
    for (std::uint64_t i = 3; i <= sqrt_n; i += 2)
        if (n % i == 0)
            return false;
    return true;
}
// A process pool runs free functions by name: register each one at namespace scope.
ASIO_PAL_REGISTER_TASK(is_prime);

int main(int argc, char** argv)
{
    // Worker processes are this program started again; this line makes them serve the pool.
    if (pal::is_worker_process(argc, argv))
        return pal::run_worker(argc, argv);

    pal::process_pool pool; // as many worker processes as hardware threads

    // map() is lazy: it submits as the results are consumed, so it runs in constant memory.
    // map_all() submits everything at once: faster, but it holds every result.
    std::vector<bool> results;
    std::size_t i = 0;
    for (bool prime : pool.map(is_prime, primes))
    {
        std::cout << primes[i++] << " is prime: " << std::boolalpha << prime << "\n";
        results.push_back(prime);
    }

    if (results != std::vector<bool>{true, true, true, true, true, false})
    {
        std::cerr << "wrong answers from the worker processes\n";
        return EXIT_FAILURE;
    }
}
