//
// asio_pal/impl/worker.ipp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The child side of a process pool: read frames, run registered functions, answer.
// Deliberately plain blocking I/O: a worker does one thing at a time.
//

#ifndef ASIO_PAL_IMPL_WORKER_IPP
#define ASIO_PAL_IMPL_WORKER_IPP

#include "asio_pal/detail/handshake.hpp"
#include "asio_pal/detail/process_policy.hpp"
#include "asio_pal/detail/remote_exception.hpp"
#include "asio_pal/detail/task_registry.hpp"
#include "asio_pal/detail/tls_tunnel.hpp"
#include "asio_pal/detail/wire.hpp"
#include "asio_pal/detail/worker_protocol.hpp"
#include "asio_pal/error.hpp"
#include "asio_pal/registry.hpp"
#include "asio_pal/worker.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace asio_pal {
namespace detail {

int probe_task(int x)
{
    return 2 * x;
}

namespace {

[[maybe_unused]] const bool probe_registered =
    register_task<&probe_task>("asio_pal::detail::probe_task");

// Cancellation requests, written by the signal handler: the task running now, and a ring of
// the latest requests for tasks not started yet.
constexpr std::size_t cancel_ring_size = 64;
// A request can be overwritten only by later ones, which target tasks held at the same time
// (at most max_tasks_in_flight, one of them running): all of them fit.
static_assert(cancel_ring_size >= max_tasks_in_flight,
              "the cancel ring must hold a request for every task a worker may hold");
std::atomic<std::uint32_t> running_seq{0};
std::atomic<std::uint32_t> cancel_ring[cancel_ring_size];
std::atomic<std::uint32_t> cancel_ring_next{0};
pid_t parent_pid = 0;

static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

/// A request to stop task `seq` (its low 32 bits): the worker exits if it runs it now, or skips
/// it later. Async-signal-safe.
void cancel_request(std::uint32_t seq) noexcept
{
    if (seq != 0 && seq == running_seq.load())
        ::_exit(cancelled_exit_status);
    cancel_ring[cancel_ring_next.fetch_add(1) % cancel_ring_size].store(seq);
}

void on_cancel_signal(int, siginfo_t* info, void*)
{
    if (info->si_code != SI_QUEUE || info->si_pid != parent_pid)
        return;
    cancel_request(static_cast<std::uint32_t>(info->si_value.sival_int));
}

bool cancel_requested(std::uint32_t seq) noexcept
{
    for (auto& slot : cancel_ring)
        if (slot.load() == seq)
            return true;
    return false;
}

[[noreturn]] void die(int status, const std::string& why)
{
    std::fprintf(stderr, "asio_pal worker %d: %s\n", static_cast<int>(::getpid()), why.c_str());
    std::fflush(nullptr);
    ::_exit(status);
}

// A remote worker's relay thread writes heartbeats to the same connection as the serving
// thread: whole frames, one at a time. Connections (fds 4 and 5 of a remote worker) are
// written with MSG_NOSIGNAL.
std::mutex output_mutex;
bool output_is_socket = false;
// Set by the serving thread before its last frame (bye, or an initializer's or finalizer's
// failure): from then on the end of the connection is expected, and a remote worker's relay
// thread returns on it instead of ending the process, since serve_pool_at returns to its
// caller (an MPI rank then calls MPI_Finalize).
std::atomic<bool> session_ending{false};

void write_all(int fd, const std::vector<char>& buf)
{
    std::lock_guard<std::mutex> lock(output_mutex);
    const char* p = buf.data();
    std::size_t left = buf.size();
    while (left > 0)
    {
        ssize_t n = output_is_socket ? ::send(fd, p, left, MSG_NOSIGNAL) : ::write(fd, p, left);
        if (n < 0)
        {
            if (errno == EINTR)
                continue;
            die(71, std::string("cannot write to the pool: ") + std::strerror(errno));
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

/// The descriptors a session serves on: a local worker's 3, 4 and 5, or those of a remote
/// worker that keeps its connections where they are (session_descriptors::own).
struct session_fds
{
    int input = worker_input_fd;   ///< the pool's frames
    int output = worker_output_fd; ///< replies
    int direct = worker_direct_fd; ///< run()'s tasks and replies; -1: none
};

class worker_session
{
public:
    worker_session(std::size_t max_frame, std::string pool, session_fds fds = {})
        : max_frame_(max_frame)
        , pool_(std::move(pool))
        , fds_(fds)
        , decoder_(max_frame)
    {}

    /// Serves until told to quit (returns its exit status) or the parent goes away.
    /// A remote worker's second connection (fd 5): run()'s short cut sends its tasks there,
    /// straight to this thread, and reads the replies there.
    void serve_direct_connection() { direct_open_ = true; }

    int serve()
    {
        for (;;)
        {
            if (direct_open_ && !wait_for_input())
                continue; // a direct task was served
            std::span<char> space = decoder_.prepare();
            ssize_t n = ::read(fds_.input, space.data(), space.size());
            if (n < 0)
            {
                if (errno == EINTR)
                    continue;
                die(71, std::string("cannot read from the pool: ") + std::strerror(errno));
            }
            if (n == 0) // the parent is gone (or dropped us without a word): nothing to report
            {
                std::fflush(nullptr);
                ::_exit(0);
            }
            decoder_.commit(static_cast<std::size_t>(n));
            try
            {
                while (auto f = decoder_.next())
                {
                    if (std::optional<int> status = handle(*f))
                        return *status;
                }
            }
            catch (const std::exception& e)
            {
                die(72, std::string("protocol error: ") + e.what());
            }
        }
    }

private:
    std::optional<int> handle(const frame_view& f)
    {
        switch (f.type)
        {
        case frame_type::init:
        {
            std::string init_name, fini_name;
            std::vector<char> init_args;
            decode(f.body, init_name, init_args, fini_name, fini_args_);
            fini_name_ = std::move(fini_name);
            if (!init_name.empty())
            {
                if (std::exception_ptr e = call(init_name, init_args))
                {
                    session_ending.store(true);
                    send_exception(frame_type::init_failed, 0, e, init_name);
                    return 3;
                }
            }
            std::size_t at = begin_frame(out_, frame_type::hello, 0);
            end_frame(out_, at, max_frame_);
            send();
            return std::nullopt;
        }
        case frame_type::task:
            run_task(f, fds_.output);
            return std::nullopt;
        case frame_type::direct_task:
            run_task(f, fds_.direct);
            return std::nullopt;
        case frame_type::quit:
        {
            if (!fini_name_.empty())
            {
                if (std::exception_ptr e = call(fini_name_, fini_args_))
                {
                    session_ending.store(true);
                    send_exception(frame_type::fini_failed, 0, e, fini_name_);
                    return 4;
                }
            }
            session_ending.store(true);
            std::size_t at = begin_frame(out_, frame_type::bye, 0);
            end_frame(out_, at, max_frame_);
            send();
            std::fflush(nullptr);
            return 0;
        }
        default:
            throw frame_error(std::string("unexpected ") + frame_type_name(f.type) + " frame");
        }
    }

    /// Calls a registered function for its side effects (initializer, finalizer).
    std::exception_ptr call(const std::string& name, const std::vector<char>& args) noexcept
    {
        try
        {
            const task_entry& e = entry(name);
            std::vector<char> ignored;
            e.invoke(args, ignored);
            return nullptr;
        }
        catch (...)
        {
            return std::current_exception();
        }
    }

    const task_entry& entry(const std::string& name)
    {
        const task_entry* e = find_task(std::string_view(name));
        if (!e)
            throw unregistered_task_error(
                "asio_pal: task '" + name + "' is not registered in the worker executable " +
                executable_name() + " (add ASIO_PAL_REGISTER_TASK there too)");
        return *e;
    }

    static std::string executable_name()
    {
        char buf[4096];
        ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("(unknown)");
    }

    /// Runs a task and writes its reply to `reply_fd`. A direct task is never cancelled by
    /// signal (its caller is blocked in run(), nothing can cancel it): it has no sequence.
    void run_task(const frame_view& f, int reply_fd)
    {
        std::string name;
        std::uint8_t mode = 0;
        std::span<const char> args;
        {
            byte_input_archive ar(f.body);
            ar(name, mode);
            args = f.body.subspan(f.body.size() - ar.remaining());
        }
        bool direct = f.type == frame_type::direct_task;
        auto seq32 = direct ? std::uint32_t{0} : static_cast<std::uint32_t>(f.seq);
        running_seq.store(seq32);
        if (!direct && cancel_requested(seq32))
        {
            running_seq.store(0);
            std::size_t at = begin_frame(out_, frame_type::skipped, f.seq);
            end_frame(out_, at, max_frame_);
            send();
            return;
        }
        std::size_t at = begin_frame(out_, frame_type::result, f.seq);
        std::exception_ptr failure;
        try
        {
            const task_entry& e = entry(name);
            if (mode == static_cast<std::uint8_t>(call_mode::chunk))
            {
                std::exception_ptr item_error = e.invoke_chunk(args, out_);
                byte_output_archive ar(out_);
                ar(static_cast<bool>(item_error));
                if (item_error)
                    ar(capture_exception(item_error, name, ::getpid()));
            }
            else if (mode == static_cast<std::uint8_t>(call_mode::single))
            {
                e.invoke(args, out_);
            }
            else
            {
                throw frame_error("unknown call mode " + std::to_string(mode));
            }
        }
        catch (...)
        {
            failure = std::current_exception();
        }
        running_seq.store(0);
        if (!failure)
        {
            try
            {
                end_frame(out_, at, max_frame_);
            }
            catch (const std::exception& e)
            {
                failure = std::make_exception_ptr(
                    protocol_error("asio_pal: the result of task '" + name +
                                   "' does not fit in a frame: " + e.what()));
            }
        }
        if (failure)
        {
            out_.resize(at);
            send_exception(frame_type::failure, f.seq, failure, name, reply_fd);
            return;
        }
        send(reply_fd);
    }

    void send_exception(frame_type type, std::uint64_t seq, std::exception_ptr e,
                        const std::string& task, int fd = -1)
    {
        std::size_t at = begin_frame(out_, type, seq);
        {
            byte_output_archive ar(out_);
            ar(capture_exception(e, task, ::getpid()));
        }
        try
        {
            end_frame(out_, at, max_frame_);
        }
        catch (const std::exception& too_big)
        {
            // Even the description is too long (a huge message): send a short one.
            at = begin_frame(out_, type, seq);
            {
                byte_output_archive ar(out_);
                ar(capture_exception(std::make_exception_ptr(protocol_error(too_big.what())), task,
                                     ::getpid()));
            }
            end_frame(out_, at, max_frame_);
        }
        send(fd);
    }

    /// Writes out_ to `fd`; -1: the output.
    void send(int fd = -1)
    {
        write_all(fd < 0 ? fds_.output : fd, out_);
        out_.clear();
    }

    /// Waits until the input can be read, serving the direct tasks that come meanwhile; false
    /// when it served one (look again).
    bool wait_for_input()
    {
        pollfd pfd[2] = {{fds_.input, POLLIN, 0}, {fds_.direct, POLLIN, 0}};
        int r = ::poll(pfd, 2, -1);
        if (r < 0)
        {
            if (errno == EINTR)
                return false;
            die(71, std::string("cannot poll the pool's descriptors: ") + std::strerror(errno));
        }
        if (pfd[1].revents == 0)
            return true;
        std::span<char> space = direct_decoder_.prepare();
        ssize_t n = ::read(fds_.direct, space.data(), space.size());
        if (n <= 0)
        {
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return false;
            direct_open_ = false; // the pool closed it: its run() goes through fd 3 then
            return true;
        }
        direct_decoder_.commit(static_cast<std::size_t>(n));
        try
        {
            while (auto f = direct_decoder_.next())
            {
                if (f->type != frame_type::direct_task)
                    throw frame_error(std::string("unexpected ") + frame_type_name(f->type) +
                                      " frame on the direct connection");
                run_task(*f, fds_.direct);
            }
        }
        catch (const std::exception& e)
        {
            die(72, std::string("protocol error: ") + e.what());
        }
        return false;
    }

    std::size_t max_frame_;
    std::string pool_;
    session_fds fds_;
    frame_decoder decoder_;
    frame_decoder direct_decoder_{max_frame_};
    bool direct_open_ = false;
    std::vector<char> out_;
    std::string fini_name_;
    std::vector<char> fini_args_;
};

bool parse_number(const char* s, std::uint64_t& out) noexcept
{
    std::string_view v(s);
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc() && p == v.data() + v.size();
}

/**
 * The thread between a remote worker's connection and its serving thread, which reads fd 3
 * as a local worker does: it forwards the pool's frames to fd 3 (a pipe), acts on cancel
 * frames at once (as the signal handler of a local worker does), and sends a heartbeat every
 * `interval`, also while a task runs. The connection's end is the pool's: the worker exits,
 * whatever it is doing, as a local worker dies with its parent; but once the serving thread has
 * said its last frame (session_ending), the relay sends no more heartbeats and returns at the
 * connection's end.
 */
void relay(int connection, int to_serving, std::size_t max_frame,
           std::chrono::milliseconds interval)
{
    frame_decoder decoder(max_frame);
    std::vector<char> heartbeat;
    {
        std::size_t at = begin_frame(heartbeat, frame_type::heartbeat, 0);
        end_frame(heartbeat, at, max_frame);
    }
    std::vector<char> pending; // for the serving thread, while its pipe is full
    std::size_t pending_at = 0;
    auto next_beat = std::chrono::steady_clock::now();
    for (;;)
    {
        auto now = std::chrono::steady_clock::now();
        if (now >= next_beat)
        {
            if (!session_ending.load())
                write_all(connection, heartbeat);
            next_beat = now + interval;
        }
        pollfd pfd[2] = {{connection, POLLIN, 0},
                         {to_serving, static_cast<short>(pending.empty() ? 0 : POLLOUT), 0}};
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_beat - now);
        int r = ::poll(pfd, 2, static_cast<int>(wait.count()) + 1);
        if (r < 0 && errno != EINTR)
            die(71, std::string("cannot poll the pool's connection: ") + std::strerror(errno));
        if (r <= 0)
            continue;
        if ((pfd[1].revents & (POLLOUT | POLLERR | POLLHUP)) != 0)
        {
            ssize_t n =
                ::write(to_serving, pending.data() + pending_at, pending.size() - pending_at);
            if (n > 0)
                pending_at += static_cast<std::size_t>(n);
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                die(71, std::string("cannot forward a frame: ") + std::strerror(errno));
            if (pending_at == pending.size())
            {
                pending.clear();
                pending_at = 0;
            }
        }
        if ((pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) == 0)
            continue;
        std::span<char> space = decoder.prepare();
        ssize_t n = ::read(connection, space.data(), space.size());
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) // the pool closed the connection, or it broke: nothing to report
        {
            if (session_ending.load())
                return;
            std::fflush(nullptr);
            ::_exit(0);
        }
        decoder.commit(static_cast<std::size_t>(n));
        try
        {
            while (auto f = decoder.next())
            {
                if (f->type == frame_type::cancel)
                    cancel_request(static_cast<std::uint32_t>(f->seq));
                else
                    append_frame(pending, f->type, f->seq, f->body, max_frame);
            }
        }
        catch (const std::exception& e)
        {
            die(72, std::string("protocol error: ") + e.what());
        }
    }
}

/// Reads the secret's line from standard input, within `timeout`.
std::string read_secret_line(std::chrono::milliseconds timeout)
{
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (line.size() <= max_secret_line_size)
    {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd pfd{0, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) == 0)
            throw std::runtime_error("no secret on standard input");
        char c;
        ssize_t n = ::read(0, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == '\n')
            return line;
        line += c;
    }
    throw std::runtime_error("the line on standard input is too long for a secret");
}

/// Opens /dev/null on each of the protocol's descriptors that is free; false on failure.
bool reserve_protocol_fds() noexcept
{
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        return false;
    bool ok = true;
    for (int fd : {worker_input_fd, worker_output_fd, worker_direct_fd})
        if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF && ::dup3(null_fd, fd, O_CLOEXEC) < 0)
            ok = false;
    if (null_fd > worker_direct_fd)
        ::close(null_fd);
    return ok;
}

/// A worker started by a command launcher: connect back, prove the secret, serve.
int run_remote_worker(char** argv)
{
    std::uint64_t port = 0, token = 0, max_frame = 0, heartbeat_ms = 0;
    if (!parse_number(argv[5], port) || port == 0 || port > 65535 ||
        !parse_number(argv[6], token) || !parse_number(argv[7], max_frame) ||
        !parse_number(argv[8], heartbeat_ms) || heartbeat_ms == 0)
    {
        std::fprintf(stderr, "asio_pal: run_worker: malformed command line\n");
        return 64;
    }
    secret_line secret;
    try
    {
        secret = parse_secret_line(read_secret_line(std::chrono::seconds(60)));
    }
    catch (const std::exception& e)
    {
        std::fprintf(stderr, "asio_pal: worker %d: %s\n", static_cast<int>(::getpid()), e.what());
        return 69;
    }
    return serve_pool_at(argv[4], static_cast<std::uint16_t>(port), secret.secret_hex, token,
                         static_cast<std::size_t>(max_frame),
                         std::chrono::milliseconds(heartbeat_ms), argv[9],
                         secret.tls_fingerprint_hex);
}

} // namespace

