//
// test/wire.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/detail/wire.hpp: the byte archives (roundtrips of the standard types, defences
// against corrupt input) and the frames (layout, limits, a decoder fed in every possible split).
//

#include "asio_pal/detail/wire.hpp"

#include "asio_pal/detail/remote_exception.hpp"
#include "asio_pal/detail/task_registry.hpp"

#define BOOST_TEST_MODULE wire
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
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

struct point
{
    int x = 0;
    std::string name;
    std::vector<double> weights;
    std::optional<std::uint16_t> tag;

    template <class Archive>
    void serialize(Archive& ar)
    {
        ar(x, name, weights, tag);
    }

    bool operator==(const point&) const = default;
};

template <class T>
T roundtrip(const T& v)
{
    std::vector<char> buf;
    d::encode(buf, v);
    T out{};
    d::decode(buf, out);
    return out;
}

// The message of the `E` that `f` throws; any other exception escapes and fails the test.
template <class E, class F>
std::string error_of(F&& f)
{
    try
    {
        f();
    }
    catch (const E& e)
    {
        return e.what();
    }
    return "(no exception)";
}

bool contains(const std::string& s, const std::string& part)
{
    return s.find(part) != std::string::npos;
}

template <class T>
void put(std::vector<char>& buf, T v)
{
    std::size_t at = buf.size();
    buf.resize(at + sizeof(v));
    std::memcpy(buf.data() + at, &v, sizeof(v));
}

template <class T>
T get(const std::vector<char>& buf, std::size_t offset)
{
    T v;
    std::memcpy(&v, buf.data() + offset, sizeof(v));
    return v;
}

// Allocations through capped_allocator, live bytes; an allocation past the cap throws, so a
// container that trusts a corrupt length fails loudly instead of taking the machine's memory.
std::size_t capped_live = 0;
std::size_t capped_peak = 0;
constexpr std::size_t capped_limit = 1 << 20;

template <class T>
struct capped_allocator
{
    using value_type = T;

    capped_allocator() = default;
    template <class U>
    capped_allocator(const capped_allocator<U>&) noexcept
    {}

    T* allocate(std::size_t n)
    {
        if (n > capped_limit / sizeof(T) || capped_live + n * sizeof(T) > capped_limit)
            throw std::bad_alloc();
        capped_live += n * sizeof(T);
        capped_peak = std::max(capped_peak, capped_live);
        return std::allocator<T>().allocate(n);
    }

    void deallocate(T* p, std::size_t n) noexcept
    {
        capped_live -= n * sizeof(T);
        std::allocator<T>().deallocate(p, n);
    }

    template <class U>
    bool operator==(const capped_allocator<U>&) const noexcept
    {
        return true;
    }
};

using capped_string = std::basic_string<char, std::char_traits<char>, capped_allocator<char>>;

// Bytes claiming a container of 2^40 elements, followed by a little payload.
std::vector<char> huge_length_bytes()
{
    std::vector<char> buf;
    put<std::uint64_t>(buf, std::uint64_t{1} << 40);
    buf.insert(buf.end(), 24, 'x');
    return buf;
}

std::vector<char> make_frame(d::frame_type t, std::uint64_t seq, const std::string& body)
{
    std::vector<char> buf;
    d::append_frame(buf, t, seq, body, d::default_max_frame_size);
    return buf;
}

// Copies `bytes` into the decoder and commits them, in as many prepare() calls as needed.
void feed(d::frame_decoder& dec, std::span<const char> bytes, std::size_t min_bytes = 16)
{
    while (!bytes.empty())
    {
        std::span<char> space = dec.prepare(min_bytes);
        std::size_t n = std::min(space.size(), bytes.size());
        std::memcpy(space.data(), bytes.data(), n);
        dec.commit(n);
        bytes = bytes.subspan(n);
    }
}

struct owned_frame
{
    d::frame_type type;
    std::uint64_t seq;
    std::string body;

    bool operator==(const owned_frame&) const = default;
};

std::ostream& operator<<(std::ostream& os, const owned_frame& f)
{
    return os << "{" << d::frame_type_name(f.type) << ", " << f.seq << ", " << f.body.size()
              << " bytes}";
}

// Takes every complete frame out of the decoder.
std::vector<owned_frame> drain(d::frame_decoder& dec)
{
    std::vector<owned_frame> out;
    while (auto f = dec.next())
        out.push_back({f->type, f->seq, std::string(f->body.begin(), f->body.end())});
    return out;
}

