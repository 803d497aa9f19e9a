//
// asio_pal/error.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Exception types and the error category of asio_pal.
//

#ifndef ASIO_PAL_ERROR_HPP
#define ASIO_PAL_ERROR_HPP

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>

namespace asio_pal {

/// Error codes reported by asio_pal's asynchronous operations and carried by its exceptions.
enum class errc
{
    pool_closed = 1,    ///< The pool was shut down.
    broken_pool,        ///< The pool is broken (an initializer or finalizer failed).
    initializer_failed, ///< A worker's initializer threw (initializer_error).
    finalizer_failed,   ///< A worker's finalizer threw (finalizer_error).
    worker_died,        ///< A worker process died while running the task.
    unregistered_task,  ///< A process pool was given a function that is not registered.
    remote_failure,     ///< A task in a worker process failed with an untransportable exception.
    protocol_error,     ///< A worker process sent a corrupt, oversized or undecodable frame.
};

/// The error category of asio_pal ("asio_pal").
const boost::system::error_category& pal_category() noexcept;

/// Makes an error code of asio_pal's category.
inline boost::system::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), pal_category()};
}

/// Base of every asio_pal exception; carries an error code.
class error : public boost::system::system_error
{
public:
    /// An error with code `ec`; what() reads "WHAT: the code's message [category:value]".
    error(boost::system::error_code ec, const std::string& what)
        : boost::system::system_error(ec, what)
    {
    }
};

/// The pool is closed (shut down): it accepts no more work.
class pool_closed_error : public error
{
public:
    /// `what` names the pool; the code is errc::pool_closed.
    explicit pool_closed_error(const std::string& what)
        : error(make_error_code(errc::pool_closed), what)
    {
    }
};

/// The pool is broken: a worker failed outside a task; queued tasks were cancelled.
class broken_pool_error : public error
{
public:
    /// `what` names the pool and the cause; `ec` is errc::broken_pool, or the code of a derived
    /// error (errc::initializer_failed, errc::finalizer_failed).
    explicit broken_pool_error(const std::string& what,
                               boost::system::error_code ec = make_error_code(errc::broken_pool))
        : error(ec, what)
    {
    }
};

/// A worker's initializer threw; the cause is attached as a nested exception.
class initializer_error : public broken_pool_error
{
public:
    /// `what` names the pool; the code is errc::initializer_failed.
    explicit initializer_error(const std::string& what)
        : broken_pool_error(what, make_error_code(errc::initializer_failed))
    {
    }
};

/// A worker's finalizer threw; the cause is attached as a nested exception.
class finalizer_error : public broken_pool_error
{
public:
    /// `what` names the pool; the code is errc::finalizer_failed.
    explicit finalizer_error(const std::string& what)
        : broken_pool_error(what, make_error_code(errc::finalizer_failed))
    {
    }
};

/**
 * The task was cancelled before it ran (or its worker process was stopped).
 *
 * Its code is `boost::asio::error::operation_aborted`, so code that checks Asio error codes
 * treats it like any aborted operation.
 */
class cancelled_error : public error
{
public:
    /// `what` names the task (its id).
    explicit cancelled_error(const std::string& what);
};

/// A blocking call or an iteration ran past its deadline. Code: `boost::asio::error::timed_out`.
class timeout_error : public error
{
public:
    /// `what` names the task or the call that ran out of time.
    explicit timeout_error(const std::string& what);
};

/// An exception from a worker process whose type cannot be rebuilt in the parent.
class remote_error : public error
{
public:
    /// The worker's exception of type `type_name` with the `what()` text `message`; this
    /// what() reads "TYPE: MESSAGE". The code is errc::remote_failure.
    remote_error(std::string type_name, const std::string& message)
        : error(make_error_code(errc::remote_failure), type_name + ": " + message),
          type_name_(std::move(type_name))
    {
    }

    /// The exception's type name in the worker process.
    const std::string& type_name() const noexcept { return type_name_; }

private:
    std::string type_name_;
};

/// A worker process died (signal or exit) while it ran the task.
class worker_died_error : public error
{
public:
    /// `what` names the worker, how it ended and its task; `signal` is 0 when the worker
    /// exited, `exit_status` -1 when a signal killed it. The code is errc::worker_died.
    worker_died_error(const std::string& what, std::int64_t pid, int signal, int exit_status)
        : error(make_error_code(errc::worker_died), what),
          pid_(pid),
          signal_(signal),
          exit_status_(exit_status)
    {
    }

    /// The process id of the worker that died.
    std::int64_t pid() const noexcept { return pid_; }
    /// The signal that killed the worker, or 0.
    int signal() const noexcept { return signal_; }
    /// The worker's exit status when it exited, or -1 when it was killed by a signal.
    int exit_status() const noexcept { return exit_status_; }

private:
    std::int64_t pid_;
    int signal_;
    int exit_status_;
};

/// A function submitted to a process pool was not registered with `ASIO_PAL_REGISTER_TASK`.
class unregistered_task_error : public error
{
public:
    /// `what` names the function; the code is errc::unregistered_task.
    explicit unregistered_task_error(const std::string& what)
        : error(make_error_code(errc::unregistered_task), what)
    {
    }
};

/**
 * A worker process broke the protocol: a corrupt or oversized frame, garbage on the protocol
 * pipe, or a reply that does not decode as the task's result type. The worker concerned is
 * retired; the pool keeps working.
 */
class protocol_error : public error
{
public:
    /// `what` says what broke the protocol; the code is errc::protocol_error.
    explicit protocol_error(const std::string& what)
        : error(make_error_code(errc::protocol_error), what)
    {
    }
};

} // namespace asio_pal

namespace boost::system {
template <>
struct is_error_code_enum<asio_pal::errc> : std::true_type
{
};
} // namespace boost::system

#endif // ASIO_PAL_ERROR_HPP
