//
// asio_pal/version.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The version of asio_pal. This file is the one place that says it: CMakeLists.txt reads the
// three numbers below for project(VERSION), b2 and the Debian package use the header as is, and
// scripts/test_consumer.sh checks that the installed CMake package, pkg-config file and Debian
// package agree with it.
//

#ifndef ASIO_PAL_VERSION_HPP
#define ASIO_PAL_VERSION_HPP

/// The major version of asio_pal. While it is 0, each minor version may break the API and ABI.
#define ASIO_PAL_VERSION_MAJOR 0
/// The minor version of asio_pal.
#define ASIO_PAL_VERSION_MINOR 1
/// The patch level of asio_pal.
#define ASIO_PAL_VERSION_PATCH 0

/// The version as one number, laid out like BOOST_ASIO_VERSION (102801 is 1.28.1):
/// ASIO_PAL_VERSION / 100000 is the major version, ASIO_PAL_VERSION / 100 % 1000 the minor
/// version and ASIO_PAL_VERSION % 100 the patch level. Usable in `#if`.
#define ASIO_PAL_VERSION                                                                           \
    (ASIO_PAL_VERSION_MAJOR * 100000 + ASIO_PAL_VERSION_MINOR * 100 + ASIO_PAL_VERSION_PATCH)

/// "MAJOR.MINOR.PATCH".
#define ASIO_PAL_VERSION_STRING "0.1.0"

static_assert(ASIO_PAL_VERSION_MINOR < 1000 && ASIO_PAL_VERSION_PATCH < 100,
              "asio_pal: the version's minor and patch numbers must fit ASIO_PAL_VERSION's layout");

#endif // ASIO_PAL_VERSION_HPP
