// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Must not compile: a lambda cannot cross a process boundary.
#include <asio_pal/process_pool.hpp>

int main()
{
    asio_pal::process_pool pool(1);
    return pool.submit([](int x) { return x; }, 1).collect();
}
