/* AVX-512 vector math for float arrays (compiled with -mavx512f -mavx512dq
 * -mfma). Each vector of 16 floats is widened to two vectors of 8 doubles,
 * the function is evaluated in double with an error near 1e-13, and the
 * result is rounded to float once: that rounding (half an ulp) is then
 * practically the only error, which is how the results stay within an ulp
 * or so of libm's expf/tanhf even for tiny, huge and denormal values.
 *
 * exp(x) = 2^n * exp(r), n = round(x / ln2), |r| <= ln2/2: Taylor to degree
 * 10 leaves a relative error of 0.35^11/11! ~ 2e-13; scalef applies 2^n
 * without building exponent bits. */
#include "kern_simd.h"

#include <immintrin.h>

/* e^r for |r| <= ln2/2 by Horner on the Taylor series (coefficients 1/k!). */
static inline __m512d exp_reduced(__m512d r)
{
    static const double inv_fact[11] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
                                        1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800};
    __m512d p = _mm512_set1_pd(inv_fact[10]);
    for (int k = 9; k >= 0; k--) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(inv_fact[k]));
    return p;
}

/* exp(x) in double for x in [-120, 100] (after clamping: exp(-120) rounds
 * to 0 and exp(100) to inf in float, and both are normal doubles). The
 * clamps take x second, so a NaN in x comes through. */
static inline __m512d exp_pd(__m512d x)
{
    x = _mm512_min_pd(_mm512_set1_pd(100.0), x);
    x = _mm512_max_pd(_mm512_set1_pd(-120.0), x);
    __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(1.4426950408889634)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* One FMA with ln2 rounded to double: |n| <= 174, so the error of the
     * constant contributes < 1e-14 to r. */
    __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(0.6931471805599453), x);
    return _mm512_scalef_pd(exp_reduced(r), n);
}

/* tanh(x) = sign(x) * (1 - 2 / (exp(2|x|) + 1)), except for |x| < 1/16,
 * where that form would cancel and the odd Taylor series to x^9 (relative
 * error < 1e-16) keeps tiny x exact. |x| >= 10 gives 1 in float; the clamp
 * keeps exp finite. */
static inline __m512d tanh_pd(__m512d x)
{
    __m512d ax = _mm512_abs_pd(x);
    __m512d clamped = _mm512_min_pd(_mm512_set1_pd(10.0), ax);
    __m512d e = exp_pd(_mm512_add_pd(clamped, clamped));
    __m512d one = _mm512_set1_pd(1.0);
    __m512d large = _mm512_sub_pd(one, _mm512_div_pd(_mm512_set1_pd(2.0), _mm512_add_pd(e, one)));
    __m512d x2 = _mm512_mul_pd(ax, ax);
    __m512d p = _mm512_set1_pd(62.0 / 2835);
    p = _mm512_fmadd_pd(p, x2, _mm512_set1_pd(-17.0 / 315));
    p = _mm512_fmadd_pd(p, x2, _mm512_set1_pd(2.0 / 15));
    p = _mm512_fmadd_pd(p, x2, _mm512_set1_pd(-1.0 / 3));
    __m512d small = _mm512_fmadd_pd(_mm512_mul_pd(p, x2), ax, ax);
    __mmask8 is_small = _mm512_cmp_pd_mask(ax, _mm512_set1_pd(0.0625), _CMP_LT_OQ);
    __m512d t = _mm512_mask_blend_pd(is_small, large, small);
    /* Put the sign back; NaN stays NaN (large is NaN for a NaN x). */
    return _mm512_or_pd(t, _mm512_and_pd(x, _mm512_set1_pd(-0.0)));
}

/* 1 / (1 + exp(-x)), and 0 where expf(-x) overflows float (x below
 * -88.72284, the largest float whose expf is finite is 88.72283), so the
 * result matches the formula as written in float. */
/* Round each lane to float and back: one float operation, correctly rounded. */
static inline __m512d to_float_pd(__m512d v) { return _mm512_cvtps_pd(_mm512_cvtpd_ps(v)); }

/* Rounded to float after each step, like 1 / (1 + expf(-x)) in float (as
 * PyTorch computes it): the gradient y (1 - y) amplifies any difference in y
 * near saturation, so y must be float's own answer, not a closer one. */
static inline __m512d sigmoid_pd(__m512d x)
{
    __m512d one = _mm512_set1_pd(1.0);
    __m512d e = to_float_pd(exp_pd(_mm512_sub_pd(_mm512_setzero_pd(), x)));
    __m512d s = _mm512_div_pd(one, to_float_pd(_mm512_add_pd(one, e)));
    __mmask8 overflow = _mm512_cmp_pd_mask(x, _mm512_set1_pd(-88.722835), _CMP_LT_OQ);
    return _mm512_mask_blend_pd(overflow, s, _mm512_setzero_pd());
}

/* Apply a double kernel to 16 floats: widen, evaluate, round once. */
#define TG_WIDEN_APPLY(KERNEL, v)                                                           \
    _mm512_insertf32x8(                                                                     \
        _mm512_castps256_ps512(_mm512_cvtpd_ps(KERNEL(_mm512_cvtps_pd(_mm512_castps512_ps256(v))))), \
        _mm512_cvtpd_ps(KERNEL(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)))), 1)

/* The tail uses masked loads and stores, which never touch the lanes
 * beyond n. Loading before storing keeps y == x (in place) correct. */
#define TG_VMATH_AVX512(NAME_, KERNEL)                                                      \
    void NAME_(int64_t n, const float *x, float *y)                                         \
    {                                                                                       \
        int64_t i = 0;                                                                      \
        for (; i + 16 <= n; i += 16) {                                                      \
            __m512 v = _mm512_loadu_ps(x + i);                                              \
            _mm512_storeu_ps(y + i, TG_WIDEN_APPLY(KERNEL, v));                             \
        }                                                                                   \
        if (i < n) {                                                                        \
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1);                                 \
            __m512 v = _mm512_maskz_loadu_ps(m, x + i);                                     \
            _mm512_mask_storeu_ps(y + i, m, TG_WIDEN_APPLY(KERNEL, v));                     \
        }                                                                                   \
    }

TG_VMATH_AVX512(tg_vexp_f32_avx512, exp_pd)
TG_VMATH_AVX512(tg_vtanh_f32_avx512, tanh_pd)
TG_VMATH_AVX512(tg_vsigmoid_f32_avx512, sigmoid_pd)
