#!/bin/sh
# Distributed under the Boost Software License, Version 1.0. (See accompanying
# file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
#
# Runs an example and checks what it prints, for CTest (example/CMakeLists.txt) and b2
# (example/Jamfile):
#
#   sh example/check_output.sh PROGRAM EXPECTED
#
# Passes when PROGRAM exits with status 0 and its standard output matches the file EXPECTED
# line by line. In EXPECTED, "..." stands for any text within a line (a timing, a count that
# varies from run to run). Standard error is not checked. The output is echoed for the log.

if [ $# -ne 2 ]; then
    echo "usage: check_output.sh PROGRAM EXPECTED" >&2
    exit 2
fi
program=$1
expected=$2
if [ ! -r "$expected" ]; then
    echo "check_output: cannot read $expected" >&2
    exit 2
fi

actual=$("$program")
status=$?
printf '%s\n' "$actual"
if [ "$status" -ne 0 ]; then
    echo "check_output: $program exited with status $status" >&2
    exit 1
fi

printf '%s' "$actual" | awk -v expected="$expected" '
    # Whether `line` matches `pattern`, where "..." in the pattern matches any text.
    function matches(line, pattern,    parts, n, i, at, last)
    {
        n = split(pattern, parts, /\.\.\./)
        if (n <= 1)
            return line == pattern
        if (substr(line, 1, length(parts[1])) != parts[1])
            return 0
        line = substr(line, length(parts[1]) + 1)
        for (i = 2; i < n; i++)
        {
            at = index(line, parts[i])
            if (at == 0)
                return 0
            line = substr(line, at + length(parts[i]))
        }
        last = parts[n]
        return length(line) >= length(last) && substr(line, length(line) - length(last) + 1) == last
    }
    BEGIN {
        while ((getline want[++wanted] < expected) > 0)
            ;
        --wanted
    }
    {
        if (NR > wanted)
        {
            printf "check_output: line %d: unexpected \"%s\"\n", NR, $0 > "/dev/stderr"
            bad = 1
            exit 1
        }
        if (!matches($0, want[NR]))
        {
            printf "check_output: line %d: expected \"%s\"\n", NR, want[NR] > "/dev/stderr"
            printf "check_output: line %d: got      \"%s\"\n", NR, $0 > "/dev/stderr"
            bad = 1
            exit 1
        }
    }
    END {
        if (!bad && NR < wanted)
        {
            printf "check_output: line %d: missing \"%s\"\n", NR + 1, want[NR + 1] > "/dev/stderr"
            exit 1
        }
    }
'
