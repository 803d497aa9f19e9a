# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Install rules of asio_pal, included by CMakeLists.txt when ASIO_PAL_INSTALL is on:
#
#   include/asio_pal.hpp, include/asio_pal/**.hpp     the headers (not the .ipp files: they are
#                                                     compiled into the library)
#   LIBDIR/libasio_pal.a or libasio_pal.so*           the library (and asio_pal_mpi when built)
#   LIBDIR/cmake/asio_pal/                            find_package(asio_pal 0.1 CONFIG)
#   LIBDIR/pkgconfig/asio_pal.pc                      pkg-config asio_pal
#
# A static and a shared build may be installed into the same prefix (the Debian package holds
# both): each writes its own targets file (asio_pal-static-targets.cmake or
# asio_pal-shared-targets.cmake), and asio_palConfig.cmake picks one (see its comments).
include(CMakePackageConfigHelpers)

get_target_property(asio_pal_type asio_pal TYPE)
if(asio_pal_type STREQUAL "SHARED_LIBRARY")
    set(asio_pal_kind shared)
else()
    set(asio_pal_kind static)
endif()
set(asio_pal_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/asio_pal)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")

install(TARGETS asio_pal EXPORT asio_pal_targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT asio_pal_targets
        NAMESPACE asio_pal::
        FILE asio_pal-${asio_pal_kind}-targets.cmake
        DESTINATION ${asio_pal_cmake_dir})

# asio_pal::mpi is a component of its own (find_package(asio_pal COMPONENTS mpi)), so that a
# program without MPI never needs MPI to find asio_pal.
if(TARGET asio_pal_mpi)
    install(TARGETS asio_pal_mpi EXPORT asio_pal_mpi_targets
            ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
            LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
    install(EXPORT asio_pal_mpi_targets
            NAMESPACE asio_pal::
            FILE asio_pal-mpi-${asio_pal_kind}-targets.cmake
            DESTINATION ${asio_pal_cmake_dir})
endif()

configure_package_config_file(
    ${CMAKE_CURRENT_LIST_DIR}/asio_palConfig.cmake.in
    ${PROJECT_BINARY_DIR}/asio_palConfig.cmake
    INSTALL_DESTINATION ${asio_pal_cmake_dir}
    NO_SET_AND_CHECK_MACRO)
# 0.x: only the same minor version is compatible (0.1.2 satisfies 0.1, not 0.2 nor 0.0).
write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/asio_palConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/asio_palConfig.cmake
              ${PROJECT_BINARY_DIR}/asio_palConfigVersion.cmake
        DESTINATION ${asio_pal_cmake_dir})

# asio_pal.pc is written at install time, so that its prefix is the one `cmake --install
# --prefix P` installs into rather than the one configured.
foreach(dir LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
        set(asio_pal_pc_${dir} "${CMAKE_INSTALL_${dir}}")
    else()
        set(asio_pal_pc_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
    endif()
endforeach()
install(CODE "
    set(PROJECT_VERSION [==[${PROJECT_VERSION}]==])
    set(asio_pal_pc_LIBDIR [==[${asio_pal_pc_LIBDIR}]==])
    set(asio_pal_pc_INCLUDEDIR [==[${asio_pal_pc_INCLUDEDIR}]==])
    set(asio_pal_pc_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    configure_file([==[${CMAKE_CURRENT_LIST_DIR}/asio_pal.pc.in]==]
                   [==[${PROJECT_BINARY_DIR}/asio_pal.pc]==] @ONLY)
")
install(FILES ${PROJECT_BINARY_DIR}/asio_pal.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
