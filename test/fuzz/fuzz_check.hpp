//
// test/fuzz/fuzz_check.hpp
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
