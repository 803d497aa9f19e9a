//
// asio_pal/detail/wire.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The wire format between a process pool and its worker processes: cereal archives that write to
// and read from byte buffers, and length-prefixed frames. Sans-io: the caller moves the bytes.
//

#ifndef ASIO_PAL_DETAIL_WIRE_HPP
#define ASIO_PAL_DETAIL_WIRE_HPP

#include <cereal/cereal.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace asio_pal::detail {

/// A frame body could not be decoded: truncated, corrupt, or with bytes left over.
class decode_error : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

/// The byte stream breaks the frame protocol: bad magic, unknown type, flags, or oversized frame.
class frame_error : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// Archives

/// A cereal output archive that appends raw native-endian bytes to a vector.
class byte_output_archive
    : public cereal::OutputArchive<byte_output_archive, cereal::AllowEmptyClassElision>
{
public:
    /// Appends to `out`, which must outlive the archive.
    explicit byte_output_archive(std::vector<char>& out)
        : cereal::OutputArchive<byte_output_archive, cereal::AllowEmptyClassElision>(this)
        , out_(out)
    {}

    /// Appends `n` bytes from `data`.
    void save_binary(const void* data, std::size_t n)
    {
        const char* p = static_cast<const char*>(data);
        out_.insert(out_.end(), p, p + n);
    }

private:
    std::vector<char>& out_;
};

/// A cereal input archive that reads the bytes written by `byte_output_archive` from a span.
class byte_input_archive
    : public cereal::InputArchive<byte_input_archive, cereal::AllowEmptyClassElision>
{
public:
    /// Reads from `in`, whose bytes must outlive the archive.
    explicit byte_input_archive(std::span<const char> in)
        : cereal::InputArchive<byte_input_archive, cereal::AllowEmptyClassElision>(this)
        , in_(in)
    {}

    /// Copies the next `n` bytes to `data`; throws `decode_error` when fewer remain.
    void load_binary(void* data, std::size_t n)
    {
        if (n > in_.size() - pos_)
            throw_truncated(n);
        if (n != 0)
            std::memcpy(data, in_.data() + pos_, n);
        pos_ += n;
    }

    /// The number of bytes not read yet.
    std::size_t remaining() const noexcept { return in_.size() - pos_; }

private:
    [[noreturn]] void throw_truncated(std::size_t n) const;

    std::span<const char> in_;
    std::size_t pos_ = 0;
};

// The free functions cereal looks up (by ADL on the archive) to move primitives.

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(byte_output_archive& ar,
                                                                    const T& t)
{
    ar.save_binary(std::addressof(t), sizeof(t));
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>
CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, T& t)
{
    ar.load_binary(std::addressof(t), sizeof(t));
}

/// Loads a bool, rejecting bytes other than 0 and 1 (any other value is undefined behaviour).
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, bool& t);

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(byte_output_archive& ar, const cereal::NameValuePair<T>& t)
{
    ar(t.value);
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, cereal::NameValuePair<T>& t)
{
    ar(t.value);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(byte_output_archive& ar, const cereal::SizeTag<T>& t)
{
    ar(t.size);
}

/// Throws `decode_error` ("corrupt length") for a size larger than the remaining bytes.
void check_size_tag(const byte_input_archive& ar, std::uint64_t size);

/// Loads a container's element count. Every element costs at least one byte, except empty
/// classes, so a count above the bytes left is corrupt; rejecting it here keeps garbage from
/// resizing a container to gigabytes before the element reads fail.
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, cereal::SizeTag<T>& t)
{
    ar(t.size);
    check_size_tag(ar, static_cast<std::uint64_t>(t.size));
}

// ---------------------------------------------------------------------------------------------
// Element counts bounded by the bytes left

/**
 * A lower bound on the bytes `byte_output_archive` writes for any value of `T`: what a count of
 * `T`s read from untrusted bytes is checked against before a container is sized for it.
 *
 * Arithmetic and enumeration types take their size, containers their 8-byte count, and
 * aggregates of those the sum of their parts. Other classes are assumed to take at least one
 * byte, except empty classes (which the archives elide). A class whose `serialize` writes
 * nothing although it has members should specialise this template as 0.
 */
template <class T>
struct min_wire_size
{
    static constexpr std::size_t value =
        std::is_arithmetic_v<T> || std::is_enum_v<T> ? sizeof(T) : std::is_empty_v<T> ? 0 : 1;
};

