//
// test/fuzz/fuzz_check.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// FUZZ_CHECK(cond): in a libFuzzer target, aborts with the failed condition so the fuzzer keeps
// the input that broke it.
//

#ifndef ASIO_PAL_TEST_FUZZ_FUZZ_CHECK_HPP
#define ASIO_PAL_TEST_FUZZ_FUZZ_CHECK_HPP

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                           \
    do                                                                                             \
    {                                                                                              \
        if (!(cond))                                                                               \
        {                                                                                          \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);          \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)

#endif // ASIO_PAL_TEST_FUZZ_FUZZ_CHECK_HPP
