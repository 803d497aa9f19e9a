//
// asio_pal/impl/worker.ipp
//
// The child side of a process pool: read frames, run registered functions, answer.
// Deliberately plain blocking I/O: a worker does one thing at a time.
//

#ifndef ASIO_PAL_IMPL_WORKER_IPP
#define ASIO_PAL_IMPL_WORKER_IPP

#include "asio_pal/detail/process_policy.hpp"
#include "asio_pal/detail/remote_exception.hpp"
#include "asio_pal/detail/task_registry.hpp"
#include "asio_pal/detail/wire.hpp"
#include "asio_pal/detail/worker_protocol.hpp"
#include "asio_pal/error.hpp"
#include "asio_pal/registry.hpp"
#include "asio_pal/worker.hpp"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/prctl.h>
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

void on_cancel_signal(int, siginfo_t* info, void*)
{
    if (info->si_code != SI_QUEUE || info->si_pid != parent_pid)
        return;
    auto seq = static_cast<std::uint32_t>(info->si_value.sival_int);
    if (seq != 0 && seq == running_seq.load())
        ::_exit(cancelled_exit_status);
    cancel_ring[cancel_ring_next.fetch_add(1) % cancel_ring_size].store(seq);
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

void write_all(int fd, const std::vector<char>& buf)
{
    const char* p = buf.data();
    std::size_t left = buf.size();
    while (left > 0)
    {
        ssize_t n = ::write(fd, p, left);
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

class worker_session
{
public:
    worker_session(std::size_t max_frame, std::string pool)
        : max_frame_(max_frame), pool_(std::move(pool)), decoder_(max_frame)
    {
    }

    /// Serves until told to quit (returns its exit status) or the parent goes away.
    int serve()
    {
        for (;;)
        {
            std::span<char> space = decoder_.prepare();
            ssize_t n = ::read(worker_input_fd, space.data(), space.size());
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
        case frame_type::init: {
            std::string init_name, fini_name;
            std::vector<char> init_args;
            decode(f.body, init_name, init_args, fini_name, fini_args_);
            fini_name_ = std::move(fini_name);
            if (!init_name.empty())
            {
                if (std::exception_ptr e = call(init_name, init_args))
                {
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
            run_task(f, worker_output_fd);
            return std::nullopt;
        case frame_type::direct_task:
            run_task(f, worker_direct_fd);
            return std::nullopt;
        case frame_type::quit: {
            if (!fini_name_.empty())
            {
                if (std::exception_ptr e = call(fini_name_, fini_args_))
                {
                    send_exception(frame_type::fini_failed, 0, e, fini_name_);
                    return 4;
                }
            }
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
            throw unregistered_task_error("asio_pal: task '" + name +
                                          "' is not registered in the worker executable " +
                                          executable_name() +
                                          " (add ASIO_PAL_REGISTER_TASK there too)");
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
                failure = std::make_exception_ptr(protocol_error(
                    "asio_pal: the result of task '" + name + "' does not fit in a frame: " +
                    e.what()));
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
                        const std::string& task, int fd = worker_output_fd)
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
                ar(capture_exception(std::make_exception_ptr(protocol_error(too_big.what())),
                                     task, ::getpid()));
            }
            end_frame(out_, at, max_frame_);
        }
        send(fd);
    }

    void send(int fd = worker_output_fd)
    {
        write_all(fd, out_);
        out_.clear();
    }

    std::size_t max_frame_;
    std::string pool_;
    frame_decoder decoder_;
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

} // namespace

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
    if (!is_worker_process(argc, argv) || argc != 6)
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
    struct sigaction sa{};
    sa.sa_sigaction = &on_cancel_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(cancel_signal(), &sa, nullptr);

    worker_session session(static_cast<std::size_t>(max_frame), argv[5]);
    return session.serve();
}

} // namespace asio_pal

#endif // ASIO_PAL_IMPL_WORKER_IPP
