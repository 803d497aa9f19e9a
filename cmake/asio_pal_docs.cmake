# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# The reference manual: Doxygen renders the public headers' doc comments and the narrative pages
# of docs/*.md into <build>/docs/html/index.html.
#
#   cmake --build build --target docs        (asio_pal_docs when asio_pal is not the top level)
#
# Any Doxygen warning (an undocumented public name, a broken reference) fails the target.
# Without Doxygen (Debian: doxygen) the target is simply not defined and the rest builds as usual.
# scripts/build_docs.sh builds it in a small build directory and checks the result.

find_package(Doxygen QUIET)
if(NOT DOXYGEN_FOUND)
    message(STATUS "asio_pal: Doxygen not found: the reference manual (docs target) is not built")
    return()
endif()

# FetchContent users may have a docs target of their own.
if(PROJECT_IS_TOP_LEVEL)
    set(asio_pal_docs_target docs)
else()
    set(asio_pal_docs_target asio_pal_docs)
endif()

set(ASIO_PAL_DOCS_OUTPUT "${PROJECT_BINARY_DIR}/docs")

# The public headers, plus the two detail headers that define names of namespace asio_pal
# (map_options; task_status, task_duration, task_id_t); Doxygen's INPUT is space-separated.
file(GLOB asio_pal_docs_headers CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/include/asio_pal/*.hpp")
# The narrative pages in reading order (Doxygen lists pages in input order), then any other.
set(asio_pal_docs_pages)
foreach(page overview thread_pools futures maps process_pools across_machines errors)
    list(APPEND asio_pal_docs_pages "${PROJECT_SOURCE_DIR}/docs/${page}.md")
endforeach()
file(GLOB asio_pal_docs_more_pages CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/docs/*.md" "${PROJECT_SOURCE_DIR}/docs/*.dox")
list(APPEND asio_pal_docs_pages ${asio_pal_docs_more_pages})
list(REMOVE_DUPLICATES asio_pal_docs_pages)
set(asio_pal_docs_input
    "${PROJECT_SOURCE_DIR}/include/asio_pal.hpp"
    ${asio_pal_docs_headers}
    "${PROJECT_SOURCE_DIR}/include/asio_pal/detail/map_state.hpp"
    "${PROJECT_SOURCE_DIR}/include/asio_pal/detail/task_state.hpp"
    ${asio_pal_docs_pages})
list(JOIN asio_pal_docs_input " " ASIO_PAL_DOCS_INPUT)

# docs/doxygen_filter.py hides the headers' namespace detail blocks (but map_family, the base
# class that gives the pools their map members); these patterns hide the detail classes and the
# ASIO_PAL_DETAIL_ macros as well. Doxygen reads a pattern containing '*' as a regular
# expression with '*' standing for '.*', and matches classes by qualified name.
set(ASIO_PAL_DOCS_EXCLUDE_SYMBOLS
    "asio_pal::detail::[^m]* asio_pal::detail::m[^a]* asio_pal::detail::ma[^p]* "
    "asio_pal::detail::map_[^f]* ASIO_PAL_DETAIL_*")
string(JOIN "" ASIO_PAL_DOCS_EXCLUDE_SYMBOLS ${ASIO_PAL_DOCS_EXCLUDE_SYMBOLS})

configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${ASIO_PAL_DOCS_OUTPUT}/Doxyfile" @ONLY)

# Always runs (a few seconds): Doxygen has no cheap way to say what changed. The old pages go
# first, as Doxygen leaves those of removed pages behind.
add_custom_target(${asio_pal_docs_target}
    COMMAND "${CMAKE_COMMAND}" -E rm -rf "${ASIO_PAL_DOCS_OUTPUT}/html"
    COMMAND Doxygen::doxygen "${ASIO_PAL_DOCS_OUTPUT}/Doxyfile"
    WORKING_DIRECTORY "${ASIO_PAL_DOCS_OUTPUT}"
    BYPRODUCTS "${ASIO_PAL_DOCS_OUTPUT}/html/index.html"
    COMMENT "asio_pal: Doxygen reference manual in ${ASIO_PAL_DOCS_OUTPUT}/html"
    VERBATIM)
