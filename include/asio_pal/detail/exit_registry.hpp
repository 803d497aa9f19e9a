//
// asio_pal/detail/exit_registry.hpp
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

} // namespace asio_pal::detail

#endif // ASIO_PAL_DETAIL_EXIT_REGISTRY_HPP
