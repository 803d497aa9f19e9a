//
// asio_pal/remote_exception.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Exceptions thrown by tasks in worker processes: which types come back to the parent as
// themselves, and the worker's account of the failure.
//

#ifndef ASIO_PAL_REMOTE_EXCEPTION_HPP
#define ASIO_PAL_REMOTE_EXCEPTION_HPP

#include "asio_pal/detail/remote_exception.hpp"

#include <exception>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace asio_pal {

/**
 * Registers the exception type `E`, so that an `E` thrown by a task in a worker process is
 * rebuilt as an `E` in the parent.
 *
 * Without registration the parent gets an `asio_pal::remote_error` naming the type. Standard
 * exceptions (`std::runtime_error`, `std::system_error`, `std::bad_alloc`, ...) and asio_pal's
 * own come back as themselves without registration. Only the exact type is matched: a type
 * derived from `E` needs its own registration. Nested chains (`std::throw_with_nested`) keep
 * their layers.
 *
 * The parent constructs the copy as `E(what)`, with the `what()` text of the worker's `E`.
 *
 * @param name The name the worker and the parent know the type by, by default its demangled
 * name: the same in both processes, which may be different executables.
 * @returns true when `E` is registered under `name` (now or by an earlier call, so repeating a
 * registration is harmless); false, changing nothing, when `name` is empty or belongs to another
 * type, or `E` is registered under another name.
 *
 * @par Thread Safety
 * Safe to call from any thread, and during static initialization.
 */
template <class E>
bool register_exception(std::string name = detail::demangled_name<E>())
{
    static_assert(std::is_class_v<E> && std::is_base_of_v<std::exception, E>,
                  "register_exception: the type must derive from std::exception");
    static_assert(std::is_constructible_v<E, const std::string&>,
                  "register_exception: the type must be constructible from a const std::string& "
                  "(the parent constructs it from the worker's what() text)");
    static_assert(std::is_copy_constructible_v<E>,
                  "register_exception: the type must be copy constructible (it is thrown)");
    return detail::add_exception_type(typeid(E), std::move(name),
                                      &detail::throw_registered_exception<E>);
}

/**
 * The worker's account of the failure, for an exception a process pool rebuilt from a worker
 * process: "task 'NAME' in worker process PID failed:" and a line per exception of the chain
 * ("  TYPE: WHAT", then "  caused by TYPE: WHAT" for each nested one). Empty for a local
 * exception.
 *
 * The text is kept beside the exception, not in it (rebuilt standard exceptions keep their
 * exact type), in a table that holds the most recently rebuilt exceptions and keeps them alive
 * while they are in it: at most `detail::remote_traceback_capacity` (1024) of them (each layer of
 * a nested chain counts; every layer has the same text) and at most
 * `detail::remote_traceback_byte_capacity` (4 MiB) of tracebacks and `what()` texts (a text the
 * layers of a chain share counts once; the most recent exception stays even when it alone is
 * larger). Older ones report "". The exception must be the object the pool produced (a rethrown
 * `exception_ptr` is; a copy of the exception is not).
 *
 * @par Thread Safety
 * Safe to call from any thread.
 */
std::string get_remote_traceback(const std::exception& e);

} // namespace asio_pal

#define ASIO_PAL_DETAIL_REX_CAT2(a, b) a##b
#define ASIO_PAL_DETAIL_REX_CAT(a, b) ASIO_PAL_DETAIL_REX_CAT2(a, b)

/**
 * Registers an exception type with `asio_pal::register_exception` (at namespace scope, under its
 * demangled name). May appear any number of times, in any number of translation units and in
 * headers.
 */
#define ASIO_PAL_REGISTER_EXCEPTION(...)                                                           \
    [[maybe_unused]] static const bool ASIO_PAL_DETAIL_REX_CAT(asio_pal_registered_exception_,     \
                                                               __COUNTER__) =                      \
        ::asio_pal::register_exception<__VA_ARGS__>()

#endif // ASIO_PAL_REMOTE_EXCEPTION_HPP
