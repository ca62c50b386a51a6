/* The FMA peak of one core, measured: for each SIMD path this CPU runs
 * (scalar, AVX2/FMA, AVX-512) and each float type, a loop of independent
 * fused multiply-adds long enough to hide their latency, timed as a median.
 * Every other benchmark prints its result as a share of this number.
 *
 *   build/bench/peak [--reps R]
 *
 * prints one JSON line per path and dtype:
 *   {"path": "avx2", "dtype": "f32", "gflops": 117.3}
 * and a last line {"best_f32": ..., "best_f64": ...}: the highest per-core
 * peak this machine reaches, in GFLOP/s (2 flops per multiply-add). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define X86 1
#endif

#define ITERS 20000000L /* multiply-adds per accumulator chain and rep */
#define CHAINS 12       /* independent accumulators: more than latency x ports */

/* Each kernel returns a value derived from its accumulators so the
 * compiler cannot drop the loop. */
#define FMA_LOOP(NAME, ATTR, VEC, SET1, FMA, ADD, LANES, STORE, T)            \
    ATTR static double NAME(long iters, double *flops)                        \
    {                                                                         \
        VEC acc[CHAINS], a = SET1((T)0.999999), b = SET1((T)1e-7);            \
        for (int c = 0; c < CHAINS; c++) acc[c] = SET1((T)c);                 \
        for (long i = 0; i < iters; i++)                                      \
            for (int c = 0; c < CHAINS; c++) acc[c] = FMA(acc[c], a, b);      \
        VEC sum = acc[0];                                                     \
        for (int c = 1; c < CHAINS; c++) sum = ADD(sum, acc[c]);              \
        T out[LANES];                                                         \
        STORE(out, sum);                                                      \
        *flops = 2.0 * (double)LANES * CHAINS * (double)iters;                \
        return (double)out[0];                                                \
    }

/* The scalar path: the same chains on plain floats (not vectorised). */
#define SCALAR_LOOP(NAME, T)                                                   \
    __attribute__((optimize("no-tree-vectorize"))) static double NAME(long iters, double *flops) \
    {                                                                         \
        volatile T seed = (T)0.999999;                                        \
        T acc[CHAINS], a = seed, b = (T)1e-7, sum = 0;                        \
        for (int c = 0; c < CHAINS; c++) acc[c] = (T)c;                       \
        for (long i = 0; i < iters; i++)                                      \
            for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * a + b;         \
        for (int c = 0; c < CHAINS; c++) sum += acc[c];                       \
        *flops = 2.0 * CHAINS * (double)iters;                                \
        return (double)sum;                                                   \
    }
SCALAR_LOOP(scalar_f32, float)
SCALAR_LOOP(scalar_f64, double)

#ifdef X86
#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx2,fma")))
FMA_LOOP(avx2_f32, AVX2, __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8, _mm256_storeu_ps, float)
FMA_LOOP(avx2_f64, AVX2, __m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, 4, _mm256_storeu_pd, double)
FMA_LOOP(avx512_f32, AVX512, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16, _mm512_storeu_ps, float)
FMA_LOOP(avx512_f64, AVX512, __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, 8, _mm512_storeu_pd, double)
#endif

typedef double (*kernel_fn)(long, double *);

static double measure(kernel_fn fn, long iters, int reps)
{
    double flops = 0, sink = 0, rates[64];
    sink += fn(iters / 10, &flops); /* warm-up: clocks up, code in cache */
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_s();
        sink += fn(iters, &flops);
        rates[r] = flops / (bench_now_s() - t0) * 1e-9;
    }
    if (sink == 12345.678) puts(""); /* keeps the results alive */
    return bench_median(rates, reps);
}

int main(int argc, char **argv)
{
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--reps R]\n", argv[0]);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (reps < 1 || reps > 64) reps = 5;
    struct { const char *path, *dtype; kernel_fn fn; long iters; int usable; } paths[] = {
        {"scalar", "f32", scalar_f32, ITERS / 8, 1},
        {"scalar", "f64", scalar_f64, ITERS / 8, 1},
#ifdef X86
        {"avx2", "f32", avx2_f32, ITERS / 4, 0},
        {"avx2", "f64", avx2_f64, ITERS / 4, 0},
        {"avx512", "f32", avx512_f32, ITERS / 8, 0},
        {"avx512", "f64", avx512_f64, ITERS / 8, 0},
#endif
    };
    int n = (int)(sizeof paths / sizeof paths[0]);
#ifdef X86
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
    for (int i = 2; i < n; i++) paths[i].usable = strcmp(paths[i].path, "avx2") == 0 ? avx2 : avx512;
#endif
    double best[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        if (!paths[i].usable) continue;
        double g = measure(paths[i].fn, paths[i].iters, reps);
        int d = strcmp(paths[i].dtype, "f64") == 0;
        if (g > best[d]) best[d] = g;
        printf("{\"path\": \"%s\", \"dtype\": \"%s\", \"gflops\": %.1f}\n", paths[i].path, paths[i].dtype, g);
        fflush(stdout);
    }
    printf("{\"best_f32\": %.1f, \"best_f64\": %.1f}\n", best[0], best[1]);
    return 0;
}
