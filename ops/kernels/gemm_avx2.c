/* AVX2 + FMA kernels (compiled with -mavx2 -mfma; only called when the
 * CPU has them): a 6 x 16 f32 tile (6 x 8 for f64) in 12 ymm accumulators,
 * leaving two registers for B and one for the broadcast of A. The kernels
 * are gemm_simd.h instantiated for this level with the helpers below; see
 * kern_simd.h for the contracts. */
#include "kern_simd.h"

#include <immintrin.h>

/* gemm_avx512vl.c compiles this file again under its own name and tile. */
#ifndef ISA
#define ISA avx2
#define MR TG_AVX2_MR
#endif
#define VW _mm256
_Static_assert(2 * sizeof(__m256) / sizeof(float) == TG_AVX2_NR_F32 &&
                   2 * sizeof(__m256d) / sizeof(double) == TG_AVX2_NR_F64,
               "a row of the tile is two vectors");

#ifdef __AVX512VL__
/* With AVX-512VL, masks are mask registers, and a masked store is as fast
 * as a store: the edges of tiles store through them. AVX2's own masked
 * store (vmaskmovps) is slow on AMD's cores, so plain AVX2 stores them in
 * pieces (head_store below). */
typedef __mmask8 mask_ps;
typedef __mmask8 mask_pd;
#define tail_mask_ps(rem) ((rem) >= 8 ? (mask_ps)0xff : (rem) <= 0 ? (mask_ps)0 : (mask_ps)((1u << (rem)) - 1))
#define tail_mask_pd(rem) ((rem) >= 4 ? (mask_pd)0xf : (rem) <= 0 ? (mask_pd)0 : (mask_pd)((1u << (rem)) - 1))
#define masked_load_ps(p, mask) _mm256_maskz_loadu_ps(mask, p)
#define masked_load_pd(p, mask) _mm256_maskz_loadu_pd(mask, p)
#define masked_store_ps(p, mask, v) _mm256_mask_storeu_ps(p, mask, v)
#define masked_store_pd(p, mask, v) _mm256_mask_storeu_pd(p, mask, v)
#define head_load_ps(p, n) masked_load_ps(p, tail_mask_ps(n))
#define head_load_pd(p, n) masked_load_pd(p, tail_mask_pd(n))
#define head_store_ps(p, n, v) masked_store_ps(p, tail_mask_ps(n), v)
#define head_store_pd(p, n, v) masked_store_pd(p, tail_mask_pd(n), v)
#else
/* The tail of a dot product: maskload never touches the lanes whose mask
 * is 0. */
typedef __m256i mask_ps;
typedef __m256i mask_pd;
static inline mask_ps tail_mask_ps(int64_t rem)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(rem < 8 ? rem : 8)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline mask_pd tail_mask_pd(int64_t rem)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(rem < 4 ? rem : 4),
                              _mm256_setr_epi64x(0, 1, 2, 3));
}
#define masked_load_ps _mm256_maskload_ps
#define masked_load_pd _mm256_maskload_pd

/* The first n lanes in 128-, 64- and 32-bit pieces, for the few stores at
 * the edge of a tile: vmaskmovps would be slow there. n is a constant once
 * inlined in the transposed tiles, a run-time count (the same for every
 * row of a tile, so the branches predict) in the edge tiles of few
 * columns. */
