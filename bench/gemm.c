/* GEMM benchmark: one product, timed, printed as one JSON line.
 *
 *   gemm --m M --n N --k K [--ta] [--tb] [--dtype f32|f64] [--threads T]
 *        [--reps R] [--impl tg|cblas]
 *
 * --ta / --tb store A / B transposed (A as (K,M), B as (N,K), both
 * row-major), the layout of x W^T with a PyTorch weight. Each of the R
 * repetitions (after a warm-up) times a batch of calls long enough (>= 2 ms)
 * for the clock to resolve it; "ms" is the median time of one call, and
 * "share_of_peak" the median over the batches of their share of the f32
 * FMA peak measured right before each (bench/fma.h), per thread. With
 * --impl cblas (only if the benchmark was built against OpenBLAS) the same
 * product goes to cblas_sgemm/dgemm in the same process, for comparison. */
#include "fma.h"
#include "timing.h"
#include <tapegrad/gemm.h>
#include <tapegrad/threads.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef TG_BENCH_CBLAS
#include <cblas.h>
#endif

typedef struct {
    long long m, n, k;
    bool ta, tb, f64, cblas;
    int threads, reps;
} options;

static int usage(const char *why)
{
    fprintf(stderr,
            "gemm: %s\nusage: gemm --m M --n N --k K [--ta] [--tb] [--dtype f32|f64] "
            "[--threads T] [--reps R] [--impl tg|cblas]\n",
            why);
    return 2;
}

/* One call of the product under test. */
static void run_once(const options *o, const void *A, const void *B, void *C)
{
    long long M = o->m, N = o->n, K = o->k;
    long long rsA = o->ta ? 1 : K, csA = o->ta ? M : 1;
    long long rsB = o->tb ? 1 : N, csB = o->tb ? K : 1;
#ifdef TG_BENCH_CBLAS
    if (o->cblas) {
        enum CBLAS_TRANSPOSE ta = o->ta ? CblasTrans : CblasNoTrans;
        enum CBLAS_TRANSPOSE tb = o->tb ? CblasTrans : CblasNoTrans;
        int lda = (int)(o->ta ? M : K), ldb = (int)(o->tb ? K : N);
        if (o->f64)
            cblas_dgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0, A, lda, B, ldb, 0.0, C,
                        (int)N);
        else
            cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0f, A, lda, B, ldb, 0.0f,
                        C, (int)N);
        return;
    }
#endif
    if (o->f64)
        tg_gemm_f64(M, N, K, 1.0, A, rsA, csA, B, rsB, csB, 0.0, C, N, 1);
    else
        tg_gemm_f32(M, N, K, 1.0f, A, rsA, csA, B, rsB, csB, 0.0f, C, N, 1);
}

int main(int argc, char **argv)
{
    options o = {.m = 256, .n = 256, .k = 256, .threads = 1, .reps = 15};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--ta")) o.ta = true;
        else if (!strcmp(arg, "--tb")) o.tb = true;
        else if (!val) return usage("missing value");
        else if (!strcmp(arg, "--m")) o.m = atoll(val), i++;
        else if (!strcmp(arg, "--n")) o.n = atoll(val), i++;
        else if (!strcmp(arg, "--k")) o.k = atoll(val), i++;
        else if (!strcmp(arg, "--threads")) o.threads = atoi(val), i++;
        else if (!strcmp(arg, "--reps")) o.reps = atoi(val), i++;
        else if (!strcmp(arg, "--dtype")) o.f64 = !strcmp(val, "f64"), i++;
        else if (!strcmp(arg, "--impl")) o.cblas = !strcmp(val, "cblas"), i++;
        else return usage("unknown option");
    }
    if (o.m < 1 || o.n < 1 || o.k < 1 || o.threads < 1 || o.reps < 1) return usage("bad value");
#ifndef TG_BENCH_CBLAS
    if (o.cblas) return usage("built without OpenBLAS: --impl cblas unavailable");
#endif
    tg_set_num_threads(o.threads);
#ifdef TG_BENCH_CBLAS
    /* OpenBLAS keeps its own thread pool, which OMP_NUM_THREADS does not
     * always reach: pin it to the same count, or its "1-thread" figure uses
     * every core. */
    openblas_set_num_threads(o.threads);
#endif

    size_t elem = o.f64 ? sizeof(double) : sizeof(float);
    size_t na = (size_t)(o.m * o.k), nb = (size_t)(o.k * o.n), nc = (size_t)(o.m * o.n);
    void *A = aligned_alloc(64, (na * elem + 63) / 64 * 64);
    void *B = aligned_alloc(64, (nb * elem + 63) / 64 * 64);
    void *C = aligned_alloc(64, (nc * elem + 63) / 64 * 64);
    if (!A || !B || !C) return usage("out of memory");
    srand(1);
    for (size_t i = 0; i < na + nb; i++) {
        double v = rand() / (double)RAND_MAX - 0.5;
        size_t j = i < na ? i : i - na;
        void *dst = i < na ? A : B;
        if (o.f64) ((double *)dst)[j] = v;
        else ((float *)dst)[j] = (float)v;
    }

    /* Warm up (thread team, packing buffers, caches) and size the batch. */
    double t0 = bench_now_ms();
    int calls = 0;
    do {
        run_once(&o, A, B, C);
        calls++;
    } while (bench_now_ms() - t0 < 50 && calls < 1000000);
    double per_call = (bench_now_ms() - t0) / calls;
    int batch = (int)ceil(2.0 / per_call);
    if (batch < 1) batch = 1;

    double *times = malloc(sizeof(double) * (size_t)o.reps), *peak = malloc(sizeof(double) * (size_t)o.reps);
    double *share = malloc(sizeof(double) * (size_t)o.reps), flops = 2.0 * o.m * o.n * o.k;
    for (int r = 0; r < o.reps; r++) {
        /* The core's f32 peak right before the batch (0.2 to 0.4 ms): each
         * time's share of the peak pairs it with the clock of its moment. */
        peak[r] = bench_fma_peak_f32();
        double start = bench_now_ms();
        for (int b = 0; b < batch; b++) run_once(&o, A, B, C);
        times[r] = (bench_now_ms() - start) / batch;
        share[r] = 100 * flops / (times[r] * 1e6) / (peak[r] * o.threads);
    }

    double ms = bench_median(times, o.reps);
    double gflops = flops / (ms * 1e6);
    printf("{\"m\":%lld,\"n\":%lld,\"k\":%lld,\"ta\":%d,\"tb\":%d,\"dtype\":\"%s\",\"threads\":%d,"
           "\"simd\":\"%s\",\"impl\":\"%s\",\"gflops\":%.2f,\"ms\":%.5f,\"peak_gflops\":%.1f,\"share_of_peak\":%.2f}\n",
           o.m, o.n, o.k, o.ta, o.tb, o.f64 ? "f64" : "f32", o.threads,
           o.cblas ? "openblas" : tg_simd_level(), o.cblas ? "cblas" : "tg", gflops, ms, bench_median(peak, o.reps),
           bench_median(share, o.reps));
    free(times);
    free(peak);
    free(share);
    free(A);
    free(B);
    free(C);
    return 0;
}
