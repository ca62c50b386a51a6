/* GEMM kernels: every SIMD level the CPU has, against a naive double
 * reference, over odd shapes, transposes, strided views, alpha/beta, both
 * dtypes; bit-identical results for 1 and 2 threads; products sharing their
 * A with the bits of one call each; products adding a bias with the bits
 * of the bias copied in and added onto; argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <tapegrad/error.h>
#include <tapegrad/gemm.h>
#include <tapegrad/threads.h>
#include "../core/internal.h"
#include "../ops/kernels/kern_simd.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const levels[] = {"avx512", "avx512vl", "avx2", "scalar"};

/* A small deterministic generator, so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) / 9007199254740992.0 - 0.5; }

/* One product, described the way the API sees it. Matrices live in
 * buffers with a leading dimension of (row length + pad), so a nonzero pad
 * makes them strided views. */
typedef struct {
    int64_t M, N, K;
    bool ta, tb, c_colmajor;
    int64_t pad;
    double alpha, beta;
} gemm_case;

typedef struct {
    int64_t rsA, csA, rsB, csB, rsC, csC;
    size_t na, nb, nc;
} layout;

static layout layout_of(const gemm_case *g)
{
    layout l;
    /* A stored (M,K) row-major, or (K,M) row-major when transposed. */
    int64_t lda = (g->ta ? g->M : g->K) + g->pad;
    l.rsA = g->ta ? 1 : lda, l.csA = g->ta ? lda : 1;
    l.na = (size_t)((g->ta ? g->K : g->M) * lda);
    int64_t ldb = (g->tb ? g->K : g->N) + g->pad;
    l.rsB = g->tb ? 1 : ldb, l.csB = g->tb ? ldb : 1;
    l.nb = (size_t)((g->tb ? g->N : g->K) * ldb);
    int64_t ldc = (g->c_colmajor ? g->M : g->N) + g->pad;
    l.rsC = g->c_colmajor ? 1 : ldc, l.csC = g->c_colmajor ? ldc : 1;
    l.nc = (size_t)((g->c_colmajor ? g->N : g->M) * ldc);
    return l;
}

/* Fill A, B, C with values in [-0.5, 0.5); with beta == 0, C holds NaN,
 * which the result must not show. Computes the expected C in double and a
 * bound on |alpha| sum_k |a||b| + |beta c| per element for the tolerance. */
static void reference(const gemm_case *g, const layout *l, const double *A, const double *B,
                      const double *C, double *expected, double *magnitude)
{
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            double sum = 0, abs_sum = 0;
            for (int64_t k = 0; k < g->K; k++) {
                double p = A[i * l->rsA + k * l->csA] * B[k * l->rsB + j * l->csB];
                sum += p;
                abs_sum += fabs(p);
            }
            double c = C[i * l->rsC + j * l->csC];
            double e = g->alpha * sum + (g->beta == 0 ? 0 : g->beta * c);
            expected[i * g->N + j] = e;
            magnitude[i * g->N + j] = fabs(g->alpha) * abs_sum + (g->beta == 0 ? 0 : fabs(g->beta * c));
        }
}

static void describe(char *buf, size_t size, const gemm_case *g, const char *dtype, const char *level)
{
    snprintf(buf, size, "%s %s M=%lld N=%lld K=%lld ta=%d tb=%d ccol=%d pad=%lld alpha=%g beta=%g",
             level, dtype, (long long)g->M, (long long)g->N, (long long)g->K, g->ta, g->tb,
             g->c_colmajor, (long long)g->pad, g->alpha, g->beta);
}

/* Runs one case in both dtypes at the current SIMD level and checks every
 * element of C (and that padding between rows of C is left alone). */
