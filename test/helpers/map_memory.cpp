// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Helper program of the map_memory test (test/map_memory.cpp); not a Boost.Test module.
//
// Usage: map_memory <N>
// Runs a lazy thread_pool::map over std::views::iota(0L, N) with buffer_size 8 and chunk_size
// 1000 (so 10,000,000 items make 10,000 tasks) on a pool of two workers, checks the sum of the
// results, then prints one line:
//     items <N> sum <sum> peak_rss_kib <peak resident set size, getrusage ru_maxrss>
// Exit status: 0 when the sum is right, 1 when it is wrong, 2 for a bad command line, 3 when the
// map threw.

#include "asio_pal/map.hpp"
#include "asio_pal/thread_pool.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <exception>
#include <iterator>
#include <ranges>

#include <sys/resource.h>

namespace pal = asio_pal;

namespace {

#if defined(__clang__) && __clang_major__ < 15 && defined(__GLIBCXX__)
// clang 14 cannot use libstdc++ 12's views (std::views::iota fails std::ranges::range there):
// count with a hand-written input range instead.
class count_to
{
public:
    class iterator
    {
    public:
        using value_type = long;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() = default;
        iterator(long i, long n) : i_(i), n_(n) {}
        long operator*() const { return i_; }
        iterator& operator++()
        {
            ++i_;
            return *this;
        }
        void operator++(int) { ++i_; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept
        {
            return it.i_ >= it.n_;
        }

    private:
        long i_ = 0;
        long n_ = 0;
    };

    explicit count_to(long n) : n_(n) {}
    iterator begin() const { return iterator(0, n_); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    long n_;
};

count_to items(long n)
{
    return count_to(n);
}
#else
auto items(long n)
{
    return std::views::iota(0L, n);
}
#endif

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2)
    {
        std::fprintf(stderr, "usage: %s <number of items>\n", argv[0]);
        return 2;
    }
    errno = 0;
    char* end = nullptr;
    const long n = std::strtol(argv[1], &end, 10);
    if (errno != 0 || end == argv[1] || *end != '\0' || n < 0)
    {
        std::fprintf(stderr, "map_memory: bad number of items '%s'\n", argv[1]);
        return 2;
    }

    long long sum = 0;
    try
    {
        pal::thread_pool pool(2);
        for (long v : pool.map([](long x) { return 2 * x; }, items(n),
                               pal::map_options{.chunk_size = 1000, .buffer_size = 8}))
            sum += v;
    }
    catch (const std::exception& e)
    {
        std::fprintf(stderr, "map_memory: the map threw: %s\n", e.what());
        return 3;
    }

    const long long expected = static_cast<long long>(n) * (n - 1); // 2 * (0 + ... + n-1)
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) != 0)
    {
        std::perror("map_memory: getrusage");
        return 3;
    }
    std::printf("items %ld sum %lld peak_rss_kib %ld\n", n, sum, usage.ru_maxrss);
    std::fflush(stdout);
    if (sum != expected)
    {
        std::fprintf(stderr, "map_memory: sum %lld, expected %lld\n", sum, expected);
        return 1;
    }
    return 0;
}
