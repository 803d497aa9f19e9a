//
// test/common/sanitizers.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Whether the test is built with ThreadSanitizer or AddressSanitizer (g++ defines
// __SANITIZE_*__, clang answers __has_feature).
//

#ifndef ASIO_PAL_TEST_COMMON_SANITIZERS_HPP
#define ASIO_PAL_TEST_COMMON_SANITIZERS_HPP

#if defined(__has_feature)
#define ASIO_PAL_TEST_HAS_FEATURE(x) __has_feature(x)
#else
#define ASIO_PAL_TEST_HAS_FEATURE(x) 0
#endif

namespace asio_pal_test {

#if defined(__SANITIZE_THREAD__) || ASIO_PAL_TEST_HAS_FEATURE(thread_sanitizer)
inline constexpr bool under_tsan = true;
#else
inline constexpr bool under_tsan = false;
#endif

#if defined(__SANITIZE_ADDRESS__) || ASIO_PAL_TEST_HAS_FEATURE(address_sanitizer)
inline constexpr bool under_asan = true;
#else
inline constexpr bool under_asan = false;
#endif

/// Built with either: everything runs several times slower.
inline constexpr bool sanitized = under_tsan || under_asan;

} // namespace asio_pal_test

#endif // ASIO_PAL_TEST_COMMON_SANITIZERS_HPP
