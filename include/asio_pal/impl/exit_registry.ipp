//
// asio_pal/impl/exit_registry.ipp
//

#ifndef ASIO_PAL_IMPL_EXIT_REGISTRY_IPP
#define ASIO_PAL_IMPL_EXIT_REGISTRY_IPP

#include "asio_pal/detail/exit_registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace asio_pal::detail {

namespace {

struct exit_registry
{
    std::mutex mutex;
    std::vector<exit_participant*> live;
    bool handler_installed = false;
};

// Never destroyed: pools may unregister during static destruction, after our handler ran.
exit_registry& registry()
{
    static exit_registry* r = new exit_registry;
    return *r;
}

extern "C" void asio_pal_shutdown_at_exit()
{
    std::vector<exit_participant*> live;
    {
        std::lock_guard<std::mutex> lock(registry().mutex);
        live.swap(registry().live);
    }
    // Newest first, as static destruction would.
    for (auto it = live.rbegin(); it != live.rend(); ++it)
        (*it)->shutdown_at_exit();
}

} // namespace

void register_at_exit(exit_participant* p)
{
    exit_registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!r.handler_installed)
    {
        std::atexit(asio_pal_shutdown_at_exit);
        r.handler_installed = true;
    }
    r.live.push_back(p);
}

void unregister_at_exit(exit_participant* p) noexcept
{
    exit_registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.live.erase(std::remove(r.live.begin(), r.live.end(), p), r.live.end());
}

} // namespace asio_pal::detail

#endif // ASIO_PAL_IMPL_EXIT_REGISTRY_IPP
