//
// example/split_map.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Splitting a map by hand, as in asyncpal's README, for when control matters more than
// convenience: split_map_task (and split_starmap_task) cut the work into chunk tasks, each
// submitted to the pool like any task; wait(), collect() and as_done() then work on the
// futures, all with a timeout.
//

#include <asio_pal.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <tuple>
#include <vector>

namespace pal = asio_pal;
using namespace std::chrono_literals;

int add(int x, int y)
{
    return x + y;
}

int main()
{
    pal::thread_pool pool(4);

    // numbers go from 0 to 99
    std::vector<int> numbers(100);
    std::iota(numbers.begin(), numbers.end(), 0);
    std::vector<int> expected;
    for (int n : numbers)
        expected.push_back(add(n, n));

    // Split a map of add over the numbers into 4 subtasks of 25 items. Each subtask is a
    // callable returning its chunk's results as a std::vector.
    std::vector<pal::future<std::vector<int>>> futures;
    for (auto& subtask :
         pal::split_map_task(add, numbers, numbers, pal::map_options{.chunk_size = 25}))
        futures.push_back(pool.submit(subtask));
    std::cout << "split_map_task: " << futures.size() << " subtasks\n";

    // split_starmap_task does the same over argument tuples: here 2 subtasks of 50 items.
    std::vector<std::tuple<int, int>> pairs;
    for (int n : numbers)
        pairs.emplace_back(n, n);
    std::vector<pal::future<std::vector<int>>> star_futures;
    for (auto& subtask : pal::split_starmap_task(add, pairs, pal::map_options{.chunk_size = 50}))
        star_futures.push_back(pool.submit(subtask));
    std::cout << "split_starmap_task: " << star_futures.size() << " subtasks\n";

    // Block the current thread until every future is done, or 42 seconds have passed.
    bool done = pal::wait(futures, 42s);
    std::cout << "wait: " << (done ? "all done" : "timed out") << "\n";

    // Or collect the results in input order (a subtask's exception would be rethrown here).
    std::vector<int> result;
    for (const std::vector<int>& sub_result : pal::collect(futures, 42s))
        result.insert(result.end(), sub_result.begin(), sub_result.end());
    std::cout << "collect: " << result.size() << " results, "
              << (result == expected ? "same as serial" : "WRONG") << "\n";
    std::vector<int> star_result;
    for (const std::vector<int>& sub_result : pal::collect(star_futures, 42s))
        star_result.insert(star_result.end(), sub_result.begin(), sub_result.end());
    std::cout << "collect (starmap): " << star_result.size() << " results, "
              << (star_result == expected ? "same as serial" : "WRONG") << "\n";

    // as_done() yields the futures as they finish; by default in completion order
    // (keep_order = false), which varies from run to run, so only count them here.
    std::size_t finished = 0;
    for (pal::future<std::vector<int>>& future : pal::as_done(futures, false, 42s))
        finished += future.is_completed() ? 1 : 0;
    std::cout << "as_done: " << finished << " futures done\n";

    // With keep_order, as_done yields them in input order.
    std::vector<int> in_order;
    for (pal::future<std::vector<int>>& future : pal::as_done(futures, true))
        in_order.push_back(future.collect().front());
    std::cout << "as_done with keep_order: first items";
    for (int first : in_order)
        std::cout << " " << first;
    std::cout << "\n";

    bool good = done && result == expected && star_result == expected && finished == 4 &&
                in_order == std::vector<int>{0, 50, 100, 150};
    return good ? EXIT_SUCCESS : EXIT_FAILURE;
}
