/* Vector math for float arrays, written once for every SIMD level. Each
 * vector of floats is widened to two vectors of doubles, the function is
 * evaluated in double with an error near 1e-13, and the result is rounded
 * to float once: that rounding (half an ulp) is then practically the only
 * error, which is how the results stay within an ulp or so of libm's
 * expf/tanhf even for tiny, huge and denormal values.
 *
 * Each level's file (vmath_avx512.c, vmath_avx2.c), compiled with its own
 * -m flags, includes this file once after defining
 *   ISA, VW, VD        its name suffix, intrinsic prefix and double vector
 *   round_pd(x)        x rounded to the nearest integer
 *   pow2_mul_pd(p, n)  p * 2^n for an integral double n in [-174, 145]
 *   select_lt_pd(x, bound, a, b), select_lt_ps  a in the lanes where
 *                      x < bound, else b (doubles, floats)
 *   VF, FLANES         the float vector and its lane count
 *   WIDEN_APPLY(KERNEL, v)  KERNEL on the floats of v: widen, evaluate,
 *                      round once
 *   fmask, tail_mask_ps(rem), masked_load_ps(p, m), masked_store_ps(p, m, v)
 *                      the mask of lanes [0, rem), and a load and a store
 *                      that never touch the lanes outside it
 * and gets tg_vexp_f32_<ISA>, tg_vtanh_f32_<ISA>, tg_vsigmoid_f32_<ISA>. */

#define TG_CAT_(a, b) a##b
#define TG_CAT(a, b) TG_CAT_(a, b)
/* VOP(fmadd) is _mm512_fmadd_pd for VW = _mm512. */
#define VOP(op) TG_CAT(VW, _##op##_pd)

/* e^r for |r| <= ln2/2 by Horner on the Taylor series (coefficients 1/k!)
 * to degree 10: relative error 0.35^11/11! ~ 2e-13. */
static inline VD exp_reduced(VD r)
{
    static const double inv_fact[11] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
                                        1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800};
    VD p = VOP(set1)(inv_fact[10]);
    for (int k = 9; k >= 0; k--) p = VOP(fmadd)(p, r, VOP(set1)(inv_fact[k]));
    return p;
}

/* exp(x) = 2^n * exp(r), n = round(x / ln2), |r| <= ln2/2, in double for x
 * in [-120, 100] (after clamping: exp(-120) rounds to 0 and exp(100) to inf
 * in float, and both are normal doubles). The clamps take x second, so a
 * NaN in x comes through. */
static inline VD exp_pd(VD x)
{
    x = VOP(min)(VOP(set1)(100.0), x);
    x = VOP(max)(VOP(set1)(-120.0), x);
    VD n = round_pd(VOP(mul)(x, VOP(set1)(1.4426950408889634)));
    /* One FMA with ln2 rounded to double: |n| <= 174, so the error of the
     * constant contributes < 1e-14 to r. */
    VD r = VOP(fnmadd)(n, VOP(set1)(0.6931471805599453), x);
    return pow2_mul_pd(exp_reduced(r), n);
}

/* tanh(x) = sign(x) * (1 - 2 / (exp(2|x|) + 1)), except for |x| < 1/16,
 * where that form would cancel and the odd Taylor series to x^9 (relative
 * error < 1e-16) keeps tiny x exact. |x| >= 10 gives 1 in float; the clamp
 * keeps exp finite. */
static inline VD tanh_pd(VD x)
{
    VD sign = VOP(set1)(-0.0);
    VD ax = VOP(andnot)(sign, x);
    VD clamped = VOP(min)(VOP(set1)(10.0), ax);
    VD e = exp_pd(VOP(add)(clamped, clamped));
    VD one = VOP(set1)(1.0);
    VD large = VOP(sub)(one, VOP(div)(VOP(set1)(2.0), VOP(add)(e, one)));
    VD x2 = VOP(mul)(ax, ax);
    VD p = VOP(set1)(62.0 / 2835);
    p = VOP(fmadd)(p, x2, VOP(set1)(-17.0 / 315));
    p = VOP(fmadd)(p, x2, VOP(set1)(2.0 / 15));
    p = VOP(fmadd)(p, x2, VOP(set1)(-1.0 / 3));
    VD small = VOP(fmadd)(VOP(mul)(p, x2), ax, ax);
    VD t = select_lt_pd(ax, VOP(set1)(0.0625), small, large);
    /* Put the sign back; NaN stays NaN (large is NaN for a NaN x). */
    return VOP(or)(t, VOP(and)(x, sign));
}

/* 1 / (1 + exp(-x)), rounded to float after each step like the formula in
 * float (as PyTorch computes it): the gradient y (1 - y) amplifies any
 * difference in y near saturation, so y must be float's own answer, not a
 * closer one. exp(-x) is evaluated in double and rounded to float; the sum
 * and the quotient are then float operations, which for float operands
 * give exactly the double result rounded to float, with one division per
 * FLANES lanes instead of two (division is most of the time here). 0 where
 * expf(-x) overflows float (x below -88.72284; the largest float whose
 * expf is finite is 88.72283). */
static inline VD exp_neg_pd(VD x) { return exp_pd(VOP(sub)(VOP(setzero)(), x)); }

static inline VF sigmoid_ps(VF x)
{
    VF one = TG_CAT(VW, _set1_ps)(1.0f);
    VF e = WIDEN_APPLY(exp_neg_pd, x);
    VF s = TG_CAT(VW, _div_ps)(one, TG_CAT(VW, _add_ps)(one, e));
    return select_lt_ps(x, TG_CAT(VW, _set1_ps)(-88.722835f), TG_CAT(VW, _setzero_ps)(), s);
}

static inline VF exp_ps(VF x) { return WIDEN_APPLY(exp_pd, x); }
static inline VF tanh_ps(VF x) { return WIDEN_APPLY(tanh_pd, x); }

/* The float array loop around a kernel. Loading before storing keeps
 * y == x (in place) correct. */
#define TG_VMATH_ARRAY(FN, KERNEL)                                                          \
    void TG_CAT(tg_##FN##_f32_, ISA)(int64_t n, const float *x, float *y)                   \
    {                                                                                       \
        int64_t i = 0;                                                                      \
        for (; i + FLANES <= n; i += FLANES) {                                              \
            VF v = TG_CAT(VW, _loadu_ps)(x + i);                                            \
            TG_CAT(VW, _storeu_ps)(y + i, KERNEL(v));                                       \
        }                                                                                   \
        if (i < n) {                                                                        \
            fmask m = tail_mask_ps(n - i);                                                  \
            VF v = masked_load_ps(x + i, m);                                                \
            masked_store_ps(y + i, m, KERNEL(v));                                           \
        }                                                                                   \
    }

TG_VMATH_ARRAY(vexp, exp_ps)
TG_VMATH_ARRAY(vtanh, tanh_ps)
TG_VMATH_ARRAY(vsigmoid, sigmoid_ps)
