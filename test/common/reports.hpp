//
// test/common/reports.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// Test support: collects the exceptions a pool reports through its on_task_exception hook.
//

#ifndef ASIO_PAL_TEST_COMMON_REPORTS_HPP
#define ASIO_PAL_TEST_COMMON_REPORTS_HPP

#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace asio_pal_test {

/// What a pool reported, in order; give hook() to pool_options::on_task_exception.
struct reports
{
    std::mutex m;
    std::vector<std::exception_ptr> errors;

    std::function<void(std::exception_ptr)> hook()
    {
        return [this](std::exception_ptr e) {
            std::lock_guard<std::mutex> l(m);
            errors.push_back(std::move(e));
        };
    }

    std::size_t count()
    {
        std::lock_guard<std::mutex> l(m);
        return errors.size();
    }

    std::exception_ptr at(std::size_t i)
    {
        std::lock_guard<std::mutex> l(m);
        return errors.at(i);
    }

    /// Whether report `i` is an `E`.
    template <typename E>
    bool is(std::size_t i)
    {
        try
        {
            std::rethrow_exception(at(i));
        }
        catch (const E&)
        {
            return true;
        }
        catch (...)
        {
            return false;
        }
    }
};

} // namespace asio_pal_test

#endif // ASIO_PAL_TEST_COMMON_REPORTS_HPP
