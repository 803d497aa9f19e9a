//
// asio_pal/detail/remote_exception.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// How an exception crosses from a worker process to the parent: the worker describes each
// exception of a nested chain in plain data (sent with the task's result) and the parent rebuilds
// an exception_ptr from that description.
//

#ifndef ASIO_PAL_DETAIL_REMOTE_EXCEPTION_HPP
#define ASIO_PAL_DETAIL_REMOTE_EXCEPTION_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

namespace asio_pal::detail {

/// How the parent rebuilds one layer of a captured exception (`remote_exception_layer::kind`).
enum class remote_exception_kind : std::uint32_t
{
    /// Not rebuildable: comes back as `asio_pal::remote_error(type_name, message)`.
    unknown = 0,
    /// A standard library exception, rebuilt as itself (`type_name` says which).
    standard = 1,
    /// An exception of asio_pal (or a `boost::system::system_error`), rebuilt as itself.
    library = 2,
    /// A type registered with `ASIO_PAL_REGISTER_EXCEPTION`; `type_name` is its registered name.
    registered = 3,
    /// An `asio_pal::remote_error` passed on from a deeper worker: `type_name` and `message` are
    /// its own `type_name()` and message, so it is rebuilt as the same `remote_error`.
    relayed = 4,
};

/// One exception of a nested chain, as plain data.
struct remote_exception_layer
{
    /// The demangled dynamic type (for `std::throw_with_nested(T)`, T), or the registered name.
    std::string type_name;
    /// The `what()` text (for `relayed`, the message given to the `remote_error`).
    std::string message;
    /// A `remote_exception_kind`.
    std::uint32_t kind = 0;
    /// The error code value of a `std::system_error`, `std::future_error` or
    /// `boost::system::system_error`; 0 otherwise.
    std::int64_t code = 0;
    /// The name of that code's category; empty otherwise.
    std::string category;
    /// What else the type carries: for a `worker_died_error` of a deeper worker, its pid,
    /// signal and exit status; empty otherwise.
    std::vector<std::int64_t> details;

    template <class Archive>
    void serialize(Archive& ar)
    {
        ar(type_name, message, kind, code, category, details);
    }
};

/// The longest chain `capture_exception` records; deeper layers are left out of `chain`. Also
/// the longest the parent accepts: a description of a deeper chain is refused.
inline constexpr std::size_t max_remote_exception_layers = 64;

/// How many rebuilt exceptions keep their traceback for `get_remote_traceback` (most recent win).
inline constexpr std::size_t remote_traceback_capacity = 1024;

/**
 * How many bytes the entries of the traceback table may hold (most recent win): the texts (a
 * text shared by the layers of a chain counts once) and the `what()` texts of the exceptions
 * the table keeps alive. The most recent entry is kept even when it alone is larger.
 */
inline constexpr std::size_t remote_traceback_byte_capacity = 4 * 1024 * 1024;

/// Throws `decode_error` when a received chain of `layers` exceptions is longer than
/// `max_remote_exception_layers`; called before any layer is read.
void check_remote_chain_length(std::uint64_t layers);

/// A captured exception: its nested chain and a readable account of it.
struct remote_exception_info
{
    /// Outermost first; the next one is the exception the previous one was nested around.
    std::vector<remote_exception_layer> chain;
    /// "task 'NAME' in worker process PID failed:" and one line per layer.
    std::string traceback;

    // The encoding of a vector (a 64-bit count, then the elements), with the count checked
    // before anything is allocated: the bytes come from another process.
    template <class Archive>
    void save(Archive& ar) const
    {
        ar(static_cast<std::uint64_t>(chain.size()));
        for (const remote_exception_layer& layer : chain)
            ar(layer);
        ar(traceback);
    }

    template <class Archive>
    void load(Archive& ar)
    {
        std::uint64_t layers = 0;
        ar(layers);
        check_remote_chain_length(layers);
        chain.clear();
        chain.resize(static_cast<std::size_t>(layers));
        for (remote_exception_layer& layer : chain)
            ar(layer);
        ar(traceback);
    }
};

/// The `type_name` of a layer whose type is not known (a non-`std::exception` of unknown type).
inline constexpr std::string_view unknown_exception_type_name = "unknown exception type";

/**
 * Describes `e` and the exceptions nested in it (in a worker process).
 *
 * Never throws for an exception `e` holds; a null `e` gives one `unknown` layer.
 */
remote_exception_info capture_exception(std::exception_ptr e, std::string_view task_name,
                                        std::int64_t pid);

/**
 * Rebuilds the exception `info` describes (in the parent), innermost first, each outer layer
 * thrown with `std::throw_with_nested` around the inner one; attaches `info.traceback` to every
 * layer for `get_remote_traceback`. Throws `decode_error`, as decoding does, for a chain longer
 * than `max_remote_exception_layers`.
 */
std::exception_ptr rebuild_exception(const remote_exception_info& info);

/**
 * Records `traceback` as the remote traceback of the exception `e` holds (a `std::exception`;
 * anything else is ignored), for `get_remote_traceback`. Keeps `e`, so the object's address is
 * not reused while the entry exists; keeps at most `remote_traceback_capacity` entries and
 * `remote_traceback_byte_capacity` bytes, evicting the oldest first.
 */
void attach_remote_traceback(const std::exception_ptr& e, std::string traceback);

/// The traceback attached to the exception object `e`, or "".
std::string find_remote_traceback(const std::exception& e);

/// How many exceptions have a traceback attached now (at most `remote_traceback_capacity`).
std::size_t remote_traceback_count();

/// The bytes the traceback table accounts for now (see `remote_traceback_byte_capacity`).
std::size_t remote_traceback_bytes();

/// A demangled symbol or type name (the input itself when it does not demangle).
std::string demangle(const char* mangled);

/// The demangled name of `type` (the mangled one where demangling fails).
std::string demangled_name(const std::type_info& type);

/// The demangled name of `T`.
template <class T>
std::string demangled_name()
{
    return demangled_name(typeid(T));
}

/// Throws the exception `layer` describes; with `nested`, through `std::throw_with_nested`.
using exception_thrower = void (*)(const remote_exception_layer& layer, bool nested);

/// The thrower of a registered type `E`: `E(layer.message)`.
template <class E>
[[noreturn]] void throw_registered_exception(const remote_exception_layer& layer, bool nested)
{
    if (nested)
        std::throw_with_nested(E(layer.message));
    throw E(layer.message);
}

/**
 * Adds `type` to the registry of exception types under `name`. True when `type` is registered
 * under `name` afterwards (also when it already was); false, changing nothing, when `name` is
 * empty or taken by another type, or `type` is registered under another name.
 */
bool add_exception_type(const std::type_info& type, std::string name, exception_thrower thrower);

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_REMOTE_EXCEPTION_HPP
