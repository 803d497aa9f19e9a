#!/usr/bin/env bash
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Builds test/consumer/ outside asio_pal's tree the ways a user gets asio_pal, runs each build
# and compares what it prints with test/consumer/expected.txt:
#
#   prefix   cmake --install of a static build into a temporary prefix, then
#            find_package(asio_pal) with CMAKE_PREFIX_PATH, and a plain g++ command line from
#            `pkg-config --static --cflags --libs asio_pal`
#   fetch    FetchContent of this repository (a file:// clone of HEAD; of the working tree
#            instead when tracked files have uncommitted changes)
#   deb      dpkg-buildpackage -us -uc -b on a copy of the tree, apt-get install of
#            libasio-pal-dev_*.deb, then find_package with no prefix path (the shared library,
#            and the static one), and pkg-config (the shared library); removed at the end
#   b2       a Jamroot with `use-project /asio_pal : ROOT ;` linking /asio_pal//asio_pal
#
#   scripts/test_consumer.sh                 every way (deb needs root: CI runs as root)
#   scripts/test_consumer.sh prefix fetch    only those
#
# It also checks that no installed file names the source tree or a build tree, and that the
# CMake package, the pkg-config file and the Debian package give the version of
# include/asio_pal/version.hpp. Temporary files go under one mktemp directory, removed at exit.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ASIO_PAL_ROOT"

ways=("$@")
if [[ ${#ways[@]} -eq 0 ]]; then
    ways=(prefix fetch deb b2)
fi
for way in "${ways[@]}"; do
    case $way in
    prefix | fetch | deb | b2) ;;
    *)
        echo "test_consumer: unknown way '$way' (known: prefix, fetch, deb, b2)" >&2
        exit 2
        ;;
    esac
done

version=$(sed -n 's/^#define ASIO_PAL_VERSION_STRING "\(.*\)"$/\1/p' include/asio_pal/version.hpp)
if [[ -z "$version" ]]; then
    echo "test_consumer: no ASIO_PAL_VERSION_STRING in include/asio_pal/version.hpp" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/asio_pal_consumer.XXXXXX)
