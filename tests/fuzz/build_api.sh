#!/bin/sh
# Builds the API fuzzer (tests/fuzz/fuzz_api.c) with clang's libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer from the library's
# sources (without OpenMP: one thread, one allocation order), and runs it
# for the given number of seconds (default 60) on a corpus kept in the
# build folder. Exits non-zero on a finding; the crashing input is left in
# the build folder.
#     tests/fuzz/build_api.sh [seconds] [build folder, default build-fuzz]
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$root/build-fuzz}
mkdir -p "$out/objs" "$out/corpus"
cc=${CC_FUZZ:-clang}
flags="-g -O1 -std=c11 -D_DEFAULT_SOURCE -fno-trapping-math -Wno-unknown-pragmas -I$root/include
       -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
       $(pkg-config --cflags libcjson)"
kern="-DTG_HAVE_AVX512=1 -DTG_HAVE_AVX2=1"
objs=""
compile() { # source, extra flags
    obj="$out/objs/$(echo "$1" | tr / _).o"
    # shellcheck disable=SC2086
    $cc $flags $2 -c "$root/$1" -o "$obj"
    objs="$objs $obj"
}
# The library as built without MPI (optim/dist.c needs mpi.h).
for f in core/*.c ops/*.c layers/*.c optim/*.c; do
    [ "$f" = optim/dist.c ] || compile "$f" ""
done
for f in simd gemm gemm_scalar vmath; do compile "ops/kernels/$f.c" "$kern"; done
for f in gemm_avx512 vmath_avx512; do compile "ops/kernels/$f.c" "-mavx512f -mavx512dq -mavx512vl -mfma -mavx2 -DTG_HAVE_AVX512=1"; done
for f in gemm_avx2 vmath_avx2; do compile "ops/kernels/$f.c" "-mavx2 -mfma -DTG_HAVE_AVX2=1"; done
# shellcheck disable=SC2086
$cc $flags -fsanitize=fuzzer "$root/tests/fuzz/fuzz_api.c" $objs $(pkg-config --libs libcjson) -lm -lpthread -o "$out/fuzz_api"
[ "$seconds" -gt 0 ] || exit 0
cd "$out"
ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ./fuzz_api -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=512 -len_control=0 \
    -print_final_stats=1 corpus