static void check_case(const gemm_case *g, const char *level)
{
    layout l = layout_of(g);
    double *A = malloc(sizeof(double) * (l.na + 1)), *B = malloc(sizeof(double) * (l.nb + 1));
    double *C = malloc(sizeof(double) * (l.nc + 1));
    size_t mn = (size_t)(g->M * g->N) + 1;
    double *expected = malloc(sizeof(double) * mn), *magnitude = malloc(sizeof(double) * mn);
    float *A32 = malloc(sizeof(float) * (l.na + 1)), *B32 = malloc(sizeof(float) * (l.nb + 1));
    float *C32 = malloc(sizeof(float) * (l.nc + 1));
    assert_non_null(A32);
    /* The float inputs are the double ones rounded, so one reference in
     * double serves both dtypes: round first, then widen. */
    for (size_t i = 0; i < l.na; i++) A32[i] = (float)rng_uniform(), A[i] = A32[i];
    for (size_t i = 0; i < l.nb; i++) B32[i] = (float)rng_uniform(), B[i] = B32[i];
    for (size_t i = 0; i < l.nc; i++) {
        C32[i] = g->beta == 0 ? NAN : (float)rng_uniform();
        C[i] = C32[i];
    }
    reference(g, &l, A, B, C, expected, magnitude);
    char what[200];
    for (int dtype = 0; dtype < 2; dtype++) {
        double eps = dtype ? DBL_EPSILON : FLT_EPSILON;
        describe(what, sizeof what, g, dtype ? "f64" : "f32", level);
        int rc = dtype ? tg_gemm_f64(g->M, g->N, g->K, g->alpha, A, l.rsA, l.csA, B, l.rsB, l.csB,
                                     g->beta, C, l.rsC, l.csC)
                       : tg_gemm_f32(g->M, g->N, g->K, (float)g->alpha, A32, l.rsA, l.csA, B32, l.rsB,
                                     l.csB, (float)g->beta, C32, l.rsC, l.csC);
        if (rc != 0) fail_msg("%s: returned %d (%s)", what, rc, tg_last_error());
        for (int64_t i = 0; i < g->M; i++)
            for (int64_t j = 0; j < g->N; j++) {
                size_t at = (size_t)(i * l.rsC + j * l.csC);
                double got = dtype ? C[at] : C32[at];
                double want = expected[i * g->N + j];
                double tol = (double)(g->K + 4) * eps * magnitude[i * g->N + j] + 1e-300;
                if (!(fabs(got - want) <= tol))
                    fail_msg("%s: C(%lld,%lld) = %.9g, expected %.9g (tol %.3g)", what, (long long)i,
                             (long long)j, got, want, tol);
            }
        /* Padding past each row/column of C keeps its input value. */
        int64_t outer = g->c_colmajor ? g->N : g->M, inner = g->c_colmajor ? g->M : g->N;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t p = inner; p < inner + g->pad; p++) {
                size_t at = (size_t)(o * (inner + g->pad) + p);
                /* The f32 run is checked against the untouched double copy,
                 * then the f64 run against the (checked) float one. */
                double got = dtype ? C[at] : C32[at], before = dtype ? C32[at] : C[at];
                if (!(got == before || (isnan(got) && isnan(before))))
                    fail_msg("%s: padding of C was written", what);
            }
    }
    free(A), free(B), free(C), free(expected), free(magnitude), free(A32), free(B32), free(C32);
}

/* Sizes around every tile and block edge: 1, primes, 64 +- 1 (tiles of 6,
 * 8, 12, 16, 32) and 257 (past KC = 256 and MC = 192). */
static const int64_t sizes[] = {1, 7, 17, 63, 64, 65, 257};
#define NSIZES (int64_t)(sizeof sizes / sizeof sizes[0])

static int64_t pick_size(void) { return sizes[rng_next() % NSIZES]; }

static void run_random_cases(const char *level, int count)
{
    static const double alphas[] = {1.0, -0.5, 2.0};
    static const double betas[] = {0.0, 1.0, -1.5};
    for (int i = 0; i < count; i++) {
        gemm_case g = {
            .M = pick_size(), .N = pick_size(), .K = pick_size(),
            /* Every combination of transposes, strides and C layout. */
            .ta = i & 1, .tb = (i >> 1) & 1, .pad = (i >> 2) & 1 ? 3 : 0, .c_colmajor = (i >> 3) & 1,
            .alpha = alphas[rng_next() % 3], .beta = betas[rng_next() % 3],
        };
        /* Two dimensions at 257 would make the naive reference slow. */
        if (g.M == 257 && g.N == 257) g.N = 65;
        check_case(&g, level);
    }
}

