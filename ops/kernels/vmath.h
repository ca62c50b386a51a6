/* Vector math on contiguous arrays: y[i] = f(x[i]) for i < n, with y allowed
 * to alias x exactly (in place). The float versions use the SIMD level of
 * tg_simd_level(): float vectors with polynomials fitted to keep the error
 * near half an ulp before the final rounding, so they agree with libm's
 * float functions to a few ulp over the whole range (including inf, -inf,
 * NaN, saturation, denormal inputs and outputs): within 2e-7 relative on
 * a sweep of every binade, and 4 ulp at most among 44 million inputs (the
 * sigmoid against libm's 1 / (1 + expf(-x)), itself up to 2.6 ulp from the
 * true value); the scalar level calls libm itself. The
 * double versions are libm loops. Large arrays are split across threads;
 * every element is computed independently, so results never depend on the
 * thread count. A negative n, or a NULL x or y with n > 0, writes nothing
 * and leaves a message (tg_last_error()). */
#ifndef TG_VMATH_H
#define TG_VMATH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y = exp(x). */
void tg_vexp_f32(int64_t n, const float *x, float *y);
/* y = tanh(x); tiny x keep full relative accuracy (tanh(x) = x). */
void tg_vtanh_f32(int64_t n, const float *x, float *y);
/* y = 1 / (1 + exp(-x)), the logistic sigmoid; 0 below x ~ -88.7, where
 * exp(-x) overflows float, like the same formula written with expf. */
void tg_vsigmoid_f32(int64_t n, const float *x, float *y);

/* The same three in double, through libm (the reference the float kernels
 * are tested against). */
void tg_vexp_f64(int64_t n, const double *x, double *y);
void tg_vtanh_f64(int64_t n, const double *x, double *y);
void tg_vsigmoid_f64(int64_t n, const double *x, double *y);

#ifdef __cplusplus
}
#endif

#endif
