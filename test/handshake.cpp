//
// test/handshake.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Tests asio_pal/detail/handshake.hpp: the secret, the compatibility facts, the two state
// machines against each other and against forged, replayed, tampered, garbage, truncated and
// oversized input (no sockets, no threads), then the shells over loopback TCP: the Asio pool side
// against the blocking worker side, a silent client, a garbage client, a silent pool.
//

#include "asio_pal/detail/handshake.hpp"

#include "asio_pal/detail/worker_protocol.hpp"

#define BOOST_TEST_MODULE handshake
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/secrets.hpp"

namespace d = asio_pal::detail;
namespace net = boost::asio;
using net::ip::tcp;
using namespace std::chrono_literals;

namespace {

using asio_pal_test::make_secret;

const d::handshake_secret secret_a = make_secret(1);
const d::handshake_secret secret_b = make_secret(101);

d::handshake_nonce make_nonce(unsigned char fill)
{
    d::handshake_nonce n;
    n.fill(fill);
    return n;
}

d::compatibility_facts facts_of(std::vector<std::string> names = {"alpha", "beta", "gamma"})
{
    return d::make_compatibility_facts(std::move(names));
}

std::span<const char> as_chars(const std::string& s)
{
    return {s.data(), s.size()};
}

std::string message_of(const std::exception_ptr& e)
{
    if (!e)
        return "no exception";
    try
    {
        std::rethrow_exception(e);
    }
    catch (const std::exception& x)
    {
        return x.what();
    }
    catch (...)
    {
        return "(not a std::exception)";
    }
}

// The code of a handshake_error, or a default code when `e` is something else.
boost::system::error_code code_of(const std::exception_ptr& e)
{
    if (!e)
        return {};
    try
    {
        std::rethrow_exception(e);
    }
    catch (const d::handshake_error& x)
    {
        return x.code();
    }
    catch (...)
    {
        return {};
    }
}

// What passed between the two machines, message by message.
struct transcript
{
    std::vector<std::vector<char>> to_pool;
    std::vector<std::vector<char>> to_worker;
};

// Moves bytes between the machines the way a shell does: each side reads exactly what it asks
// for, so a machine is never handed bytes beyond its handshake. Returns what crossed.
transcript pump(d::handshake_acceptor& pool, d::handshake_connector& worker)
{
    transcript t;
    auto deliver = [](std::vector<char>& bytes, d::handshake_machine& to) {
        std::size_t pos = 0;
        while (pos < bytes.size() && !to.done())
        {
            const std::size_t n = std::min(to.bytes_wanted(), bytes.size() - pos);
            BOOST_TEST_REQUIRE(n > 0u);
            BOOST_TEST(to.feed(std::span<const char>(bytes).subspan(pos, n)) == n);
            pos += n;
        }
        // A side that ends the handshake stops reading: what it did not read is not its own.
        BOOST_TEST(pos == bytes.size());
    };
    for (int round = 0; round < 8; ++round)
    {
        std::vector<char> up = worker.take_output();
        std::vector<char> down = pool.take_output();
        if (up.empty() && down.empty())
            break;
        if (!up.empty())
        {
            t.to_pool.push_back(up);
            if (!pool.done())
                deliver(up, pool);
        }
        if (!down.empty())
        {
            t.to_worker.push_back(down);
            if (!worker.done())
                deliver(down, worker);
        }
    }
    return t;
}

// A hello body laid out field by field, so that tests can break one field at a time.
struct hello_fields
{
    std::string version = std::string(d::protocol_version);
    d::compatibility_facts facts = facts_of();
    std::uint64_t token = 42;
    std::uint64_t pid = 1234;
    std::string host = "node7";
    std::string extra;
};

void put(std::vector<char>& out, std::uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; --i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::vector<char> hello_body(const hello_fields& h)
{
    std::vector<char> b;
    put(b, h.version.size(), 1);
    b.insert(b.end(), h.version.begin(), h.version.end());
    b.insert(b.end(), h.facts.byte_order.begin(), h.facts.byte_order.end());
    b.insert(b.end(), h.facts.type_sizes.begin(), h.facts.type_sizes.end());
    put(b, h.facts.task_count, 4);
    b.insert(b.end(), h.facts.task_digest.begin(), h.facts.task_digest.end());
    put(b, h.token, 8);
    put(b, h.pid, 4);
    put(b, h.host.size(), 1);
    b.insert(b.end(), h.host.begin(), h.host.end());
    d::handshake_nonce n = make_nonce(9);
    b.insert(b.end(), n.begin(), n.end());
    b.insert(b.end(), h.extra.begin(), h.extra.end());
    return b;
}

// Feeds `bytes` to a fresh acceptor; returns it.
std::unique_ptr<d::handshake_acceptor> acceptor_fed(std::span<const char> bytes)
{
    auto a = std::make_unique<d::handshake_acceptor>(secret_a, facts_of(), make_nonce(7));
    a->feed(bytes);
    return a;
}

} // namespace

// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(secret)

BOOST_AUTO_TEST_CASE(generated_secrets_differ_and_go_through_hex)
{
    d::handshake_secret s1 = d::handshake_secret::generate();
    d::handshake_secret s2 = d::handshake_secret::generate();
    BOOST_TEST((s1.bytes() != s2.bytes()));
    std::string hex = s1.to_hex();
    BOOST_TEST(hex.size() == 64u);
    BOOST_TEST(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
    BOOST_TEST((d::handshake_secret::from_hex(hex).bytes() == s1.bytes()));
}

BOOST_AUTO_TEST_CASE(from_hex_reads_either_case)
{
    std::string hex = secret_a.to_hex();
    BOOST_TEST(hex.substr(0, 8) == "01020304");
    std::string upper = hex;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
        return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    });
    BOOST_TEST((d::handshake_secret::from_hex(upper).bytes() == secret_a.bytes()));
    BOOST_TEST(make_secret(0xf0).to_hex().substr(0, 4) == "f0f1");
}

