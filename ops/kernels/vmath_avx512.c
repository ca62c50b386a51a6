/* AVX-512 vector math for float arrays (compiled with -mavx512f -mavx512dq
 * -mfma): vmath_simd.h for 16 floats at a time. scalef applies 2^n without
 * building exponent bits, and rounds once. */
#include "kern_simd.h"

#include <immintrin.h>

/* vmath_avx512vl.c compiles this file again under its own name. */
#ifndef ISA
#define ISA avx512
#endif
#define VW _mm512
#define VF __m512
#define FLANES 16
#define VU 4

#define select_lt_ps(x, bound, a, b) \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, bound, _CMP_LT_OQ), b, a)
#define round_ps(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define pow2_mul_ps(p, n) _mm512_scalef_ps(p, n)
typedef __mmask16 fmask;
#define tail_mask_ps(rem) ((fmask)((1u << (rem)) - 1))
#define masked_load_ps(p, m) _mm512_maskz_loadu_ps(m, p)
#define masked_store_ps(p, m, v) _mm512_mask_storeu_ps(p, m, v)

#include "vmath_simd.h"
