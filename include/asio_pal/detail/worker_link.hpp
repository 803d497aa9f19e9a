//
// asio_pal/detail/worker_link.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The link between a process pool and one worker: frames over a pipe pair (a child process)
// or over a TCP connection (a worker that connected back). The pool's core reads and writes
// through worker_link and does not know which it holds.
//

#ifndef ASIO_PAL_DETAIL_WORKER_LINK_HPP
#define ASIO_PAL_DETAIL_WORKER_LINK_HPP

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cerrno>
#include <cstddef>
#include <span>
#include <utility>
#include <variant>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace asio_pal::detail {

namespace net = boost::asio;

/// Closes `fd` if open and marks it closed.
inline void close_fd(int& fd) noexcept
{
    if (fd >= 0)
        ::close(fd);
    fd = -1;
}

/**
 * The descriptors of process_pool::run's short cut: the thread holding a worker's lease writes
 * the task to `write_fd` itself (the worker's input, which the I/O thread writes otherwise)
 * and reads the reply from `read_fd`, which the I/O thread never watches.
 */
struct direct_channel
{
    int write_fd = -1;
    int read_fd = -1;     // non-blocking
    bool sockets = false; // write with send(MSG_NOSIGNAL)

    /// Writes all `n` bytes at `p`, blocking; false when the worker is gone. Never SIGPIPE: a
    /// socket is written with MSG_NOSIGNAL, and a pipe has a reader (the pool's).
    bool write_all(const char* p, std::size_t n) const noexcept
    {
        while (n > 0)
        {
            ssize_t r;
            do
                r = sockets ? ::send(write_fd, p, n, MSG_NOSIGNAL) : ::write(write_fd, p, n);
            while (r < 0 && errno == EINTR);
            if (r > 0)
            {
                p += r;
                n -= static_cast<std::size_t>(r);
            }
            else if (r < 0 && errno == EAGAIN) // non-blocking (flush, and Asio's sockets)
            {
                // Full. A dead worker's input stays open (the pool reads it too): its reply
                // channel tells that it died.
                pollfd pfd[2] = {{write_fd, POLLOUT, 0}, {read_fd, 0, 0}};
                ::poll(pfd, 2, -1);
                if ((pfd[1].revents & (POLLHUP | POLLERR)) != 0)
                    return false;
            }
            else
            {
                return false; // EPIPE: it died
            }
        }
        return true;
    }

    /// Waits up to `timeout_ms` for bytes, then reads once into `space` (a read first would
    /// mostly find nothing, and spinning measured no faster: bench/README.md). Returns the
    /// bytes read, 0 when none came, -1 when the channel closed (the worker died, or closed it
    /// and will be killed).
    std::ptrdiff_t read_some(std::span<char> space, int timeout_ms) const noexcept
    {
        pollfd pfd{read_fd, POLLIN, 0};
        int r = ::poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            return 0;
        ssize_t n = ::read(read_fd, space.data(), space.size());
        if (n > 0)
            return n;
        return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
    }
};

/**
 * A child's pipes: the pool writes its input and reads its output. The pool also holds a reader
 * of the child's input, never read: a write to a child that died cannot raise SIGPIPE then, so
 * the process-wide disposition stays the program's. `direct_write` and `direct_read` serve
 * process_pool::run's short cut (see process_pool_core::run_leased).
 */
struct pipe_link
{
    pipe_link(const net::any_io_executor& ex, int input, int output, int input_reader,
              int direct_write, int direct_read)
        : to_child(ex, input)
        , from_child(ex, output)
        , input_reader(input_reader)
        , direct{direct_write, direct_read, false}
    {}
    pipe_link(const pipe_link&) = delete;
    pipe_link& operator=(const pipe_link&) = delete;
    ~pipe_link()
    {
        close_fd(direct.write_fd);
        close_fd(direct.read_fd);
        close_fd(input_reader);
    }

    net::posix::stream_descriptor to_child;
    net::posix::stream_descriptor from_child;
    int input_reader = -1;
    direct_channel direct; // write_fd: the input pipe, duplicated
};

/**
 * A worker's TCP connection, after its handshake, and the second connection of run()'s short
 * cut once it joins too: the lease holder writes the task and reads the reply there, and the
 * worker's serving thread reads it itself (no hop through its relay thread).
 */
struct socket_link
{
    explicit socket_link(net::generic::stream_protocol::socket s)
        : socket(std::move(s))
    {}
    socket_link(const socket_link&) = delete;
    socket_link& operator=(const socket_link&) = delete;
    ~socket_link() { close_fd(direct.read_fd); } // write_fd is the same descriptor

