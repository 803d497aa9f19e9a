//
// test/common/say.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Test support for helper programs: print one line with one stdio call and flush it, so lines
// from several threads never interleave and a test reading the pipe sees each line at once.
//

#ifndef ASIO_PAL_TEST_COMMON_SAY_HPP
#define ASIO_PAL_TEST_COMMON_SAY_HPP

#include <algorithm>
#include <cstdarg>
#include <cstddef>
#include <cstdio>

namespace asio_pal_test {

inline void say(const char* format, ...)
{
    char line[512];
    va_list args;
    va_start(args, format);
    int n = std::vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    std::size_t len =
        n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 2);
    line[len] = '\n';
    std::fwrite(line, 1, len + 1, stdout);
    std::fflush(stdout);
}

} // namespace asio_pal_test

#endif // ASIO_PAL_TEST_COMMON_SAY_HPP
