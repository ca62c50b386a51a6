/* Vector math for float arrays, written once for every SIMD level, in
 * float vectors. Each function keeps its error near half an ulp before the
 * final rounding: polynomials fitted so that their own error is under 0.1
 * ulp, the reduction done in two parts, every cancellation kept out (see
 * each). The results stay within an ulp or two of libm's expf and tanhf
 * (and of 1 / (1 + expf(-x))), tiny, huge and denormal values included:
 * tests/test_vmath.c sweeps a million of them per function.
 *
 * Each level's file (vmath_avx512.c, vmath_avx2.c), compiled with its own
 * -m flags, includes this file once after defining
 *   ISA, VW            its name suffix and intrinsic prefix
 *   VF, FLANES         the float vector and its lane count
 *   VU                 the vectors each loop turn takes
 *   round_ps(x)        x rounded to the nearest integer
 *   pow2_mul_ps(p, n)  p * 2^n for an integral float n in [-150, 128],
 *                      rounded once
 *   select_lt_ps(x, bound, a, b)  a in the lanes where x < bound, else b
 *   fmask, tail_mask_ps(rem), masked_load_ps(p, m), masked_store_ps(p, m, v)
 *                      the mask of lanes [0, rem), and a load and a store
 *                      that never touch the lanes outside it
 * and gets tg_vexp_f32_<ISA>, tg_vtanh_f32_<ISA>, tg_vsigmoid_f32_<ISA>. */

#define TG_CAT_(a, b) a##b
#define TG_CAT(a, b) TG_CAT_(a, b)
/* FOP(fmadd) is _mm512_fmadd_ps for VW = _mm512. */
#define FOP(op) TG_CAT(VW, _##op##_ps)

/* Every kernel works on VU independent vectors at once (out[u] = f(x[u]),
 * u < VU), each of its steps written for all VU in turn: one vector's
 * chain of dependent steps (about 70 cycles) is longer than the
 * out-of-order window covers, and interleaved chains keep the FMA units
 * busy (avx512vl sigmoid 0.33 ns per float against 0.46 for one vector at
 * a time, tanh 0.49 against 0.73; the same bits). */
#define EACH _Pragma("GCC unroll 8") for (int u = 0; u < VU; u++)

/* e^x: n = round(x / ln2), r = x - n ln2 in two parts (Cody and Waite:
 * n * 0.693359375 is exact), e^r = 1 + r + r^2 P(r) on |r| <= ln2/2 with a
 * fitted P (relative error 7e-10), then 2^n in two halves so that results
 * down to the denormals are rounded once. x is clamped to [-104, 89], where
 * float's e^x is 0 and inf; the clamps take x second, so NaN comes through. */
static inline void exp_ps(const VF *xin, VF *out)
{
    VF x[VU], n[VU], r[VU], p[VU];
    EACH x[u] = FOP(max)(FOP(set1)(-104.0f), FOP(min)(FOP(set1)(89.0f), xin[u]));
    EACH n[u] = round_ps(FOP(mul)(x[u], FOP(set1)(1.44269504088896341f)));
    EACH r[u] = FOP(fnmadd)(n[u], FOP(set1)(0.693359375f), x[u]);
    EACH r[u] = FOP(fnmadd)(n[u], FOP(set1)(-2.12194440e-4f), r[u]);
    EACH p[u] = FOP(fmadd)(FOP(set1)(1.989927841e-4f), r[u], FOP(set1)(1.393364742e-3f));
    EACH p[u] = FOP(fmadd)(p[u], r[u], FOP(set1)(8.333298378e-3f));
    EACH p[u] = FOP(fmadd)(p[u], r[u], FOP(set1)(4.166646674e-2f));
    EACH p[u] = FOP(fmadd)(p[u], r[u], FOP(set1)(1.666666716e-1f));
    EACH p[u] = FOP(fmadd)(p[u], r[u], FOP(set1)(0.5f));
    /* 1 + r as a sum hi + lo with lo its exact rounding error, so that the
     * one rounding left is the last addition's: e^r is then float's own
     * answer but for inputs within a few 2^-30 of a tie. */
    EACH {
        VF one = FOP(set1)(1.0f);
        VF hi = FOP(add)(one, r[u]);
        VF lo = FOP(add)(FOP(sub)(one, hi), r[u]);
        out[u] = pow2_mul_ps(FOP(add)(hi, FOP(fmadd)(FOP(mul)(r[u], r[u]), p[u], lo)), n[u]);
    }
}

