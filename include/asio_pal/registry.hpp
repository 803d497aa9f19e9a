//
// asio_pal/registry.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Registration of the functions a process pool runs, and remote calls for its initializer and
// finalizer.
//

#ifndef ASIO_PAL_REGISTRY_HPP
#define ASIO_PAL_REGISTRY_HPP

#include "asio_pal/detail/task_registry.hpp"

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asio_pal {

namespace detail {
template <typename F>
constexpr void check_remote_signature()
{
    static_assert(function_signature<F>::is_function_pointer,
                  "asio_pal: a process pool runs registered free functions only; lambdas, "
                  "closures and member functions cannot cross a process boundary. Register a "
                  "free function with ASIO_PAL_REGISTER_TASK(fn) and pass it by name.");
}

template <typename F>
constexpr void check_transportable()
{
    using sig = function_signature<F>;
    static_assert(is_transportable_v<typename sig::result_type>,
                  "asio_pal: the function's result type cannot be serialised for a process "
                  "pool; give it a `template <class Archive> void serialize(Archive&)` member "
                  "or include the cereal/types header for it");
    static_assert([]<typename... P>(std::type_identity<std::tuple<P...>>) {
        return (is_transportable_v<P> && ...);
    }(std::type_identity<typename sig::args_tuple>{}),
                  "asio_pal: a parameter type of the function cannot be serialised for a "
                  "process pool; give it a `template <class Archive> void serialize(Archive&)` "
                  "member or include the cereal/types header for it");
    static_assert([]<typename... P>(std::type_identity<std::tuple<P...>>) {
        return (std::is_default_constructible_v<P> && ...);
    }(std::type_identity<typename sig::args_tuple>{}),
                  "asio_pal: a parameter type of a process pool function must be default "
                  "constructible (the worker builds it, then loads it)");
}
} // namespace detail

/**
 * Registers the free function `Fn` under `name` so that process pools can run it. Call it
 * during static initialisation (see ASIO_PAL_REGISTER_TASK) in every program that submits the
 * function and in the worker executable. Returns true.
 *
 * Registering the same function twice under one name is harmless; one name for two different
 * functions makes every use of the name throw unregistered_task_error.
 */
template <auto Fn>
bool register_task(std::string_view name)
{
    detail::check_remote_signature<decltype(Fn)>();
    detail::check_transportable<decltype(Fn)>();
    detail::register_task_entry(detail::make_task_entry<Fn>(std::string(name)));
    return true;
}

/**
 * A registered function with serialised arguments, to be called in a worker process: the
 * initializer and finalizer of a process pool.
 *
 * @code
 * void open_db(std::string path);
 * ASIO_PAL_REGISTER_TASK(open_db);
 * asio_pal::process_pool pool(asio_pal::process_pool_options{
 *     .initializer = asio_pal::remote_call(open_db, std::string("/tmp/db"))});
 * @endcode
 */
class remote_call
{
public:
    /// No call.
    remote_call() = default;

    /// Calls `fn(args...)` in the worker. Throws unregistered_task_error when `fn` is not
    /// registered.
    template <typename F, typename... Args>
    explicit remote_call(F fn, Args&&... args)
    {
        using fn_type = std::decay_t<F>;
        detail::check_remote_signature<fn_type>();
        detail::check_transportable<fn_type>();
        using args_tuple = typename detail::function_signature<fn_type>::args_tuple;
        static_assert(sizeof...(Args) == std::tuple_size_v<args_tuple>,
                      "asio_pal: remote_call: wrong number of arguments for the function");
        name_ = detail::require_task(detail::key_of(static_cast<fn_type>(fn)), "remote_call").name;
        detail::encode_args(args_, args_tuple(std::forward<Args>(args)...));
    }

    /// Whether there is a call.
    explicit operator bool() const noexcept { return !name_.empty(); }
    /// The registered name of the function.
    const std::string& name() const noexcept { return name_; }
    /// The serialised arguments.
    const std::vector<char>& arguments() const noexcept { return args_; }

private:
    std::string name_;
    std::vector<char> args_;
};

} // namespace asio_pal

#define ASIO_PAL_DETAIL_CAT2(a, b) a##b
#define ASIO_PAL_DETAIL_CAT(a, b) ASIO_PAL_DETAIL_CAT2(a, b)

/// Registers the free function `fn` under the name `fn` for process pools (namespace scope).
#define ASIO_PAL_REGISTER_TASK(fn)                                                               \
    [[maybe_unused]] static const bool ASIO_PAL_DETAIL_CAT(asio_pal_registered_task_,           \
                                                           __COUNTER__) =                        \
        ::asio_pal::register_task<&fn>(#fn)

#endif // ASIO_PAL_REGISTRY_HPP