static void test_gemm_all_levels(void **state)
{
    (void)state;
    for (size_t lv = 0; lv < sizeof levels / sizeof levels[0]; lv++) {
        if (tg_simd_force(levels[lv]) != 0) continue; /* this CPU lacks it */
        assert_string_equal(tg_simd_level(), levels[lv]);
        /* The table in use is that level's, with every kernel it must have:
         * the vector levels have the few-column, bias, transposed-B and
         * A-packing kernels too (the drivers fall back without them). */
        const tg_simd_impl *impl = tg_simd_current();
        assert_string_equal(impl->name, levels[lv]);
        assert_true(impl->ukr_f32 && impl->ukr_f64 && impl->pack_bt_f32 && impl->pack_bt_f64 && impl->dots_f32 &&
                    impl->dots_f64 && impl->vexp_f32 && impl->vtanh_f32 && impl->vsigmoid_f32);
        bool vector = strcmp(levels[lv], "scalar") != 0;
        assert_true(!vector || (impl->ukr_cols_f32 && impl->ukr_cols_f64 && impl->ukr_bias_f32 && impl->ukr_bias_f64 &&
                                impl->ukr_wt_f32 && impl->ukr_wt_f64 && impl->pack_a_f32 && impl->pack_a_f64));
        assert_true(impl->blocking_f32.mr > 0 && impl->blocking_f32.nr > 0 && impl->blocking_f64.mr > 0 &&
                    impl->blocking_f64.nr > 0);
        run_random_cases(levels[lv], 48);
        /* Past NC = 4096 columns, with few rows (B read in place) and more. */
        check_case(&(gemm_case){.M = 3, .N = 4100, .K = 5, .alpha = 1, .beta = 0}, levels[lv]);
        check_case(&(gemm_case){.M = 13, .N = 4100, .K = 5, .tb = true, .alpha = 1, .beta = 1},
                   levels[lv]);
        /* Few rows times a transposed B (dot products along k): ragged
         * columns, k tails of every length modulo the vector width. */
        for (int64_t K = 1; K <= 40; K += 13)
            check_case(&(gemm_case){.M = 5, .N = 6, .K = K, .tb = true, .alpha = -1, .beta = 1},
                       levels[lv]);
        /* Up to 256 rows times a transposed B, the weight read in place
         * and each tile stored transposed (ukr_wt, every vector level):
         * ragged tiles both ways, K past KC, a transposed A, padded C. */
        check_case(&(gemm_case){.M = 40, .N = 77, .K = 300, .tb = true, .pad = 3, .alpha = -0.5, .beta = 1},
                   levels[lv]);
        check_case(&(gemm_case){.M = 9, .N = 8, .K = 5, .ta = true, .tb = true, .alpha = 2, .beta = 0},
                   levels[lv]);
        check_case(&(gemm_case){.M = 256, .N = 31, .K = 33, .tb = true, .alpha = 1, .beta = -1.5}, levels[lv]);
        check_case(&(gemm_case){.M = 17, .N = 3, .K = 64, .tb = true, .alpha = 1, .beta = 0}, levels[lv]);
        /* K in blocks of its own (gemm_wt's wt_kc; avx512): 64 rows take
         * K = 1100 in one block in f32 and two of 550 in f64, 256 rows in
         * three of 367 and five of 220, the later blocks adding onto C. */
        check_case(&(gemm_case){.M = 64, .N = 29, .K = 1100, .tb = true, .alpha = 1, .beta = 0}, levels[lv]);
        check_case(&(gemm_case){.M = 256, .N = 45, .K = 1100, .tb = true, .alpha = 0.5, .beta = 1}, levels[lv]);
        /* K = 0 and alpha = 0: C = beta * C, A and B never read. */
        check_case(&(gemm_case){.M = 5, .N = 9, .K = 0, .alpha = 1, .beta = -1.5}, levels[lv]);
        check_case(&(gemm_case){.M = 5, .N = 9, .K = 0, .alpha = 1, .beta = 0}, levels[lv]);
        check_case(&(gemm_case){.M = 5, .N = 9, .K = 3, .alpha = 0, .beta = 2}, levels[lv]);
    }
    assert_int_equal(tg_simd_force(NULL), 0);
}