BOOST_AUTO_TEST_CASE(from_hex_names_a_wrong_length)
{
    std::string hex = secret_a.to_hex();
    for (std::string bad : {hex.substr(0, 63), hex + "\n", std::string()})
    {
        try
        {
            (void)d::handshake_secret::from_hex(bad);
            BOOST_FAIL("accepted " << bad.size() << " characters");
        }
        catch (const std::invalid_argument& e)
        {
            BOOST_TEST(std::string(e.what()).find("64 hexadecimal digits, not " +
                                                  std::to_string(bad.size()) + " characters") !=
                       std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(from_hex_names_the_position_of_a_bad_character_without_quoting_it)
{
    std::string hex = secret_a.to_hex();
    hex[10] = 'g';
    hex[20] = 'z';
    try
    {
        (void)d::handshake_secret::from_hex(hex);
        BOOST_FAIL("accepted a 'g'");
    }
    catch (const std::invalid_argument& e)
    {
        std::string what = e.what();
        BOOST_TEST(what.find("position 10") != std::string::npos);
        BOOST_TEST(what.find(hex.substr(0, 10)) == std::string::npos);
        BOOST_TEST(what.find("'g'") == std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(facts)

BOOST_AUTO_TEST_CASE(describe_this_build)
{
    d::compatibility_facts f = facts_of();
    BOOST_TEST(f.protocol_version == d::protocol_version);
    std::uint32_t marker = 0;
    std::memcpy(&marker, f.byte_order.data(), sizeof marker);
    BOOST_TEST(marker == d::byte_order_marker);
    BOOST_TEST(f.type_sizes[0] == sizeof(int));
    BOOST_TEST(f.type_sizes[1] == sizeof(long));
    BOOST_TEST(f.type_sizes[2] == sizeof(long long));
    BOOST_TEST(f.type_sizes[3] == sizeof(std::size_t));
    BOOST_TEST(f.type_sizes[4] == sizeof(void*));
    BOOST_TEST(f.type_sizes[5] == sizeof(double));
    BOOST_TEST(f.type_sizes[6] == sizeof(long double));
    BOOST_TEST(f.type_sizes[7] == sizeof(wchar_t));
    BOOST_TEST(f.task_count == 3u);
}

BOOST_AUTO_TEST_CASE(the_digest_covers_the_set_of_names)
{
    d::compatibility_facts f = facts_of({"alpha", "beta", "gamma"});
    BOOST_TEST((facts_of({"gamma", "alpha", "beta", "alpha"}) == f));
    std::vector<std::string_view> views = {"beta", "gamma", "alpha"};
    BOOST_TEST((d::make_compatibility_facts(views) == f));
    BOOST_TEST((facts_of({"alpha", "beta", "delta"}).task_digest != f.task_digest));
    BOOST_TEST((facts_of({"alpha", "beta"}).task_digest != f.task_digest));
    // Lengths are part of the digest: a name cannot borrow its neighbour's bytes.
    BOOST_TEST((facts_of({"ab", "c"}).task_digest != facts_of({"a", "bc"}).task_digest));
    BOOST_TEST(facts_of({}).task_count == 0u);
}

BOOST_AUTO_TEST_CASE(equal_facts_have_no_difference)
{
    BOOST_TEST(d::describe_differences(facts_of(), facts_of()).empty());
}

BOOST_AUTO_TEST_CASE(each_difference_is_named)
{
    const d::compatibility_facts pool = facts_of();

    d::compatibility_facts w = pool;
    w.protocol_version = "99";
    BOOST_TEST(d::describe_differences(w, pool) ==
               "protocol version: worker 99, pool " + std::string(d::protocol_version));

    w = pool;
    std::reverse(w.byte_order.begin(), w.byte_order.end());
    std::string order = d::describe_differences(w, pool);
    BOOST_TEST(order.find("byte order differs") == 0u);
    BOOST_TEST(order.find("the worker is big-endian, the pool little-endian") != std::string::npos);

    for (std::size_t i = 0; i < d::compared_type_names.size(); ++i)
    {
        w = pool;
        w.type_sizes[i] = static_cast<std::uint8_t>(w.type_sizes[i] * 2);
        BOOST_TEST(d::describe_differences(w, pool) ==
                   "size of " + std::string(d::compared_type_names[i]) + ": worker " +
                       std::to_string(pool.type_sizes[i] * 2) + ", pool " +
                       std::to_string(pool.type_sizes[i]));
    }

    w = facts_of({"alpha", "beta"});
    std::string tasks = d::describe_differences(w, pool);
    BOOST_TEST(tasks.find("worker built from a different program: it registers 2 tasks (digest ") ==
               0u);
    BOOST_TEST(tasks.find("), the pool 3 (digest ") != std::string::npos);

    w = facts_of({"alpha", "beta", "delta"});
    BOOST_TEST(d::describe_differences(w, pool).find("it registers 3 tasks") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(several_differences_are_all_named)
{
    d::compatibility_facts w = facts_of({"x"});
    w.type_sizes[6] = 8;
    w.protocol_version = "0";
    std::string s = d::describe_differences(w, facts_of());
    BOOST_TEST(s.find("protocol version: worker 0") == 0u);
    BOOST_TEST(s.find("; size of long double: worker 8") != std::string::npos);
    BOOST_TEST(s.find("; worker built from a different program: it registers 1 tasks") !=
               std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(machines)

BOOST_AUTO_TEST_CASE(a_worker_with_the_secret_and_the_same_program_is_accepted)
{
    d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
    d::handshake_connector worker(secret_a, facts_of(), 0xfeedface12345678u, 4321, "node-3.cluster",
                                  make_nonce(8));
    BOOST_TEST(pool.bytes_wanted() == d::handshake_header_size);
    transcript t = pump(pool, worker);

    BOOST_TEST(t.to_pool.size() == 2u);   // hello, response
    BOOST_TEST(t.to_worker.size() == 2u); // challenge, verdict
    BOOST_TEST((pool.status() == d::handshake_status::accepted));
    BOOST_TEST((worker.status() == d::handshake_status::accepted));
    BOOST_TEST(pool.reason().empty());
    BOOST_TEST(worker.reason().empty());
    BOOST_TEST(pool.peer().host == "node-3.cluster");
    BOOST_TEST(pool.peer().pid == 4321);
    BOOST_TEST(pool.peer().token == 0xfeedface12345678u);
    BOOST_TEST((pool.peer().facts == facts_of()));
    BOOST_TEST(pool.bytes_wanted() == 0u);
    BOOST_TEST(worker.bytes_wanted() == 0u);
    for (const auto& m : t.to_pool)
        BOOST_TEST(m.size() <= d::max_handshake_message_size);
}

BOOST_AUTO_TEST_CASE(every_split_of_the_input_gives_the_same_outcome)
{
    // Byte by byte, then everything at once: the machines buffer what they are given.
    for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{1024}})
    {
        d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
        d::handshake_connector worker(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
        for (int round = 0; round < 4; ++round)
        {
            auto feed = [chunk](const std::vector<char>& bytes, d::handshake_machine& to) {
                for (std::size_t pos = 0; pos < bytes.size(); pos += chunk)
                {
                    std::size_t n = std::min(chunk, bytes.size() - pos);
                    BOOST_TEST(to.feed(std::span<const char>(bytes).subspan(pos, n)) == n);
                }
            };
            feed(worker.take_output(), pool);
            feed(pool.take_output(), worker);
        }
        BOOST_TEST((pool.status() == d::handshake_status::accepted));
        BOOST_TEST((worker.status() == d::handshake_status::accepted));
    }
}

BOOST_AUTO_TEST_CASE(the_worker_reads_nothing_past_the_verdict)
{
    d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
    d::handshake_connector worker(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
    pool.feed(worker.take_output());
    worker.feed(pool.take_output());
    pool.feed(worker.take_output());
    std::vector<char> down = pool.take_output();
    const std::size_t verdict_size = down.size();
    const std::string frames = "first frame bytes";
    down.insert(down.end(), frames.begin(), frames.end());
    BOOST_TEST(worker.feed(down) == verdict_size);
    BOOST_TEST((worker.status() == d::handshake_status::accepted));
    BOOST_TEST(worker.feed(as_chars(frames)) == 0u);
}

BOOST_AUTO_TEST_CASE(a_worker_with_another_secret_leaves_and_the_pool_says_why)
{
    d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
    d::handshake_connector worker(secret_b, facts_of(), 5, 99, "h", make_nonce(8));
    transcript t = pump(pool, worker);

    BOOST_TEST((worker.status() == d::handshake_status::authentication_failed));
    BOOST_TEST(worker.reason() ==
               "the pool did not prove it holds the secret: a wrong secret, or not the pool");
    BOOST_TEST((pool.status() == d::handshake_status::authentication_failed));
    BOOST_TEST(pool.reason().find("hold different secrets") != std::string::npos);
    // The worker proved nothing (hello, then an empty abort) and received no verdict.
    BOOST_TEST_REQUIRE(t.to_pool.size() == 2u);
    BOOST_TEST(t.to_pool[1].size() == d::handshake_header_size);
    BOOST_TEST(t.to_pool[1][5] == static_cast<char>(d::handshake_message::abort));
    BOOST_TEST(t.to_worker.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_worker_that_forges_a_response_is_refused_and_learns_nothing)
{
    // A worker built differently, without the secret, answering the challenge anyway: the pool
    // refuses it as unauthenticated, and its refusal does not reveal how the programs differ.
    d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
    d::compatibility_facts other = facts_of({"x"});
    other.type_sizes[6] = 8;
    d::handshake_connector honest(secret_b, other, 5, 99, "h", make_nonce(8));
    std::vector<char> hello = honest.take_output();
    BOOST_TEST(pool.feed(hello) == hello.size());
    std::vector<char> challenge = pool.take_output();
    BOOST_TEST_REQUIRE(challenge.size() == d::handshake_header_size + 64);
    d::handshake_nonce pool_nonce;
    std::memcpy(pool_nonce.data(), challenge.data() + d::handshake_header_size, pool_nonce.size());
    d::handshake_mac forged =
        d::compute_handshake_mac(secret_b, d::handshake_mac_role::worker, hello, pool_nonce);
    std::vector<char> response = d::make_handshake_message(
        d::handshake_message::response,
        std::span<const char>(reinterpret_cast<const char*>(forged.data()), forged.size()));
    BOOST_TEST(pool.feed(response) == response.size());

    BOOST_TEST((pool.status() == d::handshake_status::authentication_failed));
    BOOST_TEST(pool.reason().find("did not prove it holds the pool's secret") != std::string::npos);
    std::vector<char> verdict = pool.take_output();
    BOOST_TEST_REQUIRE(verdict.size() > d::handshake_header_size);
    BOOST_TEST(verdict[5] == static_cast<char>(d::handshake_message::verdict));
    std::string text(verdict.begin(), verdict.end());
    BOOST_TEST(text.find("size of") == std::string::npos);
    BOOST_TEST(text.find("different program") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_impostor_pool_gets_no_response)
{
    d::handshake_acceptor impostor(secret_b, facts_of(), make_nonce(7));
    d::handshake_connector worker(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
    transcript t = pump(impostor, worker);

    BOOST_TEST((worker.status() == d::handshake_status::authentication_failed));
    BOOST_TEST(worker.reason().find("the pool did not prove it holds the secret") == 0u);
    BOOST_TEST((impostor.status() != d::handshake_status::accepted));
    for (const auto& m : t.to_pool)
        BOOST_TEST(m[5] != static_cast<char>(d::handshake_message::response));
}

BOOST_AUTO_TEST_CASE(a_replayed_hello_and_response_fail_against_a_fresh_challenge)
{
    d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
    d::handshake_connector worker(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
    transcript t = pump(pool, worker);
    BOOST_TEST_REQUIRE((pool.status() == d::handshake_status::accepted));
    BOOST_TEST_REQUIRE(t.to_pool.size() == 2u);

    // The recorded bytes, sent again to the pool's next acceptor (a fresh random nonce).
    d::handshake_acceptor next(secret_a, facts_of());
    BOOST_TEST(next.feed(t.to_pool[0]) == t.to_pool[0].size());
    BOOST_TEST(!next.take_output().empty());
    BOOST_TEST(next.feed(t.to_pool[1]) == t.to_pool[1].size());
    BOOST_TEST((next.status() == d::handshake_status::authentication_failed));
}

BOOST_AUTO_TEST_CASE(a_hello_changed_in_transit_fails_the_challenge)
{
    // Say an attacker rewrites the launch token: the pool's challenge then covers other bytes
    // than the worker sent, and the worker refuses it.
    d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
    d::handshake_connector worker(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
    std::vector<char> hello = worker.take_output();
    hello[d::handshake_header_size + 1 + d::protocol_version.size() + 4 + 8 + 4 + 32 + 7] ^= 1;
    pool.feed(hello);
    BOOST_TEST(pool.peer().token == 4u);
    worker.feed(pool.take_output());
    BOOST_TEST((worker.status() == d::handshake_status::authentication_failed));
}

BOOST_AUTO_TEST_CASE(a_verdict_changed_in_transit_is_refused)
{
    d::handshake_acceptor pool(secret_a, facts_of({"other"}), make_nonce(7));
    d::handshake_connector worker(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
    pool.feed(worker.take_output());
    worker.feed(pool.take_output());
    pool.feed(worker.take_output());
    std::vector<char> verdict = pool.take_output();
    BOOST_TEST_REQUIRE(verdict.size() > d::handshake_header_size);
    verdict[d::handshake_header_size] = 0; // "incompatible" turned into "accepted"
    worker.feed(verdict);
    BOOST_TEST((worker.status() == d::handshake_status::authentication_failed));
    BOOST_TEST(worker.reason() ==
               "the pool's verdict does not carry the pool's authentication code");
}

BOOST_AUTO_TEST_CASE(each_incompatibility_is_named_on_both_sides)
{
    const d::compatibility_facts pool_facts = facts_of();
    std::vector<std::pair<d::compatibility_facts, std::string>> cases;
    d::compatibility_facts w = pool_facts;
    w.protocol_version = "1";
    cases.emplace_back(w, "protocol version: worker 1, pool " + std::string(d::protocol_version));
    w = pool_facts;
    std::reverse(w.byte_order.begin(), w.byte_order.end());
    cases.emplace_back(w, "byte order differs");
    for (std::size_t i = 0; i < d::compared_type_names.size(); ++i)
    {
        w = pool_facts;
        ++w.type_sizes[i];
        cases.emplace_back(w, "size of " + std::string(d::compared_type_names[i]) + ": worker " +
                                  std::to_string(pool_facts.type_sizes[i] + 1) + ", pool " +
                                  std::to_string(pool_facts.type_sizes[i]));
    }
    cases.emplace_back(facts_of({"alpha", "beta", "gamma", "delta"}),
                       "worker built from a different program: it registers 4 tasks");
    cases.emplace_back(facts_of({"alpha", "beta", "omega"}),
                       "worker built from a different program: it registers 3 tasks");

    for (const auto& [worker_facts, expected] : cases)
    {
        BOOST_TEST_CONTEXT(expected)
        {
            d::handshake_acceptor pool(secret_a, pool_facts, make_nonce(7));
            d::handshake_connector worker(secret_a, worker_facts, 5, 99, "h", make_nonce(8));
            pump(pool, worker);
            BOOST_TEST((pool.status() == d::handshake_status::incompatible));
            BOOST_TEST((worker.status() == d::handshake_status::incompatible));
            BOOST_TEST(pool.reason().find(expected) != std::string::npos);
            BOOST_TEST(worker.reason() == "the pool refused this worker: " + pool.reason());
        }
    }
}

BOOST_AUTO_TEST_CASE(garbage_is_refused_by_its_first_bytes)
{
    const std::string http = "GET / HTTP/1.1\r\nHost: pool\r\n\r\n";
    auto pool = acceptor_fed(as_chars(http));
    BOOST_TEST((pool->status() == d::handshake_status::protocol_error));
    BOOST_TEST(pool->reason() == "not an asio_pal handshake: its first bytes are 474554202f204854");
    BOOST_TEST(pool->take_output().empty());
    BOOST_TEST(pool->bytes_wanted() == 0u);
    // Nothing past the header was read.
    d::handshake_acceptor again(secret_a, facts_of(), make_nonce(7));
    BOOST_TEST(again.feed(as_chars(http)) == d::handshake_header_size);
}

BOOST_AUTO_TEST_CASE(another_format_or_an_unexpected_message_is_named)
{
    std::vector<char> hello =
        d::make_handshake_message(d::handshake_message::hello, hello_body(hello_fields{}));
    std::vector<char> v2 = hello;
    v2[4] = 2;
    auto pool = acceptor_fed(v2);
    BOOST_TEST(pool->reason() == "handshake format 2, this side speaks 1");

    std::vector<char> response(d::handshake_header_size + 32, '\0');
    std::memcpy(response.data(), hello.data(), 5);
    response[5] = static_cast<char>(d::handshake_message::response);
    response[7] = 32;
    pool = acceptor_fed(response);
    BOOST_TEST(pool->reason() == "expected a hello, received a response (type 3)");

    std::vector<char> unknown = hello;
    unknown[5] = 77;
    pool = acceptor_fed(unknown);
    BOOST_TEST(pool->reason() == "expected a hello, received an unknown message (type 77)");

    // A worker sent a hello where a challenge belongs.
    d::handshake_connector worker(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
    worker.feed(hello);
    BOOST_TEST((worker.status() == d::handshake_status::protocol_error));
    BOOST_TEST(worker.reason().find("expected a challenge, received a hello") == 0u);
}

BOOST_AUTO_TEST_CASE(truncated_input_waits_for_the_rest)
{
    std::vector<char> hello =
        d::make_handshake_message(d::handshake_message::hello, hello_body(hello_fields{}));
    d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
    BOOST_TEST(pool.feed(std::span<const char>(hello).first(5)) == 5u);
    BOOST_TEST(pool.bytes_wanted() == 3u);
    BOOST_TEST(pool.feed(std::span<const char>(hello).subspan(5, hello.size() - 6)) ==
               hello.size() - 6);
    BOOST_TEST(!pool.done());
    BOOST_TEST(pool.bytes_wanted() == 1u);
    BOOST_TEST(pool.take_output().empty());
    pool.feed(std::span<const char>(hello).last(1));
    BOOST_TEST(!pool.take_output().empty()); // the challenge
}

BOOST_AUTO_TEST_CASE(oversized_lengths_are_refused_before_their_body)
{
    std::vector<char> header = d::make_handshake_message(d::handshake_message::hello, {});
    header[6] = static_cast<char>(0xff);
    header[7] = static_cast<char>(0xff);
    d::handshake_acceptor pool(secret_a, facts_of(), make_nonce(7));
    std::vector<char> input = header;
    input.resize(input.size() + 2000, 'x');
    BOOST_TEST(pool.feed(input) == d::handshake_header_size);
    BOOST_TEST((pool.status() == d::handshake_status::protocol_error));
    BOOST_TEST(pool.reason() == "a hello of 65535 bytes (from 96 to 381)");

    // The largest message allowed still fits the limit; one byte more of hello does not.
    header[6] = 1;
    header[7] = static_cast<char>(381 - 256 + 1);
    BOOST_TEST(acceptor_fed(header)->reason() == "a hello of 382 bytes (from 96 to 381)");

    // A challenge of the wrong size, and a verdict's reason above the bound.
    d::handshake_connector worker(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
    std::vector<char> challenge =
        d::make_handshake_message(d::handshake_message::challenge, std::vector<char>(65, 'c'));
    worker.feed(challenge);
    BOOST_TEST(worker.reason() == "a challenge of 65 bytes (it has 64)");

    d::handshake_acceptor good(secret_a, facts_of(), make_nonce(7));
    d::handshake_connector w2(secret_a, facts_of(), 5, 99, "h", make_nonce(8));
    good.feed(w2.take_output());
    w2.feed(good.take_output());
    BOOST_TEST(!w2.done());
    std::vector<char> verdict;
    verdict.push_back(2);
    put(verdict, 513, 2);
    verdict.resize(1 + 2 + 512 + 32, 'r');
    w2.feed(d::make_handshake_message(d::handshake_message::verdict, verdict));
    BOOST_TEST((w2.status() == d::handshake_status::protocol_error));
    BOOST_TEST(w2.reason() == "a verdict whose reason has 513 bytes (at most 512)");
}

BOOST_AUTO_TEST_CASE(malformed_hellos_are_named)
{
    auto reason_for = [](const hello_fields& h) {
        return acceptor_fed(d::make_handshake_message(d::handshake_message::hello, hello_body(h)))
            ->reason();
    };
    hello_fields h;
    BOOST_TEST(reason_for(h).empty());
    h.host = "two words";
    BOOST_TEST(reason_for(h) == "a hello whose host name is not 1 to 255 printable bytes");
    h.host = std::string(1, '\x07') + "bell";
    BOOST_TEST(reason_for(h) == "a hello whose host name is not 1 to 255 printable bytes");
    h = hello_fields{};
    h.host.clear();
    h.extra = "z"; // keeps the body within the bounds
    BOOST_TEST(reason_for(h) == "a hello whose host name is not 1 to 255 printable bytes");
    h = hello_fields{};
    h.pid = 0;
    BOOST_TEST(reason_for(h) == "a hello with pid 0");
    h.pid = 0x80000000u;
    BOOST_TEST(reason_for(h) == "a hello with pid 2147483648");
    h = hello_fields{};
    h.version = "3\n";
    BOOST_TEST(reason_for(h) == "a hello whose protocol version is not 1 to 32 printable bytes");
    h = hello_fields{};
    h.extra = "!!";
    BOOST_TEST(reason_for(h) == "a hello with 2 bytes too many");

    // A host name's length running past the end of the body.
    std::vector<char> body = hello_body(hello_fields{});
    body[1 + d::protocol_version.size() + 4 + 8 + 4 + 32 + 8 + 4] = static_cast<char>(200);
    BOOST_TEST(
        acceptor_fed(d::make_handshake_message(d::handshake_message::hello, body))->reason() ==
        "a hello cut short: 200 bytes wanted, 37 left");
}

BOOST_AUTO_TEST_CASE(a_connector_refuses_bad_arguments)
{
    auto make = [](std::int64_t pid, const std::string& host, std::string version) {
        d::compatibility_facts f = facts_of();
        f.protocol_version = std::move(version);
        d::handshake_connector c(secret_a, f, 1, pid, host);
    };
    BOOST_CHECK_NO_THROW(make(1, std::string(255, 'h'), "3"));
    BOOST_CHECK_THROW(make(1, std::string(256, 'h'), "3"), std::invalid_argument);
    BOOST_CHECK_THROW(make(1, "", "3"), std::invalid_argument);
    BOOST_CHECK_THROW(make(1, "a b", "3"), std::invalid_argument);
    BOOST_CHECK_THROW(make(0, "h", "3"), std::invalid_argument);
    BOOST_CHECK_THROW(make(-5, "h", "3"), std::invalid_argument);
    BOOST_CHECK_THROW(make(std::int64_t{1} << 31, "h", "3"), std::invalid_argument);
    BOOST_CHECK_THROW(make(1, "h", ""), std::invalid_argument);
    BOOST_CHECK_THROW(make(1, "h", std::string(33, '3')), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

namespace {

// A pool listening on 127.0.0.1, serving handshakes with the Asio shell.
struct loopback_pool
{
    net::io_context io;
    tcp::acceptor listener{io, tcp::endpoint(net::ip::address_v4::loopback(), 0)};
    std::uint16_t port = listener.local_endpoint().port();

    struct result
    {
        bool done = false;
        std::exception_ptr error;
        d::handshake_peer peer;
    };

    // Accepts one connection and runs the pool's handshake on it; once accepted, writes `after`
    // to the worker (the first bytes of what would follow). The socket stays open until `r` is
    // set, then closes.
    void serve_one(const d::handshake_secret& secret, const d::compatibility_facts& expected,
                   std::chrono::steady_clock::duration timeout, result& r, std::string after = {})
    {
        listener.async_accept(
            [&, secret, expected, timeout, after](boost::system::error_code ec, tcp::socket s) {
            BOOST_TEST_REQUIRE(!ec);
            auto socket = std::make_shared<tcp::socket>(std::move(s));
            d::async_accept_handshake(
                *socket, secret, expected, timeout,
                [&r, socket, after](std::exception_ptr e, d::handshake_peer peer) {
                r.error = e;
                r.peer = std::move(peer);
                if (e || after.empty())
                {
                    r.done = true;
                    return;
                }
                auto bytes = std::make_shared<std::string>(after);
                net::async_write(*socket, net::buffer(*bytes),
                                 [&r, socket, bytes](boost::system::error_code, std::size_t) {
                    r.done = true;
                });
                });
        });
    }

    // Runs the io_context until `r` is set (bounded).
    void run_until(const result& r)
    {
        const auto limit = std::chrono::steady_clock::now() + 60s;
        while (!r.done && std::chrono::steady_clock::now() < limit)
        {
            io.restart();
            io.run_for(100ms);
        }
        BOOST_TEST_REQUIRE(r.done);
    }
};

// The worker side in a thread of its own, as a worker process would run it.
struct worker_thread
{
    std::exception_ptr error;
    std::string received;
    std::thread thread;

    worker_thread(std::uint16_t port, const d::handshake_secret& secret,
                  const d::compatibility_facts& facts, std::size_t read_after = 0)
        : thread([this, port, secret, facts, read_after] {
            try
            {
                int fd = d::connect_and_handshake("127.0.0.1", port, secret, facts, 77, 30s);
                // The socket must stand right after the verdict: read what follows.
                std::array<char, 64> buf;
                while (received.size() < read_after)
                {
                    pollfd p{fd, POLLIN, 0};
                    if (::poll(&p, 1, 30000) != 1)
                        break;
                    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
                    if (n <= 0)
                        break;
                    received.append(buf.data(), static_cast<std::size_t>(n));
                }
                ::close(fd);
            }
            catch (...)
            {
                error = std::current_exception();
            }
        })
    {}

    ~worker_thread()
    {
        if (thread.joinable())
            thread.join();
    }
};

std::string this_host()
{
    char buf[256] = {};
    ::gethostname(buf, sizeof buf - 1);
    return buf;
}

} // namespace

BOOST_AUTO_TEST_SUITE(over_tcp)

BOOST_AUTO_TEST_CASE(the_blocking_worker_is_accepted_by_the_asio_pool)
{
    loopback_pool pool;
    loopback_pool::result r;
    pool.serve_one(secret_a, facts_of(), 30s, r, "FRAMES");
    worker_thread worker(pool.port, secret_a, facts_of(), 6);
    pool.run_until(r);
    worker.thread.join();

    BOOST_TEST_INFO(message_of(r.error));
    BOOST_TEST(!r.error);
    BOOST_TEST_INFO(message_of(worker.error));
    BOOST_TEST(!worker.error);
    BOOST_TEST(r.peer.host == this_host());
    BOOST_TEST(r.peer.pid == ::getpid());
    BOOST_TEST(r.peer.token == 77u);
    BOOST_TEST((r.peer.facts == facts_of()));
    BOOST_TEST(worker.received == "FRAMES");
}

BOOST_AUTO_TEST_CASE(different_secrets_fail_on_both_sides)
{
    loopback_pool pool;
    loopback_pool::result r;
    pool.serve_one(secret_b, facts_of(), 30s, r);
    worker_thread worker(pool.port, secret_a, facts_of());
    pool.run_until(r);
    worker.thread.join();

    BOOST_TEST_REQUIRE(bool(r.error));
    BOOST_TEST((code_of(r.error) == d::handshake_errc::authentication_failed));
    std::string pool_says = message_of(r.error);
    BOOST_TEST(pool_says.find("asio_pal: handshake with the worker at 127.0.0.1:") == 0u);
    BOOST_TEST(pool_says.find("hold different secrets") != std::string::npos);
    BOOST_TEST(r.peer.host.empty());

    BOOST_TEST_REQUIRE(bool(worker.error));
    BOOST_TEST((code_of(worker.error) == d::handshake_errc::authentication_failed));
    BOOST_TEST(message_of(worker.error) ==
               "asio_pal: handshake with the pool at 127.0.0.1:" + std::to_string(pool.port) +
                   " failed: the pool did not prove it holds the secret: a wrong secret, or not "
                   "the pool: handshake authentication failed [asio_pal.handshake:1]");
}

BOOST_AUTO_TEST_CASE(an_incompatible_worker_is_told_why)
{
    loopback_pool pool;
    loopback_pool::result r;
    pool.serve_one(secret_a, facts_of(), 30s, r);
    worker_thread worker(pool.port, secret_a, facts_of({"alpha"}));
    pool.run_until(r);
    worker.thread.join();

    BOOST_TEST_REQUIRE(bool(r.error));
    BOOST_TEST((code_of(r.error) == d::handshake_errc::incompatible));
    BOOST_TEST(message_of(r.error).find("it registers 1 tasks") != std::string::npos);
    BOOST_TEST_REQUIRE(bool(worker.error));
    BOOST_TEST((code_of(worker.error) == d::handshake_errc::incompatible));
    BOOST_TEST(message_of(worker.error)
                   .find("the pool refused this worker: worker built from a "
                         "different program: it registers 1 tasks") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_silent_client_times_out)
{
    loopback_pool pool;
    loopback_pool::result r;
    pool.serve_one(secret_a, facts_of(), 50ms, r);
    tcp::socket client(pool.io);
    client.connect(tcp::endpoint(net::ip::address_v4::loopback(), pool.port));
    pool.run_until(r);

    BOOST_TEST_REQUIRE(bool(r.error));
    BOOST_TEST((code_of(r.error) == net::error::timed_out));
    BOOST_TEST(message_of(r.error).find("asio_pal: no handshake with the worker at 127.0.0.1:") ==
               0u);
    BOOST_TEST(message_of(r.error).find(" within 50 ms") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_garbage_client_is_refused_and_receives_nothing)
{
    loopback_pool pool;
    loopback_pool::result r;
    pool.serve_one(secret_a, facts_of(), 30s, r);
    tcp::socket client(pool.io);
    client.connect(tcp::endpoint(net::ip::address_v4::loopback(), pool.port));
    net::write(client, net::buffer(std::string("GET / HTTP/1.0\r\n\r\n")));
    pool.run_until(r);

    BOOST_TEST_REQUIRE(bool(r.error));
    BOOST_TEST((code_of(r.error) == d::handshake_errc::protocol_error));
    BOOST_TEST(message_of(r.error).find("not an asio_pal handshake") != std::string::npos);
    // The pool's socket is gone with the handler: the client reads end of file, no byte.
    pollfd p{client.native_handle(), POLLIN, 0};
    BOOST_TEST_REQUIRE(::poll(&p, 1, 30000) == 1);
    std::array<char, 16> buf;
    boost::system::error_code ec;
    std::size_t n = client.read_some(net::buffer(buf), ec);
    BOOST_TEST(n == 0u);
    BOOST_TEST((ec == net::error::eof || ec == net::error::connection_reset));
}

BOOST_AUTO_TEST_CASE(a_client_that_hangs_up_mid_hello_is_named)
{
    loopback_pool pool;
    loopback_pool::result r;
    pool.serve_one(secret_a, facts_of(), 30s, r);
    {
        tcp::socket client(pool.io);
        client.connect(tcp::endpoint(net::ip::address_v4::loopback(), pool.port));
        d::handshake_connector c(secret_a, facts_of(), 1, 2, "h");
        std::vector<char> hello = c.take_output();
        net::write(client, net::buffer(hello.data(), hello.size() / 2));
    }
    pool.run_until(r);

    BOOST_TEST_REQUIRE(bool(r.error));
    BOOST_TEST((code_of(r.error) == net::error::eof));
    BOOST_TEST(message_of(r.error).find("closed the connection during the handshake") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_coroutine_receives_the_failure_as_an_exception)
{
    loopback_pool pool;
    std::string caught;
    bool done = false;
    const d::compatibility_facts expected = facts_of();
    tcp::socket client(pool.io);
    net::co_spawn(
        pool.io,
        [&]() -> net::awaitable<void> {
            tcp::socket s = co_await pool.listener.async_accept(net::use_awaitable);
            try
            {
                co_await d::async_accept_handshake(s, secret_a, expected, 30s, net::use_awaitable);
            }
            catch (const d::handshake_error& e)
            {
                caught = e.what();
            }
            done = true;
        },
        net::detached);
    client.connect(tcp::endpoint(net::ip::address_v4::loopback(), pool.port));
    net::write(client, net::buffer(std::string(8, '\0')));
    const auto limit = std::chrono::steady_clock::now() + 60s;
    while (!done && std::chrono::steady_clock::now() < limit)
    {
        pool.io.restart();
        pool.io.run_for(100ms);
    }
    BOOST_TEST_REQUIRE(done);
    BOOST_TEST(caught.find("its first bytes are 0000000000000000") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_worker_times_out_against_a_silent_pool)
{
    // Listening, never accepting: the kernel completes the connection, nobody answers.
    net::io_context io;
    tcp::acceptor listener(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    const std::uint16_t port = listener.local_endpoint().port();
    try
    {
        int fd = d::connect_and_handshake("127.0.0.1", port, secret_a, facts_of(), 1, 100ms);
        ::close(fd);
        BOOST_FAIL("a handshake without a pool");
    }
    catch (const d::handshake_error& e)
    {
        BOOST_TEST((e.code() == net::error::timed_out));
        BOOST_TEST(std::string(e.what()).find("asio_pal: no handshake with the pool at 127.0.0.1:" +
                                              std::to_string(port) + " within 100 ms") == 0u);
    }
}

BOOST_AUTO_TEST_CASE(a_worker_reports_a_refused_connection)
{
    std::uint16_t port = 0;
    {
        net::io_context io;
        tcp::acceptor listener(io, tcp::endpoint(net::ip::address_v4::loopback(), 0));
        port = listener.local_endpoint().port();
    }
    try
    {
        int fd = d::connect_and_handshake("127.0.0.1", port, secret_a, facts_of(), 1, 30s);
        ::close(fd);
        BOOST_FAIL("connected to a closed port");
    }
    catch (const d::handshake_error& e)
    {
        BOOST_TEST((e.code() == boost::system::errc::connection_refused));
        BOOST_TEST(std::string(e.what()).find("asio_pal: cannot connect to the pool at "
                                              "127.0.0.1:") == 0u);
    }
}

BOOST_AUTO_TEST_SUITE_END()
