//
// bench/bench_util.hpp
//
// Measuring against a peer in the same run: A and B alternate, each figure is the median of
// the runs, and a ratio is printed with its spread (min and max of the per-round ratios).
//

#ifndef ASIO_PAL_BENCH_UTIL_HPP
#define ASIO_PAL_BENCH_UTIL_HPP

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

/// Seconds taken by f().
inline double time_it(const std::function<void()>& f)
{
    auto t0 = clock_type::now();
    f();
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

inline double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// Rounds from the command line (`--rounds N`) or the environment (BENCH_ROUNDS), default 7.
inline int rounds(int argc, char** argv, int fallback = 7)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (std::string(argv[i]) == "--rounds")
            return std::max(1, std::atoi(argv[i + 1]));
    if (const char* r = std::getenv("BENCH_ROUNDS"))
        return std::max(1, std::atoi(r));
    return fallback;
}

/// One figure measured against its peer.
struct comparison
{
    std::string name;
    std::string unit; ///< what `value` counts per second, or "us" for latencies
    bool higher_is_better = true;
    std::vector<double> ours{};
    std::vector<double> peer{};

    /// Prints medians and ratio (ours / peer for rates, peer / ours for latencies, so that a
    /// ratio above 1 always means asio_pal is better), with the spread of per-round ratios.
    void print(const char* peer_name) const
    {
        std::vector<double> ratios;
        for (std::size_t i = 0; i < ours.size() && i < peer.size(); ++i)
            ratios.push_back(higher_is_better ? ours[i] / peer[i] : peer[i] / ours[i]);
        double mo = median(ours), mp = median(peer);
        std::printf("%-44s asio_pal %12.1f %-8s | %-28s %12.1f %-8s | ratio %.2fx "
                    "(rounds %zu, per-round %.2f..%.2f)\n",
                    name.c_str(), mo, unit.c_str(), peer_name, mp, unit.c_str(),
                    median(ratios), ours.size(), *std::min_element(ratios.begin(), ratios.end()),
                    *std::max_element(ratios.begin(), ratios.end()));
        std::fflush(stdout);
    }
};

} // namespace bench

#endif // ASIO_PAL_BENCH_UTIL_HPP