// A few frames of assorted types and sizes, including an empty body.
std::vector<owned_frame> sample_frames()
{
    return {
        {d::frame_type::hello, 0, "worker 1"},
        {d::frame_type::task, 1, std::string(40, 't')},
        {d::frame_type::quit, 2, ""},
        {d::frame_type::result, 0xFFFF'FFFF'FFFF'FFFFull, std::string(1, '\0')},
        {d::frame_type::skipped, 7, std::string(17, 's')},
    };
}

std::vector<char> stream_of(const std::vector<owned_frame>& frames)
{
    std::vector<char> buf;
    for (const auto& f : frames)
        d::append_frame(buf, f.type, f.seq, f.body, d::default_max_frame_size);
    return buf;
}

std::vector<char> header(std::uint16_t magic, std::uint8_t type, std::uint8_t flags,
                         std::uint32_t length, std::uint64_t seq)
{
    std::vector<char> buf;
    put(buf, magic);
    put(buf, type);
    put(buf, flags);
    put(buf, length);
    put(buf, seq);
    return buf;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Archives

BOOST_AUTO_TEST_CASE(arithmetic_roundtrip)
{
    BOOST_TEST(roundtrip(true) == true);
    BOOST_TEST(roundtrip(false) == false);
    BOOST_TEST(roundtrip('q') == 'q');
    BOOST_TEST(roundtrip(std::int8_t{-100}) == std::int8_t{-100});
    BOOST_TEST(roundtrip(std::uint16_t{65000}) == std::uint16_t{65000});
    BOOST_TEST(roundtrip(std::int32_t{-123456789}) == std::int32_t{-123456789});
    BOOST_TEST(roundtrip(std::numeric_limits<std::uint64_t>::max()) ==
               std::numeric_limits<std::uint64_t>::max());
    BOOST_TEST(roundtrip(std::numeric_limits<std::int64_t>::min()) ==
               std::numeric_limits<std::int64_t>::min());
    BOOST_TEST(roundtrip(3.25f) == 3.25f);
    BOOST_TEST(roundtrip(-1.0e300) == -1.0e300);
}

BOOST_AUTO_TEST_CASE(primitives_are_raw_native_bytes)
{
    std::vector<char> buf;
    d::encode(buf, std::uint32_t{0x01020304}, true, std::vector<std::uint16_t>{7, 9});
    BOOST_TEST_REQUIRE(buf.size() == 4u + 1u + 8u + 4u);
    BOOST_TEST(get<std::uint32_t>(buf, 0) == 0x01020304u);
    BOOST_TEST(buf[4] == 1);
    BOOST_TEST(get<std::uint64_t>(buf, 5) == 2u);
    BOOST_TEST(get<std::uint16_t>(buf, 13) == 7u);
    BOOST_TEST(get<std::uint16_t>(buf, 15) == 9u);
}

BOOST_AUTO_TEST_CASE(encode_appends)
{
    std::vector<char> buf{'a', 'b'};
    d::encode(buf, std::uint8_t{5});
    BOOST_TEST_REQUIRE(buf.size() == 3u);
    BOOST_TEST(buf[0] == 'a');
    BOOST_TEST(buf[1] == 'b');
    BOOST_TEST(buf[2] == 5);
}

BOOST_AUTO_TEST_CASE(string_roundtrip)
{
    BOOST_TEST(roundtrip(std::string()) == "");
    BOOST_TEST(roundtrip(std::string("hello, wire")) == "hello, wire");
    std::string binary("a\0b\xff", 4);
    BOOST_TEST(roundtrip(binary) == binary);
    std::string big(100000, 'z');
    BOOST_TEST(roundtrip(big) == big);
}

BOOST_AUTO_TEST_CASE(vector_roundtrip)
{
    std::vector<int> ints{1, -2, 3, 1 << 30};
    BOOST_TEST(roundtrip(ints) == ints, boost::test_tools::per_element());
    std::vector<std::string> strings{"", "one", std::string(300, 'x')};
    BOOST_TEST(roundtrip(strings) == strings, boost::test_tools::per_element());
    std::vector<bool> bools{true, false, false, true, true};
    BOOST_TEST((roundtrip(bools) == bools));
    BOOST_TEST(roundtrip(std::vector<double>()).empty());
    std::vector<std::vector<char>> nested{{'a'}, {}, {'b', 'c'}};
    BOOST_TEST((roundtrip(nested) == nested));
}

BOOST_AUTO_TEST_CASE(map_and_unordered_map_roundtrip)
{
    std::map<std::string, int> m{{"a", 1}, {"bb", -2}, {"", 0}};
    BOOST_TEST((roundtrip(m) == m));
    std::unordered_map<int, std::string> u{{1, "one"}, {2, "two"}, {-3, ""}};
    BOOST_TEST((roundtrip(u) == u));
    BOOST_TEST(roundtrip(std::map<int, int>()).empty());
}

BOOST_AUTO_TEST_CASE(set_roundtrip)
{
    std::set<std::string> s{"x", "y", "zz"};
    BOOST_TEST((roundtrip(s) == s));
    std::set<int> i{5, -5, 500};
    BOOST_TEST((roundtrip(i) == i));
}

BOOST_AUTO_TEST_CASE(tuple_and_pair_roundtrip)
{
    std::tuple<int, std::string, double, bool> t{42, "answer", 0.5, true};
    BOOST_TEST((roundtrip(t) == t));
    std::pair<std::string, std::uint64_t> p{"seq", 99};
    BOOST_TEST((roundtrip(p) == p));
    BOOST_TEST((roundtrip(std::tuple<>()) == std::tuple<>()));
}

BOOST_AUTO_TEST_CASE(optional_roundtrip)
{
    std::optional<std::string> some("here");
    BOOST_TEST((roundtrip(some) == some));
    std::optional<std::string> none;
    BOOST_TEST(!roundtrip(none).has_value());
    // decode must also clear a value that is already there
    std::vector<char> buf;
    d::encode(buf, none);
    std::optional<std::string> out("stale");
    d::decode(buf, out);
    BOOST_TEST(!out.has_value());
}

BOOST_AUTO_TEST_CASE(variant_roundtrip)
{
    using v = std::variant<std::monostate, int, std::string, std::vector<double>>;
    BOOST_TEST(roundtrip(v()).index() == 0u);
    BOOST_TEST((roundtrip(v(17)) == v(17)));
    BOOST_TEST((roundtrip(v(std::string("text"))) == v(std::string("text"))));
    BOOST_TEST((roundtrip(v(std::vector<double>{1.5, 2.5})) == v(std::vector<double>{1.5, 2.5})));
    // An empty class costs nothing: a monostate variant is its 4-byte index alone.
    std::vector<char> buf;
    d::encode(buf, v());
    BOOST_TEST(buf.size() == 4u);
}

BOOST_AUTO_TEST_CASE(chrono_roundtrip)
{
    using namespace std::chrono;
    BOOST_TEST((roundtrip(milliseconds(1234)) == milliseconds(1234)));
    BOOST_TEST((roundtrip(nanoseconds(-5)) == nanoseconds(-5)));
    auto now = system_clock::now();
    BOOST_TEST((roundtrip(now) == now));
    auto mono = steady_clock::now();
    BOOST_TEST((roundtrip(mono) == mono));
}

BOOST_AUTO_TEST_CASE(array_roundtrip)
{
    std::array<int, 3> a{7, 8, 9};
    BOOST_TEST((roundtrip(a) == a));
    std::array<std::string, 2> s{"left", "right"};
    BOOST_TEST((roundtrip(s) == s));
}

BOOST_AUTO_TEST_CASE(list_and_deque_roundtrip)
{
    std::list<std::string> l{"a", "", "ccc"};
    BOOST_TEST((roundtrip(l) == l));
    std::deque<int> q{3, 1, 4, 1, 5};
    BOOST_TEST((roundtrip(q) == q));
}

BOOST_AUTO_TEST_CASE(user_struct_roundtrip)
{
    point p{-7, "origin", {0.25, 1e10}, 12};
    BOOST_TEST((roundtrip(p) == p));
    std::vector<point> many{p, point{}, point{1, "b", {}, std::nullopt}};
    BOOST_TEST((roundtrip(many) == many));
    std::map<int, point> by_id{{1, p}};
    BOOST_TEST((roundtrip(by_id) == by_id));
}

BOOST_AUTO_TEST_CASE(several_values_roundtrip)
{
    std::vector<char> buf;
    d::encode(buf, 1, std::string("two"), std::optional<double>(3.0));
    int a = 0;
    std::string b;
    std::optional<double> c;
    d::decode(buf, a, b, c);
    BOOST_TEST(a == 1);
    BOOST_TEST(b == "two");
    BOOST_TEST((c == std::optional<double>(3.0)));
}

BOOST_AUTO_TEST_CASE(size_tag_rejects_lengths_beyond_the_input)
{
    auto bytes = huge_length_bytes();
    capped_peak = 0;
    auto expect_corrupt = [&](auto&& value) {
        std::string what = error_of<d::decode_error>([&] { d::decode(bytes, value); });
        BOOST_TEST(contains(what, "corrupt length 1099511627776"), what);
    };
    std::vector<int, capped_allocator<int>> ints;
    expect_corrupt(ints);
    std::vector<char, capped_allocator<char>> chars;
    expect_corrupt(chars);
    std::vector<std::string, capped_allocator<std::string>> strings;
    expect_corrupt(strings);
    std::vector<bool, capped_allocator<bool>> bools;
    expect_corrupt(bools);
    capped_string s;
    expect_corrupt(s);
    std::list<int, capped_allocator<int>> l;
    expect_corrupt(l);
    std::deque<std::string, capped_allocator<std::string>> q;
    expect_corrupt(q);
    std::map<int, int, std::less<int>, capped_allocator<std::pair<const int, int>>> m;
    expect_corrupt(m);
    BOOST_TEST(capped_peak < 4096u);
}

// A count of `count` elements followed by `payload` zero bytes: what a worker that lies about
// a container's length sends (zeros decode as empty strings, zero counts, ...).
std::vector<char> count_then_zeros(std::uint64_t count, std::size_t payload)
{
    std::vector<char> buf;
    put(buf, count);
    buf.resize(buf.size() + payload, '\0');
    return buf;
}

// Decodes `bytes` as `T`: the count must be refused as corrupt before the container is sized,
// so that nothing near count * sizeof(element) is allocated.
template <class T>
void expect_count_refused(const std::vector<char>& bytes, std::uint64_t count,
                          std::size_t min_element_size)
{
    BOOST_TEST_CONTEXT(d::demangled_name<T>())
    {
        capped_peak = 0;
        capped_live = 0;
        T value;
        std::string what = error_of<d::decode_error>([&] { d::decode(bytes, value); });
        BOOST_TEST(contains(what, "corrupt length " + std::to_string(count) + ": elements of " +
                                      std::to_string(min_element_size) + " or more bytes"),
                   what);
        BOOST_TEST(capped_peak <= bytes.size());
    }
}

template <class T>
using capped_vector = std::vector<T, capped_allocator<T>>;

BOOST_AUTO_TEST_CASE(counts_are_bounded_by_the_smallest_element)
{
    // 65,536 elements in 64 KiB: one byte each is not enough for any of these, and sizing the
    // container first would take megabytes.
    constexpr std::uint64_t n = 65536;
    const std::vector<char> bytes = count_then_zeros(n, n);
    expect_count_refused<capped_vector<capped_string>>(bytes, n, 8);
    expect_count_refused<capped_vector<std::int64_t>>(bytes, n, 8);
    expect_count_refused<capped_vector<double>>(bytes, n, 8);
    expect_count_refused<capped_vector<capped_vector<int>>>(bytes, n, 8);
    expect_count_refused<capped_vector<std::pair<std::int32_t, std::int16_t>>>(bytes, n, 6);
    expect_count_refused<capped_vector<std::tuple<std::uint8_t, capped_string>>>(bytes, n, 9);
    expect_count_refused<capped_vector<std::array<std::int16_t, 3>>>(bytes, n, 6);
    expect_count_refused<capped_vector<std::variant<std::monostate, int>>>(bytes, n, 4);
    expect_count_refused<capped_vector<std::chrono::nanoseconds>>(bytes, n, 8);
    expect_count_refused<std::deque<capped_string, capped_allocator<capped_string>>>(bytes, n, 8);
    expect_count_refused<std::list<capped_string, capped_allocator<capped_string>>>(bytes, n, 8);
    expect_count_refused<std::basic_string<char32_t, std::char_traits<char32_t>,
                                           capped_allocator<char32_t>>>(bytes, n, 4);
    expect_count_refused<std::map<std::int64_t, std::int64_t, std::less<std::int64_t>,
                                  capped_allocator<std::pair<const std::int64_t, std::int64_t>>>>(
        bytes, n, 16);
    expect_count_refused<std::map<capped_string, capped_string, std::less<capped_string>,
                                  capped_allocator<std::pair<const capped_string, capped_string>>>>(
        bytes, n, 16);
    expect_count_refused<std::set<std::int32_t, std::less<std::int32_t>,
                                  capped_allocator<std::int32_t>>>(bytes, n, 4);
}

BOOST_AUTO_TEST_CASE(counts_that_fit_their_smallest_elements_decode)
{
    // The bound is exact: n elements of their smallest encoding are accepted.
    constexpr std::uint64_t n = 4096;
    std::vector<std::string> strings;
    d::decode(count_then_zeros(n, n * 8), strings);
    BOOST_TEST(strings.size() == n);
    BOOST_TEST(strings.back().empty());
    std::vector<std::int64_t> ints;
    d::decode(count_then_zeros(n, n * 8), ints);
    BOOST_TEST(ints.size() == n);
    std::map<std::int32_t, std::int32_t> m;
    d::decode(count_then_zeros(1, 8), m);
    BOOST_TEST(m.size() == 1u);
    std::vector<std::optional<std::int64_t>> optionals; // one byte each when disengaged
    std::vector<char> nullopts = count_then_zeros(n, 0);
    nullopts.resize(nullopts.size() + n, '\1');
    d::decode(nullopts, optionals);
    BOOST_TEST(optionals.size() == n);
    std::vector<std::monostate> empties; // nothing each, held to the bytes left
    std::array<char, 3> after{};
    d::decode(count_then_zeros(3, 3), empties, after);
    BOOST_TEST(empties.size() == 3u);
    std::vector<bool> bools;
    d::decode(count_then_zeros(n, n), bools);
    BOOST_TEST(bools.size() == n);

    // One element more than fits is refused.
    std::string what =
        error_of<d::decode_error>([&] { d::decode(count_then_zeros(n + 1, n * 8), strings); });
    BOOST_TEST(what == "asio_pal: corrupt length 4097: elements of 8 or more bytes, with only "
                       "32768 bytes left");
}

BOOST_AUTO_TEST_CASE(elements_of_classes_are_allocated_as_they_are_read)
{
    // A class is assumed to take a byte at least, though a point takes 23 here; the vector grows
    // with the points actually read rather than being sized for the count up front.
    constexpr std::uint64_t n = 65536;
    const std::vector<char> bytes = count_then_zeros(n, n);
    capped_peak = 0;
    capped_live = 0;
    capped_vector<point> points;
    std::string what = error_of<d::decode_error>([&] { d::decode(bytes, points); });
    BOOST_TEST(contains(what, "truncated data"), what);
    BOOST_TEST(points.size() == n / 23 + 1); // the last one partly read
    BOOST_TEST(capped_peak < capped_limit);
}

BOOST_AUTO_TEST_CASE(hostile_results_are_refused_before_allocating)
{
    // What the parent does with a result frame's body, for results a worker lies about.
    auto refused = [](auto tag, const std::vector<char>& body) {
        using R = typename decltype(tag)::type;
        return error_of<d::decode_error>([&] { d::decode_result<R>(body); });
    };
    struct vector_of_strings
    {
        using type = std::vector<std::string>;
    };
    struct map_of_strings
    {
        using type = std::map<std::string, std::string>;
    };
    struct nested_vectors
    {
        using type = std::vector<std::vector<std::int32_t>>;
    };

    // 50,000,000 strings in a few bytes.
    BOOST_TEST(contains(refused(vector_of_strings{}, count_then_zeros(50'000'000, 16)),
                        "corrupt length 50000000"));
    // Counts within the frame's bytes but not within what their elements need: 512 MiB of
    // std::string for a 16 MiB frame before this bound.
    constexpr std::uint64_t n = 16 << 20;
    const std::vector<char> zeros = count_then_zeros(n, n);
    BOOST_TEST(contains(refused(vector_of_strings{}, zeros),
                        "corrupt length " + std::to_string(n) + ": elements of 8 or more"));
    BOOST_TEST(contains(refused(map_of_strings{}, zeros),
                        "corrupt length " + std::to_string(n) + ": elements of 16 or more"));
    // The inner count of a nested vector: one element, then a lie.
    std::vector<char> nested;
    put<std::uint64_t>(nested, 1);
    put<std::uint64_t>(nested, 1 << 20);
    nested.resize(nested.size() + (1 << 20), '\0');
    BOOST_TEST(contains(refused(nested_vectors{}, nested),
                        "corrupt length 1048576: elements of 4 or more"));
}

BOOST_AUTO_TEST_CASE(chunk_replies_hold_at_most_one_value_per_item_sent)
{
    // A void chunk's values take no bytes: 16 bytes could claim 2^32 of them (4 GiB of
    // std::monostate) before this bound.
    std::vector<char> void_reply;
    put<std::uint64_t>(void_reply, std::uint64_t{1} << 32);
    std::vector<d::item_t<void>> none;
    BOOST_TEST(contains(error_of<d::decode_error>(
                            [&] { d::decode_chunk_values<void>(void_reply, none, 3); }),
                        "a chunk reply of 4294967296 values for a chunk of 3 items"));
    BOOST_TEST(none.empty());
    std::vector<char> three;
    put<std::uint64_t>(three, 3);
    auto rest = d::decode_chunk_values<void>(three, none, 3);
    BOOST_TEST(none.size() == 3u);
    BOOST_TEST(rest.empty());

    std::vector<char> int_reply;
    d::encode(int_reply, std::vector<std::int32_t>{1, 2, 3, 4, 5});
    std::vector<std::int32_t> ints;
    BOOST_TEST(contains(error_of<d::decode_error>(
                            [&] { d::decode_chunk_values<std::int32_t>(int_reply, ints, 3); }),
                        "a chunk reply of 5 values for a chunk of 3 items"));
    ints.clear();
    d::decode_chunk_values<std::int32_t>(int_reply, ints, 5);
    BOOST_TEST((ints == std::vector<std::int32_t>{1, 2, 3, 4, 5}));
}

BOOST_AUTO_TEST_CASE(size_tag_boundary)
{
    std::vector<char> buf;
    put<std::uint64_t>(buf, 3);
    buf.insert(buf.end(), {'a', 'b', 'c'});
    std::vector<char> out;
    d::decode(buf, out);
    BOOST_TEST((out == std::vector<char>{'a', 'b', 'c'}));

    std::vector<char> short_buf;
    put<std::uint64_t>(short_buf, 4);
    short_buf.insert(short_buf.end(), {'a', 'b', 'c'});
    std::string what = error_of<d::decode_error>([&] { d::decode(short_buf, out); });
    BOOST_TEST(what == "asio_pal: corrupt length 4 with only 3 bytes left");
}

BOOST_AUTO_TEST_CASE(trailing_bytes)
{
    std::vector<char> buf;
    d::encode(buf, 5, 'x');
    int i = 0;
    std::string what = error_of<d::decode_error>([&] { d::decode(buf, i); });
    BOOST_TEST(what == "asio_pal: 1 trailing bytes after the decoded values");
    BOOST_TEST(contains(error_of<d::decode_error>([&] { d::decode(buf); }), "5 trailing bytes"));
    d::decode(std::span<const char>()); // nothing to read, nothing left: fine
}

BOOST_AUTO_TEST_CASE(truncated_input)
{
    point p{3, "truncate me", {1.0, 2.0, 3.0}, 4};
    std::vector<char> buf;
    d::encode(buf, p, std::string("tail"));
    std::size_t failures = 0;
    for (std::size_t n = 0; n < buf.size(); ++n)
    {
        point q;
        std::string s;
        std::string what = error_of<d::decode_error>(
            [&] { d::decode(std::span<const char>(buf.data(), n), q, s); });
        if (contains(what, "truncated data") || contains(what, "corrupt length"))
            ++failures;
        else
            BOOST_ERROR("prefix of " << n << " bytes: " << what);
    }
    BOOST_TEST(failures == buf.size());
    BOOST_TEST(error_of<d::decode_error>([] {
                   int i;
                   d::decode(std::span<const char>("ab", 2), i);
               }) == "asio_pal: truncated data: need 4 bytes, 2 left");
}

BOOST_AUTO_TEST_CASE(invalid_bool_is_rejected)
{
    std::vector<char> buf{2};
    bool b = false;
    BOOST_TEST(error_of<d::decode_error>([&] { d::decode(buf, b); }) ==
               "asio_pal: invalid bool value 2");
    std::vector<char> flag{1};
    d::decode(flag, b);
    BOOST_TEST(b);
}

BOOST_AUTO_TEST_CASE(invalid_variant_index_is_a_decode_error)
{
    using v = std::variant<int, std::string>;
    for (std::int32_t index : {2, 1000, -1})
    {
        std::vector<char> buf;
        put(buf, index);
        put(buf, std::int32_t{0});
        v out;
        std::string what = error_of<d::decode_error>([&] { d::decode(buf, out); });
        BOOST_TEST(contains(what, "asio_pal: "), index << ": " << what);
    }
}

BOOST_AUTO_TEST_CASE(archive_reports_remaining)
{
    std::vector<char> buf;
    d::encode(buf, std::uint32_t{1}, std::uint16_t{2});
    d::byte_input_archive ar(buf);
    BOOST_TEST(ar.remaining() == 6u);
    std::uint32_t a = 0;
    ar(a);
    BOOST_TEST(a == 1u);
    BOOST_TEST(ar.remaining() == 2u);
}

// ---------------------------------------------------------------------------------------------
// Frames

BOOST_AUTO_TEST_CASE(frame_type_names)
{
    BOOST_TEST(std::string(d::frame_type_name(d::frame_type::hello)) == "hello");
    BOOST_TEST(std::string(d::frame_type_name(d::frame_type::init_failed)) == "init_failed");
    BOOST_TEST(std::string(d::frame_type_name(d::frame_type::skipped)) == "skipped");
    BOOST_TEST(std::string(d::frame_type_name(d::frame_type::direct_task)) == "direct_task");
    BOOST_TEST(std::string(d::frame_type_name(d::frame_type::cancel)) == "cancel");
    BOOST_TEST(std::string(d::frame_type_name(d::frame_type::heartbeat)) == "heartbeat");
    BOOST_TEST(std::string(d::frame_type_name(static_cast<d::frame_type>(0))) == "unknown");
    BOOST_TEST(std::string(d::frame_type_name(static_cast<d::frame_type>(14))) == "unknown");
    std::set<std::string> names;
    for (int t = 0; t < 256; ++t)
    {
        bool known = t >= 1 && t <= 13;
        BOOST_TEST(d::is_known_frame_type(static_cast<std::uint8_t>(t)) == known, t);
        if (known)
            names.insert(d::frame_type_name(static_cast<d::frame_type>(t)));
    }
    BOOST_TEST(names.size() == 13u);
    BOOST_TEST(names.count("unknown") == 0u);
}

BOOST_AUTO_TEST_CASE(frame_header_layout)
{
    std::vector<char> buf{'p', 'r', 'e'};
    std::size_t at = d::begin_frame(buf, d::frame_type::result, 0x1122334455667788ull);
    BOOST_TEST(at == 3u);
    BOOST_TEST(buf.size() == 3u + d::frame_header_size);
    d::encode(buf, std::uint32_t{0xCAFE}, std::string("body"));
    d::end_frame(buf, at, d::default_max_frame_size);

    BOOST_TEST_REQUIRE(buf.size() == 3u + 16u + 4u + 8u + 4u);
    BOOST_TEST(get<std::uint16_t>(buf, 3) == 0xA9A1u);
    BOOST_TEST(static_cast<int>(get<std::uint8_t>(buf, 5)) == 5);
    BOOST_TEST(static_cast<int>(get<std::uint8_t>(buf, 6)) == 0);
    BOOST_TEST(get<std::uint32_t>(buf, 7) == 16u);
    BOOST_TEST(get<std::uint64_t>(buf, 11) == 0x1122334455667788ull);

    d::frame_decoder dec(d::default_max_frame_size);
    feed(dec, std::span<const char>(buf).subspan(3));
    auto f = dec.next();
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST((f->type == d::frame_type::result));
    BOOST_TEST(f->seq == 0x1122334455667788ull);
    std::uint32_t n = 0;
    std::string s;
    d::decode(f->body, n, s);
    BOOST_TEST(n == 0xCAFEu);
    BOOST_TEST(s == "body");
    BOOST_TEST(!dec.next().has_value());
    BOOST_TEST(dec.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(end_frame_over_the_limit_restores_the_buffer)
{
    std::vector<char> buf = make_frame(d::frame_type::hello, 1, "earlier");
    const std::vector<char> before = buf;
    std::size_t at = d::begin_frame(buf, d::frame_type::task, 2);
    buf.insert(buf.end(), 100, 'b');
    std::string what = error_of<d::frame_error>([&] { d::end_frame(buf, at, 99); });
    BOOST_TEST(what == "asio_pal: frame of 100 bytes exceeds max_frame_size 99");
    BOOST_TEST((buf == before));

    // exactly at the limit is fine
    at = d::begin_frame(buf, d::frame_type::task, 2);
    buf.insert(buf.end(), 99, 'b');
    d::end_frame(buf, at, 99);
    BOOST_TEST(buf.size() == before.size() + 16u + 99u);
    BOOST_TEST(get<std::uint32_t>(buf, at + 4) == 99u);
}

BOOST_AUTO_TEST_CASE(end_frame_rejects_an_offset_without_header)
{
    std::vector<char> buf(10, 'x');
    BOOST_CHECK_THROW(d::end_frame(buf, 0, 100), std::invalid_argument);
    BOOST_CHECK_THROW(d::end_frame(buf, 11, 100), std::invalid_argument);
    BOOST_TEST(buf.size() == 10u);
}

BOOST_AUTO_TEST_CASE(append_frame_over_the_limit_leaves_the_buffer)
{
    std::vector<char> buf{'k'};
    std::string body(70, 'x');
    std::string what =
        error_of<d::frame_error>([&] { d::append_frame(buf, d::frame_type::result, 1, body, 64); });
    BOOST_TEST(what == "asio_pal: frame of 70 bytes exceeds max_frame_size 64");
    BOOST_TEST((buf == std::vector<char>{'k'}));
    d::append_frame(buf, d::frame_type::result, 1, body, 70);
    BOOST_TEST(buf.size() == 1u + 16u + 70u);
}

BOOST_AUTO_TEST_CASE(decoder_waits_for_the_whole_frame)
{
    auto bytes = make_frame(d::frame_type::task, 5, "abc");
    d::frame_decoder dec(1024);
    BOOST_TEST(!dec.next().has_value()); // nothing yet
    feed(dec, std::span<const char>(bytes).first(15));
    BOOST_TEST(!dec.next().has_value()); // partial header
    BOOST_TEST(dec.buffered() == 15u);
    feed(dec, std::span<const char>(bytes).subspan(15, 3));
    BOOST_TEST(!dec.next().has_value()); // header and 2 of 3 body bytes
    BOOST_TEST(dec.buffered() == 18u);
    feed(dec, std::span<const char>(bytes).subspan(18));
    auto f = dec.next();
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST((f->type == d::frame_type::task));
    BOOST_TEST(f->seq == 5u);
    BOOST_TEST(std::string(f->body.begin(), f->body.end()) == "abc");
    BOOST_TEST(dec.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(several_frames_in_one_commit)
{
    auto frames = sample_frames();
    auto bytes = stream_of(frames);
    d::frame_decoder dec(d::default_max_frame_size);
    std::span<char> space = dec.prepare(bytes.size());
    BOOST_TEST_REQUIRE(space.size() >= bytes.size());
    std::memcpy(space.data(), bytes.data(), bytes.size());
    dec.commit(bytes.size());
    BOOST_TEST(dec.buffered() == bytes.size());
    BOOST_TEST(drain(dec) == frames, boost::test_tools::per_element());
    BOOST_TEST(dec.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(frames_fed_one_byte_at_a_time)
{
    auto frames = sample_frames();
    auto bytes = stream_of(frames);
    // where each frame ends in the stream
    std::vector<std::size_t> ends;
    std::size_t end = 0;
    for (const auto& f : frames)
        ends.push_back(end += d::frame_header_size + f.body.size());

    d::frame_decoder dec(1024);
    std::vector<owned_frame> got;
    std::size_t next_end = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i)
    {
        std::span<char> space = dec.prepare(1);
        space[0] = bytes[i];
        dec.commit(1);
        auto more = drain(dec);
        // a frame comes out exactly when its last byte arrives
        if (i + 1 == ends[next_end])
        {
            BOOST_TEST_REQUIRE(more.size() == 1u, "at byte " << i);
            BOOST_TEST((more[0] == frames[next_end]));
            ++next_end;
        }
        else
            BOOST_TEST(more.empty(), "at byte " << i);
        got.insert(got.end(), more.begin(), more.end());
    }
    BOOST_TEST(got == frames, boost::test_tools::per_element());
    BOOST_TEST(dec.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(frames_split_at_every_boundary)
{
    auto frames = sample_frames();
    auto bytes = stream_of(frames);
    for (std::size_t cut = 0; cut <= bytes.size(); ++cut)
    {
        d::frame_decoder dec(1024);
        std::span<const char> all(bytes);
        feed(dec, all.first(cut), 1);
        auto got = drain(dec);
        feed(dec, all.subspan(cut), 1);
        auto rest = drain(dec);
        got.insert(got.end(), rest.begin(), rest.end());
        BOOST_TEST((got == frames), "cut at " << cut);
        BOOST_TEST(dec.buffered() == 0u);
    }
}

BOOST_AUTO_TEST_CASE(bad_magic)
{
    auto bytes = header(0x1234, 1, 0, 0, 0);
    d::frame_decoder dec(1024);
    feed(dec, bytes);
    BOOST_TEST(error_of<d::frame_error>([&] { dec.next(); }) ==
               "asio_pal: bad frame magic 0x1234 (expected 0xA9A1)");
    BOOST_TEST(dec.failed());
}

BOOST_AUTO_TEST_CASE(unknown_frame_type)
{
    for (std::uint8_t type : {0, 14, 255})
    {
        auto bytes = header(d::frame_magic, type, 0, 0, 0);
        d::frame_decoder dec(1024);
        feed(dec, bytes);
        BOOST_TEST(error_of<d::frame_error>([&] { dec.next(); }) ==
                   "asio_pal: unknown frame type " + std::to_string(type));
    }
}

BOOST_AUTO_TEST_CASE(nonzero_flags)
{
    auto bytes = header(d::frame_magic, 2, 0x80, 0, 0);
    d::frame_decoder dec(1024);
    feed(dec, bytes);
    BOOST_TEST(error_of<d::frame_error>([&] { dec.next(); }) ==
               "asio_pal: task frame has flags 0x80 (expected 0)");
}

BOOST_AUTO_TEST_CASE(oversized_frame_is_rejected_from_its_header)
{
    // Only the header arrives: the decoder must not wait for 70 MB before complaining.
    auto bytes = header(d::frame_magic, 5, 0, 70000000, 9);
    d::frame_decoder dec(d::default_max_frame_size);
    feed(dec, bytes);
    BOOST_TEST(error_of<d::frame_error>([&] { dec.next(); }) ==
               "asio_pal: frame of 70000000 bytes exceeds max_frame_size 67108864");

    // and at the limit it waits for the body
    d::frame_decoder at_limit(1000);
    feed(at_limit, header(d::frame_magic, 5, 0, 1000, 9));
    BOOST_TEST(!at_limit.next().has_value());
    d::frame_decoder over(1000);
    feed(over, header(d::frame_magic, 5, 0, 1001, 9));
    BOOST_CHECK_THROW(over.next(), d::frame_error);
}

BOOST_AUTO_TEST_CASE(decoder_error_is_sticky)
{
    auto bytes = make_frame(d::frame_type::hello, 1, "fine");
    auto bad = header(0xBEEF, 1, 0, 0, 0);
    bytes.insert(bytes.end(), bad.begin(), bad.end());
    d::frame_decoder dec(1024);
    feed(dec, bytes);
    // the good frame before the bad header still comes out
    auto f = dec.next();
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST(f->seq == 1u);
    BOOST_TEST(!dec.failed());
    std::string first = error_of<d::frame_error>([&] { dec.next(); });
    BOOST_TEST(contains(first, "bad frame magic 0xBEEF"), first);
    // more (valid) bytes do not revive it
    feed(dec, make_frame(d::frame_type::hello, 2, ""));
    BOOST_TEST(error_of<d::frame_error>([&] { dec.next(); }) == first);
    BOOST_TEST(error_of<d::frame_error>([&] { dec.next(); }) == first);
}

BOOST_AUTO_TEST_CASE(commit_beyond_prepared_space_throws)
{
    d::frame_decoder dec(1024);
    std::span<char> space = dec.prepare(32);
    BOOST_CHECK_THROW(dec.commit(space.size() + 1), std::invalid_argument);
    BOOST_TEST(dec.buffered() == 0u);
    dec.commit(space.size());
    BOOST_TEST(dec.buffered() == space.size());
}

BOOST_AUTO_TEST_CASE(prepare_gives_at_least_what_is_asked)
{
    d::frame_decoder dec(d::default_max_frame_size);
    BOOST_TEST(dec.prepare().size() >= 65536u);
    BOOST_TEST(dec.prepare(1 << 20).size() >= std::size_t{1} << 20);
    BOOST_TEST(dec.prepare(1).size() >= 1u);
}

BOOST_AUTO_TEST_CASE(large_frame_in_small_reads)
{
    std::string body(3 * 1024 * 1024 + 7, '\0');
    for (std::size_t i = 0; i < body.size(); ++i)
        body[i] = static_cast<char>(i * 31 + i / 4096);
    auto bytes = make_frame(d::frame_type::result, 77, body);
    d::frame_decoder dec(d::default_max_frame_size);
    std::span<const char> rest(bytes);
    std::size_t frames = 0;
    while (!rest.empty())
    {
        std::span<char> space = dec.prepare(4096);
        std::size_t n = std::min<std::size_t>({space.size(), rest.size(), 4096});
        std::memcpy(space.data(), rest.data(), n);
        dec.commit(n);
        rest = rest.subspan(n);
        while (auto f = dec.next())
        {
            ++frames;
            BOOST_TEST(rest.empty());
            BOOST_TEST(f->seq == 77u);
            BOOST_TEST((std::string(f->body.begin(), f->body.end()) == body));
        }
    }
    BOOST_TEST(frames == 1u);
    BOOST_TEST(dec.capacity() <= 2 * bytes.size() + 8192);
}

BOOST_AUTO_TEST_CASE(compaction_over_ten_thousand_frames)
{
    // Frames of varying size, read in chunks that never line up with frame boundaries.
    std::vector<char> bytes;
    for (std::uint64_t seq = 0; seq < 10000; ++seq)
    {
        std::string body(seq * 7919 % 300, static_cast<char>(seq));
        d::append_frame(bytes, d::frame_type::result, seq, body, d::default_max_frame_size);
    }

    d::frame_decoder dec(1024);
    std::size_t committed = 0;
    std::size_t consumed = 0;
    std::uint64_t expected_seq = 0;
    std::size_t max_capacity = 0;
    while (committed < bytes.size())
    {
        std::span<char> space = dec.prepare(4096);
        std::size_t n = std::min<std::size_t>({space.size(), bytes.size() - committed, 777});
        std::memcpy(space.data(), bytes.data() + committed, n);
        dec.commit(n);
        committed += n;
        BOOST_TEST_REQUIRE(dec.buffered() == committed - consumed);
        while (auto f = dec.next())
        {
            BOOST_TEST_REQUIRE(f->seq == expected_seq);
            std::string body(expected_seq * 7919 % 300, static_cast<char>(expected_seq));
            BOOST_TEST_REQUIRE((std::string(f->body.begin(), f->body.end()) == body));
            consumed += d::frame_header_size + f->body.size();
            ++expected_seq;
            BOOST_TEST_REQUIRE(dec.buffered() == committed - consumed);
        }
        max_capacity = std::max(max_capacity, dec.capacity());
    }
    BOOST_TEST(expected_seq == 10000u);
    BOOST_TEST(consumed == bytes.size());
    BOOST_TEST(dec.buffered() == 0u);
    // the buffer is reused, not grown with the stream
    BOOST_TEST(max_capacity <= 2u * 4096u);
}

BOOST_AUTO_TEST_CASE(decoder_with_zero_limit_takes_empty_frames_only)
{
    d::frame_decoder dec(0);
    feed(dec, make_frame(d::frame_type::quit, 3, ""));
    auto f = dec.next();
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST(f->body.empty());
    feed(dec, make_frame(d::frame_type::quit, 4, "x"));
    BOOST_TEST(error_of<d::frame_error>([&] { dec.next(); }) ==
               "asio_pal: frame of 1 bytes exceeds max_frame_size 0");
}
