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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fma.h"

#define ITERS 20000000L /* multiply-adds per accumulator chain and rep */

static double measure(bench_fma_fn fn, long iters, int reps)
{
    double rates[64];
    bench_fma_rate(fn, iters / 10); /* warm-up: clocks up, code in cache */
    for (int r = 0; r < reps; r++) rates[r] = bench_fma_rate(fn, iters);
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
    bench_fma_path paths[BENCH_FMA_PATHS_MAX];
    int n = bench_fma_paths(paths);
    double best[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        if (!paths[i].usable) continue;
        /* AVX2's rounds take half the time of the others'. */
        double g = measure(paths[i].fn, strcmp(paths[i].path, "avx2") == 0 ? ITERS / 4 : ITERS / 8, reps);
        int d = strcmp(paths[i].dtype, "f64") == 0;
        if (g > best[d]) best[d] = g;
        printf("{\"path\": \"%s\", \"dtype\": \"%s\", \"gflops\": %.1f}\n", paths[i].path, paths[i].dtype, g);
        fflush(stdout);
    }
    printf("{\"best_f32\": %.1f, \"best_f64\": %.1f}\n", best[0], best[1]);
    return 0;
}
