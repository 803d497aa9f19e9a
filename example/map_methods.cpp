//
// example/map_methods.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The map family of a pool, as in asyncpal's README: map and starmap (lazy: they submit as the
// results are consumed), map_all and starmap_all (eager: everything is submitted at once), all
// with a chunk size, and the _unordered variants that yield results as they complete. Each one
// is checked against the same computation done serially.
//

#include <asio_pal.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

namespace pal = asio_pal;

int add(int x, int y)
{
    return x + y;
}

// Drains a map's result range into a vector.
template <typename Range>
std::vector<int> to_vector(Range&& results)
{
    std::vector<int> v;
    for (int r : results)
        v.push_back(r);
    return v;
}

int main()
{
    pal::thread_pool pool(4);

    // numbers go from 0 to 99; pairs are the same numbers zipped, for the starmaps
    std::vector<int> numbers(100);
    std::iota(numbers.begin(), numbers.end(), 0);
    std::vector<std::tuple<int, int>> pairs;
    for (int n : numbers)
        pairs.emplace_back(n, n);

    // What every variant must produce: add over the numbers, serially.
    std::vector<int> expected;
    for (int n : numbers)
        expected.push_back(add(n, n));

    const pal::map_options chunks{.chunk_size = 25};
    bool all_good = true;
    auto report = [&](const std::string& method, std::vector<int> got, bool ordered) {
        if (!ordered)
            std::sort(got.begin(), got.end()); // completion order varies from run to run
        bool good = got == expected;
        all_good = all_good && good;
        std::cout << method << ": " << got.size() << " results, "
                  << (good ? "same as serial" : "WRONG") << (ordered ? "" : " once sorted") << "\n";
    };

    // Lazy: at most buffer_size chunks (default 1) are submitted and not yet consumed, so
    // map() runs in constant memory, even over an endless input range.
    report("map", to_vector(pool.map(add, numbers, numbers, chunks)), true);
    report("map with 2 chunks in flight",
           to_vector(pool.map(add, numbers, numbers,
                              pal::map_options{.chunk_size = 25, .buffer_size = 2})),
           true);

    // Eager: every chunk is submitted now; for very long inputs this holds everything.
    report("map_all", to_vector(pool.map_all(add, numbers, numbers, chunks)), true);

    // The starmaps take a range of argument tuples.
    report("starmap", to_vector(pool.starmap(add, pairs, chunks)), true);
    report("starmap_all", to_vector(pool.starmap_all(add, pairs, chunks)), true);

    // Results in completion order.
    report("map_unordered", to_vector(pool.map_unordered(add, numbers, numbers, chunks)), false);
    report("map_all_unordered", to_vector(pool.map_all_unordered(add, numbers, numbers, chunks)),
           false);
    report("starmap_unordered", to_vector(pool.starmap_unordered(add, pairs, chunks)), false);
    report("starmap_all_unordered", to_vector(pool.starmap_all_unordered(add, pairs, chunks)),
           false);

    return all_good ? EXIT_SUCCESS : EXIT_FAILURE;
}
