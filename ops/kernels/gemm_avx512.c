/* AVX-512 micro-kernels (compiled with -mavx512f -mavx512dq -mavx512vl
 * -mfma; only called when the CPU has them).
 *
 * f32: a 12 x 32 tile of C in 24 zmm accumulators (two vectors of 16 per
 * row). Per k: two loads of B, twelve broadcasts of A (folded into the FMA
 * as a {1to16} memory operand) and 24 FMAs: enough independent chains to
 * cover the FMA latency on both of Zen 5's 512-bit pipes. f64 is the same
 * with 8 lanes: 12 x 16. See kern_simd.h for the contract. */
#include "kern_simd.h"

#include <immintrin.h>

#define MR TG_AVX512_MR

/* The kernel body for a compile-time row count m (1..MR): every call site
 * below passes a constant, so the loops unroll and the accumulator arrays
 * become registers; rows beyond m cost nothing. */
static inline __attribute__((always_inline)) void
ukr_f32_rows(const int m, int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
             int64_t rsc, float alpha, float beta)
{
    __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < m; i++) {
        acc0[i] = _mm512_setzero_ps();
        acc1[i] = _mm512_setzero_ps();
        _mm_prefetch((const char *)(c + i * rsc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * rsc + 16), _MM_HINT_T0);
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < m; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
        a += MR;
        b += ldb;
    }
    __m512 va = _mm512_set1_ps(alpha);
    if (beta == 0) {
#pragma GCC unroll 12
        for (int i = 0; i < m; i++) {
            _mm512_storeu_ps(c + i * rsc, _mm512_mul_ps(va, acc0[i]));
            _mm512_storeu_ps(c + i * rsc + 16, _mm512_mul_ps(va, acc1[i]));
        }
    } else {
        __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
        for (int i = 0; i < m; i++) {
            float *row = c + i * rsc;
            _mm512_storeu_ps(row, _mm512_fmadd_ps(vb, _mm512_loadu_ps(row), _mm512_mul_ps(va, acc0[i])));
            _mm512_storeu_ps(row + 16,
                             _mm512_fmadd_ps(vb, _mm512_loadu_ps(row + 16), _mm512_mul_ps(va, acc1[i])));
        }
    }
}

static inline __attribute__((always_inline)) void
ukr_f64_rows(const int m, int64_t kc, const double *a, const double *b, int64_t ldb, double *c,
             int64_t rsc, double alpha, double beta)
{
    __m512d acc0[MR], acc1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < m; i++) {
        acc0[i] = _mm512_setzero_pd();
        acc1[i] = _mm512_setzero_pd();
        _mm_prefetch((const char *)(c + i * rsc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * rsc + 8), _MM_HINT_T0);
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512d b0 = _mm512_loadu_pd(b), b1 = _mm512_loadu_pd(b + 8);
#pragma GCC unroll 12
        for (int i = 0; i < m; i++) {
            __m512d ai = _mm512_set1_pd(a[i]);
            acc0[i] = _mm512_fmadd_pd(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_pd(ai, b1, acc1[i]);
        }
        a += MR;
        b += ldb;
    }
    __m512d va = _mm512_set1_pd(alpha);
    if (beta == 0) {
#pragma GCC unroll 12
        for (int i = 0; i < m; i++) {
            _mm512_storeu_pd(c + i * rsc, _mm512_mul_pd(va, acc0[i]));
            _mm512_storeu_pd(c + i * rsc + 8, _mm512_mul_pd(va, acc1[i]));
        }
    } else {
        __m512d vb = _mm512_set1_pd(beta);
#pragma GCC unroll 12
        for (int i = 0; i < m; i++) {
            double *row = c + i * rsc;
            _mm512_storeu_pd(row, _mm512_fmadd_pd(vb, _mm512_loadu_pd(row), _mm512_mul_pd(va, acc0[i])));
            _mm512_storeu_pd(row + 8,
                             _mm512_fmadd_pd(vb, _mm512_loadu_pd(row + 8), _mm512_mul_pd(va, acc1[i])));
        }
    }
}

/* One case per row count, each an instance with m constant. */
#define TG_ROW_CASES(FN, ...)                                                                       \
    switch (mr) {                                                                                   \
    case 1: FN(1, __VA_ARGS__); break;                                                              \
    case 2: FN(2, __VA_ARGS__); break;                                                              \
    case 3: FN(3, __VA_ARGS__); break;                                                              \
    case 4: FN(4, __VA_ARGS__); break;                                                              \
    case 5: FN(5, __VA_ARGS__); break;                                                              \
    case 6: FN(6, __VA_ARGS__); break;                                                              \
    case 7: FN(7, __VA_ARGS__); break;                                                              \
    case 8: FN(8, __VA_ARGS__); break;                                                              \
    case 9: FN(9, __VA_ARGS__); break;                                                              \
    case 10: FN(10, __VA_ARGS__); break;                                                            \
    case 11: FN(11, __VA_ARGS__); break;                                                            \
    default: FN(12, __VA_ARGS__); break;                                                            \
    }
_Static_assert(MR == 12, "TG_ROW_CASES enumerates 1..12 rows");

void tg_ukr_f32_avx512(int64_t kc, int mr, const float *a, const float *b, int64_t ldb, float *c,
                       int64_t rsc, float alpha, float beta)
{
    TG_ROW_CASES(ukr_f32_rows, kc, a, b, ldb, c, rsc, alpha, beta)
}

void tg_ukr_f64_avx512(int64_t kc, int mr, const double *a, const double *b, int64_t ldb,
                       double *c, int64_t rsc, double alpha, double beta)
{
    TG_ROW_CASES(ukr_f64_rows, kc, a, b, ldb, c, rsc, alpha, beta)
}