int serve_pool_at(const std::string& host, std::uint16_t port, const std::string& secret_hex,
                  std::uint64_t token, std::size_t max_frame, std::chrono::milliseconds heartbeat,
                  const std::string& pool, const std::string& tls_fingerprint_hex,
                  session_descriptors where)
{
    int connection = -1;
    int direct = -1;
    // Descriptors 3, 4 and 5 are held (on /dev/null) until the dup3s below replace them: a
    // descriptor opened meanwhile that took one of them, such as a TLS tunnel's TCP socket or
    // its io_context's epoll descriptor, would otherwise be closed under its owner.
    if (where == session_descriptors::protocol && !reserve_protocol_fds())
    {
        std::fprintf(stderr, "asio_pal: run_worker: cannot reserve descriptors 3 to 5: %s\n",
                     std::strerror(errno));
        return 71;
    }
    try
    {
        handshake_secret secret = handshake_secret::from_hex(secret_hex);
        compatibility_facts facts = make_compatibility_facts(registered_task_names());
        // A network that is down now may be back soon: connecting is tried again for a minute
        // (the pool gives up on the worker after its connect_timeout anyway). A pool that
        // answers and refuses is not asked again.
        auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        auto pause = std::chrono::milliseconds(100);
        for (;;)
        {
            try
            {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    give_up - std::chrono::steady_clock::now());
                connection = connect_and_handshake(host, port, secret, facts, token,
                                                   std::max(left, std::chrono::milliseconds(1)),
                                                   tls_fingerprint_hex);
                // The second connection carries the replies of run()'s short cut. Without it
                // (refused, or the network fails now) the pool's run() uses the first. With
                // TLS there is none: the two connections would cross two tunnels with no order
                // between them, and bytes a task wrote on the second could reach the pool after
                // it checked that none came (see stray_direct_bytes).
                if (tls_fingerprint_hex.empty())
                {
                    try
                    {
                        direct =
                            connect_and_handshake(host, port, secret, facts, direct_token(token),
                                                  std::chrono::seconds(10), {});
                    }
                    catch (const std::exception&)
                    {}
                }
                break;
            }
            catch (const handshake_error& e)
            {
                bool refused_by_pool = e.code().category() == handshake_category();
                if (refused_by_pool || std::chrono::steady_clock::now() + pause >= give_up)
                    throw;
                std::this_thread::sleep_for(pause);
                pause = std::min(pause * 2, std::chrono::milliseconds(2000));
            }
        }
    }
    catch (const std::exception& e)
    {
        std::fprintf(stderr, "asio_pal: worker %d cannot join the pool at %s:%u: %s\n",
                     static_cast<int>(::getpid()), host.c_str(), static_cast<unsigned>(port),
                     e.what());
        stop_tls_client_tunnels();
        return 69;
    }
    // The serving thread reads a pipe the relay fills and writes the connection: on fds 3 and 4
    // (and 5 for run()'s connection) as in a local worker, or where they are.
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0 || ::fcntl(pipe_fds[1], F_SETFL, O_NONBLOCK) != 0)
    {
        std::fprintf(stderr, "asio_pal: run_worker: %s\n", std::strerror(errno));
        return 71;
    }
    session_fds fds{pipe_fds[0], connection, direct};
    if (where == session_descriptors::protocol)
    {
        // First everything above the protocol's descriptors, so that no dup3 onto 3, 4 or 5
        // replaces a descriptor still to be moved.
        if ((direct >= 0 && (direct = above_protocol_fds(direct)) < 0) ||
            (connection = above_protocol_fds(connection)) < 0 ||
            (pipe_fds[0] = above_protocol_fds(pipe_fds[0])) < 0 ||
            (pipe_fds[1] = above_protocol_fds(pipe_fds[1])) < 0 ||
            ::dup3(pipe_fds[0], worker_input_fd, O_CLOEXEC) < 0 ||
            ::dup3(connection, worker_output_fd, O_CLOEXEC) < 0 ||
            (direct >= 0 && ::dup3(direct, worker_direct_fd, O_CLOEXEC) < 0))
        {
            std::fprintf(stderr, "asio_pal: run_worker: %s\n", std::strerror(errno));
            return 71;
        }
        ::close(std::exchange(pipe_fds[0], -1));
        if (direct >= 0)
            ::close(direct);
        fds = session_fds{worker_input_fd, worker_output_fd, direct >= 0 ? worker_direct_fd : -1};
    }
    output_is_socket = true;
    std::thread relay_thread(relay, connection, pipe_fds[1], max_frame, heartbeat);
    worker_session session(max_frame, pool, fds);
    if (fds.direct >= 0)
        session.serve_direct_connection();
    int status = session.serve();
    // The caller of session_descriptors::own goes on (an MPI rank into MPI_Finalize, which
    // waits for rank 0): the pool must see this worker's end now, not at its exit. What it said last (its bye, its
    // initializer's failure) must reach the pool first: the connections close for writing,
    // and the pool, having read that and the end, closes its side; the relay returns on it.
    ::shutdown(fds.output, SHUT_WR);
    if (fds.direct >= 0)
        ::shutdown(fds.direct, SHUT_WR);
    if (!tls_fingerprint_hex.empty())
    {
        // The tunnels forward what is left, then end. They stop before the process exits, not
        // while OpenSSL is cleaned up.
        stop_tls_client_tunnels(std::chrono::seconds(5));
    }
    if (where == session_descriptors::protocol)
    {
        // The process exits next, which ends the connections and the relay (a command
        // launcher's pool may hold its side open until it has reaped the worker).
        relay_thread.detach();
        return status;
    }
    // A pool that keeps its side open does not hold the worker: after a while the connection
    // is ended from here.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;)
    {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            give_up - std::chrono::steady_clock::now());
        pollfd end{connection, POLLRDHUP, 0};
        if (left.count() <= 0 || ::poll(&end, 1, static_cast<int>(left.count())) >= 0 ||
            errno != EINTR)
            break;
    }
    ::shutdown(connection, SHUT_RDWR);
    relay_thread.join();
    for (int fd : {connection, pipe_fds[1], fds.input, fds.output, fds.direct})
        if (fd >= 0)
            ::close(fd);
    return status;
}

