#!/usr/bin/env python3
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""Doxygen input filter for asio_pal's headers: prints HEADER with every `namespace detail`
block wrapped in a conditional section (@cond ... @endcond), so that the implementation's
functions, aliases and classes stay out of the reference manual.

Exception: the classes in KEPT are shown. detail::map_family gives thread_pool and
process_pool their map members; the manual shows them in both pools' pages (through
INLINE_INHERITED_MEMB), which needs the base class.

The filter only adds comments at the ends of existing lines, so line numbers (in warnings and
source links) stay those of the header. Usage (Doxygen runs it): doxygen_filter.py HEADER
"""

import re
import sys

KEPT = ("map_family",)

OPEN = re.compile(r"^namespace detail\s*\{\s*$")
CLOSE = re.compile(r"^\}\s*// namespace detail\s*$")
KEPT_CLASS = re.compile(r"^(class|struct)\s+(" + "|".join(KEPT) + r")\b")


def doc_start(lines, i):
    """The first line of the declaration at line i: its template header and doc comment."""
    j = i
    while j > 0 and lines[j - 1].startswith("template"):
        j -= 1
    if j > 0 and lines[j - 1].rstrip().endswith("*/"):
        while j > 0 and not lines[j - 1].lstrip().startswith("/**"):
            j -= 1
        j -= 1
    while j > 0 and lines[j - 1].lstrip().startswith("///"):
        j -= 1
    return j


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = list(lines)
    hidden = False
    for i, line in enumerate(lines):
        if OPEN.match(line):
            out[i] = line + " /** @cond */"
            hidden = True
        elif CLOSE.match(line):
            if hidden:
                out[i] = "/** @endcond */ " + out[i]
            hidden = False
        elif hidden and KEPT_CLASS.match(line):
            j = doc_start(lines, i)
            out[j] = "/** @endcond */ " + out[j]
            hidden = False
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
