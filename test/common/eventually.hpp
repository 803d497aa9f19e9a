//
// test/common/eventually.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Test support: wait for something a pool does asynchronously by polling a cheap condition,
// with a deadline (never a bare sleep standing in for synchronisation).
//

#ifndef ASIO_PAL_TEST_COMMON_EVENTUALLY_HPP
#define ASIO_PAL_TEST_COMMON_EVENTUALLY_HPP

#include <chrono>
#include <thread>

namespace asio_pal_test {

/// True as soon as `p()` holds; false when `limit` passes first.
template <typename Pred>
bool eventually(Pred p, std::chrono::steady_clock::duration limit = std::chrono::seconds(30))
{
    auto end = std::chrono::steady_clock::now() + limit;
    while (!p())
    {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

} // namespace asio_pal_test

#endif // ASIO_PAL_TEST_COMMON_EVENTUALLY_HPP