std::vector<std::string> remote_worker_arguments(const std::string& host, std::uint16_t port,
                                                 std::uint64_t token, std::size_t max_frame_size,
                                                 std::chrono::milliseconds heartbeat,
                                                 const std::string& pool)
{
    return {std::string(worker_marker),
            std::string(protocol_version),
            "connect",
            host,
            std::to_string(port),
            std::to_string(token),
            std::to_string(max_frame_size),
            std::to_string(heartbeat.count()),
            pool};
}

std::vector<std::string> worker_arguments(const std::string& executable, pid_t parent,
                                          std::size_t max_frame_size, const std::string& pool)
{
    return {executable,
            std::string(worker_marker),
            std::string(protocol_version),
            std::to_string(parent),
            std::to_string(max_frame_size),
            pool};
}

} // namespace detail

bool is_worker_process(int argc, char** argv) noexcept
{
    return argc >= 2 && argv[1] && detail::worker_marker == argv[1];
}

int run_worker(int argc, char** argv)
{
    using namespace detail;
    if (!is_worker_process(argc, argv) || (argc != 6 && argc != 10))
    {
        std::fprintf(stderr, "asio_pal: run_worker: this process was not started by a process "
                             "pool\n");
        return 64;
    }
    if (protocol_version != argv[2])
    {
        std::fprintf(stderr,
                     "asio_pal: run_worker: the pool speaks protocol %s, this worker %s; "
                     "rebuild the worker executable\n",
                     argv[2], std::string(protocol_version).c_str());
        return 65;
    }
    if (argc == 10 && std::string_view(argv[3]) == "connect")
        return run_remote_worker(argv);
    std::uint64_t parent = 0, max_frame = 0;
    if (!parse_number(argv[3], parent) || !parse_number(argv[4], max_frame))
    {
        std::fprintf(stderr, "asio_pal: run_worker: malformed command line\n");
        return 64;
    }
    parent_pid = static_cast<pid_t>(parent);
    // Die with the parent; if it died before this line, the death signal never comes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent_pid)
        return 70;
    if (::fcntl(worker_input_fd, F_SETFD, FD_CLOEXEC) != 0 ||
        ::fcntl(worker_output_fd, F_SETFD, FD_CLOEXEC) != 0 ||
        ::fcntl(worker_direct_fd, F_SETFD, FD_CLOEXEC) != 0)
    {
        std::fprintf(stderr, "asio_pal: run_worker: protocol descriptors missing\n");
        return 64;
    }
    struct sigaction sa
    {};
    sa.sa_sigaction = &on_cancel_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(cancel_signal(), &sa, nullptr);

    worker_session session(static_cast<std::size_t>(max_frame), argv[5]);
    return session.serve();
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_WORKER_IPP