/* The same product with 1 and 2 threads, compared bit for bit. */
static void test_threads_bit_identical(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {{130, 300, 70}, {64, 1024, 256}, {1000, 40, 90}, {3, 5000, 120},
                                        {40, 2000, 300}, {256, 96, 1100}, {64, 256, 1024}, {50, 128, 512}};
    for (size_t lv = 0; lv < sizeof levels / sizeof levels[0]; lv++) {
        if (tg_simd_force(levels[lv]) != 0) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
            float *C1 = malloc(sizeof(float) * (size_t)(M * N)), *C2 = malloc(sizeof(float) * (size_t)(M * N));
            float *E1 = malloc(sizeof(float) * (size_t)(M * N)), *E2 = malloc(sizeof(float) * (size_t)(M * N));
            double *D1 = malloc(sizeof(double) * (size_t)(M * N)), *D2 = malloc(sizeof(double) * (size_t)(M * N));
            double *Ad = malloc(sizeof(double) * (size_t)(M * K)), *Bd = malloc(sizeof(double) * (size_t)(K * N));
            for (int64_t i = 0; i < M * K; i++) A[i] = (float)rng_uniform(), Ad[i] = rng_uniform();
            for (int64_t i = 0; i < K * N; i++) B[i] = (float)rng_uniform(), Bd[i] = rng_uniform();
            /* B transposed (x W^T), as the recurrent layers call it. */
            for (int threads = 1; threads <= 2; threads++) {
                assert_int_equal(tg_set_num_threads(threads), 0);
                float *C = threads == 1 ? C1 : C2;
                double *D = threads == 1 ? D1 : D2;
                assert_int_equal(tg_gemm_f32(M, N, K, 1.0f, A, K, 1, B, 1, K, 0.0f, C, N, 1), 0);
                /* B row-major (g W_hh: read in place up to 64 rows of A,
                 * the rows split between the threads in equal parts). */
                assert_int_equal(tg_gemm_f32(M, N, K, 1.0f, A, K, 1, B, N, 1, 0.0f, threads == 1 ? E1 : E2, N, 1),
                                 0);
                /* f64 with B transposed too when A has few rows. */
                if (M <= 64)
                    assert_int_equal(tg_gemm_f64(M, N, K, 0.5, Ad, K, 1, Bd, 1, K, 0.0, D, N, 1), 0);
                else
                    assert_int_equal(tg_gemm_f64(M, N, K, 0.5, Ad, K, 1, Bd, N, 1, 0.0, D, N, 1), 0);
            }
            assert_memory_equal(C1, C2, sizeof(float) * (size_t)(M * N));
            assert_memory_equal(E1, E2, sizeof(float) * (size_t)(M * N));
            assert_memory_equal(D1, D2, sizeof(double) * (size_t)(M * N));
            free(A), free(B), free(C1), free(C2), free(E1), free(E2), free(D1), free(D2), free(Ad), free(Bd);
        }
    }
    assert_int_equal(tg_set_num_threads(2), 0);
    assert_int_equal(tg_simd_force(NULL), 0);
}

/* Products sharing their A (a layer's weight gradients g^T x_k, A = g^T
 * transposed) give the bits of tg_gemm called for each, at every level,
 * on 1 and 2 threads: shapes where A is packed once for all (many rows),
 * and where the products fall back to one call each (few rows, K past
 * one cache block); the third product's B is transposed. */
typedef struct {
    int64_t N, rsB, csB;
    float *b32, *c0_32, *c32, *want32;
    double *b64, *c0_64, *c64, *want64;
} shared_out;