static inline __attribute__((always_inline)) __m128 head_load4(const float *p, int n)
{
    __m128 z = _mm_setzero_ps();
    if (n >= 4) return _mm_loadu_ps(p);
    if (n == 3) return _mm_movelh_ps(_mm_loadl_pi(z, (const __m64 *)p), _mm_load_ss(p + 2));
    if (n == 2) return _mm_loadl_pi(z, (const __m64 *)p);
    return n == 1 ? _mm_load_ss(p) : z;
}
static inline __attribute__((always_inline)) void head_store4(float *p, int n, __m128 v)
{
    if (n >= 4) {
        _mm_storeu_ps(p, v);
    } else if (n >= 2) {
        _mm_storel_pi((__m64 *)p, v);
        if (n == 3) _mm_store_ss(p + 2, _mm_movehl_ps(v, v));
    } else if (n == 1) {
        _mm_store_ss(p, v);
    }
}
static inline __attribute__((always_inline)) __m256 head_load_ps(const float *p, int n)
{
    if (n >= 8) return _mm256_loadu_ps(p);
    if (n <= 4) return _mm256_set_m128(_mm_setzero_ps(), head_load4(p, n));
    return _mm256_set_m128(head_load4(p + 4, n - 4), _mm_loadu_ps(p));
}
static inline __attribute__((always_inline)) void head_store_ps(float *p, int n, __m256 v)
{
    if (n >= 8) {
        _mm256_storeu_ps(p, v);
    } else if (n <= 4) {
        head_store4(p, n, _mm256_castps256_ps128(v));
    } else {
        _mm_storeu_ps(p, _mm256_castps256_ps128(v));
        head_store4(p + 4, n - 4, _mm256_extractf128_ps(v, 1));
    }
}
static inline __attribute__((always_inline)) __m256d head_load_pd(const double *p, int n)
{
    if (n >= 4) return _mm256_loadu_pd(p);
    __m128d z = _mm_setzero_pd();
    if (n >= 2) return _mm256_set_m128d(n == 3 ? _mm_load_sd(p + 2) : z, _mm_loadu_pd(p));
    return _mm256_set_m128d(z, n == 1 ? _mm_load_sd(p) : z);
}
static inline __attribute__((always_inline)) void head_store_pd(double *p, int n, __m256d v)
{
    __m128d lo = _mm256_castpd256_pd128(v);
    if (n >= 4) {
        _mm256_storeu_pd(p, v);
    } else if (n >= 2) {
        _mm_storeu_pd(p, lo);
        if (n == 3) _mm_store_sd(p + 2, _mm256_extractf128_pd(v, 1));
    } else if (n == 1) {
        _mm_store_sd(p, lo);
    }
}
#endif

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

/* Transposes in registers: r[c] becomes column c of the 8 x 8 (f32) or
 * 4 x 4 (f64) block whose rows were r[0..]: unpacks within 128-bit lanes,
 * then 128-bit lane permutes. */
static inline __attribute__((always_inline)) void transpose_regs_ps(__m256 r[8])
{
    __m256 t[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* t2[4i + c], 128-bit lane L: column 4L + c of rows 4i..4i+3. */
    __m256 t2[8];
    for (int i = 0; i < 2; i++) {
        __m256d lo01 = _mm256_castps_pd(t[4 * i]), hi01 = _mm256_castps_pd(t[4 * i + 1]);
        __m256d lo23 = _mm256_castps_pd(t[4 * i + 2]), hi23 = _mm256_castps_pd(t[4 * i + 3]);
        t2[4 * i] = _mm256_castpd_ps(_mm256_unpacklo_pd(lo01, lo23));
        t2[4 * i + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(lo01, lo23));
        t2[4 * i + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(hi01, hi23));
        t2[4 * i + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(hi01, hi23));
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(t2[c], t2[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(t2[c], t2[4 + c], 0x31);
    }
}

static inline __attribute__((always_inline)) void transpose_regs_pd(__m256d r[4])
{
    /* lo01 = [r0[0], r1[0], r0[2], r1[2]], hi01 the odd columns. */
    __m256d lo01 = _mm256_unpacklo_pd(r[0], r[1]), hi01 = _mm256_unpackhi_pd(r[0], r[1]);
    __m256d lo23 = _mm256_unpacklo_pd(r[2], r[3]), hi23 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(lo01, lo23, 0x20);
    r[1] = _mm256_permute2f128_pd(hi01, hi23, 0x20);
    r[2] = _mm256_permute2f128_pd(lo01, lo23, 0x31);
    r[3] = _mm256_permute2f128_pd(hi01, hi23, 0x31);
}

#define T float
#define V __m256
#define VS ps
#define DT f32
#include "gemm_simd.h"

#define T double
#define V __m256d
#define VS pd
#define DT f64
#include "gemm_simd.h"

#ifdef __AVX512VL__
/* The narrow side of simd.c's probe (only the avx512vl level needs it). */
TG_DEFINE_FMA_PROBE(tg_fma_probe_avx512vl, "ymm")
#endif
