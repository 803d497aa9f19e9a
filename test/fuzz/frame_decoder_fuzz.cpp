//
// test/fuzz/frame_decoder_fuzz.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// libFuzzer target for asio_pal/detail/wire.hpp. The input is a byte stream from a worker: the
// decoder gets it in reads of varying size, and every frame it returns is re-framed and its body
// decoded as several types. Besides the sanitizers, checks that a frame re-encodes to the same
// bytes, that bodies which decode re-encode to themselves, and that only decode_error and
// frame_error are ever thrown. Run by run_fuzz.sh.
//

#include "asio_pal/detail/wire.hpp"
#include "fuzz_check.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace d = asio_pal::detail;

namespace {

struct record
{
    std::int32_t id = 0;
    std::chrono::milliseconds elapsed{0};
    std::array<std::uint8_t, 3> rgb{};
    std::pair<std::string, bool> label;
    std::optional<std::vector<double>> samples;

    template <class Archive>
    void serialize(Archive& ar)
    {
        ar(id, elapsed, rgb, label, samples);
    }
};

bool same_bytes(std::span<const char> a, std::span<const char> b)
{
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// Decodes `body` as `T`; when that works and the format has one encoding per value, the value
// must encode back to `body`.
template <class T, bool Canonical>
void try_decode(std::span<const char> body)
{
    T value{};
    try
    {
        d::decode(body, value);
    }
    catch (const d::decode_error&)
    {
        return;
    }
    if constexpr (Canonical)
    {
        std::vector<char> again;
        d::encode(again, value);
        FUZZ_CHECK(same_bytes(again, body));
    }
}

void check_frame(const d::frame_view& f, std::size_t max_frame_size)
{
    FUZZ_CHECK(d::is_known_frame_type(static_cast<std::uint8_t>(f.type)));
    FUZZ_CHECK(f.body.size() <= max_frame_size);

    // The header sits right before the body; re-framing must reproduce it byte for byte.
    std::span<const char> original(f.body.data() - d::frame_header_size,
                                   d::frame_header_size + f.body.size());
    std::vector<char> buf{'p'};
    d::append_frame(buf, f.type, f.seq, f.body, max_frame_size);
    FUZZ_CHECK(same_bytes(std::span<const char>(buf).subspan(1), original));

    // One byte over the limit is refused and leaves the buffer alone.
    if (!f.body.empty())
    {
        bool threw = false;
        try
        {
            d::append_frame(buf, f.type, f.seq, f.body, f.body.size() - 1);
        }
        catch (const d::frame_error&)
        {
            threw = true;
        }
        FUZZ_CHECK(threw);
        FUZZ_CHECK(buf.size() == 1 + original.size());
    }

    // A fresh decoder reads the re-framed bytes back as the same frame.
    d::frame_decoder again(max_frame_size);
    std::span<char> space = again.prepare(original.size());
    std::memcpy(space.data(), original.data(), original.size());
    again.commit(original.size());
    auto g = again.next();
    FUZZ_CHECK(g.has_value());
    FUZZ_CHECK(g->type == f.type && g->seq == f.seq && same_bytes(g->body, f.body));
    FUZZ_CHECK(!again.next().has_value() && again.buffered() == 0);

    try_decode<std::tuple<std::uint64_t, std::string, std::vector<std::int32_t>>, true>(f.body);
    try_decode<
        std::variant<std::monostate, bool, std::int64_t, std::string, std::vector<std::string>>,
        true>(f.body);
    try_decode<std::optional<std::list<std::deque<std::int16_t>>>, true>(f.body);
    try_decode<std::vector<record>, false>(f.body); // doubles: NaN payloads may not survive
    try_decode<std::map<std::string, std::vector<bool>>, false>(f.body);
    try_decode<std::unordered_map<std::int32_t, std::string>, false>(f.body);
    try_decode<std::set<std::int8_t>, false>(f.body);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    // The first byte picks the limit and the read sizes; the rest is the stream.
    const std::uint8_t seed = data[0];
    const std::size_t max_frame_size = (seed & 1) != 0 ? 256 : 4096;
    std::span<const char> in(reinterpret_cast<const char*>(data) + 1, size - 1);

    d::frame_decoder dec(max_frame_size);
    std::uint32_t rng = 0x9E3779B9u ^ seed;
    std::size_t committed = 0;
    std::size_t consumed = 0;
    while (!in.empty())
    {
        rng = rng * 1103515245u + 12345u;
        const std::size_t read_size = 1 + (rng >> 16) % 97;
        const std::size_t min_bytes = 1 + (rng >> 4) % 300;
        std::span<char> space = dec.prepare(min_bytes);
        FUZZ_CHECK(space.size() >= min_bytes);
        const std::size_t n = std::min({space.size(), read_size, in.size()});
        std::memcpy(space.data(), in.data(), n);
        dec.commit(n);
        in = in.subspan(n);
        committed += n;
        FUZZ_CHECK(dec.buffered() == committed - consumed);
        try
        {
            while (auto f = dec.next())
            {
                consumed += d::frame_header_size + f->body.size();
                FUZZ_CHECK(dec.buffered() == committed - consumed);
                check_frame(*f, max_frame_size);
            }
            FUZZ_CHECK(dec.buffered() == committed - consumed);
        }
        catch (const d::frame_error&)
        {
            FUZZ_CHECK(dec.failed());
            FUZZ_CHECK(dec.buffered() >= d::frame_header_size);
            bool again = false;
            try
            {
                dec.next();
            }
            catch (const d::frame_error&)
            {
                again = true;
            }
            FUZZ_CHECK(again);
            return 0;
        }
    }
    FUZZ_CHECK(!dec.failed());
    return 0;
}