static void test_shared_a_bits(void **state)
{
    (void)state;
    /* 40, 13 and 50 rows end in a short sliver shared with the one before
     * it (12 + 4 rows as 8 + 8, and the like on each level). */
    static const int64_t shapes[][2] = {{512, 64}, {77, 33}, {40, 64}, {300, 300}, {5, 9}, {13, 20}, {50, 17}};
    static const int64_t cols[3] = {28, 128, 3};
    for (size_t lv = 0; lv < sizeof levels / sizeof levels[0]; lv++) {
        if (tg_simd_force(levels[lv]) != 0) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t M = shapes[s][0], K = shapes[s][1];
            /* A stored transposed, (K, M): A(i, k) = at[k*M + i]. */
            float *at32 = malloc(sizeof(float) * (size_t)(M * K));
            double *at64 = malloc(sizeof(double) * (size_t)(M * K));
            for (int64_t i = 0; i < M * K; i++) at32[i] = (float)rng_uniform(), at64[i] = rng_uniform();
            /* A's row sums, one column at a time from zero, added onto a
             * start (the engine's bias sum of at most 256 rows). */
            float *s0_32 = malloc(sizeof(float) * (size_t)M), *sum32 = malloc(sizeof(float) * (size_t)M);
            float *sw32 = malloc(sizeof(float) * (size_t)M);
            double *s0_64 = malloc(sizeof(double) * (size_t)M), *sum64 = malloc(sizeof(double) * (size_t)M);
            double *sw64 = malloc(sizeof(double) * (size_t)M);
            for (int64_t i = 0; i < M; i++) {
                s0_32[i] = (float)rng_uniform(), s0_64[i] = rng_uniform();
                float row32 = 0;
                double row64 = 0;
                for (int64_t k = 0; k < K; k++) row32 += at32[k * M + i], row64 += at64[k * M + i];
                sw32[i] = s0_32[i] + row32, sw64[i] = s0_64[i] + row64;
            }
            shared_out o[3];
            for (int t = 0; t < 3; t++) {
                size_t nb = (size_t)(K * cols[t]), nc = (size_t)(M * cols[t]);
                o[t] = (shared_out){cols[t], t == 2 ? 1 : cols[t], t == 2 ? K : 1,
                                    malloc(sizeof(float) * nb), malloc(sizeof(float) * nc),
                                    malloc(sizeof(float) * nc), malloc(sizeof(float) * nc),
                                    malloc(sizeof(double) * nb), malloc(sizeof(double) * nc),
                                    malloc(sizeof(double) * nc), malloc(sizeof(double) * nc)};
                for (size_t i = 0; i < nb; i++) o[t].b32[i] = (float)rng_uniform(), o[t].b64[i] = rng_uniform();
                for (size_t i = 0; i < nc; i++) {
                    o[t].c0_32[i] = o[t].want32[i] = (float)rng_uniform();
                    o[t].c0_64[i] = o[t].want64[i] = rng_uniform();
                }
                assert_int_equal(tg_gemm_f32(M, o[t].N, K, 1.0f, at32, 1, M, o[t].b32, o[t].rsB, o[t].csB, 1.0f,
                                             o[t].want32, o[t].N, 1), 0);
                assert_int_equal(tg_gemm_f64(M, o[t].N, K, 1.0, at64, 1, M, o[t].b64, o[t].rsB, o[t].csB, 1.0,
                                             o[t].want64, o[t].N, 1), 0);
            }
            for (int threads = 1; threads <= 2; threads++) {
                assert_int_equal(tg_set_num_threads(threads), 0);
                for (int n = 1; n <= 3; n++) {
                    tg__gemm_out out32[3], out64[3];
                    for (int t = 0; t < n; t++) {
                        size_t nc = (size_t)(M * o[t].N);
                        memcpy(o[t].c32, o[t].c0_32, sizeof(float) * nc);
                        memcpy(o[t].c64, o[t].c0_64, sizeof(double) * nc);
                        out32[t] = (tg__gemm_out){o[t].N, o[t].b32, o[t].rsB, o[t].csB, o[t].c32, o[t].N, 1};
                        out64[t] = (tg__gemm_out){o[t].N, o[t].b64, o[t].rsB, o[t].csB, o[t].c64, o[t].N, 1};
                    }
                    memcpy(sum32, s0_32, sizeof(float) * (size_t)M);
                    memcpy(sum64, s0_64, sizeof(double) * (size_t)M);
                    int summed32 = tg__gemm_shared_a_f32(M, K, at32, 1, M, n, out32, 1.0f, sum32);
                    int summed64 = tg__gemm_shared_a_f64(M, K, at64, 1, M, n, out64, 1.0, sum64);
                    assert_true(summed32 == 0 || summed32 == 1);
                    assert_true(summed64 == 0 || summed64 == 1);
                    /* Where A is packed once (always at 512 x 64, unless
                     * a BLAS build hands each product to cblas), its row
                     * sums come with the bits of the loop above; elsewhere
                     * they are left to the caller. */
#ifdef TG_USE_BLAS
                    const bool packs_once = false;
#else
                    const bool packs_once = M == 512 && K == 64;
#endif
                    if (packs_once && (!summed32 || !summed64))
                        fail_msg("%s, M=512 K=64: A was not packed once for %d products", levels[lv], n);
                    if (memcmp(sum32, summed32 ? sw32 : s0_32, sizeof(float) * (size_t)M) != 0 ||
                        memcmp(sum64, summed64 ? sw64 : s0_64, sizeof(double) * (size_t)M) != 0)
                        fail_msg("%s, M=%lld K=%lld, %d threads, %d products: row sums differ (%s)", levels[lv],
                                 (long long)M, (long long)K, threads, n, summed32 ? "summed" : "not summed");
                    for (int t = 0; t < n; t++) {
                        size_t nc = (size_t)(M * o[t].N);
                        if (memcmp(o[t].c32, o[t].want32, sizeof(float) * nc) != 0 ||
                            memcmp(o[t].c64, o[t].want64, sizeof(double) * nc) != 0)
                            fail_msg("%s, M=%lld K=%lld, %d threads, %d products: product %d differs from tg_gemm's",
                                     levels[lv], (long long)M, (long long)K, threads, n, t);
                    }
                }
            }
            for (int t = 0; t < 3; t++) {
                free(o[t].b32), free(o[t].c0_32), free(o[t].c32), free(o[t].want32);
                free(o[t].b64), free(o[t].c0_64), free(o[t].c64), free(o[t].want64);
            }
            free(at32), free(at64), free(s0_32), free(sum32), free(sw32), free(s0_64), free(sum64), free(sw64);
        }
    }
    /* Out of range: no product, or more than the limit. */
    tg__gemm_out none = {1, NULL, 1, 1, NULL, 1, 1};
    assert_int_equal(tg__gemm_shared_a_f32(4, 4, NULL, 1, 4, 0, &none, 1.0f, NULL), -1);
    assert_non_null(strstr(tg_last_error(), "0 products"));
    assert_int_equal(tg_set_num_threads(2), 0);
    assert_int_equal(tg_simd_force(NULL), 0);
}

