// Must not compile: the result type has no serialize member and no cereal support.
#include <asio_pal/process_pool.hpp>

struct opaque
{
    int handle = 0;
};

opaque make_opaque(int h)
{
    return opaque{h};
}

int main()
{
    asio_pal::process_pool pool(1);
    return pool.submit(make_opaque, 1).collect().handle;
}
