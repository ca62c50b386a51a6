/* The FMA peak of one core: loops of independent fused multiply-adds for
 * each SIMD path (scalar, AVX2/FMA, AVX-512) and float type, long enough
 * to hide their latency, timed. bench/peak prints every path's; the
 * benchmarks that report a share of the peak time the widest f32 path
 * right before each of their timed runs (bench_fma_peak_f32), so that the
 * share pairs each time with the peak of the same moment: the host moves
 * a core's clock by a tenth within minutes. Header-only, so bench/peak
 * needs no library. */
#ifndef TG_BENCH_FMA_H
#define TG_BENCH_FMA_H

#include <stdbool.h>
#include <string.h>

#include "timing.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BENCH_X86 1
#endif

#define BENCH_FMA_CHAINS 12 /* independent accumulators: more than latency x ports */

/* Each kernel returns a value derived from its accumulators so the
 * compiler cannot drop the loop. The chain loops are unrolled at every
 * optimisation level: at -O2 (a debugoptimized build) they were not, the
 * accumulators went through memory, and the AVX-512 f32 peak measured 82
 * GFLOP/s where a release build measures about 260 (Zen 5), every share
 * of it three times too high. */
#define BENCH_FMA_LOOP(NAME, ATTR, VEC, SET1, FMA, ADD, LANES, STORE, T)       \
    ATTR static double NAME(long iters, double *flops)                         \
    {                                                                          \
        VEC acc[BENCH_FMA_CHAINS], a = SET1((T)0.999999), b = SET1((T)1e-7);   \
        _Pragma("GCC unroll 16") for (int c = 0; c < BENCH_FMA_CHAINS; c++) acc[c] = SET1((T)c); \
        for (long i = 0; i < iters; i++)                                       \
            _Pragma("GCC unroll 16") for (int c = 0; c < BENCH_FMA_CHAINS; c++) acc[c] = FMA(acc[c], a, b); \
        VEC sum = acc[0];                                                      \
        _Pragma("GCC unroll 16") for (int c = 1; c < BENCH_FMA_CHAINS; c++) sum = ADD(sum, acc[c]); \
        T out[LANES];                                                          \
        STORE(out, sum);                                                       \
        *flops = 2.0 * (double)LANES * BENCH_FMA_CHAINS * (double)iters;       \
        return (double)out[0];                                                 \
    }

/* The scalar path: the same chains on plain floats (not vectorised). */
#define BENCH_SCALAR_LOOP(NAME, T)                                             \
    __attribute__((optimize("no-tree-vectorize"))) static double NAME(long iters, double *flops) \
    {                                                                          \
        volatile T seed = (T)0.999999;                                         \
        T acc[BENCH_FMA_CHAINS], a = seed, b = (T)1e-7, sum = 0;               \
        _Pragma("GCC unroll 16") for (int c = 0; c < BENCH_FMA_CHAINS; c++) acc[c] = (T)c; \
        for (long i = 0; i < iters; i++)                                       \
            _Pragma("GCC unroll 16") for (int c = 0; c < BENCH_FMA_CHAINS; c++) acc[c] = acc[c] * a + b; \
        _Pragma("GCC unroll 16") for (int c = 0; c < BENCH_FMA_CHAINS; c++) sum += acc[c]; \
        *flops = 2.0 * BENCH_FMA_CHAINS * (double)iters;                       \
        return (double)sum;                                                    \
    }
BENCH_SCALAR_LOOP(bench_fma_scalar_f32, float)
BENCH_SCALAR_LOOP(bench_fma_scalar_f64, double)

#ifdef BENCH_X86
#define BENCH_AVX2 __attribute__((target("avx2,fma")))
#define BENCH_AVX512 __attribute__((target("avx512f,avx2,fma")))
BENCH_FMA_LOOP(bench_fma_avx2_f32, BENCH_AVX2, __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8, _mm256_storeu_ps, float)
BENCH_FMA_LOOP(bench_fma_avx2_f64, BENCH_AVX2, __m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, 4, _mm256_storeu_pd, double)
BENCH_FMA_LOOP(bench_fma_avx512_f32, BENCH_AVX512, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16, _mm512_storeu_ps, float)
BENCH_FMA_LOOP(bench_fma_avx512_f64, BENCH_AVX512, __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, 8, _mm512_storeu_pd, double)
#undef BENCH_AVX2
#undef BENCH_AVX512
#endif

typedef double (*bench_fma_fn)(long, double *);

/* Every path of this build, and whether this CPU runs it. */
typedef struct {
    const char *path, *dtype;
    bench_fma_fn fn;
    bool usable;
} bench_fma_path;

#define BENCH_FMA_PATHS_MAX 6

/* Fills paths[] (at most BENCH_FMA_PATHS_MAX) and returns how many there are. */
static inline int bench_fma_paths(bench_fma_path *paths)
{
    int n = 0;
    paths[n++] = (bench_fma_path){"scalar", "f32", bench_fma_scalar_f32, true};
    paths[n++] = (bench_fma_path){"scalar", "f64", bench_fma_scalar_f64, true};
#ifdef BENCH_X86
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
    paths[n++] = (bench_fma_path){"avx2", "f32", bench_fma_avx2_f32, avx2};
    paths[n++] = (bench_fma_path){"avx2", "f64", bench_fma_avx2_f64, avx2};
    paths[n++] = (bench_fma_path){"avx512", "f32", bench_fma_avx512_f32, avx512};
    paths[n++] = (bench_fma_path){"avx512", "f64", bench_fma_avx512_f64, avx512};
#endif
    return n;
}

/* One timed run of `iters` rounds of fn: GFLOP/s. */
static inline double bench_fma_rate(bench_fma_fn fn, long iters)
{
    double flops = 0, t0 = bench_now_s();
    volatile double sink = fn(iters, &flops); /* keeps the result alive */
    (void)sink;
    return flops / (bench_now_s() - t0) * 1e-9;
}

/* The widest f32 path this CPU runs (AVX-512, else AVX2, else scalar): the
 * one whose rate is the peak where the paths differ, as bench/peak's best
 * on every machine measured so far. */
static inline bench_fma_fn bench_fma_widest_f32(void)
{
    static bench_fma_fn widest; /* the CPU does not change: looked up once */
    if (widest) return widest;
    bench_fma_path paths[BENCH_FMA_PATHS_MAX];
    for (int i = 0, n = bench_fma_paths(paths); i < n; i++)
        if (paths[i].usable && strcmp(paths[i].dtype, "f32") == 0) widest = paths[i].fn;
    return widest;
}

/* The f32 FMA peak of this core now, in GFLOP/s: 2^17 rounds of 12
 * vectors of the widest path, 0.2 ms at the Zen 5's peak and 0.4 at the
 * Zen 4's (long against the clock's resolution, short against a timed
 * run). */
static inline double bench_fma_peak_f32(void) { return bench_fma_rate(bench_fma_widest_f32(), 1L << 17); }

#endif