/* TG_SIMD as the suite was started with (CI runs it once per level), kept
 * while a test changes it, and put back with the automatic choice it makes. */
static char *simd_env_save(void)
{
    const char *v = getenv("TG_SIMD");
    return v ? strdup(v) : NULL;
}

static void simd_env_restore(char *saved)
{
    if (saved) setenv("TG_SIMD", saved, 1);
    else unsetenv("TG_SIMD");
    free(saved);
    assert_int_equal(tg_simd_force(NULL), 0);
}

/* A product that adds a bias (tg__gemm_bias, a Linear layer's forward)
 * gives the bits of C filled with the bias and then tg_gemm with beta 1,
 * at every level, on 1 and 2 threads: shapes that take each path (dot
 * products and W read in place for few rows, the blocked product with
 * the bias in the kernel, partial tiles, K past one cache block, B read
 * in place), and a C stored by columns. */
static void test_bias_bits(void **state)
{
    (void)state;
    /* M, N, K, B transposed, C by columns */
    static const int64_t shapes[][5] = {{4, 40, 30, 1, 0},   {9, 100, 64, 1, 0},  {64, 1024, 256, 1, 0},
                                        {37, 50, 300, 0, 0}, {130, 77, 65, 0, 0}, {64, 256, 1024, 0, 0},
                                        {20, 33, 17, 0, 1},  {50, 70, 40, 0, 0},  {13, 64, 300, 0, 0}};
    for (size_t lv = 0; lv < sizeof levels / sizeof levels[0]; lv++) {
        if (tg_simd_force(levels[lv]) != 0) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            bool bt = shapes[s][3], by_cols = shapes[s][4];
            int64_t rsB = bt ? 1 : N, csB = bt ? K : 1, rsC = by_cols ? 1 : N, csC = by_cols ? M : 1;
            float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
            float *bias = malloc(sizeof(float) * (size_t)N), *want = malloc(sizeof(float) * (size_t)(M * N));
            float *C = malloc(sizeof(float) * (size_t)(M * N));
            double *Ad = malloc(sizeof(double) * (size_t)(M * K)), *Bd = malloc(sizeof(double) * (size_t)(K * N));
            double *biasd = malloc(sizeof(double) * (size_t)N), *wantd = malloc(sizeof(double) * (size_t)(M * N));
            double *Cd = malloc(sizeof(double) * (size_t)(M * N));
            for (int64_t i = 0; i < M * K; i++) A[i] = (float)rng_uniform(), Ad[i] = rng_uniform();
            for (int64_t i = 0; i < K * N; i++) B[i] = (float)rng_uniform(), Bd[i] = rng_uniform();
            for (int64_t j = 0; j < N; j++) bias[j] = (float)rng_uniform(), biasd[j] = rng_uniform();
            for (int threads = 1; threads <= 2; threads++) {
                assert_int_equal(tg_set_num_threads(threads), 0);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        want[i * rsC + j * csC] = bias[j], C[i * rsC + j * csC] = NAN;
                        wantd[i * rsC + j * csC] = biasd[j], Cd[i * rsC + j * csC] = NAN;
                    }
                assert_int_equal(tg_gemm_f32(M, N, K, 1.0f, A, K, 1, B, rsB, csB, 1.0f, want, rsC, csC), 0);
                assert_int_equal(tg__gemm_bias_f32(M, N, K, A, K, 1, B, rsB, csB, bias, C, rsC, csC), 0);
                assert_memory_equal(C, want, sizeof(float) * (size_t)(M * N));
                assert_int_equal(tg_gemm_f64(M, N, K, 1.0, Ad, K, 1, Bd, rsB, csB, 1.0, wantd, rsC, csC), 0);
                assert_int_equal(tg__gemm_bias_f64(M, N, K, Ad, K, 1, Bd, rsB, csB, biasd, Cd, rsC, csC), 0);
                assert_memory_equal(Cd, wantd, sizeof(double) * (size_t)(M * N));
            }
            free(A), free(B), free(bias), free(want), free(C), free(Ad), free(Bd), free(biasd), free(wantd), free(Cd);
        }
    }
    /* K = 0: the bias alone */
    float one = 1, b2[2] = {3, -4}, c2[2] = {NAN, NAN};
    assert_int_equal(tg__gemm_bias_f32(1, 2, 0, &one, 1, 1, &one, 1, 1, b2, c2, 2, 1), 0);
    assert_true(c2[0] == 3 && c2[1] == -4);
    assert_int_equal(tg_set_num_threads(2), 0);
    assert_int_equal(tg_simd_force(NULL), 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    float a[4] = {0}, b[4] = {0}, c[4] = {0};
    tg_clear_error();
    assert_int_equal(tg_gemm_f32(-1, 2, 2, 1.0f, a, 2, 1, b, 2, 1, 0.0f, c, 2, 1), -1);
    assert_non_null(strstr(tg_last_error(), "tg_gemm_f32"));
    assert_non_null(strstr(tg_last_error(), "M=-1"));
    tg_clear_error();
    assert_int_equal(tg_gemm_f64(2, 2, -3, 1.0, NULL, 2, 1, NULL, 2, 1, 0.0, NULL, 2, 1), -1);
    assert_non_null(strstr(tg_last_error(), "tg_gemm_f64"));
    assert_int_equal(tg_gemm_f32(2, 2, 2, 1.0f, a, 2, 1, b, 2, 1, 0.0f, NULL, 2, 1), -1);
    assert_non_null(strstr(tg_last_error(), "C is NULL"));
    assert_int_equal(tg_gemm_f32(2, 2, 2, 1.0f, NULL, 2, 1, b, 2, 1, 0.0f, c, 2, 1), -1);
    assert_non_null(strstr(tg_last_error(), "A is NULL"));
    /* Sizes and strides no array could hold are refused before anything
     * is read, written or sized from them. */
    assert_int_equal(tg_gemm_f32(2, 2, INT64_MAX, 1.0f, a, 2, 1, b, 2, 1, 0.0f, c, 2, 1), -1);
    assert_non_null(strstr(tg_last_error(), "A of 2x9223372036854775807 with strides (2, 1)"));
    assert_int_equal(tg_gemm_f32((int64_t)1 << 62, 4, 4, 1.0f, a, 4, 1, b, 4, 1, 0.0f, c, 4, 1), -1);
    assert_non_null(strstr(tg_last_error(), "C of 4611686018427387904x4"));
    assert_int_equal(tg_gemm_f64(2, 2, 2, 1.0, (double *)a, INT64_MIN, 1, (double *)b, 2, 1, 0.0, (double *)c, 2, 1),
                     -1);
    assert_non_null(strstr(tg_last_error(), "tg_gemm_f64: A of 2x2"));
    assert_int_equal(tg_gemm_f32(2, 2, 2, 1.0f, a, 2, 1, b, 2, (int64_t)1 << 61, 0.0f, c, 2, 1), -1);
    assert_non_null(strstr(tg_last_error(), "B of 2x2"));
    /* A C whose elements overlap (a leading dimension too small). */
    assert_int_equal(tg_gemm_f32(2, 2, 2, 1.0f, a, 2, 1, b, 2, 1, 0.0f, c, 1, 1), -1);
    assert_non_null(strstr(tg_last_error(), "C's strides (1, 1) overlap its 2x2 elements"));
    assert_int_equal(tg_gemm_f32(2, 2, 2, 1.0f, a, 2, 1, b, 2, 1, 0.0f, c, 0, 1), -1);
    /* Broadcast operands (stride 0) stay allowed, and so does a C column. */
    c[0] = c[1] = c[2] = c[3] = 0;
    a[0] = 2, b[0] = 3;
    assert_int_equal(tg_gemm_f32(2, 1, 2, 1.0f, a, 0, 0, b, 0, 0, 0.0f, c, 1, 7), 0);
    assert_true(c[0] == 12 && c[1] == 12);
    /* Empty products are fine, and read nothing. */
    assert_int_equal(tg_gemm_f32(0, 2, 2, 1.0f, NULL, 2, 1, NULL, 2, 1, 0.0f, NULL, 2, 1), 0);
    assert_int_equal(tg_gemm_f32(2, 2, 0, 1.0f, NULL, 0, 1, NULL, 2, 1, 0.0f, c, 2, 1), 0);

    assert_int_equal(tg_simd_force("sse9"), -1);
    assert_non_null(strstr(tg_last_error(), "tg_simd_force"));
    assert_int_equal(tg_simd_force("scalar"), 0);
    assert_string_equal(tg_simd_level(), "scalar");
    /* TG_SIMD caps the automatic choice. */
    char *saved = simd_env_save();
    setenv("TG_SIMD", "scalar", 1);
    assert_int_equal(tg_simd_force(NULL), 0);
    assert_string_equal(tg_simd_level(), "scalar");
    simd_env_restore(saved);
}

