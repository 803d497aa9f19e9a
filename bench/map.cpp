//
// bench/map.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Items per second for map_all over 1M trivial items with chunk sizes 1, 100 and 10,000 on a
// thread_pool of 2 workers, next to submit() of 1M tasks. bench/map_vs_python.sh runs it
// alternately with Python's concurrent.futures.ThreadPoolExecutor(2).map (bench/map_peer.py).
// Prints one record per figure and round: "<name> <items/s> <CPU us per item>" (bench_util.hpp).
//

#include <asio_pal/thread_pool.hpp>

#include <cstdio>
#include <cstdlib>
#include <ranges>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace pal = asio_pal;

namespace {

long items = 1'000'000;

bench::sample map_all_rate(pal::thread_pool& pool, std::size_t chunk)
{
    long sum = 0;
    bench::sample s = bench::measure([&] {
        for (long v : pool.map_all([](long x) { return x & 1; }, std::views::iota(0L, items),
                                   pal::map_options{.chunk_size = chunk}))
            sum += v;
    });
    if (sum != items / 2)
        std::abort();
    return s;
}

bench::sample submit_rate(pal::thread_pool& pool)
{
    std::vector<pal::future<long>> futures;
    futures.reserve(items);
    long sum = 0;
    bench::sample s = bench::measure([&] {
        for (long i = 0; i < items; ++i)
            futures.push_back(pool.submit([i] { return i & 1; }));
        for (auto& f : futures)
            sum += f.collect();
    });
    if (sum != items / 2)
        std::abort();
    return s;
}

void print(const char* name, const bench::sample& s)
{
    bench::print_record(name, static_cast<double>(items) / s.seconds,
                        s.cpu_seconds / static_cast<double>(items) * 1e6);
}

} // namespace

int main(int argc, char** argv)
{
    int rounds = bench::rounds(argc, argv);
    bench::run_header header(argc, argv);
    if (const char* n = std::getenv("BENCH_ITEMS"))
        items = std::atol(n);
    pal::thread_pool pool(2);
    for (int r = 0; r < rounds; ++r)
    {
        print("map_all_chunk_1", map_all_rate(pool, 1));
        print("map_all_chunk_100", map_all_rate(pool, 100));
        print("map_all_chunk_10000", map_all_rate(pool, 10000));
        print("submit", submit_rate(pool));
    }
}
