// Must not compile: a parameter type has no serialize member and no cereal support.
#include <asio_pal/process_pool.hpp>

struct opaque
{
    int handle = 0;
};

int use_opaque(opaque o)
{
    return o.handle;
}

int main()
{
    asio_pal::process_pool pool(1);
    return pool.submit(use_opaque, opaque{}).collect();
}
