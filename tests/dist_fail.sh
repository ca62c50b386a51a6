#!/bin/sh
# A rank that fails mid-run ends the whole job with a message (dist_fail.c
# has the three ways); run under a timeout so that a hang fails the test
# instead of stalling the suite. Usage: dist_fail.sh MPIRUN DIST_FAIL
# (MPIRUN empty when mpirun was not found: skipped).
set -u
mpirun=$1
prog=$2
if [ -z "$mpirun" ]; then
    echo "SKIP: mpirun not found (install openmpi-bin)"
    exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=0 passed=0
check() { # mode, text the output must contain
    timeout 60 "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$prog" "$1" >"$out" 2>&1
    status=$?
    if [ "$status" -eq 124 ]; then
        echo "FAIL $1: the job was still running after 60 s"; failed=$((failed + 1))
    elif [ "$status" -eq 0 ] || grep -q finished "$out"; then
        echo "FAIL $1: the job finished (status $status) although rank 1 failed"; failed=$((failed + 1))
    elif ! grep -qF "$2" "$out"; then
        echo "FAIL $1: no '$2' in the output:"; cat "$out"; failed=$((failed + 1))
    else
        echo "ok $1: status $status, '$2'"; passed=$((passed + 1))
    fi
}
matmul='tg_matmul: shapes [3,4] and [5,6] cannot be multiplied (4 != 5)'
check abort "tapegrad: rank 1 of 2: $matmul"
check handler "tapegrad: rank 1 of 2: $matmul"
check exit "dist_fail: rank 1: $matmul"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
