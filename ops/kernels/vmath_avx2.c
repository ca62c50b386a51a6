/* AVX2 vector math for float arrays (compiled with -mavx2 -mfma):
 * vmath_simd.h for 8 floats at a time, as two vectors of 4 doubles. Without
 * scalef, 2^n is built in the exponent bits: adding 2^52 + 1023 to the
 * integral double n leaves n + 1023 in the low mantissa bits, and a shift
 * by 52 moves it into the exponent field. */
#include "kern_simd.h"

#include <immintrin.h>

/* vmath_avx512vl.c compiles this file again under its own name. */
#ifndef ISA
#define ISA avx2
#endif
#define VW _mm256
#define VD __m256d
#define VF __m256
#define FLANES 8

#define round_pd(x) _mm256_round_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define pow2_mul_pd(p, n)                                                                   \
    _mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_slli_epi64(                                 \
                         _mm256_castpd_si256(                                               \
                             _mm256_add_pd(n, _mm256_set1_pd(4503599627370496.0 + 1023))),  \
                         52)))
#define select_lt_pd(x, bound, a, b) _mm256_blendv_pd(b, a, _mm256_cmp_pd(x, bound, _CMP_LT_OQ))

#define select_lt_ps(x, bound, a, b) _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, bound, _CMP_LT_OQ))
#define WIDEN_APPLY(KERNEL, v)                                                              \
    _mm256_set_m128(_mm256_cvtpd_ps(KERNEL(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)))),  \
                    _mm256_cvtpd_ps(KERNEL(_mm256_cvtps_pd(_mm256_castps256_ps128(v)))))

typedef __m256i fmask;
#define tail_mask_ps(rem) \
    _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define masked_load_ps _mm256_maskload_ps
#define masked_store_ps _mm256_maskstore_ps

#include "vmath_simd.h"
