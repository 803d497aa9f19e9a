//
// example/strand.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// A strand over a pool's executor. Handlers that go through the strand never run at the same
// time and run in the order they were posted, so they can share state without a mutex, while
// the rest of the work runs in parallel on the pool's workers. Here: posted steps that keep
// their order, then a word count whose lines are counted in parallel and merged into one table
// on the strand.
//

#include <asio_pal.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <future>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace net = boost::asio;
namespace pal = asio_pal;

using word_counts = std::map<std::string, int>;

word_counts count_words(const std::string& line)
{
    word_counts counts;
    std::istringstream words(line);
    for (std::string word; words >> word;)
        ++counts[word];
    return counts;
}

const std::vector<std::string> text = {
    "a thread pool is the right tool for the problems it solves",
    "but its creation and usage involve the allocation of resources",
    "that must be properly released once the pool has finished the tasks",
    "maintaining one or a few thread pools for the duration of a program",
    "can be an effective solution assuming these thread pools can shrink",
    "after their workers have been idle for a short period",
};

int main()
{
    pal::thread_pool pool(4);
    auto strand = net::make_strand(pool.get_executor());

    // Handlers posted to a strand run one at a time, in order, on the pool's workers. The
    // last post, with use_future, completes once those before it have run.
    for (int step = 1; step <= 5; ++step)
        net::post(strand, [step] { std::cout << "step " << step << "\n"; });
    net::post(strand, net::use_future).get();

    // Count the words of each line in parallel on the pool; merge each line's counts into one
    // table on the strand. No mutex: `totals` is only ever touched by handlers of the strand.
    word_counts totals;
    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    auto merge = [&](const word_counts& counts) {
        if (inside.fetch_add(1) != 0)
            ++overlaps; // never: the strand runs one handler at a time
        for (const auto& [word, n] : counts)
            totals[word] += n;
        inside.fetch_sub(1);
    };
    // async_run counts a line on the pool; its completion handler, bound to the strand,
    // merges on the strand.
    int failures = 0; // touched on the strand only, too
    for (const std::string& line : text)
        pal::async_run(pool, count_words, line,
                       net::bind_executor(strand, [&](std::exception_ptr e, word_counts counts) {
                           if (e)
                               ++failures;
                           else
                               merge(counts);
                       }));
    pool.join(); // waits for the tasks and for their handlers on the strand

    // The most frequent words, ties in alphabetical order.
    std::vector<std::pair<std::string, int>> ranked(totals.begin(), totals.end());
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    for (std::size_t i = 0; i < 5 && i < ranked.size(); ++i)
        std::cout << ranked[i].first << ": " << ranked[i].second << "\n";
    std::cout << "handlers that overlapped on the strand: " << overlaps << "\n";

    word_counts serial;
    for (const std::string& line : text)
        for (const auto& [word, n] : count_words(line))
            serial[word] += n;
    return totals == serial && overlaps == 0 && failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
