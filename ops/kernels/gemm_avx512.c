/* AVX-512 kernels (compiled with -mavx512f -mavx512dq -mavx512vl -mfma;
 * only called when the CPU has them).
 *
 * f32: a 12 x 32 tile of C in 24 zmm accumulators (two vectors of 16 per
 * row). Per k: two loads of B, twelve broadcasts of A (folded into the FMA
 * as a {1to16} memory operand) and 24 FMAs: enough independent chains to
 * cover the FMA latency on both of Zen 5's 512-bit pipes. f64 is the same
 * with 8 lanes: 12 x 16. The kernels are gemm_simd.h instantiated for
 * this level with the helpers below; see kern_simd.h for the contracts. */
#include "kern_simd.h"

#include <immintrin.h>

#define ISA avx512
#define MR TG_AVX512_MR
#define VW _mm512
_Static_assert(2 * sizeof(__m512) / sizeof(float) == TG_AVX512_NR_F32 &&
                   2 * sizeof(__m512d) / sizeof(double) == TG_AVX512_NR_F64,
               "a row of the tile is two vectors");

/* The tail of a dot product: masked loads never touch the lanes they
 * leave out. */
typedef __mmask16 mask_ps;
typedef __mmask8 mask_pd;
#define tail_mask_ps(rem) ((rem) >= 16 ? 0xffff : (mask_ps)((1u << (rem)) - 1))
#define tail_mask_pd(rem) ((rem) >= 8 ? 0xff : (mask_pd)((1u << (rem)) - 1))
#define masked_load_ps(p, mask) _mm512_maskz_loadu_ps(mask, p)
#define masked_load_pd(p, mask) _mm512_maskz_loadu_pd(mask, p)
#define masked_store_ps(p, mask, v) _mm512_mask_storeu_ps(p, mask, v)
#define masked_store_pd(p, mask, v) _mm512_mask_storeu_pd(p, mask, v)
#define head_load_ps(p, n) masked_load_ps(p, tail_mask_ps(n))
#define head_load_pd(p, n) masked_load_pd(p, tail_mask_pd(n))
#define head_store_ps(p, n, v) masked_store_ps(p, tail_mask_ps(n), v)
#define head_store_pd(p, n, v) masked_store_pd(p, tail_mask_pd(n), v)
#define hsum_ps _mm512_reduce_add_ps
#define hsum_pd _mm512_reduce_add_pd

/* Transposes in registers: r[c] becomes column c of the 16 x 16 (f32) or
 * 8 x 8 (f64) block whose rows were r[0..]. Unpacks interleave pairs of
 * rows within 128-bit lanes, then two rounds of 128-bit lane shuffles
 * finish the job. */
static inline __attribute__((always_inline)) void transpose_regs_ps(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4i + c], 128-bit lane L: column 4L + c of rows 4i..4i+3. */
    __m512 u[16];
    for (int i = 0; i < 4; i++) {
        __m512d lo01 = _mm512_castps_pd(t[4 * i]), hi01 = _mm512_castps_pd(t[4 * i + 1]);
        __m512d lo23 = _mm512_castps_pd(t[4 * i + 2]), hi23 = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo01, lo23));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo01, lo23));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi01, hi23));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi01, hi23));
    }
    /* Column 4L + c gathers lane L of u[c], u[4+c], u[8+c], u[12+c]. */
    for (int c = 0; c < 4; c++) {
        __m512 even01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        __m512 odd01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
        __m512 even23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 odd23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
        r[0 + c] = _mm512_shuffle_f32x4(even01, even23, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(even01, even23, 0xdd);
        r[12 + c] = _mm512_shuffle_f32x4(odd01, odd23, 0xdd);
    }
}

static inline __attribute__((always_inline)) void transpose_regs_pd(__m512d r[8])
{
    __m512d t[8];
    /* t[i] (i < 4), lane L: column 2L of rows 2i, 2i+1;
     * t[4 + i]: column 2L + 1. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
        t[4 + i] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    for (int c = 0; c < 2; c++) {
        const __m512d *v = t + 4 * c;
        __m512d even01 = _mm512_shuffle_f64x2(v[0], v[1], 0x88);
        __m512d odd01 = _mm512_shuffle_f64x2(v[0], v[1], 0xdd);
        __m512d even23 = _mm512_shuffle_f64x2(v[2], v[3], 0x88);
        __m512d odd23 = _mm512_shuffle_f64x2(v[2], v[3], 0xdd);
        r[0 + c] = _mm512_shuffle_f64x2(even01, even23, 0x88);
        r[2 + c] = _mm512_shuffle_f64x2(odd01, odd23, 0x88);
        r[4 + c] = _mm512_shuffle_f64x2(even01, even23, 0xdd);
        r[6 + c] = _mm512_shuffle_f64x2(odd01, odd23, 0xdd);
    }
}

#define T float
#define V __m512
#define VS ps
#define DT f32
#include "gemm_simd.h"

#define T double
#define V __m512d
#define VS pd
#define DT f64
#include "gemm_simd.h"

TG_DEFINE_FMA_PROBE(tg_fma_probe_avx512, "zmm")
