//
// asio_pal/impl/wire.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//

#ifndef ASIO_PAL_IMPL_WIRE_IPP
#define ASIO_PAL_IMPL_WIRE_IPP

#include "asio_pal/detail/wire.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <utility>

namespace asio_pal::detail {

void byte_input_archive::throw_truncated(std::size_t n) const
{
    throw decode_error("asio_pal: truncated data: need " + std::to_string(n) + " bytes, " +
                       std::to_string(remaining()) + " left");
}

void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, bool& t)
{
    unsigned char b = 0;
    ar.load_binary(&b, 1);
    if (b > 1)
        throw decode_error("asio_pal: invalid bool value " + std::to_string(b));
    t = b != 0;
}

void check_size_tag(const byte_input_archive& ar, std::uint64_t size)
{
    if (size > ar.remaining())
        throw decode_error("asio_pal: corrupt length " + std::to_string(size) + " with only " +
                           std::to_string(ar.remaining()) + " bytes left");
}

void check_element_count(const byte_input_archive& ar, std::uint64_t count, std::size_t min_size)
{
    if (min_size != 0 && count > ar.remaining() / min_size)
        throw decode_error("asio_pal: corrupt length " + std::to_string(count) + ": elements of " +
                           std::to_string(min_size) + " or more bytes, with only " +
                           std::to_string(ar.remaining()) + " bytes left");
}

const char* frame_type_name(frame_type t) noexcept
{
    switch (t)
    {
    case frame_type::hello:
        return "hello";
    case frame_type::task:
        return "task";
    case frame_type::init:
        return "init";
    case frame_type::quit:
        return "quit";
    case frame_type::result:
        return "result";
    case frame_type::failure:
        return "failure";
    case frame_type::init_failed:
        return "init_failed";
    case frame_type::fini_failed:
        return "fini_failed";
    case frame_type::bye:
        return "bye";
    case frame_type::skipped:
        return "skipped";
    case frame_type::direct_task:
        return "direct_task";
    case frame_type::cancel:
        return "cancel";
    case frame_type::heartbeat:
        return "heartbeat";
    }
    return "unknown";
}

bool is_known_frame_type(std::uint8_t t) noexcept
{
    return t >= static_cast<std::uint8_t>(frame_type::hello) &&
           t <= static_cast<std::uint8_t>(frame_type::heartbeat);
}

namespace {

// Field offsets within the header; see frame_header_size.
constexpr std::size_t magic_offset = 0;
constexpr std::size_t type_offset = 2;
constexpr std::size_t flags_offset = 3;
constexpr std::size_t length_offset = 4;
constexpr std::size_t seq_offset = 8;

// The length field is 32 bits, whatever limit the caller asks for.
constexpr std::size_t length_field_max = std::numeric_limits<std::uint32_t>::max();

template <class T>
void put(char* header, std::size_t offset, T v) noexcept
{
    std::memcpy(header + offset, &v, sizeof(v));
}

template <class T>
T get(const char* header, std::size_t offset) noexcept
{
    T v;
    std::memcpy(&v, header + offset, sizeof(v));
    return v;
}

std::string hex(unsigned v, int digits)
{
    char s[16];
    std::snprintf(s, sizeof(s), "0x%0*X", digits, v);
    return s;
}

std::string too_long(std::size_t length, std::size_t max_frame_size)
{
    return "asio_pal: frame of " + std::to_string(length) + " bytes exceeds max_frame_size " +
           std::to_string(max_frame_size);
}

} // namespace

std::size_t begin_frame(std::vector<char>& buf, frame_type t, std::uint64_t seq)
{
    std::size_t offset = buf.size();
    buf.resize(offset + frame_header_size);
    char* h = buf.data() + offset;
    put(h, magic_offset, frame_magic);
    put(h, type_offset, static_cast<std::uint8_t>(t));
    put(h, flags_offset, std::uint8_t{0});
    put(h, length_offset, std::uint32_t{0});
    put(h, seq_offset, seq);
    return offset;
}