/* The automatic choice between the two AVX-512 levels follows the timed
 * probe: 512-bit FMAs are kept where they do at least 1.5 times the flops
 * per tick of 256-bit ones (the same count of instructions, so full width
 * takes the same time and a split 512-bit unit twice as long). */
static void test_wide_vectors_chosen_by_their_speed(void **state)
{
    (void)state;
    assert_true(tg_simd_wide_pays(1000, 1000));  /* full width: 2 */
    assert_true(tg_simd_wide_pays(1320, 1000));  /* 1.52 */
    assert_false(tg_simd_wide_pays(1340, 1000)); /* 1.49 */
    assert_false(tg_simd_wide_pays(2000, 1000)); /* split in two halves: 1 */
    assert_false(tg_simd_wide_pays(UINT64_MAX, 1000));
    /* No clock to time with: the widest level the CPU runs, as before. */
    assert_true(tg_simd_wide_pays(0, 1000));
    assert_true(tg_simd_wide_pays(1000, 0));
#if defined(TG_HAVE_AVX512) && defined(TG_HAVE_AVX512VL)
    /* Both probes run the same arithmetic on lane 0: 12 chains of
     * x * 0.999999 + 1e-7 from 0..11, summed (only on a CPU that runs them). */
    if (tg_simd_force("avx512") == 0) {
        float sum = 0;
        for (int c = 0; c < TG_FMA_PROBE_CHAINS; c++) sum += (float)c;
        assert_true(tg_fma_probe_avx512vl(0) == sum);
        assert_true(tg_fma_probe_avx512(0) == sum);
        float after = tg_fma_probe_avx512(40);
        assert_true(after == tg_fma_probe_avx512vl(40));
        assert_true(after > sum - 1 && after < sum); /* each chain shrinks a little */
        char *saved = simd_env_save();
        unsetenv("TG_SIMD");
        assert_int_equal(tg_simd_force(NULL), 0);
        /* With both levels usable, the automatic choice is one of them. */
        assert_true(strcmp(tg_simd_level(), "avx512") == 0 || strcmp(tg_simd_level(), "avx512vl") == 0);
        simd_env_restore(saved);
    }
#endif
}

