//
// asio_pal/detail/pool_support.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Pieces both pool kinds' compiled shells use: describing and nesting exceptions, reporting an
// exception that has no future, and starting threads with async signals blocked.
//

#ifndef ASIO_PAL_DETAIL_POOL_SUPPORT_HPP
#define ASIO_PAL_DETAIL_POOL_SUPPORT_HPP

#include <exception>
#include <functional>
#include <string>

#include <signal.h>

namespace asio_pal::detail {

/// The what() text of `e` ("unknown exception" for a non-standard one).
std::string describe(std::exception_ptr e);

/// Builds Error(message + ": " + cause's text) with `cause` nested inside it.
template <typename Error>
std::exception_ptr nested_error(const std::string& message, std::exception_ptr cause)
{
    std::string what = message + ": " + describe(cause);
    try
    {
        std::rethrow_exception(cause);
    }
    catch (...)
    {
        try
        {
            std::throw_with_nested(Error(what));
        }
        catch (...)
        {
            return std::current_exception();
        }
    }
}

/// Hands `e` to a pool's on_task_exception hook, or prints it on stderr with the pool's name
/// (also when the hook itself throws: then its exception is printed).
void report_pool_exception(const std::function<void(std::exception_ptr)>& hook,
                           const std::string& pool, std::exception_ptr e) noexcept;

/// Blocks every async signal on this thread for its lifetime, so that threads started meanwhile
/// (pool threads) leave them to the program's own threads.
class signals_blocked
{
public:
    signals_blocked() noexcept
    {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old_);
    }
    ~signals_blocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    signals_blocked(const signals_blocked&) = delete;
    signals_blocked& operator=(const signals_blocked&) = delete;

private:
    sigset_t old_;
};

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_POOL_SUPPORT_HPP
