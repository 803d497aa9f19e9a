//
// example/readme_hello.cpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The README's hello world, quoted there between the region markers (test/readme_blocks.py
// checks that the README's copy is this one, byte for byte).
//

// [readme-hello]
#include <asio_pal.hpp>

#include <iostream>

int main()
{
    asio_pal::thread_pool pool; // elastic: no thread runs until work arrives

    asio_pal::future<int> answer = pool.submit([](int a, int b) { return a * b; }, 6, 7);
    std::cout << "6 * 7 = " << answer.collect() << '\n'; // waits, rethrows the task's exception
}
// [/readme-hello]
