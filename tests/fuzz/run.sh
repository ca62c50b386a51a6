#!/bin/sh
# Build a libFuzzer harness with clang and run it for a while:
#
#     tests/fuzz/run.sh HARNESS SECONDS [SEED...]
#
# HARNESS names tests/fuzz/HARNESS.c, which defines LLVMFuzzerTestOneInput.
# It is linked against the library compiled from its sources (every .c of
# core, ops, layers and optim; the SIMD kernels with their own flags, as
# ops/kernels/meson.build does) under -fsanitize=fuzzer,address,undefined,
# with UndefinedBehaviorSanitizer reports made fatal.
#
# The corpus starts from the files a line "fuzz-seeds: GLOB..." in the
# harness names (relative to the repository root), from the SEED files or
# directories given, and from what earlier runs found (it is kept in
# $FUZZ_DIR/HARNESS/corpus). tests/fuzz/HARNESS.dict is used as a dictionary
# when it exists. A line "fuzz-options: ..." in the harness adds libFuzzer
# options, and "fuzz-env: NAME=VALUE..." sets the environment of the run
# (ASAN_OPTIONS, say). Crashing inputs are left in $FUZZ_DIR/HARNESS/.
#
# Exits 0 when the run ends without a crash, 1 on a crash, 77 when clang
# cannot build fuzzers. FUZZ_DIR defaults to build-fuzz/; CLANG to clang
# (or clang-14).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 HARNESS SECONDS [SEED...]" >&2; exit 2; }
harness=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
source=$root/tests/fuzz/$harness.c
[ -f "$source" ] || { echo "$0: no harness $source" >&2; exit 2; }
out=${FUZZ_DIR:-$root/build-fuzz}
mkdir -p "$out/obj" "$out/$harness/corpus" "$out/$harness/seeds"
out=$(cd "$out" && pwd)

# Seeds: named in the harness and given on the command line.
globs=$(sed -n 's/.*fuzz-seeds:\(.*\)/\1/p' "$source")
(cd "$root" && for g in $globs; do for f in $g; do [ -f "$f" ] && cp "$f" "$out/$harness/seeds/"; done; done)
for s in "$@"; do
    if [ -d "$s" ]; then cp "$s"/* "$out/$harness/seeds/"; else cp "$s" "$out/$harness/seeds/"; fi
done

clang=${CLANG:-}
for candidate in clang clang-14; do
    [ -n "$clang" ] && break
    command -v "$candidate" >/dev/null 2>&1 && clang=$candidate
done
if [ -z "$clang" ] || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
        "$clang" -fsanitize=fuzzer -x c - -o "$out/obj/probe" >/dev/null 2>&1; then
    echo "SKIP: no clang that builds libFuzzer harnesses (apt-get install clang)"
    exit 77
fi

# The library gets coverage instrumentation (fuzzer-no-link), the harness
# also libFuzzer's main (fuzzer).
flags="-g -O1 -std=c11 -D_DEFAULT_SOURCE -fno-trapping-math -Wno-unknown-pragmas -fno-omit-frame-pointer
       -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -I$root/include $(pkg-config --cflags libcjson)"

# One compile job per line: output, source, extra flags.
jobs=$out/obj/jobs
: > "$jobs"
kern_args=""
for level in "avx512 -mavx512f -mavx512dq -mavx512vl -mfma -mavx2" "avx2 -mavx2 -mfma"; do
    set -- $level
    name=$1
    shift
    upper=$(echo "$name" | tr a-z A-Z)
    if echo 'int main(void) { return 0; }' | "$clang" "$@" -x c - -o "$out/obj/probe" >/dev/null 2>&1; then
        for f in gemm vmath; do echo "$out/obj/kern_${f}_$name.o $root/ops/kernels/${f}_$name.c $* -DTG_HAVE_$upper=1" >> "$jobs"; done
        kern_args="$kern_args -DTG_HAVE_$upper=1"
    fi
done
for f in simd gemm gemm_scalar vmath; do echo "$out/obj/kern_$f.o $root/ops/kernels/$f.c $kern_args" >> "$jobs"; done
for dir in core ops layers optim; do
    for f in "$root/$dir"/*.c; do
        # The library as built without MPI (optim/dist.c needs mpi.h).
        [ "$f" = "$root/optim/dist.c" ] || echo "$out/obj/${dir}_$(basename "$f" .c).o $f" >> "$jobs"
    done
done
# Two at a time: the machines that run this are small and shared.
export clang flags
xargs -P 2 -L 1 sh -c 'object=$0 source=$1; shift; exec $clang $flags -c -o "$object" "$source" "$@"' < "$jobs"
# shellcheck disable=SC2086
"$clang" $flags -fsanitize=fuzzer -o "$out/$harness/$harness" "$source" "$out"/obj/*.o $(pkg-config --libs libcjson) -lm -lpthread

dict=""
[ -f "$root/tests/fuzz/$harness.dict" ] && dict="-dict=$root/tests/fuzz/$harness.dict"

log=$out/$harness/last-run.log
echo "fuzzing $harness for $seconds s ($(ls "$out/$harness/seeds" | wc -l) seeds, $(ls "$out/$harness/corpus" | wc -l) inputs in the corpus)"
status=0
options=$(sed -n 's/.*fuzz-options:\([^*]*\).*/\1/p' "$source")
environment=$(sed -n 's/.*fuzz-env:\([^*]*\).*/\1/p' "$source")
# shellcheck disable=SC2086
env $environment "$out/$harness/$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/$harness/" $options $dict "$out/$harness/corpus" \
    "$out/$harness/seeds" > "$log" 2>&1 || status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "$harness: CRASH after ${runs:-?} executions (exit status $status); the input is in $out/$harness/"
    exit 1
fi
echo "$harness: ${runs:-?} executions in $seconds s, 0 crashes ($(ls "$out/$harness/corpus" | wc -l) inputs in the corpus)"