/* tanh(x) = sign(x) (1 - 2 / (e^(2|x|) + 1)) for |x| >= 1, where the
 * quotient is under a quarter and its rounding stays small against the
 * result; below 1, x + x^3 Q(x^2) with a fitted Q (relative error 1.2e-8),
 * which keeps tiny x exact. |x| >= 10 gives 1 in float; the clamp keeps
 * e^(2|x|) finite. The sign goes back last; NaN stays NaN (large is NaN for
 * a NaN x). */
static inline void tanh_ps(const VF *x, VF *out)
{
    VF sign = FOP(set1)(-0.0f), one = FOP(set1)(1.0f);
    VF ax[VU], e[VU], q[VU], z[VU];
    EACH ax[u] = FOP(andnot)(sign, x[u]);
    EACH {
        VF clamped = FOP(min)(FOP(set1)(10.0f), ax[u]);
        e[u] = FOP(add)(clamped, clamped);
    }
    exp_ps(e, e);
    EACH z[u] = FOP(mul)(ax[u], ax[u]);
    EACH q[u] = FOP(fmadd)(FOP(set1)(1.464627130e-4f), z[u], FOP(set1)(-9.367226739e-4f));
    EACH q[u] = FOP(fmadd)(q[u], z[u], FOP(set1)(3.225660417e-3f));
    EACH q[u] = FOP(fmadd)(q[u], z[u], FOP(set1)(-8.711332455e-3f));
    EACH q[u] = FOP(fmadd)(q[u], z[u], FOP(set1)(2.183458768e-2f));
    EACH q[u] = FOP(fmadd)(q[u], z[u], FOP(set1)(-5.396433920e-2f));
    EACH q[u] = FOP(fmadd)(q[u], z[u], FOP(set1)(1.333331764e-1f));
    EACH q[u] = FOP(fmadd)(q[u], z[u], FOP(set1)(-3.333333433e-1f));
    EACH {
        VF large = FOP(sub)(one, FOP(div)(FOP(set1)(2.0f), FOP(add)(e[u], one)));
        VF small = FOP(fmadd)(FOP(mul)(q[u], z[u]), ax[u], ax[u]);
        VF t = select_lt_ps(ax[u], one, small, large);
        out[u] = FOP(or)(t, FOP(and)(x[u], sign));
    }
}

/* 1 / (1 + e^-x), each step rounded to float like the formula in float
 * (as PyTorch computes it): the gradient y (1 - y) amplifies any difference
 * in y near saturation, so y must be float's own answer, not a closer one.
 * 0 where expf(-x) overflows float (x below -88.72284; the largest float
 * whose expf is finite is 88.72283). */
static inline void sigmoid_ps(const VF *x, VF *out)
{
    VF one = FOP(set1)(1.0f);
    VF e[VU];
    EACH e[u] = FOP(sub)(FOP(setzero)(), x[u]);
    exp_ps(e, e);
    EACH out[u] = select_lt_ps(x[u], FOP(set1)(-88.722835f), FOP(setzero)(), FOP(div)(one, FOP(add)(one, e[u])));
}

/* The float array loop around a kernel, VU vectors a turn; the tail takes
 * one more turn through masks, the vectors past n masked out whole.
 * Loading before storing keeps y == x (in place) correct. */
#define TG_VMATH_ARRAY(FN, KERNEL)                                                          \
    void TG_CAT(tg_##FN##_f32_, ISA)(int64_t n, const float *x, float *y)                   \
    {                                                                                       \
        VF v[VU];                                                                           \
        int64_t i = 0;                                                                      \
        for (; i + VU * FLANES <= n; i += VU * FLANES) {                                    \
            EACH v[u] = TG_CAT(VW, _loadu_ps)(x + i + u * FLANES);                          \
            KERNEL(v, v);                                                                   \
            EACH TG_CAT(VW, _storeu_ps)(y + i + u * FLANES, v[u]);                          \
        }                                                                                   \
        if (i < n) {                                                                        \
            fmask m[VU];                                                                    \
            EACH {                                                                          \
                int64_t rem = n - i - u * FLANES;                                           \
                m[u] = tail_mask_ps(rem <= 0 ? 0 : rem < FLANES ? rem : FLANES);            \
                v[u] = masked_load_ps(rem > 0 ? x + i + u * FLANES : x, m[u]);              \
            }                                                                               \
            KERNEL(v, v);                                                                   \
            EACH if (n - i > u * FLANES) masked_store_ps(y + i + u * FLANES, m[u], v[u]);   \
        }                                                                                   \
    }
TG_VMATH_ARRAY(vexp, exp_ps)
TG_VMATH_ARRAY(vtanh, tanh_ps)
TG_VMATH_ARRAY(vsigmoid, sigmoid_ps)