deb_installed=0
# shellcheck disable=SC2317 # run by the trap
cleanup()
{
    if [[ $deb_installed -eq 1 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get remove -y libasio-pal-dev >/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

jobs=(-j 2)
consumer_src="$ASIO_PAL_ROOT/test/consumer"
step()
{
    printf -- '--- test_consumer: %s\n' "$*"
}

# run_consumer PROGRAM: runs it (its process pool re-executes it as the workers) and compares
# its output with expected.txt.
run_consumer()
{
    local program=$1 out
    out=$(timeout 120 "$program") || {
        echo "$out"
        echo "test_consumer: $program failed" >&2
        return 1
    }
    if ! diff -u "$consumer_src/expected.txt" <(echo "$out"); then
        echo "test_consumer: $program printed something else than test/consumer/expected.txt" >&2
        return 1
    fi
    echo "$program: as expected"
}

# no_tree_paths DIR...: no installed file names the source tree or a build tree of this run.
no_tree_paths()
{
    local found
    found=$(grep -rlI -e "$ASIO_PAL_ROOT" -e "$tmp/build" "$@" || true)
    if [[ -n "$found" ]]; then
        echo "test_consumer: installed files name the source or build tree:" >&2
        grep -rnI -e "$ASIO_PAL_ROOT" -e "$tmp/build" "$@" >&2
        return 1
    fi
}

# check_exports LIBRARY: libasio_pal.so's SONAME carries MAJOR.MINOR, and it exports namespace
# asio_pal (the exceptions' type information included) and, of Boost, only the objects
# src/asio_pal.map names.
check_exports()
{
    local so=$1 soname exports unexpected
    soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
    if [[ "$soname" != "libasio_pal.so.${version%.*}" ]]; then
        echo "test_consumer: $so has SONAME '$soname', not libasio_pal.so.${version%.*}" >&2
        return 1
    fi
    # In a variable, not a pipe into grep -q: pipefail would see nm killed by SIGPIPE.
    exports=$(nm -D --defined-only -C "$so" | cut -d' ' -f3-)
    local boost_kept='^(guard variable for )?boost::(system::detail::[a-z_]+_cat_holder<void>'
    boost_kept+='::instance|(asio|process::v2)::error::get_[a-z0-9_]+_category\(\)::instance'
    boost_kept+='|asio::detail::(call_stack|keyword_tss_ptr)<.*>::(top_|value_))$'
    unexpected=$(grep -v 'asio_pal::' <<<"$exports" | grep -Ev "$boost_kept" || true)
    if [[ -n "$unexpected" ]]; then
        echo "test_consumer: $so exports what src/asio_pal.map should keep local:" >&2
        head -20 <<<"$unexpected" >&2
        return 1
    fi
    if ! grep -qx 'typeinfo for asio_pal::pool_closed_error' <<<"$exports"; then
        echo "test_consumer: $so does not export typeinfo for asio_pal::pool_closed_error" >&2
        return 1
    fi
    echo "$so: SONAME $soname, exports namespace asio_pal and" \
        "$(grep -vc 'asio_pal::' <<<"$exports") Boost objects"
}

# cmake_consumer NAME [cmake arguments...]: configures, builds and runs test/consumer.
cmake_consumer()
{
    local name=$1
    shift
    cmake -S "$consumer_src" -B "$tmp/consumer-$name" -G Ninja "$@" >"$tmp/consumer-$name.log" ||
        { cat "$tmp/consumer-$name.log"; return 1; }
    grep 'consumer: asio_pal' "$tmp/consumer-$name.log" || true
    cmake --build "$tmp/consumer-$name" "${jobs[@]}" >>"$tmp/consumer-$name.log" ||
        { cat "$tmp/consumer-$name.log"; return 1; }
    run_consumer "$tmp/consumer-$name/consumer"
}

# pkg_config_consumer NAME [pkg-config options...]: builds main.cpp with one g++ command line.
pkg_config_consumer()
{
    local name=$1 flags pc_version
    shift
    pc_version=$(pkg-config --modversion asio_pal)
    if [[ "$pc_version" != "$version" ]]; then
        echo "test_consumer: pkg-config says asio_pal $pc_version, version.hpp $version" >&2
        return 1
    fi
    flags=$(pkg-config "$@" --cflags --libs asio_pal)
    echo "pkg-config $* --cflags --libs asio_pal: $flags"
    # shellcheck disable=SC2086 # the flags are words
    g++ -std=c++20 -DCONSUMER_EXPECTED_VERSION="$pc_version" "$consumer_src/main.cpp" \
        -o "$tmp/consumer-$name" $flags
    run_consumer "$tmp/consumer-$name"
}

for way in "${ways[@]}"; do
    case $way in
    prefix)
        step "static build, cmake --install --prefix $tmp/prefix"
        asio_pal_configure "$tmp/build-prefix" -DASIO_PAL_BUILD_TESTS=OFF >"$tmp/build-prefix.log"
        cmake --build "$tmp/build-prefix" "${jobs[@]}" >>"$tmp/build-prefix.log" ||
            { cat "$tmp/build-prefix.log"; exit 1; }
        cmake --install "$tmp/build-prefix" --prefix "$tmp/prefix" >>"$tmp/build-prefix.log"
        no_tree_paths "$tmp/prefix"
        step "find_package(asio_pal) with CMAKE_PREFIX_PATH=$tmp/prefix"
        cmake_consumer prefix -DCMAKE_PREFIX_PATH="$tmp/prefix"
        step "pkg-config --static, PKG_CONFIG_PATH in $tmp/prefix"
        PKG_CONFIG_PATH=$(dirname "$(find "$tmp/prefix" -name asio_pal.pc)") \
            pkg_config_consumer prefix-pc --static
        ;;
    fetch)
        if git diff --quiet HEAD --; then
            step "FetchContent of file://$ASIO_PAL_ROOT at $(git rev-parse --short HEAD)"
            cmake_consumer fetch -DCONSUMER_FETCH_URL="file://$ASIO_PAL_ROOT" \
                -DCONSUMER_FETCH_TAG="$(git rev-parse HEAD)"
        else
            step "FetchContent of the working tree (tracked files have uncommitted changes)"
            cmake_consumer fetch -DFETCHCONTENT_SOURCE_DIR_ASIO_PAL="$ASIO_PAL_ROOT"
        fi
        ;;
    deb)
        if [[ $(id -u) -ne 0 ]]; then
            echo "test_consumer: the deb way installs a package: run it as root" >&2
            exit 1
        fi
        # dpkg-buildpackage writes into the parent directory: build in a copy. The copy holds
        # the tracked files and the untracked ones that are not ignored.
        step "dpkg-buildpackage -us -uc -b in $tmp/build-deb/asio-pal"
        mkdir -p "$tmp/build-deb/asio-pal"
        git ls-files -z --cached --others --exclude-standard |
            xargs -0 cp --parents -t "$tmp/build-deb/asio-pal" 2>/dev/null || true
        (cd "$tmp/build-deb/asio-pal" && dpkg-buildpackage -us -uc -b) >"$tmp/build-deb.log" 2>&1 ||
            { tail -50 "$tmp/build-deb.log"; exit 1; }
        deb=$(echo "$tmp"/build-deb/libasio-pal-dev_*.deb)
        deb_version=$(dpkg-deb --field "$deb" Version)
        if [[ "${deb_version%-*}" != "$version" ]]; then
            echo "test_consumer: the package is $deb_version, version.hpp says $version" >&2
            exit 1
        fi
        dpkg-deb --contents "$deb" | awk '{print $6}' | grep -v -e '/$' -e '^./usr/include/asio_pal/'
        mkdir "$tmp/deb-contents"
        dpkg-deb --extract "$deb" "$tmp/deb-contents"
        no_tree_paths "$tmp/deb-contents"
        check_exports "$(echo "$tmp"/deb-contents/usr/lib/*/libasio_pal.so.*.*.*)"
        step "apt-get install $deb"
        deb_installed=1
        DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" >"$tmp/apt.log" 2>&1 ||
            { cat "$tmp/apt.log"; exit 1; }
        step "find_package(asio_pal) with no prefix path: the shared library"
        cmake_consumer deb-shared
        ldd "$tmp/consumer-deb-shared/consumer" | grep libasio_pal
        step "find_package(asio_pal) with no prefix path, ASIO_PAL_USE_STATIC_LIBS: the static library"
        cmake_consumer deb-static -DCONSUMER_STATIC=ON
        if ldd "$tmp/consumer-deb-static/consumer" | grep libasio_pal; then
            echo "test_consumer: the static consumer loads libasio_pal.so" >&2
            exit 1
        fi
        step "pkg-config from the package: the shared library"
        pkg_config_consumer deb-pc
        step "apt-get remove libasio-pal-dev"
        DEBIAN_FRONTEND=noninteractive apt-get remove -y libasio-pal-dev >"$tmp/apt.log" 2>&1 ||
            { cat "$tmp/apt.log"; exit 1; }
        deb_installed=0
        ;;
    b2)
        step "b2 use-project /asio_pal : $ASIO_PAL_ROOT"
        mkdir -p "$tmp/consumer-b2"
        cp "$consumer_src/main.cpp" "$consumer_src/Jamroot" "$tmp/consumer-b2/"
        (cd "$tmp/consumer-b2" &&
            ASIO_PAL_ROOT="$ASIO_PAL_ROOT" b2 -j2 -d0 toolset=gcc --build-dir="$tmp/consumer-b2/bin" \
                define=CONSUMER_EXPECTED_VERSION="$version")
        run_consumer "$(find "$tmp/consumer-b2/bin" -type f -name consumer -perm -u+x | head -1)"
        ;;
    esac
done
step "all passed: ${ways[*]}"
