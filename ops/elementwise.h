/* Elementwise ops: unary math and activations, binary arithmetic with
 * broadcasting (NumPy/PyTorch rules), comparisons and selection, and fused
 * gate updates. Every op works on F32 and F64 tensors of any strides, returns
 * a new contiguous tensor of the broadcast shape, and is differentiable
 * (comparisons and masks carry no gradient). The tensors an op takes share
 * one dtype: unlike torch, nothing promotes F32 to F64 (tg_add(f32, f64)
 * returns NULL with a message naming both; tg_cast converts). Formulas and
 * edge cases follow torch (1.13); as there, a double argument (a scalar, a
 * bound, a slope) is rounded to float first when it meets an F32 tensor. */
#ifndef TG_ELEMENTWISE_H
#define TG_ELEMENTWISE_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- unary: y has x's shape ------------------------------------------------ */
tg_tensor *tg_neg(tg_tensor *x);        /* -x */
tg_tensor *tg_abs(tg_tensor *x);        /* |x|; gradient sign(x), 0 at 0 */
tg_tensor *tg_exp(tg_tensor *x);        /* e^x */
tg_tensor *tg_log(tg_tensor *x);        /* natural log */
tg_tensor *tg_log1p(tg_tensor *x);      /* log(1 + x), accurate near 0 */
tg_tensor *tg_sqrt(tg_tensor *x);       /* square root */
tg_tensor *tg_rsqrt(tg_tensor *x);      /* 1 / sqrt(x) */
tg_tensor *tg_square(tg_tensor *x);     /* x * x */
tg_tensor *tg_pow_scalar(tg_tensor *x, double exponent); /* x^exponent (0.5, -0.5: sqrt, rsqrt as torch) */
tg_tensor *tg_sin(tg_tensor *x);        /* sine */
tg_tensor *tg_cos(tg_tensor *x);        /* cosine */
tg_tensor *tg_tanh(tg_tensor *x);       /* hyperbolic tangent */
tg_tensor *tg_sigmoid(tg_tensor *x);    /* 1 / (1 + e^-x) */
tg_tensor *tg_relu(tg_tensor *x);       /* max(x, 0); gradient 0 at 0, as PyTorch */
tg_tensor *tg_leaky_relu(tg_tensor *x, double negative_slope);   /* torch default 0.01 */
tg_tensor *tg_elu(tg_tensor *x, double alpha);                   /* torch default 1.0 */
/* approximate false: x * Phi(x) with erf; true: the tanh form. */
tg_tensor *tg_gelu(tg_tensor *x, bool tanh_approximation);
/* log(1 + exp(beta x)) / beta, linear above threshold (torch: beta 1, threshold 20). */
tg_tensor *tg_softplus(tg_tensor *x, double beta, double threshold);
/* clamp to [min_val, max_val]; gradient 0 at the bounds themselves (torch).
 * A NaN bound gives NaN everywhere (torch), not "no bound" as in tg_clamp. */
tg_tensor *tg_hardtanh(tg_tensor *x, double min_val, double max_val);   /* torch: -1, 1 */
tg_tensor *tg_hardsigmoid(tg_tensor *x);                               /* relu6(x + 3) / 6 */
/* min(max(x, lo), hi); NAN for a bound means "no bound" on that side. The
 * gradient passes at the bounds themselves (torch), unlike tg_hardtanh's. */
tg_tensor *tg_clamp(tg_tensor *x, double lo, double hi);

/* --- scalar forms ----------------------------------------------------------- */
tg_tensor *tg_add_scalar(tg_tensor *x, double s);    /* x + s */
tg_tensor *tg_mul_scalar(tg_tensor *x, double s);    /* x * s */
tg_tensor *tg_rsub_scalar(tg_tensor *x, double s);   /* s - x, e.g. 1 - z */
tg_tensor *tg_sub_scalar(tg_tensor *x, double s);    /* x - s */
tg_tensor *tg_div_scalar(tg_tensor *x, double s);    /* x / s (a true division, not x * (1/s)) */

/* --- binary with broadcasting: shapes broadcast as in PyTorch --------------- */
tg_tensor *tg_add(tg_tensor *a, tg_tensor *b); /* a + b */
tg_tensor *tg_sub(tg_tensor *a, tg_tensor *b); /* a - b */
tg_tensor *tg_mul(tg_tensor *a, tg_tensor *b); /* a * b */
tg_tensor *tg_div(tg_tensor *a, tg_tensor *b); /* a / b */
tg_tensor *tg_pow(tg_tensor *a, tg_tensor *b); /* a^b */
/* Elementwise max/min, NaN if either input is NaN (torch propagates NaN); at
 * ties each input gets half the gradient, and at a NaN both get all of it
 * (torch 1.13). */
tg_tensor *tg_maximum(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_minimum(tg_tensor *a, tg_tensor *b);

/* --- fused gate updates: one pass instead of several ------------------------ */
/* start + weight * (end - start): the GRU update (1 - z) * n + z * h is
 * tg_lerp(n, h, z). */
tg_tensor *tg_lerp(tg_tensor *start, tg_tensor *end, tg_tensor *weight);
/* t + value * a * b: the LSTM cell update f*c + i*g is tg_addcmul(tg_mul(f, c), i, g, 1). */
tg_tensor *tg_addcmul(tg_tensor *t, tg_tensor *a, tg_tensor *b, double value);

/* --- comparisons (no gradient): 1 where true, 0 where false, in the inputs'
 * float dtype, broadcast shape ------------------------------------------------ */
tg_tensor *tg_eq(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_ne(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_lt(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_le(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_gt(tg_tensor *a, tg_tensor *b);
tg_tensor *tg_ge(tg_tensor *a, tg_tensor *b);

/* mask != 0 ? a : b, broadcasting all three; the gradient flows to the
 * selected side only. */
tg_tensor *tg_where(tg_tensor *mask, tg_tensor *a, tg_tensor *b);
/* x with value wherever mask != 0 (mask and x broadcast together, as in
 * torch.masked_fill); no gradient there. */
tg_tensor *tg_masked_fill(tg_tensor *x, tg_tensor *mask, double value);

#ifdef __cplusplus
}
#endif

#endif