/* A small product's packing buffers are sized by its shape, not by a whole
 * cache block: memory asked of the system is memory written (large
 * buffers get huge pages, which khugepaged would otherwise fill in). */
static void test_small_buffers(void **state)
{
    (void)state;
    static float a[96 * 48], b[48 * 40], c[96 * 40];
    for (int i = 0; i < 96 * 48; i++) a[i] = (float)(i % 7) - 3;
    for (int i = 0; i < 48 * 40; i++) b[i] = (float)(i % 5) - 2;
    for (size_t lv = 0; lv < sizeof levels / sizeof levels[0]; lv++) {
        if (tg_simd_force(levels[lv]) != 0) continue;
        tg_release_thread_memory();
        assert_int_equal(tg__thread_scratch_bytes(), 0);
        /* packed (96 rows), and transposed B read in place (40 rows) */
        assert_int_equal(tg_gemm_f32(96, 40, 48, 1, a, 48, 1, b, 40, 1, 0, c, 40, 1), 0);
        float want = 0;
        for (int k = 0; k < 48; k++) want += a[95 * 48 + k] * b[k * 40 + 39];
        assert_true(c[95 * 40 + 39] == want); /* small integers: exact */
        assert_int_equal(tg_gemm_f32(40, 96, 48, 1, b, 1, 40, a, 1, 48, 0, c, 96, 1), 0);
        size_t held = tg__thread_scratch_bytes();
#ifdef TG_USE_BLAS
        assert_true(held < (1u << 20)); /* cblas takes both products */
#else
        assert_true(held > 0 && held < (1u << 20));
#endif
    }
    assert_int_equal(tg_simd_force(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_all_levels),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_shared_a_bits),
        cmocka_unit_test(test_bias_bits),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_wide_vectors_chosen_by_their_speed),
        cmocka_unit_test(test_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
