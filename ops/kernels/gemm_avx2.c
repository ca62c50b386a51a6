/* AVX2 + FMA micro-kernels (compiled with -mavx2 -mfma; only called when
 * the CPU has them): a 6 x 16 f32 tile (6 x 8 for f64) in 12 ymm
 * accumulators, leaving two registers for B and one for the broadcast of A.
 * See kern_simd.h for the contract. */
#include "kern_simd.h"

#include <immintrin.h>

#define MR TG_AVX2_MR

/* The body for a compile-time row count m (1..MR); see gemm_avx512.c. */
static inline __attribute__((always_inline)) void
ukr_f32_rows(const int m, int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
             int64_t rsc, float alpha, float beta)
{
    __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < m; i++) {
        acc0[i] = _mm256_setzero_ps();
        acc1[i] = _mm256_setzero_ps();
        _mm_prefetch((const char *)(c + i * rsc), _MM_HINT_T0);
    }
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
        }
        a += MR;
        b += ldb;
    }
    __m256 va = _mm256_set1_ps(alpha);
    if (beta == 0) {
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            _mm256_storeu_ps(c + i * rsc, _mm256_mul_ps(va, acc0[i]));
            _mm256_storeu_ps(c + i * rsc + 8, _mm256_mul_ps(va, acc1[i]));
        }
    } else {
        __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            float *row = c + i * rsc;
            _mm256_storeu_ps(row, _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), _mm256_mul_ps(va, acc0[i])));
            _mm256_storeu_ps(row + 8,
                             _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), _mm256_mul_ps(va, acc1[i])));
        }
    }
}

static inline __attribute__((always_inline)) void
ukr_f64_rows(const int m, int64_t kc, const double *a, const double *b, int64_t ldb, double *c,
             int64_t rsc, double alpha, double beta)
{
    __m256d acc0[MR], acc1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < m; i++) {
        acc0[i] = _mm256_setzero_pd();
        acc1[i] = _mm256_setzero_pd();
        _mm_prefetch((const char *)(c + i * rsc), _MM_HINT_T0);
    }
    for (int64_t k = 0; k < kc; k++) {
        __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            __m256d ai = _mm256_broadcast_sd(a + i);
            acc0[i] = _mm256_fmadd_pd(ai, b0, acc0[i]);
            acc1[i] = _mm256_fmadd_pd(ai, b1, acc1[i]);
        }
        a += MR;
        b += ldb;
    }
    __m256d va = _mm256_set1_pd(alpha);
    if (beta == 0) {
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            _mm256_storeu_pd(c + i * rsc, _mm256_mul_pd(va, acc0[i]));
            _mm256_storeu_pd(c + i * rsc + 4, _mm256_mul_pd(va, acc1[i]));
        }
    } else {
        __m256d vb = _mm256_set1_pd(beta);
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            double *row = c + i * rsc;
            _mm256_storeu_pd(row, _mm256_fmadd_pd(vb, _mm256_loadu_pd(row), _mm256_mul_pd(va, acc0[i])));
            _mm256_storeu_pd(row + 4,
                             _mm256_fmadd_pd(vb, _mm256_loadu_pd(row + 4), _mm256_mul_pd(va, acc1[i])));
        }
    }
}

#define TG_ROW_CASES(FN, ...)                                                                       \
    switch (mr) {                                                                                   \
    case 1: FN(1, __VA_ARGS__); break;                                                              \
    case 2: FN(2, __VA_ARGS__); break;                                                              \
    case 3: FN(3, __VA_ARGS__); break;                                                              \
    case 4: FN(4, __VA_ARGS__); break;                                                              \
    case 5: FN(5, __VA_ARGS__); break;                                                              \
    default: FN(6, __VA_ARGS__); break;                                                             \
    }
_Static_assert(MR == 6, "TG_ROW_CASES enumerates 1..6 rows");

void tg_ukr_f32_avx2(int64_t kc, int mr, const float *a, const float *b, int64_t ldb, float *c,
                     int64_t rsc, float alpha, float beta)
{
    TG_ROW_CASES(ukr_f32_rows, kc, a, b, ldb, c, rsc, alpha, beta)
}

void tg_ukr_f64_avx2(int64_t kc, int mr, const double *a, const double *b, int64_t ldb, double *c,
                     int64_t rsc, double alpha, double beta)
{
    TG_ROW_CASES(ukr_f64_rows, kc, a, b, ldb, c, rsc, alpha, beta)
}
