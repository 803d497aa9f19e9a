//
// asio_pal/detail/task_registry.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The table of functions a process pool can run: name -> invoker (child side) and function
// pointer -> name (parent side). Filled during static initialisation by ASIO_PAL_REGISTER_TASK.
//

#ifndef ASIO_PAL_DETAIL_TASK_REGISTRY_HPP
#define ASIO_PAL_DETAIL_TASK_REGISTRY_HPP

#include "asio_pal/detail/map_state.hpp"
#include "asio_pal/detail/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace asio_pal::detail {

/// Signature of a plain function pointer (noexcept or not): its result and decayed parameters.
template <typename F>
struct function_signature
{
    static constexpr bool is_function_pointer = false;
};
template <typename R, typename... P>
struct function_signature<R (*)(P...)>
{
    static constexpr bool is_function_pointer = true;
    using result_type = R;
    using args_tuple = std::tuple<std::decay_t<P>...>;
    static constexpr std::size_t arity = sizeof...(P);
};
template <typename R, typename... P>
struct function_signature<R (*)(P...) noexcept> : function_signature<R (*)(P...)>
{
};

/// Whether T crosses a process boundary through the byte archives.
template <typename T>
inline constexpr bool is_transportable_v =
    std::is_void_v<T> ||
    (cereal::traits::is_output_serializable<T, byte_output_archive>::value &&
     cereal::traits::is_input_serializable<T, byte_input_archive>::value);

/// A function pointer type-erased for use as a map key.
using function_key = void (*)();

template <typename F>
function_key key_of(F f) noexcept
{
    return reinterpret_cast<function_key>(f);
}

/// How a task frame asks the child to call the function.
enum class call_mode : std::uint8_t
{
    single = 1, ///< args = the parameters; reply = the result
    chunk = 2,  ///< args = count + that many parameter tuples; reply = values + error flag
};

/// One registered function.
struct task_entry
{
    std::string name;
    function_key key;
    /// Child side: decodes the parameters, calls the function, appends the encoded result.
    void (*invoke)(std::span<const char> args, std::vector<char>& out);
    /// Child side: runs a chunk; appends the values of the items that ran and returns the
    /// exception of the first item that threw (the rest are not run).
    std::exception_ptr (*invoke_chunk)(std::span<const char> args, std::vector<char>& out);
};

/// Adds `e`; a second registration of the same function under the same name is harmless.
/// Conflicts (one name, two functions) are remembered and reported when the name is used.
void register_task_entry(task_entry e) noexcept;
/// Parent side: the entry of a function, or nullptr.
const task_entry* find_task(function_key key) noexcept;
/// Child side: the entry of a name, or nullptr. Throws unregistered_task_error for a name
/// registered for two different functions.
const task_entry* find_task(std::string_view name);

/// The names of every registered task (any order): what a remote worker's build is checked by.
std::vector<std::string> registered_task_names();
/// A readable name for a function (its symbol, demangled), for error messages.
std::string describe_function(function_key key);
/// Parent side: the entry of `key` or unregistered_task_error naming the function.
const task_entry& require_task(function_key key, std::string_view what);

// Encoding of parameters and results.

template <typename Tuple, std::size_t... I>
void encode_tuple(byte_output_archive& ar, const Tuple& t, std::index_sequence<I...>)
{
    (ar(std::get<I>(t)), ...);
}

template <typename Tuple, std::size_t... I>
void decode_tuple(byte_input_archive& ar, Tuple& t, std::index_sequence<I...>)
{
    (ar(std::get<I>(t)), ...);
}

template <typename Tuple>
void encode_args(std::vector<char>& out, const Tuple& t)
{
    byte_output_archive ar(out);
    encode_tuple(ar, t, std::make_index_sequence<std::tuple_size_v<Tuple>>{});
}

template <typename Tuple>
Tuple decode_args(byte_input_archive& ar)
{
    Tuple t;
    decode_tuple(ar, t, std::make_index_sequence<std::tuple_size_v<Tuple>>{});
    return t;
}

