//
// test/fuzz/failure_frame_fuzz.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// libFuzzer target for what the parent does with a worker's failure frame (and init_failed /
// fini_failed): decode the remote_exception_info, rebuild the exception chain, look up its
// traceback, drop it. Besides the sanitizers, checks that only decode_error is thrown, that an
// accepted chain is no deeper than max_remote_exception_layers and rebuilds to that many layers,
// that a decoded description re-encodes to the same bytes, and that the traceback table stays
// within its bounds. Run by run_fuzz.sh.
//

#include "asio_pal/detail/remote_exception.hpp"
#include "asio_pal/detail/wire.hpp"
#include "asio_pal/remote_exception.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace d = asio_pal::detail;

namespace {

// A type the fuzzer's inputs can name (as "fuzz_error", kind registered).
class fuzz_error : public std::runtime_error
{
public:
    explicit fuzz_error(const std::string& what)
        : std::runtime_error(what)
    {}
};

const bool registered = asio_pal::register_exception<fuzz_error>("fuzz_error");

bool same_bytes(std::span<const char> a, std::span<const char> b)
{
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// The layers of a rebuilt chain, walked as user code would with std::rethrow_if_nested; checks
// that each has the traceback the frame carried.
std::size_t walk(std::exception_ptr e, const std::string& traceback)
{
    std::size_t layers = 0;
    while (e)
    {
        ++layers;
        FUZZ_CHECK(layers <= d::max_remote_exception_layers);
        std::exception_ptr next;
        try
        {
            std::rethrow_exception(e);
        }
        catch (const std::exception& x)
        {
            (void)x.what();
            if (!traceback.empty() && traceback.size() <= d::remote_traceback_byte_capacity / 2)
                FUZZ_CHECK(asio_pal::get_remote_traceback(x) == traceback);
            try
            {
                std::rethrow_if_nested(x);
            }
            catch (...)
            {
                next = std::current_exception();
            }
        }
        catch (...)
        {
            FUZZ_CHECK(false); // every rebuilt layer is a std::exception
        }
        e = next;
    }
    return layers;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    FUZZ_CHECK(registered);
    std::span<const char> body(reinterpret_cast<const char*>(data), size);
    d::remote_exception_info info;
    try
    {
        d::decode(body, info);
    }
    catch (const d::decode_error&)
    {
        return 0;
    }
    FUZZ_CHECK(info.chain.size() <= d::max_remote_exception_layers);

    // One encoding per description: it goes back to the same bytes.
    std::vector<char> again;
    d::encode(again, info);
    FUZZ_CHECK(same_bytes(again, body));

    std::exception_ptr e = d::rebuild_exception(info);
    FUZZ_CHECK(e != nullptr);
    const std::size_t layers = walk(e, info.traceback);
    FUZZ_CHECK(layers == (info.chain.empty() ? 1 : info.chain.size()));
    FUZZ_CHECK(d::remote_traceback_count() <= d::remote_traceback_capacity);
    FUZZ_CHECK(d::remote_traceback_count() == 1 ||
               d::remote_traceback_bytes() <= d::remote_traceback_byte_capacity);
    return 0;
}
