//
// asio_pal/detail/exit_registry.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Pools still alive when the program exits are shut down by one atexit handler, registered
// when the first pool is made: static destructors registered before it run after it, so they
// find the pools' threads gone, and leaked pools never leave threads running into exit.
//

#ifndef ASIO_PAL_DETAIL_EXIT_REGISTRY_HPP
#define ASIO_PAL_DETAIL_EXIT_REGISTRY_HPP

namespace asio_pal::detail {

/// Something that must be shut down before the program exits.
class exit_participant
{
public:
    virtual void shutdown_at_exit() noexcept = 0;

protected:
    ~exit_participant() = default;
};

void register_at_exit(exit_participant* p);
void unregister_at_exit(exit_participant* p) noexcept;

/// Registers the exit handler again if a pool was made since it was last registered. Pools call
/// it when work arrives: a static pool's destructor is registered only once its constructor has
/// returned, so a handler registered in the constructor would run after that destructor.
void arm_at_exit() noexcept;

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_EXIT_REGISTRY_HPP
