//
// bench/submit.cpp
//
// submit + future + collect of 100k tiny tasks, and the serial round trip of one task.
// Peer: boost::asio::post(pool, use_future) + get() on boost::asio::thread_pool, same run.
//

#include <asio_pal/thread_pool.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <future>
#include <vector>

#include "bench_util.hpp"

namespace net = boost::asio;
namespace pal = asio_pal;

namespace {

constexpr int tasks = 100'000;
constexpr int round_trips = 20'000;
constexpr std::size_t workers = 2;

double ours_throughput(pal::thread_pool& pool)
{
    std::vector<pal::future<int>> futures;
    futures.reserve(tasks);
    long sum = 0;
    double s = bench::time_it([&] {
        for (int i = 0; i < tasks; ++i)
            futures.push_back(pool.submit([i] { return i & 1; }));
        for (auto& f : futures)
            sum += f.collect();
    });
    if (sum != tasks / 2)
        std::abort();
    return tasks / s;
}

double peer_throughput(net::thread_pool& pool)
{
    std::vector<std::future<int>> futures;
    futures.reserve(tasks);
    long sum = 0;
    double s = bench::time_it([&] {
        for (int i = 0; i < tasks; ++i)
            futures.push_back(net::post(pool, net::use_future([i] { return i & 1; })));
        for (auto& f : futures)
            sum += f.get();
    });
    if (sum != tasks / 2)
        std::abort();
    return tasks / s;
}

double ours_round_trip_us(pal::thread_pool& pool)
{
    long sum = 0;
    double s = bench::time_it([&] {
        for (int i = 0; i < round_trips; ++i)
            sum += pool.submit([i] { return i & 1; }).collect();
    });
    if (sum != round_trips / 2)
        std::abort();
    return s / round_trips * 1e6;
}

double peer_round_trip_us(net::thread_pool& pool)
{
    long sum = 0;
    double s = bench::time_it([&] {
        for (int i = 0; i < round_trips; ++i)
            sum += net::post(pool, net::use_future([i] { return i & 1; })).get();
    });
    if (sum != round_trips / 2)
        std::abort();
    return s / round_trips * 1e6;
}

} // namespace

int main(int argc, char** argv)
{
    int rounds = bench::rounds(argc, argv);
    bench::comparison tp{"submit 100k + future + collect all", "tasks/s"};
    bench::comparison rt{"serial round trip submit -> collect", "us", false};
    pal::thread_pool ours(workers);
    net::thread_pool peer(workers);
    for (int r = 0; r < rounds; ++r)
    {
        tp.ours.push_back(ours_throughput(ours));
        tp.peer.push_back(peer_throughput(peer));
        rt.ours.push_back(ours_round_trip_us(ours));
        rt.peer.push_back(peer_round_trip_us(peer));
    }
    tp.print("post(pool, use_future)");
    rt.print("post(pool, use_future).get()");
}
