// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Must not compile: the worker builds each argument, then loads it, so parameter types must be
// default constructible.
#include <asio_pal/process_pool.hpp>

struct fixed
{
    explicit fixed(int v) : value(v) {}
    int value;
    template <class Archive>
    void serialize(Archive& ar)
    {
        ar(value);
    }
};

int use_fixed(fixed f)
{
    return f.value;
}

int main()
{
    asio_pal::process_pool pool(1);
    return pool.submit(use_fixed, fixed(1)).collect();
}
