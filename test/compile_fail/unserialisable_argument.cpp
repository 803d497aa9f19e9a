// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
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
