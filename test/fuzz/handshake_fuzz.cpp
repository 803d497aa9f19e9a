//
// test/fuzz/handshake_fuzz.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// libFuzzer target for the decoders of asio_pal/detail/handshake.hpp. The first byte picks what
// the rest is and how it is split into reads:
//   0: a byte stream from a "worker" to the pool's acceptor;
//   1: a byte stream from a "pool" to a worker's connector, after its hello;
//   2: the body of a hello, which the harness answers with a valid response, so that the facts
//      are decoded and compared;
//   3: the body of a verdict before its code, which the harness signs with the secret, after a
//      valid challenge.
// Besides the sanitizers, checks that feed() never throws, never reads past the handshake and
// never accepts without the secret, that a decoded hello encodes back to the same bytes, and that
// the outcome after a valid response is exactly what the facts' comparison says. Run by
// run_fuzz.sh.
//

#include "asio_pal/detail/handshake.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "fuzz_check.hpp"

namespace d = asio_pal::detail;

namespace {

const d::handshake_secret secret = d::handshake_secret::from_hex(
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");

d::handshake_nonce fixed_nonce(unsigned char fill)
{
    d::handshake_nonce n;
    n.fill(fill);
    return n;
}

// This machine's facts with a protocol version and a task set that seeds can spell: "fuzz", one
// task, a digest of zeros.
d::compatibility_facts expected_facts()
{
    d::compatibility_facts f = d::make_compatibility_facts(std::vector<std::string>{});
    f.protocol_version = "fuzz";
    f.task_count = 1;
    f.task_digest = {};
    return f;
}

bool printable(const std::string& s, bool spaces)
{
    return std::all_of(s.begin(), s.end(),
                       [spaces](char c) { return (c > ' ' || (spaces && c == ' ')) && c <= '~'; });
}

void check_machine(const d::handshake_machine& m)
{
    FUZZ_CHECK(m.done() == (m.bytes_wanted() == 0));
    FUZZ_CHECK(m.bytes_wanted() <= d::max_handshake_message_size);
    if (m.done() && m.status() != d::handshake_status::accepted)
        FUZZ_CHECK(!m.reason().empty() && printable(m.reason(), true));
    if (!m.done() || m.status() == d::handshake_status::accepted)
        FUZZ_CHECK(m.reason().empty());
}

// Feeds `in` to `m` in reads of varying size; returns the bytes it used.
std::size_t feed_split(d::handshake_machine& m, std::span<const char> in, std::uint32_t& rng)
{
    std::size_t used = 0;
    while (used < in.size())
    {
        rng = rng * 1103515245u + 12345u;
        const std::size_t n = std::min<std::size_t>(1 + (rng >> 16) % 300, in.size() - used);
        const bool was_done = m.done();
        std::size_t took = 0;
        try
        {
            took = m.feed(in.subspan(used, n));
        }
        catch (...)
        {
            FUZZ_CHECK(false); // bad input ends the handshake; it never throws
        }
        FUZZ_CHECK(took <= n);
        FUZZ_CHECK(!was_done || took == 0);
        FUZZ_CHECK(took == n || m.done());
        check_machine(m);
        used += took;
        if (took < n)
            break;
    }
    return used;
}

void check_output(const std::vector<char>& out)
{
    FUZZ_CHECK(out.size() <= 2 * d::max_handshake_message_size);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const std::uint8_t seed = data[0];
    std::uint32_t rng = 0x9E3779B9u ^ seed;
    std::span<const char> in(reinterpret_cast<const char*>(data) + 1, size - 1);
    const d::compatibility_facts expected = expected_facts();

    switch (seed & 3)
    {
    case 0:
    {
        d::handshake_acceptor pool(secret, expected, fixed_nonce(7));
        feed_split(pool, in, rng);
        check_output(pool.take_output());
        // Without the secret, no stream of bytes is accepted.
        FUZZ_CHECK(pool.status() != d::handshake_status::accepted);
        break;
    }
    case 1:
    {
        d::handshake_connector worker(secret, expected, 1, 2, "h", fixed_nonce(8));
        (void)worker.take_output();
        feed_split(worker, in, rng);
        check_output(worker.take_output());
        FUZZ_CHECK(worker.status() != d::handshake_status::accepted);
        break;
    }
    case 2:
    {
        if (in.size() > d::max_handshake_message_size - d::handshake_header_size)
            return 0;
        std::vector<char> hello = d::make_handshake_message(d::handshake_message::hello, in);
        d::handshake_acceptor pool(secret, expected, fixed_nonce(7));
        const std::size_t used = feed_split(pool, hello, rng);
        std::vector<char> challenge = pool.take_output();
        if (pool.done())
        {
            FUZZ_CHECK(pool.status() == d::handshake_status::protocol_error);
            FUZZ_CHECK(challenge.empty());
            return 0;
        }
        FUZZ_CHECK(used == hello.size());
        FUZZ_CHECK(challenge.size() ==
                   d::handshake_header_size + d::handshake_nonce_size + d::handshake_mac_size);

        // A decoded hello has one encoding: the connector that holds its fields writes it again.
        const d::handshake_peer claimed = pool.peer();
        FUZZ_CHECK(!claimed.host.empty() && claimed.host.size() <= d::max_handshake_host_size);
        FUZZ_CHECK(printable(claimed.host, false));
        FUZZ_CHECK(claimed.pid > 0 && claimed.pid <= 0x7fffffff);
        d::handshake_nonce worker_nonce;
        std::memcpy(worker_nonce.data(), hello.data() + hello.size() - worker_nonce.size(),
                    worker_nonce.size());
        d::handshake_connector again(secret, claimed.facts, claimed.token, claimed.pid,
                                     claimed.host, worker_nonce);
        std::vector<char> rewritten = again.take_output();
        FUZZ_CHECK(rewritten == hello);

        // Answer as the worker with the secret would.
        FUZZ_CHECK(again.feed(challenge) == challenge.size());
        FUZZ_CHECK(!again.done());
        std::vector<char> response = again.take_output();
        FUZZ_CHECK(feed_split(pool, response, rng) == response.size());
        FUZZ_CHECK(pool.done());
        const std::string diffs = d::describe_differences(claimed.facts, expected);
        if (diffs.empty())
        {
            FUZZ_CHECK(pool.status() == d::handshake_status::accepted);
            FUZZ_CHECK(pool.peer().host == claimed.host && pool.peer().token == claimed.token);
        }
        else
        {
            FUZZ_CHECK(pool.status() == d::handshake_status::incompatible);
            FUZZ_CHECK(pool.reason() == diffs);
        }
        std::vector<char> verdict = pool.take_output();
        FUZZ_CHECK(verdict.size() <= d::max_handshake_message_size);
        FUZZ_CHECK(feed_split(again, verdict, rng) == verdict.size());
        FUZZ_CHECK(again.status() == pool.status());
        break;
    }
    case 3:
    {
        d::handshake_acceptor pool(secret, expected, fixed_nonce(7));
        d::handshake_connector worker(secret, expected, 1, 2, "h", fixed_nonce(8));
        std::vector<char> hello = worker.take_output();
        pool.feed(hello);
        worker.feed(pool.take_output());
        FUZZ_CHECK(!worker.done());
        (void)worker.take_output();
        if (in.size() + d::handshake_mac_size >
            d::max_handshake_message_size - d::handshake_header_size)
            return 0;
        d::handshake_mac mac = d::compute_handshake_mac(secret, d::handshake_mac_role::verdict,
                                                        hello, fixed_nonce(7), in);
        std::vector<char> body(in.begin(), in.end());
        body.insert(body.end(), mac.begin(), mac.end());
        std::vector<char> verdict = d::make_handshake_message(d::handshake_message::verdict, body);
        feed_split(worker, verdict, rng);
        FUZZ_CHECK(worker.done());
        FUZZ_CHECK(worker.take_output().empty());
        // A signed verdict is accepted exactly when it says so with no reason.
        const bool says_accepted = in.size() == 3 && in[0] == 0 && in[1] == 0 && in[2] == 0;
        FUZZ_CHECK((worker.status() == d::handshake_status::accepted) == says_accepted);
        if (worker.status() == d::handshake_status::authentication_failed ||
            worker.status() == d::handshake_status::incompatible)
            FUZZ_CHECK(worker.reason().rfind("the pool refused this worker: ", 0) == 0);
        break;
    }
    }
    return 0;
}
