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

/* Packing a transposed B into slivers: 8 x 8 (f32) or 4 x 4 (f64) blocks
 * transposed in registers (see gemm_avx512.c for why); ragged edges are
 * copied element by element. */
void tg_pack_bt_f32_avx2(int64_t kc, int64_t cols, const float *src, int64_t ld, float *dst)
{
    const int NR = TG_AVX2_NR_F32;
    int64_t k0 = 0;
    if (cols == NR) {
        for (; k0 + 8 <= kc; k0 += 8)
            for (int half = 0; half < NR / 8; half++) {
                __m256 r[8], t[8];
                for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(src + (half * 8 + j) * ld + k0);
                for (int i = 0; i < 4; i++) {
                    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
                }
                /* r[4i + c], 128-bit lane L: column 4L + c of rows 4i..4i+3. */
                for (int i = 0; i < 2; i++) {
                    __m256d lo01 = _mm256_castps_pd(t[4 * i]), hi01 = _mm256_castps_pd(t[4 * i + 1]);
                    __m256d lo23 = _mm256_castps_pd(t[4 * i + 2]), hi23 = _mm256_castps_pd(t[4 * i + 3]);
                    r[4 * i] = _mm256_castpd_ps(_mm256_unpacklo_pd(lo01, lo23));
                    r[4 * i + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(lo01, lo23));
                    r[4 * i + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(hi01, hi23));
                    r[4 * i + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(hi01, hi23));
                }
                float *out = dst + k0 * NR + half * 8;
                for (int c = 0; c < 4; c++) {
                    _mm256_storeu_ps(out + c * NR, _mm256_permute2f128_ps(r[c], r[4 + c], 0x20));
                    _mm256_storeu_ps(out + (4 + c) * NR, _mm256_permute2f128_ps(r[c], r[4 + c], 0x31));
                }
            }
    }
    for (int64_t k = k0; k < kc; k++)
        for (int64_t j = 0; j < NR; j++) dst[k * NR + j] = j < cols ? src[j * ld + k] : 0;
}

void tg_pack_bt_f64_avx2(int64_t kc, int64_t cols, const double *src, int64_t ld, double *dst)
{
    const int NR = TG_AVX2_NR_F64;
    int64_t k0 = 0;
    if (cols == NR) {
        for (; k0 + 4 <= kc; k0 += 4)
            for (int half = 0; half < NR / 4; half++) {
                __m256d r[4];
                for (int j = 0; j < 4; j++) r[j] = _mm256_loadu_pd(src + (half * 4 + j) * ld + k0);
                /* lo01 = [r0[0], r1[0], r0[2], r1[2]], hi01 the odd columns. */
                __m256d lo01 = _mm256_unpacklo_pd(r[0], r[1]), hi01 = _mm256_unpackhi_pd(r[0], r[1]);
                __m256d lo23 = _mm256_unpacklo_pd(r[2], r[3]), hi23 = _mm256_unpackhi_pd(r[2], r[3]);
                double *out = dst + k0 * NR + half * 4;
                _mm256_storeu_pd(out, _mm256_permute2f128_pd(lo01, lo23, 0x20));
                _mm256_storeu_pd(out + NR, _mm256_permute2f128_pd(hi01, hi23, 0x20));
                _mm256_storeu_pd(out + 2 * NR, _mm256_permute2f128_pd(lo01, lo23, 0x31));
                _mm256_storeu_pd(out + 3 * NR, _mm256_permute2f128_pd(hi01, hi23, 0x31));
            }
    }
    for (int64_t k = k0; k < kc; k++)
        for (int64_t j = 0; j < NR; j++) dst[k * NR + j] = j < cols ? src[j * ld + k] : 0;
}

/* Dot products of a few rows of A with rows of a transposed B, read in
 * place along k; see gemm_avx512.c. maskload keeps the tail in bounds. */
static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static inline double hsum_pd(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

static inline __attribute__((always_inline)) void
dots_f32_rows(const int m, int64_t K, const float *const *a, const float *const *w, float *out)
{
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; k += 8) {
        __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(K - k < 8 ? K - k : 8)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) wv[j] = _mm256_maskload_ps(w[j] + k, mask);
#pragma GCC unroll 4
        for (int i = 0; i < m; i++) {
            __m256 av = _mm256_maskload_ps(a[i] + k, mask);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[i][j] = _mm256_fmadd_ps(av, wv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) out[i * 4 + j] = hsum_ps(acc[i][j]);
}

static inline __attribute__((always_inline)) void
dots_f64_rows(const int m, int64_t K, const double *const *a, const double *const *w, double *out)
{
    __m256d acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_pd();
    for (int64_t k = 0; k < K; k += 4) {
        __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(K - k < 4 ? K - k : 4),
                                          _mm256_setr_epi64x(0, 1, 2, 3));
        __m256d wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) wv[j] = _mm256_maskload_pd(w[j] + k, mask);
#pragma GCC unroll 4
        for (int i = 0; i < m; i++) {
            __m256d av = _mm256_maskload_pd(a[i] + k, mask);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[i][j] = _mm256_fmadd_pd(av, wv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) out[i * 4 + j] = hsum_pd(acc[i][j]);
}

#define TG_DOT_CASES(FN, ...)                                                               \
    switch (m) {                                                                            \
    case 1: FN(1, __VA_ARGS__); break;                                                      \
    case 2: FN(2, __VA_ARGS__); break;                                                      \
    case 3: FN(3, __VA_ARGS__); break;                                                      \
    default: FN(4, __VA_ARGS__); break;                                                     \
    }

void tg_dots_f32_avx2(int64_t K, int m, const float *const *a, const float *const *w, float *out)
{
    TG_DOT_CASES(dots_f32_rows, K, a, w, out)
}

void tg_dots_f64_avx2(int64_t K, int m, const double *const *a, const double *const *w, double *out)
{
    TG_DOT_CASES(dots_f64_rows, K, a, w, out)
}
