// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
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
