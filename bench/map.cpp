//
// bench/map.cpp
//
// Items per second for map_all over 1M trivial items with chunk sizes 1, 100 and 10,000 on a
// thread_pool of 2 workers, next to submit() of 1M tasks. bench/map_vs_python.sh runs it
// alternately with Python's concurrent.futures.ThreadPoolExecutor(2).map (bench/map_peer.py).
// Prints one line per figure: "<name> <items/s>".
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

double map_all_rate(pal::thread_pool& pool, std::size_t chunk)
{
    long sum = 0;
    double s = bench::time_it([&] {
        for (long v : pool.map_all([](long x) { return x & 1; }, std::views::iota(0L, items),
                                   pal::map_options{.chunk_size = chunk}))
            sum += v;
    });
    if (sum != items / 2)
        std::abort();
    return items / s;
}

double submit_rate(pal::thread_pool& pool)
{
    std::vector<pal::future<long>> futures;
    futures.reserve(items);
    long sum = 0;
    double s = bench::time_it([&] {
        for (long i = 0; i < items; ++i)
            futures.push_back(pool.submit([i] { return i & 1; }));
        for (auto& f : futures)
            sum += f.collect();
    });
    if (sum != items / 2)
        std::abort();
    return items / s;
}

} // namespace

int main(int argc, char** argv)
{
    int rounds = bench::rounds(argc, argv, 3);
    if (const char* n = std::getenv("BENCH_ITEMS"))
        items = std::atol(n);
    pal::thread_pool pool(2);
    std::vector<double> c1, c100, c10k, sub;
    for (int r = 0; r < rounds; ++r)
    {
        c1.push_back(map_all_rate(pool, 1));
        c100.push_back(map_all_rate(pool, 100));
        c10k.push_back(map_all_rate(pool, 10000));
        sub.push_back(submit_rate(pool));
    }
    std::printf("map_all_chunk_1 %.0f\n", bench::median(c1));
    std::printf("map_all_chunk_100 %.0f\n", bench::median(c100));
    std::printf("map_all_chunk_10000 %.0f\n", bench::median(c10k));
    std::printf("submit %.0f\n", bench::median(sub));
}