template <class T>
inline constexpr std::size_t min_wire_size_v = min_wire_size<std::remove_cv_t<T>>::value;

// Every container starts with its element count.
inline constexpr std::size_t container_min_wire_size = sizeof(cereal::size_type);

template <class C, class Tr, class A>
struct min_wire_size<std::basic_string<C, Tr, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class T, class A>
struct min_wire_size<std::vector<T, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class T, class A>
struct min_wire_size<std::deque<T, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class T, class A>
struct min_wire_size<std::list<T, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class K, class V, class C, class A>
struct min_wire_size<std::map<K, V, C, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class K, class V, class C, class A>
struct min_wire_size<std::multimap<K, V, C, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class K, class C, class A>
struct min_wire_size<std::set<K, C, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class K, class C, class A>
struct min_wire_size<std::multiset<K, C, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class K, class V, class H, class E, class A>
struct min_wire_size<std::unordered_map<K, V, H, E, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};
template <class K, class V, class H, class E, class A>
struct min_wire_size<std::unordered_multimap<K, V, H, E, A>>
{
    static constexpr std::size_t value = container_min_wire_size;
};

/// `a + b`, or the largest size_t where that overflows (a lower bound stays a lower bound).
constexpr std::size_t saturating_add(std::size_t a, std::size_t b) noexcept
{
    return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max()
                                                           : a + b;
}

template <class T, std::size_t N>
struct min_wire_size<std::array<T, N>>
{
    static constexpr std::size_t value =
        N != 0 && min_wire_size_v<T> > std::numeric_limits<std::size_t>::max() / N
            ? std::numeric_limits<std::size_t>::max()
            : N * min_wire_size_v<T>;
};
template <class A, class B>
struct min_wire_size<std::pair<A, B>>
{
    static constexpr std::size_t value = saturating_add(min_wire_size_v<A>, min_wire_size_v<B>);
};
template <class... T>
struct min_wire_size<std::tuple<T...>>
{
    static constexpr std::size_t value = [] {
        std::size_t sum = 0;
        ((sum = saturating_add(sum, min_wire_size_v<T>)), ...);
        return sum;
    }();
};
template <class T>
struct min_wire_size<std::optional<T>>
{
    static constexpr std::size_t value = 1; // the engaged flag
};
template <class... T>
struct min_wire_size<std::variant<T...>>
{
    static constexpr std::size_t value = sizeof(std::int32_t); // the index
};
template <class R, class P>
struct min_wire_size<std::chrono::duration<R, P>>
{
    static constexpr std::size_t value = min_wire_size_v<R>;
};
template <class C, class D>
struct min_wire_size<std::chrono::time_point<C, D>>
{
    static constexpr std::size_t value = min_wire_size_v<D>;
};

/**
 * Throws `decode_error` ("corrupt length") when `count` elements of at least `min_size` bytes
 * each do not fit in the bytes left. (A count of zero-byte elements is held to the bytes left by
 * the size tag's own check.)
 */
void check_element_count(const byte_input_archive& ar, std::uint64_t count, std::size_t min_size);

/// Loads a container's element count and checks it against the smallest encoding of `T`.
template <class T>
std::size_t load_element_count(byte_input_archive& ar)
{
    cereal::size_type count = 0;
    ar(cereal::make_size_tag(count));
    check_element_count(ar, static_cast<std::uint64_t>(count), min_wire_size_v<T>);
    return static_cast<std::size_t>(count);
}

// The containers cereal sizes before reading their elements are loaded here instead (these
// overloads are more specialised than cereal's, so they win for byte_input_archive). A checked
// count bounds what a corrupt count can allocate by the frame's bytes; elements of classes, whose
// in-memory size may be far above their smallest encoding, are appended as they are read, so the
// memory grows with what was actually decoded.

/// Reserves room for `count` `T`s, but no more than the bytes left would hold in memory.
template <class C>
void reserve_for(byte_input_archive& ar, C& c, std::size_t count)
{
    using T = typename C::value_type;
    c.reserve(std::min(count, std::max<std::size_t>(1, ar.remaining() / sizeof(T))));
}

template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::vector<T, A>& v)
{
    const std::size_t count = load_element_count<T>(ar);
    v.clear();
    if constexpr (std::is_arithmetic_v<T>)
    {
        v.resize(count);
        ar.load_binary(v.data(), count * sizeof(T));
    }
    else
    {
        reserve_for(ar, v, count);
        for (std::size_t i = 0; i < count; ++i)
            ar(v.emplace_back());
    }
}