void end_frame(std::vector<char>& buf, std::size_t offset, std::size_t max_frame_size)
{
    if (offset > buf.size() || buf.size() - offset < frame_header_size)
        throw std::invalid_argument("asio_pal: end_frame at offset " + std::to_string(offset) +
                                    " of a " + std::to_string(buf.size()) +
                                    "-byte buffer: no frame header there");
    std::size_t length = buf.size() - offset - frame_header_size;
    if (length > max_frame_size || length > length_field_max)
    {
        buf.resize(offset);
        throw frame_error(too_long(length, std::min(max_frame_size, length_field_max)));
    }
    put(buf.data() + offset, length_offset, static_cast<std::uint32_t>(length));
}

void append_frame(std::vector<char>& buf, frame_type t, std::uint64_t seq,
                  std::span<const char> body, std::size_t max_frame_size)
{
    if (body.size() > max_frame_size || body.size() > length_field_max)
        throw frame_error(too_long(body.size(), std::min(max_frame_size, length_field_max)));
    std::size_t offset = begin_frame(buf, t, seq);
    buf.insert(buf.end(), body.begin(), body.end());
    end_frame(buf, offset, max_frame_size);
}

frame_decoder::frame_decoder(std::size_t max_frame_size)
    : max_frame_size_(std::min(max_frame_size, length_field_max))
{}

std::span<char> frame_decoder::prepare(std::size_t min_bytes)
{
    const std::size_t live = end_ - begin_;
    if (live == 0)
        begin_ = end_ = 0; // free compaction
    if (capacity_ - end_ < min_bytes)
    {
        // Move the unconsumed tail to the front only when that is what makes room; moving it on
        // every call would copy a large, slowly arriving frame over and over.
        if (capacity_ - live >= min_bytes)
        {
            if (live != 0)
                std::memmove(buf_.get(), buf_.get() + begin_, live);
        }
        else
        {
            if (min_bytes > std::numeric_limits<std::size_t>::max() / 2 - live)
                throw std::length_error("asio_pal: frame_decoder::prepare(" +
                                        std::to_string(min_bytes) + ") is too large");
            std::size_t size = std::max(live + min_bytes, capacity_ * 2);
            std::unique_ptr<char[]> bigger(new char[size]);
            if (live != 0)
                std::memcpy(bigger.get(), buf_.get() + begin_, live);
            buf_ = std::move(bigger);
            capacity_ = size;
        }
        begin_ = 0;
        end_ = live;
    }
    return {buf_.get() + end_, capacity_ - end_};
}

void frame_decoder::commit(std::size_t n)
{
    if (n > capacity_ - end_)
        throw std::invalid_argument("asio_pal: frame_decoder::commit(" + std::to_string(n) +
                                    ") exceeds the " + std::to_string(capacity_ - end_) +
                                    " bytes prepared");
    end_ += n;
}

std::optional<frame_view> frame_decoder::next()
{
    if (failed())
        throw frame_error(error_);
    if (end_ - begin_ < frame_header_size)
        return std::nullopt;

    const char* h = buf_.get() + begin_;
    auto magic = get<std::uint16_t>(h, magic_offset);
    auto type = get<std::uint8_t>(h, type_offset);
    auto flags = get<std::uint8_t>(h, flags_offset);
    auto length = get<std::uint32_t>(h, length_offset);
    auto seq = get<std::uint64_t>(h, seq_offset);
    if (magic != frame_magic)
        fail("asio_pal: bad frame magic " + hex(magic, 4) + " (expected " + hex(frame_magic, 4) +
             ")");
    if (!is_known_frame_type(type))
        fail("asio_pal: unknown frame type " + std::to_string(type));
    if (flags != 0)
        fail("asio_pal: " + std::string(frame_type_name(static_cast<frame_type>(type))) +
             " frame has flags " + hex(flags, 2) + " (expected 0)");
    if (length > max_frame_size_)
        fail(too_long(length, max_frame_size_));

    if (end_ - begin_ - frame_header_size < length)
        return std::nullopt;
    frame_view f{static_cast<frame_type>(type), seq, {h + frame_header_size, length}};
    begin_ += frame_header_size + length;
    return f;
}

void frame_decoder::fail(std::string what)
{
    error_ = std::move(what);
    throw frame_error(error_);
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_WIRE_IPP
