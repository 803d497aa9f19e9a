// Must not compile: a lambda cannot cross a process boundary.
#include <asio_pal/process_pool.hpp>

int main()
{
    asio_pal::process_pool pool(1);
    return pool.submit([](int x) { return x; }, 1).collect();
}