template <class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::vector<bool, A>& v)
{
    const std::size_t count = load_element_count<bool>(ar);
    v.clear();
    v.reserve(count);
    for (std::size_t i = 0; i < count; ++i)
    {
        bool b = false;
        ar(b);
        v.push_back(b);
    }
}

/// Loads a sequence that grows element by element (deque, list): as many as its checked count.
template <class Sequence>
void load_grown_sequence(byte_input_archive& ar, Sequence& c)
{
    const std::size_t count = load_element_count<typename Sequence::value_type>(ar);
    c.clear();
    for (std::size_t i = 0; i < count; ++i)
        ar(c.emplace_back());
}

template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::deque<T, A>& q)
{
    load_grown_sequence(ar, q);
}

template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::list<T, A>& l)
{
    load_grown_sequence(ar, l);
}

// Maps and sets are not sized up front, but a count checked first fails at once instead of
// after reading a frame's worth of elements.
template <class M>
void load_map(byte_input_archive& ar, M& m)
{
    using key_type = typename M::key_type;
    using mapped_type = typename M::mapped_type;
    const std::size_t count = load_element_count<std::pair<key_type, mapped_type>>(ar);
    m.clear();
    auto hint = m.begin();
    for (std::size_t i = 0; i < count; ++i)
    {
        key_type key{};
        mapped_type value{};
        ar(key, value);
        hint = m.emplace_hint(hint, std::move(key), std::move(value));
    }
}

template <class S>
void load_set(byte_input_archive& ar, S& s)
{
    using key_type = typename S::key_type;
    const std::size_t count = load_element_count<key_type>(ar);
    s.clear();
    auto hint = s.begin();
    for (std::size_t i = 0; i < count; ++i)
    {
        key_type key{};
        ar(key);
        hint = s.emplace_hint(hint, std::move(key));
    }
}

template <class K, class V, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::map<K, V, C, A>& m)
{
    load_map(ar, m);
}

template <class K, class V, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::multimap<K, V, C, A>& m)
{
    load_map(ar, m);
}

template <class K, class V, class H, class E, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::unordered_map<K, V, H, E, A>& m)
{
    load_map(ar, m);
}

template <class K, class V, class H, class E, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::unordered_multimap<K, V, H, E, A>& m)
{
    load_map(ar, m);
}

template <class K, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::set<K, C, A>& s)
{
    load_set(ar, s);
}

template <class K, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::multiset<K, C, A>& s)
{
    load_set(ar, s);
}

