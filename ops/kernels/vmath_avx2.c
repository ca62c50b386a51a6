/* AVX2 vector math for float arrays (compiled with -mavx2 -mfma): the same
 * algorithms as vmath_avx512.c (evaluate in double, round once; see there),
 * 8 floats at a time as two vectors of 4 doubles. Without scalef, 2^n is
 * built in the exponent bits: adding 2^52 + 1023 to the integral double n
 * leaves n + 1023 in the low mantissa bits, and a shift by 52 moves it into
 * the exponent field. */
#include "kern_simd.h"

#include <immintrin.h>

static inline __m256d exp_reduced(__m256d r)
{
    static const double inv_fact[11] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
                                        1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800};
    __m256d p = _mm256_set1_pd(inv_fact[10]);
    for (int k = 9; k >= 0; k--) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(inv_fact[k]));
    return p;
}

static inline __m256d exp_pd(__m256d x)
{
    x = _mm256_min_pd(_mm256_set1_pd(100.0), x);
    x = _mm256_max_pd(_mm256_set1_pd(-120.0), x);
    __m256d n = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(1.4426950408889634)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(n, _mm256_set1_pd(0.6931471805599453), x);
    __m256i biased = _mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(4503599627370496.0 + 1023)));
    return _mm256_mul_pd(exp_reduced(r), _mm256_castsi256_pd(_mm256_slli_epi64(biased, 52)));
}

static inline __m256d tanh_pd(__m256d x)
{
    __m256d sign = _mm256_set1_pd(-0.0);
    __m256d ax = _mm256_andnot_pd(sign, x);
    __m256d clamped = _mm256_min_pd(_mm256_set1_pd(10.0), ax);
    __m256d e = exp_pd(_mm256_add_pd(clamped, clamped));
    __m256d one = _mm256_set1_pd(1.0);
    __m256d large = _mm256_sub_pd(one, _mm256_div_pd(_mm256_set1_pd(2.0), _mm256_add_pd(e, one)));
    __m256d x2 = _mm256_mul_pd(ax, ax);
    __m256d p = _mm256_set1_pd(62.0 / 2835);
    p = _mm256_fmadd_pd(p, x2, _mm256_set1_pd(-17.0 / 315));
    p = _mm256_fmadd_pd(p, x2, _mm256_set1_pd(2.0 / 15));
    p = _mm256_fmadd_pd(p, x2, _mm256_set1_pd(-1.0 / 3));
    __m256d small = _mm256_fmadd_pd(_mm256_mul_pd(p, x2), ax, ax);
    __m256d is_small = _mm256_cmp_pd(ax, _mm256_set1_pd(0.0625), _CMP_LT_OQ);
    __m256d t = _mm256_blendv_pd(large, small, is_small);
    return _mm256_or_pd(t, _mm256_and_pd(x, sign));
}

/* Round each lane to float and back: one float operation, correctly rounded. */
static inline __m256d to_float_pd(__m256d v) { return _mm256_cvtps_pd(_mm256_cvtpd_ps(v)); }

/* Rounded to float after each step, like 1 / (1 + expf(-x)) (see vmath_avx512.c). */
static inline __m256d sigmoid_pd(__m256d x)
{
    __m256d one = _mm256_set1_pd(1.0);
    __m256d e = to_float_pd(exp_pd(_mm256_sub_pd(_mm256_setzero_pd(), x)));
    __m256d s = _mm256_div_pd(one, to_float_pd(_mm256_add_pd(one, e)));
    __m256d overflow = _mm256_cmp_pd(x, _mm256_set1_pd(-88.722835), _CMP_LT_OQ);
    return _mm256_andnot_pd(overflow, s);
}

#define TG_WIDEN_APPLY(KERNEL, v)                                                           \
    _mm256_set_m128(_mm256_cvtpd_ps(KERNEL(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)))),  \
                    _mm256_cvtpd_ps(KERNEL(_mm256_cvtps_pd(_mm256_castps256_ps128(v)))))

/* The tail uses maskload/maskstore, which never touch lanes beyond n. */
#define TG_VMATH_AVX2(NAME_, KERNEL)                                                        \
    void NAME_(int64_t n, const float *x, float *y)                                         \
    {                                                                                       \
        int64_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) {                                                        \
            __m256 v = _mm256_loadu_ps(x + i);                                              \
            _mm256_storeu_ps(y + i, TG_WIDEN_APPLY(KERNEL, v));                             \
        }                                                                                   \
        if (i < n) {                                                                        \
            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)),                 \
                                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));      \
            __m256 v = _mm256_maskload_ps(x + i, m);                                        \
            _mm256_maskstore_ps(y + i, m, TG_WIDEN_APPLY(KERNEL, v));                       \
        }                                                                                   \
    }

TG_VMATH_AVX2(tg_vexp_f32_avx2, exp_pd)
TG_VMATH_AVX2(tg_vtanh_f32_avx2, tanh_pd)
TG_VMATH_AVX2(tg_vsigmoid_f32_avx2, sigmoid_pd)
