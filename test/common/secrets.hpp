//
// test/common/secrets.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Handshake secrets for tests: fixed and distinct, so that a failure reproduces.
//

#ifndef ASIO_PAL_TEST_COMMON_SECRETS_HPP
#define ASIO_PAL_TEST_COMMON_SECRETS_HPP

#include "asio_pal/detail/handshake.hpp"

#include <cstddef>

namespace asio_pal_test {

/// The secret whose bytes count up from `first` (wrapping at 256).
inline asio_pal::detail::handshake_secret make_secret(unsigned char first)
{
    asio_pal::detail::handshake_secret::bytes_type b;
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = static_cast<unsigned char>(first + i);
    return asio_pal::detail::handshake_secret(b);
}

} // namespace asio_pal_test

#endif // ASIO_PAL_TEST_COMMON_SECRETS_HPP