template <class C, class Tr, class A>
    requires std::is_arithmetic_v<C>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, std::basic_string<C, Tr, A>& s)
{
    const std::size_t count = load_element_count<C>(ar);
    s.resize(count);
    ar.load_binary(s.data(), count * sizeof(C));
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(byte_output_archive& ar, const cereal::BinaryData<T>& bd)
{
    ar.save_binary(bd.data, static_cast<std::size_t>(bd.size));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(byte_input_archive& ar, cereal::BinaryData<T>& bd)
{
    ar.load_binary(bd.data, static_cast<std::size_t>(bd.size));
}

/// Appends the serialized values to `out`.
template <class... T>
void encode(std::vector<char>& out, const T&... v)
{
    byte_output_archive ar(out);
    if constexpr (sizeof...(T) != 0)
        ar(v...);
}

/**
 * Reads values written by `encode` with the same types, in the same order. With no values, checks
 * that `in` is empty.
 *
 * Throws `decode_error` when `in` is truncated or corrupt (cereal's own exceptions, such as a
 * bad variant index, are translated), or when bytes are left over ("trailing bytes"). Exceptions
 * thrown by user `serialize` functions pass through. On error, `v...` are left partly loaded.
 */
template <class... T>
void decode(std::span<const char> in, T&... v)
{
    byte_input_archive ar(in);
    try
    {
        if constexpr (sizeof...(T) != 0)
            ar(v...);
    }
    catch (const cereal::Exception& e)
    {
        throw decode_error(std::string("asio_pal: ") + e.what());
    }
    if (ar.remaining() != 0)
        throw decode_error("asio_pal: " + std::to_string(ar.remaining()) +
                           " trailing bytes after the decoded values");
}

// ---------------------------------------------------------------------------------------------
// Frames

/// What a frame carries. The values are on the wire: append only.
enum class frame_type : std::uint8_t
{
    hello = 1,
    task,
    init,
    quit,
    result,
    failure,
    init_failed,
    fini_failed,
    bye,
    skipped,
    direct_task, ///< a task whose reply goes to the worker's direct descriptor
    cancel,      ///< to a remote worker: stop task `seq` (a local one gets a signal)
    heartbeat,   ///< from a remote worker: it lives
};

/// The enumerator's name ("hello", ...), or "unknown".
const char* frame_type_name(frame_type t) noexcept;

/// Is `t` the value of a `frame_type` enumerator?
bool is_known_frame_type(std::uint8_t t) noexcept;

/// The first two bytes of every frame.
inline constexpr std::uint16_t frame_magic = 0xA9A1;

/**
 * The size of a frame header: in native byte order, `std::uint16_t magic`, `std::uint8_t type`,
 * `std::uint8_t flags` (0), `std::uint32_t length` (of the body), `std::uint64_t seq`.
 */
inline constexpr std::size_t frame_header_size = 16;

/// The default limit on a frame's body.
inline constexpr std::size_t default_max_frame_size = 64 * 1024 * 1024;

/// Appends a frame header with length 0 to `buf` and returns its offset; append the body next.
std::size_t begin_frame(std::vector<char>& buf, frame_type t, std::uint64_t seq);

/**
 * Completes the frame begun at `offset` by `begin_frame`: its body is everything after the header.
 *
 * Throws `frame_error` when the body is longer than `max_frame_size` (or than the 32-bit length
 * field), after erasing the partial frame, so `buf` holds what it held before `begin_frame`.
 */
void end_frame(std::vector<char>& buf, std::size_t offset, std::size_t max_frame_size);

/// Appends a whole frame; `body` must not point into `buf`. Throws `frame_error` as `end_frame`
/// does, leaving `buf` unchanged.
void append_frame(std::vector<char>& buf, frame_type t, std::uint64_t seq,
                  std::span<const char> body, std::size_t max_frame_size);

/// A decoded frame; `body` points into the decoder's buffer.
struct frame_view
{
    frame_type type;
    std::uint64_t seq;
    std::span<const char> body;
};

/**
 * Splits a byte stream into frames.
 *
 * Read into the span from `prepare()`, `commit()` the bytes read, then call `next()` until it
 * returns no frame. Views stay valid until the next `prepare()`, which is where the buffer moves:
 * consumed bytes are dropped there, so a long stream reuses the same memory.
 *
 * @par Thread Safety
 * Distinct objects: safe. Shared objects: unsafe.
 */
class frame_decoder
{
public:
    /// Rejects frames whose body is longer than `max_frame_size`.
    explicit frame_decoder(std::size_t max_frame_size = default_max_frame_size);

    /// Returns writable space of at least `min_bytes` at the end of the buffer.
    std::span<char> prepare(std::size_t min_bytes = 65536);

    /// Adds the first `n` bytes of the last `prepare()` span to the stream.
    void commit(std::size_t n);

    /**
     * Takes the next complete frame, or returns nothing when more bytes are needed.
     *
     * Throws `frame_error` as soon as a header is bad, without waiting for the body; the decoder
     * then stays failed, and every later call throws the same error.
     */
    std::optional<frame_view> next();

    /// Bytes committed but not yet returned as frames.
    std::size_t buffered() const noexcept { return end_ - begin_; }

    /// The size of the internal buffer.
    std::size_t capacity() const noexcept { return capacity_; }

    /// Has a bad header been seen?
    bool failed() const noexcept { return !error_.empty(); }

private:
    [[noreturn]] void fail(std::string what);

    std::unique_ptr<char[]> buf_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0; // first unconsumed byte
    std::size_t end_ = 0;   // one past the last committed byte
    std::size_t max_frame_size_;
    std::string error_;
};

} // namespace asio_pal::detail

CEREAL_REGISTER_ARCHIVE(asio_pal::detail::byte_output_archive)
CEREAL_REGISTER_ARCHIVE(asio_pal::detail::byte_input_archive)
CEREAL_SETUP_ARCHIVE_TRAITS(asio_pal::detail::byte_input_archive,
                            asio_pal::detail::byte_output_archive)

#endif // ASIO_PAL_DETAIL_WIRE_HPP
