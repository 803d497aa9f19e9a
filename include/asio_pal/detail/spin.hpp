//
// asio_pal/detail/spin.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Bounded busy-waiting, for the few places where a hand-off usually completes within
// microseconds and sleeping would cost a wake-up (often on the other CPU).
//

#ifndef ASIO_PAL_DETAIL_SPIN_HPP
#define ASIO_PAL_DETAIL_SPIN_HPP

#include <chrono>

namespace asio_pal::detail {

/// Tells the CPU that this thread is spinning (x86 `pause`, AArch64 `yield`).
inline void cpu_relax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

/// Spins until `done()` holds (true) or `limit` has passed (false). The clock is read once
/// every 64 tries, so `done` should be cheap: an atomic load.
template <typename Done>
bool spin_until(Done done, std::chrono::nanoseconds limit) noexcept
{
    const auto end = std::chrono::steady_clock::now() + limit;
    for (unsigned i = 1;; ++i)
    {
        if (done())
            return true;
        cpu_relax();
        if ((i & 63) == 0 && std::chrono::steady_clock::now() >= end)
            return false;
    }
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_SPIN_HPP
