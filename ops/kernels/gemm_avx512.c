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

/* Packing a transposed B (B(k,j) = src[j*ld + k]: the weight of x W^T)
 * into a sliver dst[k*NR + j] is a transpose; done one element at a time it
 * costs as much as a small product. Here 16 x 16 (f32) or 8 x 8 (f64)
 * blocks are transposed in registers: unpacks interleave pairs of rows
 * within 128-bit lanes, then two rounds of 128-bit lane shuffles finish the
 * job. Ragged edges (k beyond a multiple of the block, or fewer than NR
 * columns) are copied element by element. */
void tg_pack_bt_f32_avx512(int64_t kc, int64_t cols, const float *src, int64_t ld, float *dst)
{
    const int NR = TG_AVX512_NR_F32;
    int64_t k0 = 0;
    if (cols == NR) {
        for (; k0 + 16 <= kc; k0 += 16)
            for (int half = 0; half < NR / 16; half++) {
                __m512 r[16], t[16];
                for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(src + (half * 16 + j) * ld + k0);
                for (int i = 0; i < 8; i++) {
                    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
                }
                /* r[4i + c], 128-bit lane L: column 4L + c of rows 4i..4i+3. */
                for (int i = 0; i < 4; i++) {
                    __m512d lo01 = _mm512_castps_pd(t[4 * i]), hi01 = _mm512_castps_pd(t[4 * i + 1]);
                    __m512d lo23 = _mm512_castps_pd(t[4 * i + 2]), hi23 = _mm512_castps_pd(t[4 * i + 3]);
                    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo01, lo23));
                    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo01, lo23));
                    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi01, hi23));
                    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi01, hi23));
                }
                /* Column 4L + c gathers lane L of r[c], r[4+c], r[8+c], r[12+c]. */
                float *out = dst + k0 * NR + half * 16;
                for (int c = 0; c < 4; c++) {
                    __m512 even01 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
                    __m512 odd01 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
                    __m512 even23 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
                    __m512 odd23 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
                    _mm512_storeu_ps(out + (0 + c) * NR, _mm512_shuffle_f32x4(even01, even23, 0x88));
                    _mm512_storeu_ps(out + (4 + c) * NR, _mm512_shuffle_f32x4(odd01, odd23, 0x88));
                    _mm512_storeu_ps(out + (8 + c) * NR, _mm512_shuffle_f32x4(even01, even23, 0xdd));
                    _mm512_storeu_ps(out + (12 + c) * NR, _mm512_shuffle_f32x4(odd01, odd23, 0xdd));
                }
            }
    }
    for (int64_t k = k0; k < kc; k++)
        for (int64_t j = 0; j < NR; j++) dst[k * NR + j] = j < cols ? src[j * ld + k] : 0;
}

void tg_pack_bt_f64_avx512(int64_t kc, int64_t cols, const double *src, int64_t ld, double *dst)
{
    const int NR = TG_AVX512_NR_F64;
    int64_t k0 = 0;
    if (cols == NR) {
        for (; k0 + 8 <= kc; k0 += 8)
            for (int half = 0; half < NR / 8; half++) {
                __m512d r[8], t[8];
                for (int j = 0; j < 8; j++) r[j] = _mm512_loadu_pd(src + (half * 8 + j) * ld + k0);
                /* t[i] (i < 4), lane L: column 2L of rows 2i, 2i+1;
                 * t[4 + i]: column 2L + 1. */
                for (int i = 0; i < 4; i++) {
                    t[i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
                    t[4 + i] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
                }
                double *out = dst + k0 * NR + half * 8;
                for (int c = 0; c < 2; c++) {
                    const __m512d *v = t + 4 * c;
                    __m512d even01 = _mm512_shuffle_f64x2(v[0], v[1], 0x88);
                    __m512d odd01 = _mm512_shuffle_f64x2(v[0], v[1], 0xdd);
                    __m512d even23 = _mm512_shuffle_f64x2(v[2], v[3], 0x88);
                    __m512d odd23 = _mm512_shuffle_f64x2(v[2], v[3], 0xdd);
                    _mm512_storeu_pd(out + (0 + c) * NR, _mm512_shuffle_f64x2(even01, even23, 0x88));
                    _mm512_storeu_pd(out + (2 + c) * NR, _mm512_shuffle_f64x2(odd01, odd23, 0x88));
                    _mm512_storeu_pd(out + (4 + c) * NR, _mm512_shuffle_f64x2(even01, even23, 0xdd));
                    _mm512_storeu_pd(out + (6 + c) * NR, _mm512_shuffle_f64x2(odd01, odd23, 0xdd));
                }
            }
    }
    for (int64_t k = k0; k < kc; k++)
        for (int64_t j = 0; j < NR; j++) dst[k * NR + j] = j < cols ? src[j * ld + k] : 0;
}

/* Dot products for a few rows of A against rows of a transposed B (a
 * weight W with B(k,j) = W[j*ldw + k]): out[i*4 + j] = sum_k a_i[k] w_j[k]
 * for i < m, j < 4. Both operands are read in place along k, 16 lanes at a
 * time, and each accumulator is summed across lanes at the end. This is
 * the path for a batch of one to a few rows, where packing W would cost
 * more than the product. */
static inline __attribute__((always_inline)) void
dots_f32_rows(const int m, int64_t K, const float *const *a, const float *const *w, float *out)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) {
        __mmask16 mask = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) wv[j] = _mm512_maskz_loadu_ps(mask, w[j] + k);
#pragma GCC unroll 4
        for (int i = 0; i < m; i++) {
            __m512 av = _mm512_maskz_loadu_ps(mask, a[i] + k);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(av, wv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) out[i * 4 + j] = _mm512_reduce_add_ps(acc[i][j]);
}

static inline __attribute__((always_inline)) void
dots_f64_rows(const int m, int64_t K, const double *const *a, const double *const *w, double *out)
{
    __m512d acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_pd();
    for (int64_t k = 0; k < K; k += 8) {
        __mmask8 mask = K - k >= 8 ? 0xff : (__mmask8)((1u << (K - k)) - 1);
        __m512d wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) wv[j] = _mm512_maskz_loadu_pd(mask, w[j] + k);
#pragma GCC unroll 4
        for (int i = 0; i < m; i++) {
            __m512d av = _mm512_maskz_loadu_pd(mask, a[i] + k);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_pd(av, wv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) out[i * 4 + j] = _mm512_reduce_add_pd(acc[i][j]);
}

#define TG_DOT_CASES(FN, ...)                                                               \
    switch (m) {                                                                            \
    case 1: FN(1, __VA_ARGS__); break;                                                      \
    case 2: FN(2, __VA_ARGS__); break;                                                      \
    case 3: FN(3, __VA_ARGS__); break;                                                      \
    default: FN(4, __VA_ARGS__); break;                                                     \
    }

void tg_dots_f32_avx512(int64_t K, int m, const float *const *a, const float *const *w, float *out)
{
    TG_DOT_CASES(dots_f32_rows, K, a, w, out)
}

void tg_dots_f64_avx512(int64_t K, int m, const double *const *a, const double *const *w, double *out)
{
    TG_DOT_CASES(dots_f64_rows, K, a, w, out)
}