/// Encodes a chunk of items (any tuple convertible element-wise to the parameters).
template <typename ArgsTuple, typename Tuple>
void encode_chunk(std::vector<char>& out, std::vector<Tuple>& items)
{
    byte_output_archive ar(out);
    ar(static_cast<std::uint64_t>(items.size()));
    for (Tuple& item : items)
    {
        ArgsTuple args = std::make_from_tuple<ArgsTuple>(std::move(item));
        encode_tuple(ar, args, std::make_index_sequence<std::tuple_size_v<ArgsTuple>>{});
    }
}

template <auto Fn>
void invoke_registered(std::span<const char> in, std::vector<char>& out)
{
    using sig = function_signature<decltype(Fn)>;
    using R = typename sig::result_type;
    byte_input_archive ar(in);
    auto args = decode_args<typename sig::args_tuple>(ar);
    if (ar.remaining() != 0)
        throw decode_error("asio_pal: trailing bytes after the arguments");
    if constexpr (std::is_void_v<R>)
    {
        std::apply(Fn, std::move(args));
    }
    else
    {
        R r = std::apply(Fn, std::move(args));
        byte_output_archive out_ar(out);
        out_ar(r);
    }
}

template <auto Fn>
std::exception_ptr invoke_registered_chunk(std::span<const char> in, std::vector<char>& out)
{
    using sig = function_signature<decltype(Fn)>;
    using R = typename sig::result_type;
    byte_input_archive ar(in);
    std::uint64_t count = 0;
    ar(count);
    // Each item takes at least a byte unless the function has no parameters.
    if (sig::arity != 0 && count > ar.remaining())
        throw decode_error("asio_pal: corrupt chunk length");
    std::vector<typename sig::args_tuple> items;
    items.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(count, 1 << 20)));
    for (std::uint64_t i = 0; i < count; ++i)
        items.push_back(decode_args<typename sig::args_tuple>(ar));
    if (ar.remaining() != 0)
        throw decode_error("asio_pal: trailing bytes after the chunk");
    auto fn = Fn;
    chunk_result<R> r = run_chunk<R>(fn, items);
    byte_output_archive out_ar(out);
    if constexpr (std::is_void_v<R>)
        out_ar(static_cast<std::uint64_t>(r.values.size()));
    else
        out_ar(r.values);
    return r.error;
}

/// Decodes what invoke_registered appended.
template <typename R>
R decode_result(std::span<const char> in)
{
    byte_input_archive ar(in);
    R r{};
    ar(r);
    if (ar.remaining() != 0)
        throw decode_error("asio_pal: trailing bytes after the result");
    return r;
}

/// Decodes the values part of what invoke_registered_chunk appended for a chunk of `items`
/// items; returns the bytes after it. A worker returns at most one value per item it was sent:
/// a reply claiming more is refused before anything is sized by it (a void chunk's values take
/// no bytes, so the frame's size alone would not bound them).
template <typename R>
std::span<const char> decode_chunk_values(std::span<const char> in, std::vector<item_t<R>>& values,
                                          std::size_t items)
{
    byte_input_archive ar(in);
    if constexpr (std::is_void_v<R>)
    {
        std::uint64_t n = 0;
        ar(n);
        if (n > items)
            throw decode_error("asio_pal: a chunk reply of " + std::to_string(n) +
                               " values for a chunk of " + std::to_string(items) + " items");
        values.resize(static_cast<std::size_t>(n));
    }
    else
    {
        ar(values);
        if (values.size() > items)
            throw decode_error("asio_pal: a chunk reply of " + std::to_string(values.size()) +
                               " values for a chunk of " + std::to_string(items) + " items");
    }
    return in.subspan(in.size() - ar.remaining());
}

template <auto Fn>
task_entry make_task_entry(std::string name)
{
    return task_entry{std::move(name), key_of(Fn), &invoke_registered<Fn>,
                      &invoke_registered_chunk<Fn>};
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_TASK_REGISTRY_HPP