    net::generic::stream_protocol::socket socket;
    direct_channel direct; // set once by add_direct
};

/**
 * Frames to a worker and back. Writes are the pool's own non-blocking ones (write_some), so
 * that a full link never blocks a handler; reads are Asio's.
 */
class worker_link
{
public:
    /// No link yet: a remote worker's connection comes after its launch.
    worker_link() = default;
    worker_link(const worker_link&) = delete;
    worker_link& operator=(const worker_link&) = delete;

    /// A child's pipes (see pipe_link), once: a link is never replaced, so the thread of a
    /// run() may use direct() without the strand.
    void connect_pipes(const net::any_io_executor& ex, int input, int output, int input_reader,
                       int direct_write, int direct_read)
    {
        v_.emplace<pipe_link>(ex, input, output, input_reader, direct_write, direct_read);
    }
    /// A remote worker's connection, once.
    void connect_socket(net::generic::stream_protocol::socket socket)
    {
        v_.emplace<socket_link>(std::move(socket));
    }

    bool connected() const noexcept { return !std::holds_alternative<std::monostate>(v_); }

    /// One non-blocking write; the errno of a failure in `err` (EAGAIN: full). Never raises
    /// SIGPIPE.
    std::ptrdiff_t write_some(const char* p, std::size_t n, int& err) noexcept
    {
        ssize_t r = -1;
        do
        {
            if (auto* pl = std::get_if<pipe_link>(&v_))
                r = ::write(pl->to_child.native_handle(), p, n);
            else if (auto* sl = std::get_if<socket_link>(&v_))
                r = ::send(sl->socket.native_handle(), p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            else
                errno = ENOTCONN;
        } while (r < 0 && errno == EINTR);
        err = r < 0 ? errno : 0;
        return r;
    }

    /// Calls `h(error_code)` once the link can take more bytes.
    template <typename Handler>
    void async_wait_writable(Handler&& h)
    {
        if (auto* pl = std::get_if<pipe_link>(&v_))
            pl->to_child.async_wait(net::posix::stream_descriptor::wait_write,
                                    std::forward<Handler>(h));
        else
            std::get<socket_link>(v_).socket.async_wait(net::socket_base::wait_write,
                                                        std::forward<Handler>(h));
    }

    /// Calls `h(error_code, bytes)` with what the worker sent next.
    template <typename Handler>
    void async_read_some(net::mutable_buffer b, Handler&& h)
    {
        if (auto* pl = std::get_if<pipe_link>(&v_))
            pl->from_child.async_read_some(b, std::forward<Handler>(h));
        else
            std::get<socket_link>(v_).socket.async_read_some(b, std::forward<Handler>(h));
    }

    /// Ends pending reads (their handlers see operation_aborted).
    void cancel_reads() noexcept
    {
        boost::system::error_code ignored;
        if (auto* pl = std::get_if<pipe_link>(&v_))
            pl->from_child.cancel(ignored);
        else if (auto* sl = std::get_if<socket_link>(&v_))
            sl->socket.cancel(ignored);
    }

    /// Closes the pool's ends; a remote worker sees its connection end (and exits).
    void close() noexcept
    {
        boost::system::error_code ignored;
        if (auto* pl = std::get_if<pipe_link>(&v_))
        {
            pl->to_child.close(ignored);
            pl->from_child.close(ignored);
        }
        else if (auto* sl = std::get_if<socket_link>(&v_))
        {
            sl->socket.shutdown(net::socket_base::shutdown_both, ignored);
            sl->socket.close(ignored);
        }
    }

    /// The descriptors of run()'s short cut, or nothing (a remote worker whose second
    /// connection has not joined). The caller holds the pool's mutex, or a lease.
    const direct_channel* direct() const noexcept
    {
        if (const auto* pl = std::get_if<pipe_link>(&v_))
            return &pl->direct;
        if (const auto* sl = std::get_if<socket_link>(&v_); sl && sl->direct.read_fd >= 0)
            return &sl->direct;
        return nullptr;
    }

    /// A remote worker's second connection (its descriptor, owned from now on): run()'s
    /// short cut. Under the pool's mutex. False when there is no connection to pair it with.
    bool add_direct(int fd) noexcept
    {
        auto* sl = std::get_if<socket_link>(&v_);
        if (!sl || sl->direct.read_fd >= 0 || !sl->socket.is_open())
            return false;
        sl->direct = {fd, fd, true};
        return true;
    }

private:
    std::variant<std::monostate, pipe_link, socket_link> v_;
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_WORKER_LINK_HPP
