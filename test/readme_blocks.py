#!/usr/bin/env python3
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)

"""Checks that README.md's code blocks are copies of files that build and run.

    python3 test/readme_blocks.py [REPOSITORY_ROOT]

Every ```cpp block of README.md must follow (on the line before, blank lines allowed) a comment

    <!-- example/FILE.cpp REGION -->   the block is the text between the lines "// [REGION]"
                                       and "// [/REGION]" of example/FILE.cpp
    <!-- PATH -->                      the block is a run of consecutive lines of PATH

A block after <!-- consumer FORM --> is a consumer's CMake code, which this script does not
check: scripts/check_readme.sh --consumer builds the hello world with it.

and be the same text, byte for byte, once the common indentation is taken off both (a block
inside a list item, a region inside a function). Blocks of other languages are checked the same
way when they carry such a comment. The quoted files are examples built and run as tests, so a
block that no longer compiles or no longer does what the README says fails a test.

Also fails when a region of an example/readme_*.cpp file is quoted nowhere (a README block was
removed or renamed and its region left behind), and when a region marker is unbalanced.

Exits 0 when everything matches, 1 with one line per problem otherwise.
"""

import pathlib
import re
import sys

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*(\S+)(?:\s+(\S+))?\s*-->\s*$")
REGION = re.compile(r"^\s*(?://|#)\s*\[(/?)([A-Za-z0-9_.-]+)\]\s*$")


def dedent(lines):
    """The lines without their common leading whitespace (blank lines ignored for it)."""
    widths = [len(l) - len(l.lstrip()) for l in lines if l.strip()]
    cut = min(widths) if widths else 0
    return [l[cut:] if l.strip() else "" for l in lines]


def regions(path):
    """REGION -> lines between its markers; raises ValueError on unbalanced markers."""
    found, open_regions = {}, {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = REGION.match(line)
        if m:
            closing, name = m.group(1) == "/", m.group(2)
            if not closing:
                if name in open_regions or name in found:
                    raise ValueError(f"{path}:{number}: region [{name}] opened twice")
                open_regions[name] = []
            else:
                if name not in open_regions:
                    raise ValueError(f"{path}:{number}: [/{name}] closes no open region")
                found[name] = open_regions.pop(name)
            continue
        for lines in open_regions.values():
            lines.append(line)
    if open_regions:
        raise ValueError(f"{path}: region [{next(iter(open_regions))}] is never closed")
    return found


def contains_run(haystack, needle):
    """Whether the lines `needle` appear in `haystack` consecutively, with one common indent."""
    n = len(needle)
    for start in range(len(haystack) - n + 1):
        if dedent(haystack[start:start + n]) == needle:
            return True
    return False


def blocks(readme):
    """Yields (line number, language, marker match or None, dedented lines) per fenced block."""
    lines = readme.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, language, start = m.group(1), m.group(2), i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j == len(lines):
            raise ValueError(f"README.md:{start + 1}: code block never closed")
        body = [l[len(indent):] if l.startswith(indent) else l for l in lines[i + 1:j]]
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = MARKER.match(lines[k]) if k >= 0 else None
        yield start + 1, language, marker, dedent(body)
        i = j + 1


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    problems, quoted, checked = [], set(), 0
    try:
        for line, language, marker, body in blocks(root / "README.md"):
            where = f"README.md:{line}"
            if marker is None:
                if language == "cpp":
                    problems.append(f"{where}: a cpp block without <!-- FILE [REGION] --> "
                                    "before it (every C++ block must be a copy of a file that "
                                    "compiles)")
                continue
            if marker.group(1) == "consumer":
                continue
            path, region = root / marker.group(1), marker.group(2)
            if not path.is_file():
                problems.append(f"{where}: {marker.group(1)} does not exist")
                continue
            checked += 1
            if region is None:
                if not contains_run(path.read_text().splitlines(), body):
                    problems.append(f"{where}: the block is not a run of lines of "
                                    f"{marker.group(1)}")
                continue
            found = regions(path)
            if region not in found:
                problems.append(f"{where}: {marker.group(1)} has no region [{region}]")
                continue
            quoted.add((path, region))
            expected = dedent(found[region])
            if body != expected:
                for n, (got, want) in enumerate(zip(body + [None] * len(expected),
                                                    expected + [None] * len(body))):
                    if got != want:
                        problems.append(f"{where}: differs from {marker.group(1)} "
                                        f"[{region}] at its line {n + 1}:\n"
                                        f"    README:  {got!r}\n    example: {want!r}")
                        break
        for path in sorted((root / "example").glob("readme_*.cpp")):
            for region in regions(path):
                if (path, region) not in quoted:
                    problems.append(f"{path.relative_to(root)}: region [{region}] is quoted "
                                    "nowhere in README.md")
    except ValueError as e:
        problems.append(str(e))
    for p in problems:
        print(f"readme_blocks: {p}")
    if not problems:
        print(f"readme_blocks: {checked} README blocks match their files")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
