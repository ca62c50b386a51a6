/* AVX2 vector math for float arrays (compiled with -mavx2 -mfma):
 * vmath_simd.h for 8 floats at a time. Without scalef, 2^n is built in the
 * exponent bits. */
#include "kern_simd.h"

#include <immintrin.h>

/* vmath_avx512vl.c compiles this file again under its own name. */
#ifndef ISA
#define ISA avx2
#endif
#define VW _mm256
#define VF __m256
#define FLANES 8
/* Four vectors a turn even with AVX2's 16 registers: sigmoid 0.45 ns per
 * float against 0.55 with two (Zen 4, TG_SIMD=avx2), the spills costing
 * less than idle FMA units. */
#define VU 4

#define select_lt_ps(x, bound, a, b) _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, bound, _CMP_LT_OQ))
#define round_ps(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#ifdef __AVX512VL__
/* AVX-512VL has scalef for 256-bit vectors: p * 2^n in one instruction,
 * rounded once, the same value as the two factors below (a fifth of the
 * exponential's instructions). */
#define pow2_mul_ps(p, n) _mm256_scalef_ps(p, n)
#else
/* p * 2^n for an integral float n in [-150, 128]: two factors built in
 * the exponent bits, each a normal float, so that the product is rounded
 * once even when it is denormal. */
static inline __m256 pow2_mul_ps(__m256 p, __m256 n)
{
    __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
#endif
typedef __m256i fmask;
#define tail_mask_ps(rem) \
    _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define masked_load_ps _mm256_maskload_ps
#define masked_store_ps _mm256_maskstore_ps

#include "vmath_simd.h"
